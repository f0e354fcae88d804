"""Waiting for an agent's runs to end: a sleeptime agent works in the background, after the turn has returned."""

import time

from helpers.client import client
from helpers.progress import waiting

ENDED = ("completed", "failed", "cancelled")


def wait_for_runs(agent_id: str, what: str = "the background run", expect: str | None = None, timeout: float = 300, letta=None) -> list:
    """Poll `runs.list(agent_id=...)` until the agent has a run and every run has ended; return the runs."""
    letta = letta or client()
    with waiting(what, expect=expect) as wait:  # a live clock and the latest statuses while it polls
        deadline = time.time() + timeout
        while time.time() < deadline:
            runs = letta.runs.list(agent_id=agent_id, limit=10).items
            wait.note(", ".join(r.status for r in runs) or "not started yet")
            if runs and all(r.status in ENDED for r in runs):
                return runs
            time.sleep(2)
    raise TimeoutError(f"{what} is still going after {timeout:.0f} s: see `letta.runs.list(agent_id={agent_id!r})` and `make logs`")
