"""What an instructor needs when one stack serves a room (workshop mode, see helpers/lesson.py).

Each attendee sets COURSE_ATTENDEE=<name>; their lessons tag agents `attendee:<name>`, attach them to the identity
`attendee-<name>` and start every other name with `<name>--`. This module lists who is there and what they made,
and deletes it after the session.
"""

from __future__ import annotations

import re

from letta_client import Letta

from helpers.lesson import (
    ATTENDEE_KEY,
    ATTENDEE_TAG,
    LESSON_TAG,
    attendee_prefix,
    delete_agents,
    delete_identity,
    delete_if_present,
    delete_named,
    identities,
)

# A lesson's tools are named after its slug ("l03-tools" -> l03_tools_mortgage): shared by every attendee.
LESSON_TOOL = r"l\d\d_"


def attendees(letta: Letta) -> list[str]:
    """Everyone who has run a lesson: their identities, and the tags of their agents."""
    keys = [i["identifier_key"] for i in identities(letta)]
    tags = letta.tags.list(query_text=ATTENDEE_TAG, limit=1000)
    names = {k.removeprefix(ATTENDEE_KEY) for k in keys if k.startswith(ATTENDEE_KEY)}
    return sorted(names | {t.removeprefix(ATTENDEE_TAG) for t in tags if t.startswith(ATTENDEE_TAG)})


def agents(letta: Letta, attendee: str | None = None) -> list[dict]:
    """One row per agent of an attendee (or of every attendee): who, which lesson, name, id, created, last updated."""
    rows = []
    for name in [attendee] if attendee else attendees(letta):
        for agent in letta.agents.list(tags=[ATTENDEE_TAG + name], include=["agent.tags"], limit=500).items:
            lesson = next((t.removeprefix(LESSON_TAG) for t in agent.tags if t.startswith(LESSON_TAG)), "")
            row = {"attendee": name, "lesson": lesson, "name": agent.name, "id": agent.id}
            rows.append(row | {"created": agent.created_at, "updated": agent.updated_at})
    return rows


def cleanup(letta: Letta, attendee: str | None = None, tools: str = LESSON_TOOL) -> dict[str, int]:
    """Delete one attendee's objects; or every attendee's, then the tools matching `tools` that no agent uses any more.

    Tools are left alone when one attendee leaves: the others' lessons may have registered a tool and not yet attached it.
    """
    removed = {"agents": 0, "blocks": 0, "folders": 0, "identities": 0, "tools": 0}
    for name in [attendee] if attendee else attendees(letta):
        for kind, count in _cleanup_attendee(letta, name).items():
            removed[kind] += count
    if attendee is None:
        removed["tools"] = delete_unused_tools(letta, tools)
    return removed


def _cleanup_attendee(letta: Letta, name: str) -> dict[str, int]:
    removed = {"agents": 0, "blocks": 0, "folders": 0, "identities": 0}
    removed["agents"], removed["blocks"] = delete_agents(letta, letta.agents.list(tags=[ATTENDEE_TAG + name], limit=500).items)
    for kind, count in delete_named(letta, attendee_prefix(name)).items():  # what the lessons named
        removed[kind] += count
    for identity in identities(letta):
        if identity["identifier_key"] == ATTENDEE_KEY + name:  # exactly: "attendee-ana" is a prefix of "attendee-ana-b"
            removed["identities"] += delete_identity(letta, identity["id"])
    return removed


def delete_unused_tools(letta: Letta, pattern: str = LESSON_TOOL) -> int:
    """Delete the tools whose names match `pattern` (by default the lessons' tools) that no agent uses."""
    # Iterating the pages reads every agent (a page object may repeat one: the set does not mind).
    in_use = {tool.id for agent in letta.agents.list(include=["agent.tools"], limit=500) for tool in agent.tools}
    unused = [t.id for t in letta.tools.list(limit=500).items if re.match(pattern, t.name or "") and t.id not in in_use]
    return sum(delete_if_present(letta.tools.delete, tool_id) for tool_id in unused)
