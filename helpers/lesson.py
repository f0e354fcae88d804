"""Per-lesson naming, tagging and cleanup, so re-running a lesson starts from a clean slate.

Every agent a lesson creates carries the tag `course-lesson:<slug>`; every other object it creates has a name
starting with the slug: `<slug>-...` for blocks, folders and identities' keys, `<slug_with_underscores>_...` for tools (a tool's
name is its Python function name). `cleanup()` deletes exactly those, never another lesson's objects or the
learner's own. Slugs start with a letter (e.g. "l01-client") so they can prefix a function name.

Workshop mode (`COURSE_ATTENDEE=ana`, many attendees on one server): agents also carry `attendee:ana` and are
attached to the attendee's identity (`attendee-ana`, created on first use); names start with `ana--<slug>-`, so
two attendees running the same lesson never collide, and `cleanup()` deletes only that attendee's objects.
Tools are the exception: their names are Python function names, global on the server, so every attendee
registering a lesson's tool shares one tool. An attendee's cleanup therefore leaves tools alone (another
attendee's agent may be using them); the instructor removes them after the session (helpers/workshop.py).
A run without an attendee never touches agents that carry an attendee's tag.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from letta_client import ConflictError, Letta, NotFoundError

from helpers.client import client as default_client
from helpers.settings import Settings, settings

LESSON_TAG = "course-lesson:"  # + slug, on every agent a lesson creates
ATTENDEE_TAG = "attendee:"  # + name, on every agent an attendee's lesson creates
ATTENDEE_KEY = "attendee-"  # + name, the identifier_key of the attendee's Letta identity


def attendee_prefix(attendee: str) -> str:
    """The start of every name an attendee's lessons give (settings.ATTENDEE_NAME has no "--")."""
    return f"{attendee}--"


def attendee_identity(letta: Letta, attendee: str) -> str:
    """The id of the attendee's identity (identity_type "user"), created on first use."""
    key = ATTENDEE_KEY + attendee
    query = {"params": {"identifier_key": key}}
    found = letta.get("/v1/identities/", options=query, cast_to=object)
    if not found:
        body = {"identifier_key": key, "name": attendee, "identity_type": "user"}
        try:
            return letta.post("/v1/identities/", body=body, cast_to=object)["id"]
        except ConflictError:  # another kernel of the same attendee created it just now
            found = letta.get("/v1/identities/", options=query, cast_to=object)
    return found[0]["id"]


@dataclass
class Lesson:
    slug: str  # e.g. "01-client"; also the prefix of every name the lesson creates
    letta: Letta | None = None
    created_agents: list[str] = field(default_factory=list)
    cfg: Settings | None = None  # default: settings() from .env; its `attendee` turns on workshop mode

    def __post_init__(self) -> None:
        if not self.slug[:1].isalpha() or any(c in self.slug for c in ". /"):
            raise ValueError("a lesson slug starts with a letter and has no dots, spaces or slashes (agent names with '.' break export)")
        self.cfg = self.cfg or settings()
        self.letta = self.letta or default_client(self.cfg)
        self._identity_id: str | None = None

    @property
    def attendee(self) -> str | None:
        return self.cfg.attendee

    @property
    def tag(self) -> str:
        return LESSON_TAG + self.slug

    @property
    def tags(self) -> list[str]:
        """The tags on every agent this lesson creates: list them with `match_all_tags=True`."""
        return [self.tag, ATTENDEE_TAG + self.attendee] if self.attendee else [self.tag]

    @property
    def tool_prefix(self) -> str:
        return self.slug.replace("-", "_") + "_"

    @property
    def prefix(self) -> str:
        """The start of every name this lesson gives: `<slug>-`, or `<attendee>--<slug>-` in workshop mode."""
        return (attendee_prefix(self.attendee) if self.attendee else "") + self.slug + "-"

    def name(self, suffix: str) -> str:
        return self.prefix + suffix

    def create_agent(self, name: str, **kwargs):
        """Create an agent with the course's model and embedding, named and tagged for this lesson (and attendee)."""
        kwargs.setdefault("model", self.cfg.model)
        kwargs.setdefault("embedding", self.cfg.embedding)
        kwargs["tags"] = [*kwargs.get("tags", []), *self.tags]
        if self.attendee:
            self._identity_id = self._identity_id or attendee_identity(self.letta, self.attendee)
            kwargs["identity_ids"] = [*kwargs.get("identity_ids", []), self._identity_id]
        agent = self.letta.agents.create(name=self.name(name), **kwargs)
        self.created_agents.append(agent.id)
        return agent

    # `.items` reads one page: with this server, iterating a page object can repeat items while it pages.
    def agents(self) -> list:
        """This lesson's agents: the attendee's own in workshop mode, otherwise those no attendee owns."""
        if self.attendee:
            return self.letta.agents.list(tags=self.tags, match_all_tags=True, limit=500).items
        found = self.letta.agents.list(tags=[self.tag], include=["agent.tags"], limit=500).items
        return [a for a in found if not any(t.startswith(ATTENDEE_TAG) for t in a.tags)]

    def cleanup(self) -> dict[str, int]:
        """Delete this lesson's agents (by tag) and named objects (by prefix); returns what was deleted."""
        removed = {"agents": 0, "tools": 0, "blocks": 0, "folders": 0, "identities": 0}
        removed["agents"], removed["blocks"] = delete_agents(self.letta, self.agents())
        if not self.attendee:  # shared by every attendee in workshop mode: the instructor deletes them (see above)
            for tool in self.letta.tools.list(limit=500).items:
                if (tool.name or "").startswith(self.tool_prefix):
                    removed["tools"] += delete_if_present(self.letta.tools.delete, tool.id)
        for kind, count in delete_named(self.letta, self.prefix).items():
            removed[kind] += count
        self.created_agents.clear()
        return removed


