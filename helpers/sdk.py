"""Which letta-client this kernel runs, and the 1.7 conveniences the course shows that later releases removed.

The course pins letta-client 1.7.12 (the client Letta 0.16.8 locks) and teaches the forms that work on every
release first (`tools.create(source_code=...)`, a JSON schema instead of `BaseTool`). Where a lesson then shows
a 1.7 convenience the skill teaches, its cell starts with `if sdk.offers("tools.create_from_function"):`, so on
a newer SDK (`make run-lessons ARGS="--sdk 1.12.1"`) the cell says what was removed and when, and moves on.
Each skip is recorded for the runner's report when COURSE_SKIP_LOG names a file (the runner sets it).
"""

from __future__ import annotations

import json
import os
from importlib.metadata import version

from packaging.version import Version

from helpers import turn_log

# What the course shows that a letta-client release removed: name -> (the first release without it, what to use).
REMOVED = {
    "tools.create_from_function": ("1.12.1", "tools.create(source_code=inspect.getsource(func))"),
    "tools.upsert_from_function": ("1.12.1", "tools.upsert(source_code=inspect.getsource(func))"),
    "tools.add": ("1.12.1", "tools.upsert(source_code=..., args_json_schema=Model.model_json_schema())"),
    "BaseTool": ("1.12.1", "a plain function and args_json_schema"),
    "conversations.create(isolated_block_labels=)": ("1.11.0", 'extra_body={"isolated_block_labels": [...]}'),
}
SKIP_LOG = "COURSE_SKIP_LOG"


def installed() -> str:
    """The letta-client version this kernel imports."""
    return version("letta-client")


def offers(name: str) -> bool:
    """True if this kernel's letta-client still has `name` (a key of REMOVED); otherwise say so and record it."""
    removed_in, instead = REMOVED[name]
    if Version(installed()) < Version(removed_in):
        return True
    print(f"⤼ skipped: {name} was removed in letta-client {removed_in} (this kernel has {installed()}); use {instead}.")
    if os.environ.get(SKIP_LOG):
        with open(os.environ[SKIP_LOG], "a") as log:
            log.write(json.dumps({"name": name, "removed_in": removed_in}) + "\n")
    return False


def skipped(path) -> list[str]:
    """The names a run skipped, from its skip log (missing file: none). It is JSON lines, as the turn log is."""
    return [record["name"] for record in turn_log.read(path)]
