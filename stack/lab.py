"""JupyterLab for the course: `make course` runs `python -m stack.lab` once the stack is up.

- Runs as root too (`--allow-root`): cloud VMs, containers and workshop boxes often log in as root.
- Opens the browser on a desktop; on a headless box or over SSH it prints the URL with its token and the
  `ssh -L` line that forwards the port (the URL is known before start: this module picks the port and token).
- The repository is JupyterLab's root, so notebooks/, helpers/ and data/ are all in the file browser, and it
  opens on lesson 00. The first-run "fetch news?" prompt is answered "never" (and no update check is made:
  the course runs offline).
- Ctrl-C stops JupyterLab at once (no "Shut down this server?" prompt) and leaves the stack running.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import subprocess
import sys
from pathlib import Path

from course import facts

ROOT = facts.ROOT
FIRST_LESSON = "notebooks/00_setup.ipynb"
# overrides.json there answers JupyterLab's first-run prompts (news: never; no update check: offline course).
# Passed as the app settings directory, so nothing is written into the virtual environment (a user may not own it).
SETTINGS_DIR = Path(__file__).resolve().parent / "jupyterlab"


def is_headless(env: dict[str, str] | None = None, platform: str = sys.platform) -> bool:
    """No screen to open a browser on: an SSH session, or Linux without X11/Wayland (unless $BROWSER says how)."""
    env = os.environ if env is None else env
    if env.get("BROWSER"):
        return False
    if env.get("SSH_CONNECTION") or env.get("SSH_TTY"):
        return True
    return platform.startswith("linux") and not (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


def free_port(host: str, first: int = 8888, tries: int = 50) -> int:
    for port in range(first, first + tries):
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return port
    raise SystemExit(f"no free port for JupyterLab in {first}-{first + tries - 1} on {host}: pass --port")


def command(host: str, port: int, token: str, open_browser: bool, as_root: bool) -> list[str]:
    cmd = [
        sys.executable, "-m", "jupyter", "lab",
        f"--ServerApp.root_dir={ROOT}",
        f"--LabApp.default_url=/lab/tree/{FIRST_LESSON}",
        f"--LabApp.app_settings_dir={SETTINGS_DIR}",
        f"--ServerApp.ip={host}",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",  # the printed URL must be the one that answers
        f"--IdentityProvider.token={token}",
        "--JupyterApp.answer_yes=True",  # Ctrl-C shuts down without asking
    ]  # fmt: skip
    if not open_browser:
        cmd.append("--no-browser")
    if as_root:
        cmd.append("--allow-root")
    return cmd


def banner(host: str, port: int, token: str, headless: bool) -> str:
    url = f"http://{host}:{port}/lab/tree/{FIRST_LESSON}?token={token}"
    lines = ["", f"JupyterLab for the course: {url}"]
    if headless:
        lines += [
            "No browser here (headless or SSH): open the URL above in the browser of your own machine. Over SSH,",
            f"forward the port first, from your machine:   ssh -N -L {port}:{host}:{port} <user>@<this-host>",
        ]
    lines += ["Ctrl-C stops JupyterLab; the Letta stack keeps running (`make status`, `make stop` to stop it).", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Start JupyterLab on the course (the stack must be up: make start).")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: loopback only)")
    parser.add_argument("--port", type=int, help="default: the first free port from 8888")
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser, even on a desktop")
    args = parser.parse_args(argv)

    headless = is_headless()
    port = args.port or free_port(args.host)
    token = os.environ.get("COURSE_LAB_TOKEN") or secrets.token_hex(24)
    cmd = command(args.host, port, token, open_browser=not (headless or args.no_browser), as_root=os.geteuid() == 0)
    print(banner(args.host, port, token, headless or args.no_browser), flush=True)
    lab = subprocess.Popen(cmd, cwd=ROOT)
    while True:
        try:
            code = lab.wait()
            break
        except KeyboardInterrupt:  # the terminal sent SIGINT to JupyterLab too; let it finish shutting down
            signal.signal(signal.SIGINT, signal.SIG_IGN)
    print("\nJupyterLab stopped. The stack is still running: `make status` shows it, `make stop` stops it.", flush=True)
    return 0 if code in (0, -signal.SIGINT, 128 + signal.SIGINT) else code


if __name__ == "__main__":
    sys.exit(main())
