"""Start, stop and inspect the course's self-hosted stack: PostgreSQL, Redis, the local model service, the Letta server.

    python -m stack install      # create the two virtual environments and fetch the model weights (idempotent)
    python -m stack start        # install if needed, then start what is not running; waits until healthy
    python -m stack stop [part]  # stop everything this checkout started (or the parts named)
    python -m stack status       # each part: down, starting or up, with its port
    python -m stack logs [part]  # the last lines of a part's log
    python -m stack with -- CMD  # run CMD with the stack up; stop afterwards whatever this call started

Settings come from `.env` at the repository root (see `.env.example`); every one has a default. What runs where:
this package runs in .venv; stack/server_env/ in the Letta server's environment, stack/local_model/ in the model
service's. The parts themselves are described in stack/parts.py.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from filelock import FileLock, Timeout

from course import facts
from course.stack_config import Config
from stack import warm_up
from stack.environments import MODEL_VENV, SERVER_VENV, install
from stack.errors import StackError
from stack.parts import BY_NAME, PARTS
from stack.processes import RUN

LOCK_WAIT_S = 1800  # a first install with a cold cache takes minutes; a start's health waits are shorter
_LOCK = FileLock(RUN / "stack.lock")  # one object: re-entrant, so start() may install() under the same lock


@contextmanager
def one_at_a_time() -> Iterator[None]:
    """One install, start or stop of this checkout's stack at a time. A second `make start` (another terminal,
    the lab and the tests at once) waits for the first, then finds the parts up instead of starting them twice."""
    RUN.mkdir(parents=True, exist_ok=True)
    try:
        _LOCK.acquire(timeout=0)
    except Timeout:
        print("another start or stop of this stack is under way; waiting for it to finish …", flush=True)
        try:
            _LOCK.acquire(timeout=LOCK_WAIT_S)
        except Timeout:
            raise StackError(f"the stack stayed locked for {LOCK_WAIT_S} s ({_LOCK.lock_file}); is a start hung?") from None
    try:
        yield
    finally:
        _LOCK.release()


@one_at_a_time()
def start(cfg: Config) -> list[str]:
    """Start what is not running, in order; returns the names of the parts this call started."""
    if not SERVER_VENV.ready() or (cfg.local_model and not MODEL_VENV.ready()):
        install(cfg, verify_weights=True)
    started = [part.name for part in PARTS if part.start(cfg)]
    if cfg.local_model and "model" in started:  # its cache is empty: read a first turn's prompt into it
        warm_up.in_background()
    print(f"Letta server: {cfg.letta_url}  (API docs: {cfg.letta_url}/docs)")
    if cfg.local_model:
        print(f"Local model:  {cfg.model_url}/v1  (Letta handles: ollama/<model>)")
    return started


@one_at_a_time()
def stop(cfg: Config, names: list[str] | None = None) -> None:
    for part in reversed(PARTS):
        if (names is None or part.name in names) and not part.external(cfg):
            print(f"{part.name}: {'stopped' if part.stop(cfg) else 'was not running'}")


def status(cfg: Config) -> dict[str, str]:
    states = {part.name: part.state(cfg) for part in PARTS}
    for part in PARTS:
        print(f"{part.name:9} {states[part.name]:9} {part.where(cfg)}")
    return states


def run_with_stack(cfg: Config, command: list[str]) -> int:
    started = start(cfg)
    try:
        return subprocess.run(command, cwd=facts.ROOT).returncode
    finally:
        if started:
            print(f"stopping what this run started: {', '.join(started)}")
            stop(cfg, started)


def _names(given: list[str]) -> list[str] | None:
    unknown = set(given) - set(BY_NAME)
    if unknown:
        raise StackError(f"unknown part(s) {', '.join(sorted(unknown))}; choose from {', '.join(BY_NAME)}")
    return given or None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m stack", description="The course's self-hosted Letta stack.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("install")
    sub.add_parser("start")
    p_stop = sub.add_parser("stop")
    p_stop.add_argument("parts", nargs="*", help=f"{', '.join(BY_NAME)} (default: all)")
    sub.add_parser("status")
    p_logs = sub.add_parser("logs")
    p_logs.add_argument("part", nargs="?", choices=list(BY_NAME))
    p_logs.add_argument("-n", type=int, default=40)
    p_with = sub.add_parser("with")
    p_with.add_argument("cmd", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    cfg = Config.load()
    try:
        if args.command == "install":
            with one_at_a_time():
                install(cfg)
        elif args.command == "start":
            start(cfg)
        elif args.command == "stop":
            stop(cfg, _names(args.parts))
        elif args.command == "status":
            states = status(cfg)
            sys.exit(0 if all(s in ("up", "off", "external") for s in states.values()) else 3)
        elif args.command == "logs":
            for part in [BY_NAME[args.part]] if args.part else PARTS:
                print(f"----- {part.name}")
                print(part.log(cfg, args.n))
        elif args.command == "with":
            cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
            sys.exit(run_with_stack(cfg, cmd))
    except StackError as err:
        sys.exit(f"error: {err}")


if __name__ == "__main__":
    main()
