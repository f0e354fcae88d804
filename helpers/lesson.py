"""Per-lesson naming, tagging and cleanup, so re-running a lesson starts from a clean slate.

Every agent a lesson creates carries the tag `course-lesson:<slug>`; every other object it creates has a name
starting with the slug: `<slug>-...` for blocks, folders and identities' keys, `<slug_with_underscores>_...` for tools (a tool's
name is its Python function name). `cleanup()` deletes exactly those, never another lesson's objects or the
learner's own. Slugs start with a letter (e.g. "l01-client") so they can prefix a function name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from letta_client import Letta, NotFoundError

from helpers.client import client as default_client
from helpers.settings import settings


@dataclass
class Lesson:
    slug: str  # e.g. "01-client"; also the prefix of every name the lesson creates
    letta: Letta | None = None
    created_agents: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.slug[:1].isalpha() or any(c in self.slug for c in ". /"):
            raise ValueError("a lesson slug starts with a letter and has no dots, spaces or slashes (agent names with '.' break export)")
        self.letta = self.letta or default_client()

    @property
    def tag(self) -> str:
        return f"course-lesson:{self.slug}"

    @property
    def tool_prefix(self) -> str:
        return self.slug.replace("-", "_") + "_"

    def name(self, suffix: str) -> str:
        return f"{self.slug}-{suffix}"

    def create_agent(self, name: str, **kwargs):
        """Create an agent with the course's model and embedding, named and tagged for this lesson."""
        cfg = settings()
        kwargs.setdefault("model", cfg.model)
        kwargs.setdefault("embedding", cfg.embedding)
        kwargs["tags"] = [*kwargs.get("tags", []), self.tag]
        agent = self.letta.agents.create(name=self.name(name), **kwargs)
        self.created_agents.append(agent.id)
        return agent

    # `.items` reads one page: with this server, iterating a page object can repeat items while it pages.
    def agents(self) -> list:
        return self.letta.agents.list(tags=[self.tag], limit=500).items

    def cleanup(self) -> dict[str, int]:
        """Delete this lesson's agents (by tag) and named objects (by prefix); returns what was deleted."""
        removed = {"agents": 0, "tools": 0, "blocks": 0, "folders": 0, "identities": 0}
        for agent in self.agents():
            removed["agents"] += self._delete(self.letta.agents.delete, agent.id)
        prefix = self.slug + "-"
        for tool in self.letta.tools.list(limit=500).items:
            if (tool.name or "").startswith(self.tool_prefix):
                removed["tools"] += self._delete(self.letta.tools.delete, tool.id)
        for block in self.letta.blocks.list(limit=500).items:
            if (block.label or "").startswith(prefix):
                removed["blocks"] += self._delete(self.letta.blocks.delete, block.id)
        for folder in self.letta.folders.list(limit=500).items:
            if (folder.name or "").startswith(prefix):
                removed["folders"] += self._delete(self.letta.folders.delete, folder.id)
        # letta-client 1.7.12 has no `client.identities`: the REST route is called directly (see lesson 05).
        for identity in self.letta.get("/v1/identities/", options={"params": {"limit": 500}}, cast_to=object):
            if identity.get("identifier_key", "").startswith(prefix):
                self.letta.delete(f"/v1/identities/{identity['id']}", cast_to=object)
                removed["identities"] += 1
        self.created_agents.clear()
        return removed

    @staticmethod
    def _delete(delete, object_id: str) -> int:
        try:
            delete(object_id)
            return 1
        except NotFoundError:
            return 0  # already gone: cleanup is idempotent
