"""Every lesson has a Mermaid diagram, and each one parses with Mermaid itself, at the version JupyterLab bundles.

The parser is the mermaid npm package run by Node (tests/mermaid, installed by `make test`): the same code that
draws the diagram in JupyterLab decides whether it is valid, so a diagram that passes here renders there.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest

from course import facts

ROOT = facts.ROOT
PARSER = ROOT / "tests" / "mermaid"
LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
TYPESCRIPT_LESSONS = sorted((ROOT / "notebooks" / "typescript").glob("ts[0-9][0-9]_*.ipynb"))  # parsed when they have one
FENCE = re.compile(r"```mermaid\n(.*?)```", re.S)
TYPES = {"flowchart": "flowchart-v2", "sequenceDiagram": "sequence"}  # first word -> mermaid's diagram type


def parse(diagrams: list[str]) -> list[dict]:
    if not (PARSER / "node_modules" / "mermaid").is_dir():
        pytest.fail("the Mermaid parser is not installed: run `make test`, or `npm ci --prefix tests/mermaid`")
    node = shutil.which("node") or pytest.fail("Node.js is needed to parse Mermaid (Debian: apt install nodejs)")
    done = subprocess.run([node, "parse.mjs"], cwd=PARSER, input=json.dumps(diagrams), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def diagrams_of(path: Path) -> list[str]:
    nb = nbformat.read(path, as_version=4)
    return [d for cell in nb.cells if cell.cell_type == "markdown" for d in FENCE.findall(cell.source)]


def test_the_parser_is_the_mermaid_jupyterlab_renders_with():
    lock = next((ROOT / ".venv").glob("lib/python3*/site-packages/jupyterlab/staging/yarn.lock")).read_text()
    bundled = re.search(r'^"mermaid@npm:[^"]*":\n  version: (\S+)', lock, re.M).group(1)
    assert json.loads((PARSER / "package.json").read_text())["dependencies"]["mermaid"] == bundled


def test_the_parser_rejects_a_broken_diagram():
    assert parse(["flowchart LR\n    a -->"])[0]["ok"] is False
    assert parse(["flowchart LR\n    a --> b"]) == [{"ok": True, "type": "flowchart-v2"}]


def test_every_lesson_has_a_diagram_and_each_parses():
    found = {path.stem: diagrams_of(path) for path in LESSONS}
    assert [name for name, diagrams in found.items() if not diagrams] == []
    found |= {path.stem: diagrams_of(path) for path in TYPESCRIPT_LESSONS}
    assert any(found[path.stem] for path in TYPESCRIPT_LESSONS)
    flat = [(name, d) for name, diagrams in found.items() for d in diagrams]
    results = parse([d for _, d in flat])
    bad = [(name, d.split("\n")[0], r.get("error", "")[:300]) for (name, d), r in zip(flat, results, strict=True) if not r["ok"]]
    assert bad == []
    kinds = [(TYPES.get(d.split()[0]), r["type"]) for (_, d), r in zip(flat, results, strict=True)]
    assert all(expected == got for expected, got in kinds), kinds


@pytest.mark.stack
def test_an_agents_tool_rules_are_drawn_from_the_server(letta):
    from helpers import Lesson
    from helpers.diagrams import rules_mermaid

    lesson = Lesson("t-diagrams", letta=letta)
    lesson.cleanup()
    try:
        agent = lesson.create_agent(
            "rules",
            include_base_tools=False,
            tools=["conversation_search", "memory_insert", "memory_replace"],
            tool_rules=[
                {"type": "run_first", "tool_name": "conversation_search"},
                {"type": "constrain_child_tools", "tool_name": "conversation_search", "children": ["memory_insert", "memory_replace"]},
                {"type": "exit_loop", "tool_name": "memory_insert"},
                {"type": "requires_approval", "tool_name": "memory_replace"},
            ],
        )
        text = rules_mermaid(agent.id, letta)
    finally:
        lesson.cleanup()
    assert parse([text]) == [{"ok": True, "type": "flowchart-v2"}]
    edges = set(re.findall(r"^\s+(\w+) -->(?:\|[^|]*\|)? (\w+)$", text, re.M))
    assert edges == {
        ("turn_starts", "t_conversation_search"),
        ("t_conversation_search", "t_memory_insert"),
        ("t_conversation_search", "t_memory_replace"),
        ("t_memory_insert", "turn_ends"),
    }
    assert 'memory_replace<br/>waits for approval"' in text