def delete_if_present(delete, object_id: str) -> int:
    """1 if `delete(object_id)` deleted it, 0 if it was already gone: cleanup is idempotent."""
    try:
        delete(object_id)
        return 1
    except NotFoundError:
        return 0


def exists(retrieve, object_id: str) -> bool:
    """Whether `retrieve(object_id)` finds it (a 404 means no)."""
    try:
        retrieve(object_id)
        return True
    except NotFoundError:
        return False


def delete_agents(letta: Letta, agents: list) -> tuple[int, int]:
    """Delete the agents, then their memory blocks that no other agent holds; returns (agents, blocks) deleted.

    Deleting an agent leaves its blocks in the database, so without this every lesson run would leave some behind.
    """
    memory, deleted = set(), 0
    for agent in agents:
        memory |= {b.id for b in letta.agents.blocks.list(agent.id, limit=500).items}
        deleted += delete_if_present(letta.agents.delete, agent.id)
    unused = [b for b in memory if not letta.blocks.agents.list(b, limit=1).items]  # shared memory stays
    return deleted, sum(delete_if_present(letta.blocks.delete, b) for b in unused)


def identities(letta: Letta) -> list[dict]:
    # letta-client 1.7.12 has no `client.identities`: the REST route is called directly (see lesson 05).
    return letta.get("/v1/identities/", options={"params": {"limit": 500}}, cast_to=object)


def delete_identity(letta: Letta, identity_id: str) -> int:
    return delete_if_present(lambda i: letta.delete(f"/v1/identities/{i}", cast_to=object), identity_id)


def delete_named(letta: Letta, prefix: str) -> dict[str, int]:
    """Delete the blocks (by label), folders and identities (by key) whose names start with `prefix`."""
    removed = {"blocks": 0, "folders": 0, "identities": 0}
    # label_search narrows the list on the server (ILIKE, so the startswith check stays): orphaned blocks pile up past 500.
    for block in letta.blocks.list(label_search=prefix, limit=500).items:
        if (block.label or "").startswith(prefix):
            removed["blocks"] += delete_if_present(letta.blocks.delete, block.id)
    for folder in letta.folders.list(limit=500).items:
        if (folder.name or "").startswith(prefix):
            removed["folders"] += delete_if_present(letta.folders.delete, folder.id)
    for identity in identities(letta):
        if identity.get("identifier_key", "").startswith(prefix):
            removed["identities"] += delete_identity(letta, identity["id"])
    return removed
