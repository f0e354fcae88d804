"""Shared fixtures. Tests marked `stack` need the running course stack (`make test` starts it)."""

from __future__ import annotations

import pytest

from helpers.settings import settings
from stack.stackctl import Config, letta_state, model_state


def pytest_configure(config):
    config.addinivalue_line("markers", "stack: needs the running course stack (Letta server, database, local model)")


@pytest.fixture(scope="session")
def stack_config() -> Config:
    cfg = Config.load()
    if letta_state(cfg) != "up":
        pytest.fail("the course stack is not running: run the tests with `make test`, which starts it")
    return cfg


@pytest.fixture(scope="session")
def model_url(stack_config) -> str:
    if model_state(stack_config) != "up":
        pytest.skip("the local model service is off (LOCAL_MODEL=off)")
    return stack_config.model_url + "/v1"


@pytest.fixture(scope="session")
def letta(stack_config):
    from helpers import wait_for_server

    return wait_for_server(settings())
