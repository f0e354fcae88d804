"""Shared fixtures. Tests marked `stack` need the running course stack (`make test` starts it)."""

from __future__ import annotations

import pytest

from course.stack_config import Config
from helpers.settings import settings
from stack import parts
from stack.second_server import second_server


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
    """A second Letta server in secure mode with a password: (url, password).
    Started once for the session (about 15 s): the stack tests and the workshop tests both use it."""
    password = "course-test-password"
    env = parts.letta_env(stack_config)
    env.update({"LETTA_SERVER_SECURE": "true", "LETTA_SERVER_PASSWORD": password})
    with second_server(env, "the secure server") as url:
        yield url, password
