"""The local model service's log, read back: one JSON line per generation (stack/local_model/engine.py)."""

from __future__ import annotations

import json

from stack import parts


def generations(cfg) -> list[dict]:
    """Every generation line of the model's log, oldest first (the whole log: the tests count lines by index)."""
    lines = parts.MODEL.log(cfg, 10**9).splitlines()
    return [json.loads(line) for line in lines if line.startswith('{"generation"')]
