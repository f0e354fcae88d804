"""A second Letta server for tests that need one configured differently from the stack's (a password, another
provider), so that the running stack is left as it is."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Iterator

import httpx

from course import facts
from stack import parts


@contextlib.contextmanager
def second_server(env: dict[str, str], what: str) -> Iterator[str]:
    """Another Letta server on the stack's database, Redis and model, on a free loopback port, with `env` (the
    stack's own `letta_env`, changed as a test needs): yields its URL, and stops it afterwards."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = parts.letta_command("127.0.0.1", port)
    proc = subprocess.Popen(command, cwd=facts.ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(180):
            try:
                if httpx.get(f"{url}/v1/health/", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, f"{what} exited during start-up"
            time.sleep(1)
        yield url
    finally:
        proc.terminate()
        proc.wait(30)
