"""The running stack: status, idempotent start, persistence across a server restart, and its error messages."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import helpers
from helpers.settings import Settings, settings
from stack import stackctl

pytestmark = pytest.mark.stack
ROOT = Path(__file__).resolve().parent.parent
TAG = "course-test:stack"


def stack(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stack", *args], cwd=ROOT, capture_output=True, text=True, env=env, timeout=600)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_status_shows_every_part_up(stack_config):
    result = stack("status")
    assert result.returncode == 0, result.stdout + result.stderr
    states = {line.split()[0]: line.split()[1] for line in result.stdout.splitlines()}
    assert states["letta"] == "up" and states["postgres"] in ("up", "external") and states["model"] in ("up", "off")
    assert states["redis"] in ("up", "external")


def test_redis_answers_and_letta_keeps_background_runs_in_it(stack_config, letta):
    """Without Redis, background runs fail with 503; with it, a finished run's stream can be read again."""
    if not stack_config.redis_host:
        assert stackctl._redis_ping(stack_config.redis_port)
    agent = letta.agents.create(
        name="stack-test-background",
        model=settings().model,
        embedding=settings().embedding,
        include_base_tools=False,
        tags=[TAG],
        memory_blocks=[{"label": "persona", "value": "I answer in one word."}],
    )
    try:
        stream = letta.agents.messages.create(agent.id, messages=[{"role": "user", "content": "Say yes."}], streaming=True, background=True)
        first = list(stream)
        run_id = next(c.run_id for c in first if getattr(c, "run_id", None))
        replay = list(letta.runs.messages.stream(run_id, starting_after=0))
        kinds = lambda chunks: [c.message_type for c in chunks if c.message_type != "ping"]  # noqa: E731
        assert "assistant_message" in kinds(first) and kinds(replay) == kinds(first)
    finally:
        letta.agents.delete(agent.id)


def test_start_is_idempotent(stack_config):
    pids = {p: (stackctl.RUN / f"{p}.pid").read_text() for p in ("letta", "model", "redis") if (stackctl.RUN / f"{p}.pid").exists()}
    result = stack("start")
    assert result.returncode == 0, result.stderr
    assert "Letta server:" in result.stdout
    assert {p: (stackctl.RUN / f"{p}.pid").read_text() for p in pids} == pids  # nothing was restarted


def test_an_agent_survives_a_server_restart_and_a_stopped_server_is_reported(stack_config, letta):
    for old in letta.agents.list(tags=[TAG]):
        letta.agents.delete(old.id)
    cfg = settings()
    agent = letta.agents.create(
        name="stack-test-persistence",
        model=cfg.model,
        embedding=cfg.embedding,
        tags=[TAG],
        memory_blocks=[{"label": "human", "value": "Remember me across restarts."}],
    )
    try:
        assert stack("stop", "letta").returncode == 0
        assert stackctl.letta_state(stackctl.Config.load()) == "down"
        with pytest.raises(helpers.CourseSetupError, match="No Letta server is running"):
            helpers.wait_for_server(cfg)
        started = stack("start")
        assert started.returncode == 0, started.stderr
        again = helpers.wait_for_server(cfg)
        assert again.agents.retrieve(agent.id).name == "stack-test-persistence"
        assert again.agents.blocks.retrieve("human", agent_id=agent.id).value == "Remember me across restarts."
    finally:
        helpers.client(cfg).agents.delete(agent.id)


def test_unknown_model_handle_is_reported(stack_config):
    cfg = Settings(base_url=stack_config.letta_url, model="ollama/no-such-model")
    with pytest.raises(helpers.CourseSetupError, match="no model with handle 'ollama/no-such-model'.*Available"):
        helpers.wait_for_server(cfg)


def test_a_taken_port_is_one_clear_message():
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        with pytest.raises(stackctl.StackError, match=f"port {port} is already taken by another program"):
            stackctl._check_port_free("nothing-started-here", port)


def test_running_on_another_port_is_reported(stack_config):
    env = {**os.environ, "LETTA_PORT": str(_free_port())}
    result = stack("start", env=env)
    assert result.returncode != 0
    assert f"letta is already running on port {stack_config.letta_port}" in result.stderr


def test_missing_password_is_reported(secure_server):
    url, _ = secure_server
    with pytest.raises(helpers.CourseSetupError, match="requires a password and LETTA_SERVER_PASSWORD is not set"):
        helpers.wait_for_server(Settings(base_url=url), check_models=False)


def test_wrong_password_is_reported(secure_server):
    url, _ = secure_server
    with pytest.raises(helpers.CourseSetupError, match="LETTA_SERVER_PASSWORD is wrong"):
        helpers.wait_for_server(Settings(base_url=url, password="not-it"), check_models=False)


def test_right_password_is_accepted(secure_server):
    url, password = secure_server
    letta = helpers.wait_for_server(Settings(base_url=url, password=password))
    assert letta.agents.list(limit=1) is not None
