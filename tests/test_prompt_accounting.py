"""The accounting of the model's reading (scripts/prompt_accounting.py) from generation lines as the service logs them."""

import json

from scripts import prompt_accounting as pa


def _line(purpose: str, reused: int, read: int, parts: dict | None, ms: int = 1000) -> str:
    record = {"generation": purpose, "prompt_n": read, "cache_n": reused, "prompt_ms": ms, "predicted_n": 10, "predicted_ms": 500}
    return json.dumps({**record, **({"parts": parts} if parts else {})})


def test_new_tokens_are_split_by_the_part_the_cache_ran_out_in():
    parts = {"instructions": 300, "tools": 500, "memory": 100, "messages": 100}
    lines = [
        "INFO something else",
        _line("prefill: agent", 0, 1000, parts, ms=20000),  # nothing cached: every part read
        _line("reply", 800, 200, parts, ms=4000),  # a fresh agent: its memory and messages
        _line("reply", 950, 50, parts, ms=1000),  # the same agent again: only messages
        _line("persona question", 0, 60, {"side question": 60}),
        _line("reply", 10, 20, None),  # an old line, without parts
        json.dumps({"generation": "reply", "cancelled_after_chunks": 3}),
    ]
    figures = pa.account(pa.generations(lines))
    assert figures["generations"] == 5 and figures["unsplit"] == 1
    assert figures["by_part"]["instructions"]["tokens"] == 300 and figures["by_part"]["tools"]["tokens"] == 500
    assert figures["by_part"]["memory"]["tokens"] == 200 and figures["by_part"]["messages"]["tokens"] == 100 + 100 + 50
    assert figures["by_part"]["memory"]["seconds"] == 2.0 + 2.0  # 100 of 1000 tokens of 20 s, 100 of 200 of 4 s
    assert figures["cache_ran_out_in"] == {"instructions": 1, "memory": 1, "messages": 1, "side question": 1}
    assert figures["by_purpose"]["reply"]["generations"] == 3 and figures["read_tokens"] == 1330
    assert "| memory | 200 | 4.0 | 1 |" in pa.table(figures)
