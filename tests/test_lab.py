"""`make course` starts JupyterLab anywhere: as root and as a user, headless and on a desktop.

The integration tests run the real `make course` target (which first runs `make start`: the stack is already up
under `make test`, so that is a quick check) in this checkout, wait until JupyterLab lists the lessons, then
press Ctrl-C (SIGINT to the process group, as a terminal does) and check JupyterLab stopped and the stack did not.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from course import facts
from stack import lab
from stack.parts import LETTA

ROOT = facts.ROOT
LESSON = "00_setup.ipynb"


def test_headless_is_an_ssh_session_or_linux_without_a_display():
    assert lab.is_headless({}, "linux")
    assert lab.is_headless({"DISPLAY": ":0", "SSH_CONNECTION": "10.0.0.1 1 10.0.0.2 22"}, "linux")
    assert not lab.is_headless({"DISPLAY": ":0"}, "linux")
    assert not lab.is_headless({"WAYLAND_DISPLAY": "wayland-0"}, "linux")
    assert not lab.is_headless({}, "darwin")
    assert not lab.is_headless({"BROWSER": "firefox"}, "linux")


def test_the_command_allows_root_only_for_root_and_opens_on_lesson_00():
    as_root = lab.command("127.0.0.1", 8899, "t0k", open_browser=False, as_root=True)
    as_user = lab.command("127.0.0.1", 8899, "t0k", open_browser=True, as_root=False)
    assert "--allow-root" in as_root and "--allow-root" not in as_user
    assert "--no-browser" in as_root and "--no-browser" not in as_user
    assert f"--ServerApp.root_dir={ROOT}" in as_user
    assert "--LabApp.default_url=/lab/tree/notebooks/00_setup.ipynb" in as_user


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_user(name: str):
    """preexec_fn that drops root to `name` (the child runs `make course` as that user)."""
    user = pwd.getpwnam(name)

    def drop():
        os.setgid(user.pw_gid)
        os.setgroups([])
        os.setuid(user.pw_uid)

    return drop


def _run_course(env_extra: dict[str, str], user: str | None = None) -> tuple[str, dict]:
    """`make course` until JupyterLab lists the lessons, then Ctrl-C; returns its output and what it served."""
    port, token = _port(), "course-test-token"
    home = Path(tempfile.mkdtemp(prefix="lab-home-"))
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "SSH_CONNECTION", "SSH_TTY", "BROWSER")}
    env.update({"HOME": str(home), "COURSE_LAB_TOKEN": token, "JUPYTER_RUNTIME_DIR": str(home / "runtime"), **env_extra})
    if user:
        shutil.chown(home, user)
        home.chmod(stat.S_IRWXU)
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "course", f"ARGS=--port {port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, like a terminal's foreground job
        preexec_fn=_as_user(user) if user else None,
    )
    served: dict = {}
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(120):
            assert proc.poll() is None, f"make course exited early:\n{proc.stdout.read()}"
            try:
                listing = httpx.get(f"{base}/api/contents/notebooks", params={"token": token}, timeout=2)
                if listing.status_code == 200:
                    served["lessons"] = sorted(c["name"] for c in listing.json()["content"])
                    served["root"] = sorted(c["name"] for c in httpx.get(f"{base}/api/contents", params={"token": token}).json()["content"])
                    page = httpx.get(f"{base}/lab/tree/notebooks/{LESSON}", params={"token": token})
                    served["lesson_page"] = page.status_code
                    news = httpx.get(f"{base}/lab/api/settings/@jupyterlab/apputils-extension:notification", params={"token": token})
                    served["fetch_news"] = news.json()["schema"]["properties"]["fetchNews"].get("default")  # overrides set defaults
                    break
            except httpx.HTTPError:
                pass
            time.sleep(1)
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        shutil.rmtree(home, ignore_errors=True)
    return out, served


def _check(out: str, served: dict, stack_config) -> None:
    assert served.get("lessons"), f"JupyterLab never listed the lessons:\n{out}"
    assert LESSON in served["lessons"] and "01_client.ipynb" in served["lessons"]
    assert {"notebooks", "helpers", "data"} <= set(served["root"]), served["root"]
    assert served["lesson_page"] == 200
    assert served["fetch_news"] == "false", "the first-run news prompt would cover the lesson"
    assert "Shut down this Jupyter server" not in out, "Ctrl-C asked for confirmation"
    assert "JupyterLab stopped. The stack is still running" in out, out[-2000:]
    assert LETTA.state(stack_config) == "up", "Ctrl-C on JupyterLab must leave the stack running"


@pytest.mark.stack
def test_make_course_headless_prints_the_url_and_how_to_forward_it(stack_config):
    out, served = _run_course({})
    _check(out, served, stack_config)
    assert "/lab/tree/notebooks/00_setup.ipynb?token=course-test-token" in out
    assert "ssh -N -L" in out  # on CI and most workshop boxes this run is root's: the --allow-root case


@pytest.mark.stack
def test_make_course_on_a_desktop_opens_the_browser(stack_config, tmp_path):
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\necho "$@" >> {opened}\n')
    browser.chmod(0o755)
    out, served = _run_course({"DISPLAY": ":99", "BROWSER": str(browser)})
    _check(out, served, stack_config)
    assert opened.is_file() and opened.read_text().strip(), f"no browser was opened:\n{out[-2000:]}"
    assert "ssh -N -L" not in out


def _usable_by(user: str, path: Path) -> bool:
    """Can `user` run the notebooks' interpreter? (A venv made from a Python under /root, e.g. pyenv's, is not.)"""
    try:
        return subprocess.run([str(path), "-c", "pass"], preexec_fn=_as_user(user), capture_output=True).returncode == 0
    except PermissionError:
        return False


@pytest.mark.stack
def test_make_course_as_an_ordinary_user(stack_config):
    if os.geteuid() != 0:
        out, served = _run_course({})  # this test run already is an ordinary user's
    elif _usable_by("nobody", ROOT / ".venv" / "bin" / "python"):
        out, served = _run_course({}, user="nobody")
    else:
        pytest.skip(
            "running as root, and no other user may execute this checkout's interpreter (it lives under /root): "
            "the ordinary-user case runs when the suite itself runs as that user"
        )
    _check(out, served, stack_config)
