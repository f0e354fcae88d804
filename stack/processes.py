"""The processes the stack starts: pid files (checked against the process's start time), logs, health waits,
ports, and stopping."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import psutil

from course import facts
from stack.errors import StackError

LOGS = facts.STATE / "logs"
RUN = facts.STATE / "run"


def pid_file(part: str) -> Path:
    return RUN / f"{part}.pid"


def started(pid: int) -> str:
    """When a process started, in a form no clock change moves.

    On Linux: this boot's id and the process's start in clock ticks since boot. psutil's create_time() adds those
    ticks to a boot time derived from the wall clock, and here it moved by 14 s under a running stack, which made
    the stack disown its own processes. Elsewhere: psutil's create_time().
    """
    stat = Path(f"/proc/{pid}/stat")
    if stat.exists():
        ticks = stat.read_text().rsplit(")", 1)[1].split()[19]  # field 22, starttime; fields 1-2 end at ")"
        return f"{Path('/proc/sys/kernel/random/boot_id').read_text().strip()}:{ticks}"
    return repr(psutil.Process(pid).create_time())


def pid_record(part: str) -> tuple[int, int] | None:
    """(pid, port) of a part this checkout started and that is still alive.

    The pid file also holds when the process started (`started`): after a reboot or a crash the pid may belong
    to another program by now, which must never be taken for the part, nor signalled.
    """
    try:
        number, port, *stamp = pid_file(part).read_text().split()
        process = psutil.Process(int(number))
        if stamp and stamp[0] != started(process.pid):
            return None  # the pid was reused
        if process.status() == psutil.STATUS_ZOMBIE:
            return None  # exited, not yet reaped by the `stack with` process that started it
        if not stamp:
            os.kill(int(number), 0)  # a pid file written before start times were kept: trust a live pid
        return int(number), int(port)
    except (FileNotFoundError, ValueError, psutil.Error, ProcessLookupError, PermissionError):
        return None


def live_pid(part: str) -> int | None:
    record = pid_record(part)
    return record[0] if record else None


def alive(pid: int) -> bool:
    """A running process (a zombie is not: it died, and only waits for its parent to read its exit status)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def port_open(port: int, host: str = facts.LOOPBACK) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def http_ok(url: str, timeout: float = 3) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def spawn(part: str, port: int, cmd: list[str], env: dict[str, str]) -> int:
    LOGS.mkdir(parents=True, exist_ok=True)
    RUN.mkdir(parents=True, exist_ok=True)
    log = open(LOGS / f"{part}.log", "ab")
    log.write(f"\n===== {time.strftime('%Y-%m-%d %H:%M:%S')} starting {part}\n".encode())
    log.flush()
    proc = subprocess.Popen(
        cmd, cwd=facts.ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
    )
    pid_file(part).write_text(f"{proc.pid} {port} {started(proc.pid)}")
    return proc.pid


def wait_healthy(part: str, is_up: Callable[[], bool], where: str, timeout: float) -> None:
    """Wait until `is_up()` holds, reporting a part that exits or stays silent (`where`: what is being asked)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if is_up():
            return
        if live_pid(part) is None:
            raise StackError(f"{part} exited during start-up; last lines of its log:\n{tail(part, 25)}")
        time.sleep(0.5)
    raise StackError(f"{part} did not become healthy within {timeout:.0f}s ({where}); see `python -m stack logs {part}`")


def stop_process(part: str, grace: float = 20) -> bool:
    number = live_pid(part)
    if number is None:
        pid_file(part).unlink(missing_ok=True)
        return False
    os.killpg(number, signal.SIGTERM)
    deadline = time.time() + grace
    while time.time() < deadline and live_pid(part) is not None:
        time.sleep(0.2)
    if live_pid(part) is not None:
        os.killpg(number, signal.SIGKILL)
        time.sleep(0.5)
    pid_file(part).unlink(missing_ok=True)
    return True


def tail(part: str, lines: int = 40) -> str:
    path = LOGS / f"{part}.log"
    if not path.exists():
        return f"(no log yet at {path})"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def check_port_free(part: str, port: int) -> None:
    record = pid_record(part)
    if record and record[1] != port:
        raise StackError(f"{part} is already running on port {record[1]}, not {port}; run `python -m stack stop {part}` first")
    if record is None and port_open(port):
        raise StackError(
            f"port {port} is already taken by another program, so {part} cannot start; stop that program or choose another port in .env"
        )


def state(part: str, is_up: Callable[[], bool]) -> str:
    """down (no live process of ours), starting (alive, not answering yet) or up."""
    if live_pid(part) is None:
        return "down"
    return "up" if is_up() else "starting"
