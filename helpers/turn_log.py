"""A log of the agent turns the course's client makes: how long each took and the tokens it used.

Off unless COURSE_TURN_LOG names a file (the course runner and the benchmark set it for each lesson). Then every
POST .../messages (to an agent or a conversation, streamed or not) appends one JSON line once its response has
been read to the end (the course client's transport, helpers/transport.py, calls `write`):

    {"path": "/v1/agents/agent-.../messages", "status": 200, "seconds": 12.4,
     "prompt_tokens": 2391, "completion_tokens": 41, "steps": 2}

Token figures come from the server's own usage report: the `usage` of a JSON response, or the
`usage_statistics` event of a stream. The log is written by an httpx transport, so the lesson code is unchanged.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

TURN_PATH = re.compile(r"/v1/(agents|conversations)/[^/]+/messages(/stream)?/?$")
ENV = "COURSE_TURN_LOG"


def usage_of(body: bytes, content_type: str) -> dict:
    """Token usage from a turn's response body: a JSON LettaResponse or a server-sent-event stream."""
    usage: dict = {}
    if "json" in content_type:
        try:
            usage = json.loads(body).get("usage") or {}
        except (ValueError, AttributeError):  # an error's body, say: no usage, so no tokens
            usage = {}
    else:
        for line in body.decode("utf-8", "replace").splitlines():
            if line.startswith("data: ") and '"usage_statistics"' in line:
                try:
                    usage = json.loads(line[6:])
                except ValueError:
                    continue
    return {
        "prompt_tokens": usage.get("prompt_tokens") or 0,
        "completion_tokens": usage.get("completion_tokens") or 0,
        "steps": usage.get("step_count") or 0,
    }


def write(log: str, request_path: str, status: int, seconds: float, body: bytes, content_type: str) -> None:
    """Append one turn's line to the log file."""
    line = {"path": request_path, "status": status, "seconds": round(seconds, 3), **usage_of(body, content_type)}
    with open(log, "a") as f:
        f.write(json.dumps(line) + "\n")


def read(path: str | Path) -> list[dict]:
    """The turns recorded in a log file (none if it does not exist)."""
    path = Path(path)
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def by_kind(turns: list[dict]) -> dict[str, dict]:
    """The turns (in the order they ran) in three kinds, with their count and seconds: `first`, an agent's (or a
    conversation's) first turn, whose memory, extra tools and history no earlier prompt held; `again`, the same
    one as the turn before, whose prompt the model's slot still holds; `back`, one seen before but after another's
    turn, whose prompt the slot no longer holds past the shared instructions. Where a course's seconds go."""
    kinds = {kind: {"turns": 0, "seconds": 0.0} for kind in ("first", "again", "back")}
    seen, last = set(), None
    for turn in turns:
        owner = turn["path"].split("/")[3]  # /v1/agents/<id>/messages or /v1/conversations/<id>/messages
        kind = "again" if owner == last else "back" if owner in seen else "first"
        kinds[kind]["turns"] += 1
        kinds[kind]["seconds"] = round(kinds[kind]["seconds"] + turn["seconds"], 1)
        seen.add(owner)
        last = owner
    return kinds
