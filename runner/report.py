"""The course runner's report: report.json (everything), report.md and report.html (tables for people).

One table per model (lesson, pass/fail, wall time, turns, tokens, how often the model chose otherwise, first
error) and, when more than one model ran, a side-by-side comparison of pass/fail and time per lesson.
"""

from __future__ import annotations

import html
import json
import time
from pathlib import Path

from runner.execute import LessonResult


def _by_model(results: list[LessonResult]) -> dict[str, list[LessonResult]]:
    models: dict[str, list[LessonResult]] = {}
    for result in results:
        models.setdefault(result.model, []).append(result)
    return models


def _error_line(result: LessonResult) -> str:
    if not result.error:
        return ""
    cell = "" if result.error["cell"] is None else f"cell {result.error['cell']}: "
    text = f"{cell}{result.error['ename']}: {result.error['evalue']}".strip()
    first = text.splitlines()[0] if text else ""
    return first[:200] + ("…" if len(first) > 200 else "")


def tables(results: list[LessonResult]) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) for each table of the report; Markdown and HTML render the same tables."""
    out = []
    for model, rows in _by_model(results).items():
        body = [
            [
                r.lesson,
                "pass" if r.passed else "FAIL",
                f"{r.wall_s:.1f}",
                str(r.turns),
                f"{r.prompt_tokens:,}",
                f"{r.completion_tokens:,}",
                ", ".join(map(str, r.silent_cells)),
                ", ".join(r.sdk_skips),
                str(len(r.model_differed)),
                _error_line(r),
            ]
            for r in rows
        ]
        header = ["lesson", "result", "wall s", "turns", "prompt tokens", "completion tokens", "silent cells", "SDK skips"]
        header += ["model chose otherwise", "first error"]
        out.append((f"Model: {model}", header, body))
    models = _by_model(results)
    if len(models) > 1:
        lessons = list(dict.fromkeys(r.lesson for r in results))
        cell = {(r.model, r.lesson): r for r in results}
        header = ["lesson", *models]
        body = []
        for lesson in lessons:
            row = [lesson]
            for model in models:
                r = cell.get((model, lesson))
                row.append("-" if r is None else f"{'pass' if r.passed else 'FAIL'} {r.wall_s:.0f} s")
            body.append(row)
        out.append(("Side by side", header, body))
    return out


def summary(results: list[LessonResult]) -> dict:
    return {
        "lessons_run": len(results),
        "passed": sum(r.passed for r in results),
        "failed": [f"{r.lesson} ({r.model})" for r in results if not r.passed],
        "wall_s": round(sum(r.wall_s for r in results), 1),
        "turns": sum(r.turns for r in results),
        "prompt_tokens": sum(r.prompt_tokens for r in results),
        "completion_tokens": sum(r.completion_tokens for r in results),
        "silent_cells": {r.lesson: r.silent_cells for r in results if r.silent_cells},
        "model_differed": {r.lesson: r.model_differed for r in results if r.model_differed},
    }


def _provenance(meta: dict) -> str:
    """What ran the lessons, and with which SDK: " · nbmake · letta-client 1.7.12"."""
    return "".join(f" · {meta[k]}" for k in ("executor", "sdk") if meta.get(k))


def _markdown(results: list[LessonResult], meta: dict) -> str:
    s = summary(results)
    lines = [
        "# Course run",
        "",
        f"{meta['when']} · {s['passed']}/{s['lessons_run']} passed · {s['wall_s']:.0f} s · {s['turns']} agent turns · "
        f"{s['prompt_tokens']:,} prompt + {s['completion_tokens']:,} completion tokens{_provenance(meta)}",
        "",
    ]
    for title, header, body in tables(results):
        lines += [f"## {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in body]
        lines.append("")
    failed = [r for r in results if r.error]
    if failed:
        lines += ["## First failing cell of each failed lesson", ""]
        for r in failed:
            lines += [f"### {r.lesson} ({r.model}) — `{r.executed}`", "", "```python", r.error["source"].rstrip(), "```"]
            lines += ["", "```", f"{r.error['ename']}: {r.error['evalue']}".rstrip(), "```", ""]
    lines.append(
        "Turns and tokens count the agent turns the lesson's own client asked for (background work such as sleeptime "
        "runs is not in them). Silent cells ran longer than 5 s and left no clock line (helpers/progress.py): in "
        "JupyterLab nothing moved on screen while they ran. SDK skips are 1.7 conveniences a newer letta-client "
        'removed (helpers/sdk.py): the lesson showed the portable form and skipped them. "Model chose otherwise" '
        "counts the steps the model did not take where a lesson expected them (helpers/model_checks.py): each cell "
        "says what it did instead; the lesson stops only where the next cells need the step. The executed notebooks "
        "are next to this report."
    )
    return "\n".join(lines) + "\n"


def _verdict(cell: str) -> str:
    """The CSS class of a table cell: pass or FAIL when the cell starts with one."""
    word = cell.split(" ", 1)[0]
    return word if word in ("pass", "FAIL") else ""


def _html(results: list[LessonResult], meta: dict) -> str:
    e = html.escape
    s = summary(results)
    parts = [
        "<!doctype html><meta charset='utf-8'><title>Course run</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:2em}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}.FAIL{background:#fdd}.pass{background:#dfd}"
        "pre{background:#f6f6f6;padding:8px;overflow:auto}</style>",
        f"<h1>Course run</h1><p>{e(meta['when'])} · {s['passed']}/{s['lessons_run']} passed · {s['wall_s']:.0f} s · "
        f"{s['turns']} agent turns · {s['prompt_tokens']:,} prompt + {s['completion_tokens']:,} completion tokens"
        f"{e(_provenance(meta))}</p>",
    ]
    for title, header, body in tables(results):
        parts.append(f"<h2>{e(title)}</h2><table><tr>" + "".join(f"<th>{e(h)}</th>" for h in header) + "</tr>")
        for row in body:
            cells = "".join(f"<td class='{_verdict(c)}'>{e(c)}</td>" for c in row)
            parts.append(f"<tr>{cells}</tr>")
        parts.append("</table>")
    for r in (r for r in results if r.error):
        parts.append(f"<h3>{e(r.lesson)} ({e(r.model)}): first failing cell</h3>")
        parts.append(f"<pre>{e(r.error['source'])}</pre><pre>{e(r.error['ename'])}: {e(r.error['evalue'])}</pre>")
    return "\n".join(parts) + "\n"


def write(results: list[LessonResult], out_dir: Path, meta: dict | None = None) -> dict[str, Path]:
    """Write report.json, report.md and report.html into `out_dir`; returns their paths."""
    meta = {"when": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), **(meta or {})}
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {kind: out_dir / f"report.{kind}" for kind in ("json", "md", "html")}
    document = {**meta, "summary": summary(results), "lessons": [r.to_json() for r in results]}
    paths["json"].write_text(json.dumps(document, indent=2) + "\n")
    paths["md"].write_text(_markdown(results, meta))
    paths["html"].write_text(_html(results, meta))
    return paths
