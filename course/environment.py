"""The course's settings as the notebooks and the stack both read them: `.env` at the repository root, then the
real environment, which wins (papermill, CI and a learner's shell set variables there)."""

from __future__ import annotations

import os
from pathlib import Path

from dotenv import dotenv_values

from course import facts

ENV_FILE = facts.ROOT / ".env"


def read(env_file: Path | None = None) -> dict[str, str]:
    """Every setting that has a value; `env_file` replaces `.env` (the tests give their own)."""
    values = {**dotenv_values(env_file or ENV_FILE), **os.environ}
    return {key: value for key, value in values.items() if value}
