"""Shared fixtures. Tests marked `stack` need the running course stack (`make test` starts it)."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from course.stack_config import Config
from helpers.settings import settings
from stack import parts


def pytest_configure(config):
    config.addinivalue_line("markers", "stack: needs the running course stack (Letta server, database, local model)")


@pytest.fixture(scope="session")
def stack_config() -> Config:
    cfg = Config.load()
    if parts.LETTA.state(cfg) != "up":
        pytest.fail("the course stack is not running: run the tests with `make test`, which starts it")
    return cfg


@pytest.fixture(scope="session")
def model_url(stack_config) -> str:
    if parts.MODEL.state(stack_config) != "up":
        pytest.skip("the local model service is off (LOCAL_MODEL=off)")
    return stack_config.model_url + "/v1"


@pytest.fixture(scope="session")
def letta(stack_config):
    from helpers import wait_for_server

    return wait_for_server(settings())


@pytest.fixture(scope="session")
def secure_server(stack_config):
    """A second Letta server on the same database, in secure mode with a password: (url, password).
    Started once for the session (about 15 s): the stack tests and the workshop tests both use it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    password = "course-test-password"
    env = parts.letta_env(stack_config)
    env.update({"LETTA_SERVER_SECURE": "true", "LETTA_SERVER_PASSWORD": password})
    root = Path(__file__).resolve().parent.parent
    command = parts.letta_command("127.0.0.1", port)
    proc = subprocess.Popen(command, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(180):
            try:
                if httpx.get(f"{url}/v1/health/", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, "the secure server exited during start-up"
            time.sleep(1)
        yield url, password
    finally:
        proc.terminate()
        proc.wait(30)
