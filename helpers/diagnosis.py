"""When a call fails because a part of the course stack has died: say which part, and what to run.

The Letta server reports its own parts' deaths in words that mislead a learner ("Failed to connect to OpenAI"
when the local model service is gone, "An unknown error occurred" when PostgreSQL is). So when a call to the
course's own stack fails with a connection error or a 5xx, the notebook asks each part directly, as
`make status` would, and prints one line on top of the SDK's error.
"""

from __future__ import annotations

import socket

import httpx
from letta_client import APIConnectionError, APIStatusError

from course import facts
from course.stack_config import Config
from helpers.settings import Settings, settings

FIX = "Run `make start` (or `python -m stack start`): it starts what is down. Your agents, blocks and messages are kept in the database."


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=3).status_code == 200
    except httpx.HTTPError:
        return False


def parts_down(cfg: Config | None = None) -> list[str]:
    """The parts of this checkout's stack that do not answer, in start order, each with what was asked."""
    cfg = cfg or Config.load()
    down = []
    if not cfg.pg_uri and not _answers(facts.LOOPBACK, cfg.pg_port):
        down.append(f"PostgreSQL (nothing answers on {facts.LOOPBACK}:{cfg.pg_port})")
    if not _answers(cfg.redis_host or facts.LOOPBACK, cfg.redis_port):
        down.append(f"Redis (nothing answers on {cfg.redis_host or facts.LOOPBACK}:{cfg.redis_port})")
    if cfg.local_model and not _http_ok(cfg.model_health):
        down.append(f"the local model service ({cfg.model_health} does not answer)")
    if not _http_ok(cfg.letta_health):
        down.append(f"the Letta server ({cfg.letta_url} does not answer)")
    return down


def explain(err: BaseException, cfg: Settings | None = None) -> str | None:
    """One line for a failed call to the course's own stack, if a part of it is down; None otherwise."""
    if not isinstance(err, APIConnectionError) and not (isinstance(err, APIStatusError) and err.status_code >= 500):
        return None
    cfg, stack = cfg or settings(), Config.load()
    if cfg.base_url.rstrip("/") != stack.letta_url:
        return None  # another server (a workshop's, Letta Cloud): its parts are not ours to ask
    down = parts_down(stack)
    if not down:
        return None
    return f"Part of the course stack is down: {'; '.join(down)}. {FIX}"


def _show(shell, etype, value, tb, tb_offset=None):
    shell.showtraceback((etype, value, tb), tb_offset=tb_offset)
    line = explain(value)
    if line:
        print(f"\n{line}")


def explain_in_notebooks() -> None:
    """In a notebook: every SDK error of a cell is followed by that line when a part is down (IPython's custom
    exception hook; the error itself is shown as always)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None:
        shell.set_custom_exc((APIConnectionError, APIStatusError), _show)
