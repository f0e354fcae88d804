"""Where the local model's reading went: every generation in the model service's log, its new (not cached) prompt
tokens split by prompt part (instructions, tools, memory, messages, a guard's side question) and by purpose (the
reply, each guard's second look, the warm-up), with the seconds they took. Issue 29's first question: which tokens
are read again, and why.

    .venv/bin/python scripts/prompt_accounting.py [MODEL_LOG] [--from-line N] [--out FILE]

MODEL_LOG defaults to the running stack's (.course/logs/model.log). Only generations logged with their parts
(stack/local_model/engine.py) are split; the rest are counted as `unsplit`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from stack.local_model.prompt_parts import PARTS, read_again  # noqa: E402
from stack.processes import LOGS  # noqa: E402

MODEL_LOG = LOGS / "model.log"


def log_lines(path: Path = MODEL_LOG) -> list[str]:
    """The log's lines as `wc -l` counts them: llama.cpp writes carriage returns, which text mode reads as line ends."""
    return path.read_bytes().decode(errors="replace").split("\n") if path.exists() else []


def generations(lines: list[str]) -> list[dict]:
    out = []
    for line in lines:
        if line.startswith('{"generation"'):
            record = json.loads(line)
            if record.get("prompt_ms") is not None:  # not a cancelled generation's note
                out.append(record)
    return out


def account(records: list[dict]) -> dict:
    """The reading and writing of these generations, by prompt part and by purpose."""
    by_part = {part: {"tokens": 0, "seconds": 0.0} for part in PARTS}
    by_purpose: dict[str, dict] = {}
    ran_out_in: Counter = Counter()  # the first part read again: where the cached start ended
    unsplit = 0
    for g in records:
        read, seconds = g.get("prompt_n") or 0, (g.get("prompt_ms") or 0) / 1000
        empty = {"generations": 0, "read": 0, "reused": 0, "read_s": 0.0, "written": 0, "write_s": 0.0}
        purpose = by_purpose.setdefault(g["generation"], empty)
        purpose["generations"] += 1
        purpose["read"] += read
        purpose["reused"] += g.get("cache_n") or 0
        purpose["read_s"] += seconds
        purpose["written"] += g.get("predicted_n") or 0
        purpose["write_s"] += (g.get("predicted_ms") or 0) / 1000
        if not g.get("parts"):
            unsplit += 1
            continue
        again = read_again(g["parts"], g.get("cache_n") or 0)
        total = sum(again.values()) or 1
        for part, n in again.items():
            by_part[part]["tokens"] += n
            by_part[part]["seconds"] += seconds * n / total
        ran_out_in[next((part for part, n in again.items() if n), "nothing")] += 1
    rounded = {
        "by_part": {k: {"tokens": v["tokens"], "seconds": round(v["seconds"], 1)} for k, v in by_part.items()},
        "by_purpose": {k: {**v, "read_s": round(v["read_s"], 1), "write_s": round(v["write_s"], 1)} for k, v in by_purpose.items()},
    }
    purposes = by_purpose.values()
    return {
        "generations": len(records),
        "read_tokens": sum(p["read"] for p in purposes),
        "reused_tokens": sum(p["reused"] for p in purposes),
        "read_s": round(sum(p["read_s"] for p in purposes), 1),
        "written_tokens": sum(p["written"] for p in purposes),
        "write_s": round(sum(p["write_s"] for p in purposes), 1),
        **rounded,
        "cache_ran_out_in": dict(ran_out_in),
        "unsplit": unsplit,
    }


def table(figures: dict) -> str:
    rows = [
        f"{figures['generations']} generations: read {figures['read_tokens']} new tokens in {figures['read_s']} s "
        f"(reused {figures['reused_tokens']}), wrote {figures['written_tokens']} in {figures['write_s']} s",
        "",
        "| part read again | tokens | seconds | generations whose cache ran out here |",
        "|---|---|---|---|",
    ]
    for part, v in figures["by_part"].items():
        rows.append(f"| {part} | {v['tokens']} | {v['seconds']} | {figures['cache_ran_out_in'].get(part, 0)} |")
    rows += ["", "| purpose | generations | read | reused | read s | written | write s |", "|---|---|---|---|---|---|---|"]
    for purpose, v in sorted(figures["by_purpose"].items(), key=lambda kv: -kv[1]["read_s"] - kv[1]["write_s"]):
        rows.append(f"| {purpose} | {v['generations']} | {v['read']} | {v['reused']} | {v['read_s']} | {v['written']} | {v['write_s']} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Where the local model's prompt reading went, by prompt part.")
    parser.add_argument("log", nargs="?", type=Path, default=MODEL_LOG)
    parser.add_argument("--from-line", type=int, default=0, help="skip the log's first N lines (an earlier run's)")
    parser.add_argument("--out", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    if not args.log.is_file():
        raise SystemExit(f"no model log at {args.log}: start the stack (`make start`) and run something first")
    figures = account(generations(log_lines(args.log)[args.from_line :]))
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2) + "\n")
    print(table(figures))


if __name__ == "__main__":
    main()
