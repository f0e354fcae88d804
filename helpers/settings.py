"""Course settings, read from `.env` at the repository root (python-dotenv), then from the environment.

| variable              | default                               | meaning                                          |
|-----------------------|---------------------------------------|--------------------------------------------------|
| LETTA_BASE_URL        | http://$LETTA_HOST:$LETTA_PORT        | the Letta server the notebooks talk to           |
| LETTA_HOST, LETTA_PORT | 127.0.0.1, 8283                      | where the course stack's server listens (`make start` reads them too) |
| LETTA_SERVER_PASSWORD | (none)                                | the server's password, if it runs in secure mode |
| LETTA_API_KEY         | (none)                                | a Letta Cloud key (used only if no base URL set) |
| LETTA_MODEL           | the local model's handle              | the model handle lessons give their agents       |
| LETTA_EMBEDDING       | the local embedding model's handle    | the embedding handle lessons give their agents   |
| LETTA_TIMEOUT         | 600                                   | seconds the client waits for one request         |
| COURSE_ATTENDEE       | (none)                                | workshop mode: your name on a shared server      |

The defaults are the course's shared facts (course/facts.py).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from course import environment, facts
from course.stack_config import Config

DEFAULT_BASE_URL = facts.letta_url(facts.LOOPBACK, facts.LETTA_PORT.default)
DEFAULT_MODEL = facts.LOCAL_MODEL.handle
DEFAULT_EMBEDDING = facts.EMBEDDING_MODEL.handle
# An attendee's name starts the names of their objects ("ana--l02-memory-team"); single hyphens only, so that
# "--" always ends the name and one attendee's prefix never matches another's ("ana--" vs "ana-b--").
ATTENDEE_NAME = re.compile(r"[A-Za-z0-9]+(-[A-Za-z0-9]+)*")


@dataclass(frozen=True)
class Settings:
    base_url: str = DEFAULT_BASE_URL
    password: str | None = None
    api_key: str | None = None
    model: str = DEFAULT_MODEL
    embedding: str = DEFAULT_EMBEDDING
    # A fresh agent's first turn on the local CPU model takes a minute or more: the SDK's 60 s default is too short.
    timeout: float = 600.0
    attendee: str | None = None  # workshop mode: everything a lesson creates is this attendee's (helpers/lesson.py)

    def __post_init__(self) -> None:
        if self.attendee is not None and not (len(self.attendee) <= 32 and ATTENDEE_NAME.fullmatch(self.attendee)):
            raise ValueError(
                f"COURSE_ATTENDEE={self.attendee!r} is not a usable name: use up to 32 letters and digits, "
                "with single hyphens between them (e.g. ana or team-3)."
            )

    @classmethod
    def from_env(cls, env_file: Path | None = None) -> Settings:
        env = environment.read(env_file).get
        return cls(
            # The stack on another host or port (.env, as the README suggests when 8283 is taken) is still the
            # course's own server: follow it unless a base URL says otherwise.
            base_url=(env("LETTA_BASE_URL") or Config.load(env_file).letta_url).rstrip("/"),
            password=env("LETTA_SERVER_PASSWORD") or None,
            api_key=env("LETTA_API_KEY") or None,
            model=env("LETTA_MODEL") or DEFAULT_MODEL,
            embedding=env("LETTA_EMBEDDING") or DEFAULT_EMBEDDING,
            timeout=float(env("LETTA_TIMEOUT") or 600),
            attendee=env("COURSE_ATTENDEE") or None,
        )

    @property
    def token(self) -> str | None:
        """What the SDK sends as its bearer token: the server password, else a Cloud API key."""
        return self.password or self.api_key


def settings() -> Settings:
    return Settings.from_env()


def use(base_url: str | None = None, model: str | None = None, embedding: str | None = None) -> Settings:
    """Apply a notebook's `parameters` cell (papermill): a value given here overrides .env for this kernel."""
    for key, value in (("LETTA_BASE_URL", base_url), ("LETTA_MODEL", model), ("LETTA_EMBEDDING", embedding)):
        if value:
            os.environ[key] = value
    return settings()
