"""Which agent (and conversation) belongs to which of your users, kept in a SQLite file you can open.

Letta stores agents; it does not know your users. An application keeps its own mapping from its user ids to
Letta ids, in its own database. This is that mapping at its smallest: one table, one file
(`workspace/<name>.sqlite` by default, git-ignored), inspectable with `sqlite3` or any SQLite browser.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

WORKSPACE = Path(__file__).resolve().parent.parent / "workspace"


@dataclass(frozen=True)
class UserRecord:
    user_id: str
    agent_id: str
    conversation_id: str | None


class UserDirectory:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._db() as db:
            db.execute("CREATE TABLE IF NOT EXISTS users (user_id TEXT PRIMARY KEY, agent_id TEXT NOT NULL, conversation_id TEXT)")

    @classmethod
    def in_workspace(cls, name: str) -> UserDirectory:
        return cls(WORKSPACE / f"{name}.sqlite")

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path)
        try:
            with db:  # commits, or rolls back on error
                yield db
        finally:
            db.close()

    def save(self, user_id: str, agent_id: str, conversation_id: str | None = None) -> None:
        with self._db() as db:
            db.execute("INSERT OR REPLACE INTO users VALUES (?, ?, ?)", (user_id, agent_id, conversation_id))

    def get(self, user_id: str) -> UserRecord | None:
        with self._db() as db:
            row = db.execute("SELECT user_id, agent_id, conversation_id FROM users WHERE user_id = ?", (user_id,)).fetchone()
        return UserRecord(*row) if row else None

    def all(self) -> list[UserRecord]:
        with self._db() as db:
            return [UserRecord(*row) for row in db.execute("SELECT user_id, agent_id, conversation_id FROM users ORDER BY user_id")]

    def forget(self, user_id: str) -> None:
        with self._db() as db:
            db.execute("DELETE FROM users WHERE user_id = ?", (user_id,))

    def clear(self) -> None:
        with self._db() as db:
            db.execute("DELETE FROM users")
