"""A second Letta server, configured differently from the stack's (a password, another provider), on the stack's
database, Redis and model, so that the running stack is left as it is: for the tests and the benchmark's
workshop room."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Iterator

import httpx

from course import facts
from stack import parts
from stack.errors import StackError


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/v1/health/", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@contextlib.contextmanager
def second_server(env: dict[str, str], what: str) -> Iterator[str]:
    """Another Letta server on the stack's database, Redis and model, on a free loopback port, with `env` (the
    stack's own `letta_env`, changed as the caller needs): yields its URL, and stops it afterwards."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = parts.letta_command("127.0.0.1", port)
    proc = subprocess.Popen(command, cwd=facts.ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while not _healthy(url):
            if proc.poll() is not None:
                raise StackError(f"{what} exited during start-up (code {proc.returncode})")
            if time.monotonic() > deadline:
                raise StackError(f"{what} did not answer {url}/v1/health/ within 180 s")
            time.sleep(1)
        yield url
    finally:
        proc.terminate()
        proc.wait(30)
