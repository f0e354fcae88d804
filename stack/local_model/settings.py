"""What the model service runs with: every value from its command line (`--help`)."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, fields

from course import facts


@dataclass(frozen=True)
class Settings:
    """The stack gives every value on the command line (stack/parts.py, model_command, from `.env`'s LOCAL_MODEL_*
    variables); nothing is read from the environment."""

    model_path: str = ""
    host: str = facts.LOOPBACK
    port: int = facts.MODEL_PORT.default
    model_name: str = facts.LOCAL_MODEL.name
    context: int = facts.LOCAL_MODEL.context_window
    threads: int = os.cpu_count() or 2
    max_tokens: int = 512
    temperature: str = "0"  # a number, or "request": honour the client's temperature
    seed: int = 42
    dump_dir: str = ""  # debugging aid: keep each request as the Letta server sent it
    cache_dir: str = ""  # where the warm-up's prompt state is kept between starts (empty: read it at every start)

    @classmethod
    def from_args(cls, argv: list[str] | None = None) -> Settings:
        parser = argparse.ArgumentParser(prog="python -m stack.local_model.server", description="The course's local model service.")
        for field in fields(cls):
            kind = {"int": int, "str": str}[field.type]
            parser.add_argument(f"--{field.name.replace('_', '-')}", type=kind, default=field.default)
        return cls(**vars(parser.parse_args(argv)))
