"""The TypeScript track (notebooks/typescript/): its kernel, its type checks and its exercise checks.

The lessons themselves run under nbmake like the Python ones (runner/pytest_plugin.py); these tests catch a wrong
type before a run, and check that the kernel talks to the server the Python lessons talk to."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from course import typescript_kernel as tk
from helpers.settings import settings

LESSONS = sorted(tk.LESSONS.glob("ts[0-9][0-9]_*.ipynb"))
DEEP_DIVES = sorted((tk.LESSONS / "deep_dives").glob("ts[0-9][0-9]_*.ipynb"))  # the lessons' companions, run like them
EXERCISES = Path(__file__).parent / "typescript"  # each lesson's exercise checks against reference and wrong solutions


def _deno(*args: str, cwd: Path = tk.LESSONS, settings_too: bool = False) -> subprocess.CompletedProcess:
    return tk.deno(*args, cwd=cwd, env=tk.with_settings() if settings_too else None, timeout=900)


def _type_check(cells: list[str], tmp_path: Path, folder: Path = tk.LESSONS) -> subprocess.CompletedProcess:
    """A notebook's code cells, in order, as one module (what the kernel runs), checked against the lessons' config.
    The module sits beside the notebook so that `./checks.ts` (a deep dive's `../progress.ts`) resolves as there."""
    module = folder / f"_check_{tmp_path.name}.ts"
    module.write_text("\n\n".join(cells) + "\n")
    try:
        return _deno("check", "--config", "deno.json", str(module.relative_to(tk.LESSONS)))
    finally:
        module.unlink()


def test_there_is_a_typescript_lesson():
    assert LESSONS, "no notebooks/typescript/tsNN_*.ipynb"


def _frame(path: Path) -> tuple:
    """A notebook of the track, lesson or deep dive: its kernel, no committed outputs, the parameters cell first and
    clean-up last. Returns the notebook and its code cells."""
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert nb.metadata.kernelspec.name == tk.NAME
    assert all(not c.outputs and c.execution_count is None for c in code), "committed with outputs"
    assert "parameters" in code[0].metadata.get("tags", []), "the first code cell is the parameters cell"
    assert "cleanup()" in code[-1].source, "the last cell deletes what the notebook made"
    return nb, code


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_a_typescript_lesson_type_checks_and_keeps_the_course_shape(path, tmp_path):
    nb, code = _frame(path)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    for heading in ("## Exercise", "## Stretch exercise", "## Recap", "## Troubleshooting", "## Clean up"):
        assert f"\n{heading}" in f"\n{text}", f"no {heading}"
    assert "**Where next:**" in text, "the recap says where to go next"
    checked = _type_check([c.source for c in code], tmp_path)
    assert checked.returncode == 0, checked.stderr[-3000:]


def test_there_is_a_deep_dive_for_ts02_and_ts03():
    assert {p.stem[:4] for p in DEEP_DIVES} >= {"ts02", "ts03"}, "no notebooks/typescript/deep_dives/tsNN_*.ipynb"


@pytest.mark.parametrize("path", DEEP_DIVES, ids=lambda p: p.stem)
def test_a_typescript_deep_dive_type_checks_and_links_its_lesson(path, tmp_path):
    # A deep dive keeps a lesson's frame (parameters first, clean-up last, committed without outputs), needs no
    # exercise, links back to its lesson, and its lesson links to it; its imports are `../progress.ts` and the like.
    nb, code = _frame(path)
    assert path.stem not in {lesson.stem for lesson in LESSONS}
    (lesson,) = [p for p in LESSONS if p.stem[:4] == path.stem[:4]]
    assert f"](../{lesson.name})" in nb.cells[0].source, "the title cell links back to its lesson"
    lesson_text = "\n".join(c.source for c in nbformat.read(lesson, as_version=4).cells if c.cell_type == "markdown")
    assert f"(deep_dives/{path.name})" in lesson_text, f"{lesson.name} does not link to {path.name}"
    checked = _type_check([c.source for c in code], tmp_path, folder=path.parent)
    assert checked.returncode == 0, checked.stderr[-3000:]


def _fmt_check(files: list[Path], cells: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    """`deno fmt --check` with the lessons' config (120 columns, as ruff has for the Python) on these files and these
    cells (name -> source, each checked as a file of its own)."""
    for name, source in cells.items():
        (tmp_path / f"{name}.ts").write_text(source + "\n")
    targets = [*map(str, files), *(str(tmp_path / f"{name}.ts") for name in cells)]
    return _deno("fmt", "--check", "--config", str(tk.LESSONS / "deno.json"), *targets)


def test_the_typescript_is_formatted_with_deno_fmt(tmp_path):
    # A learner reads these cells in JupyterLab, which does not wrap code: deno fmt keeps lines within 120 columns.
    # To fix: `deno fmt --config notebooks/typescript/deno.json` the .ts files; a cell, pasted into a file of its own.
    files = sorted([*tk.LESSONS.glob("*.ts"), *EXERCISES.glob("*.ts")])
    cells = {
        f"{path.stem}-cell{i}": c.source
        for path in [*LESSONS, *DEEP_DIVES]
        for i, c in enumerate(nbformat.read(path, as_version=4).cells)
        if c.cell_type == "code"
    }
    checked = _fmt_check(files, cells, tmp_path)
    assert checked.returncode == 0, checked.stderr[-3000:]
    assert _fmt_check([], {"packed": "const x = {a:1};"}, tmp_path).returncode != 0  # the check can fail


def test_a_wrong_type_fails_the_check(tmp_path):
    # What the check above would say about a lesson with a type error: it can fail.
    cells = ['import Letta from "@letta-ai/letta-client";', 'const letta = new Letta({ baseUrl: "http://127.0.0.1:9" });']
    wrong = _type_check(cells, tmp_path)
    assert wrong.returncode != 0 and "TS2561" in wrong.stderr + wrong.stdout, wrong.stderr[-2000:]


def test_the_sdk_is_pinned_once_and_locked():
    imports = json.loads((tk.LESSONS / "deno.json").read_text())["imports"]
    lock = json.loads((tk.LESSONS / "deno.lock").read_text())
    assert imports == {"@letta-ai/letta-client": "npm:@letta-ai/letta-client@1.7.8"}
    assert "@letta-ai/letta-client@1.7.8" in lock["npm"] and lock["npm"]["@letta-ai/letta-client@1.7.8"]["integrity"]


def test_the_kernel_gets_the_course_settings(tmp_path):
    # The kernel JupyterLab and nbmake start: registered in .venv, it reads .env as the Python lessons do.
    # Written to a file, not printed: Deno's kernel (2.9.8) sometimes drops a cold kernel's first printed lines.
    seen = tmp_path / "seen.json"
    keys = '["LETTA_BASE_URL", "LETTA_MODEL", "DENO_DIR"]'
    cell = f"Deno.writeTextFileSync({json.dumps(str(seen))}, JSON.stringify({keys}.map((k) => Deno.env.get(k))));"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(cell)])
    NotebookClient(nb, timeout=120, kernel_name=tk.NAME, resources={"metadata": {"path": str(tk.LESSONS)}}).execute()
    printed = json.loads(seen.read_text())
    cfg = settings()
    assert printed == [cfg.base_url, cfg.model, str(tk.DENO_DIR)]


@pytest.mark.stack
@pytest.mark.parametrize("script", sorted(EXERCISES.glob("exercises*.ts")), ids=lambda p: p.stem)
def test_the_exercise_checks_pass_the_reference_solutions_and_catch_wrong_ones(stack_config, script):
    ran = _deno("run", "-A", "--config", str(tk.LESSONS / "deno.json"), str(script), cwd=tk.facts.ROOT, settings_too=True)
    assert ran.returncode == 0, ran.stdout[-2000:] + ran.stderr[-3000:]
    assert "exercise checks: all as expected" in ran.stdout


@pytest.mark.stack
def test_the_turn_log_records_a_typescript_turn(stack_config, tmp_path, monkeypatch):
    # What gives the runner's report its turns column for these lessons (notebooks/typescript/turn_log.ts, imported
    # by progress.ts): a POST to an agent's messages, here one the server answers at once with a 404.
    log = tmp_path / "turns.jsonl"
    monkeypatch.setenv("COURSE_TURN_LOG", str(log))
    missing = "agent-00000000-0000-4000-8000-000000000000"
    cell = "\n".join(
        [
            'import { waiting } from "./progress.ts";',
            'import Letta from "@letta-ai/letta-client";',
            'const letta = new Letta({ baseURL: Deno.env.get("LETTA_BASE_URL"), apiKey: Deno.env.get("LETTA_API_KEY") ?? null });',
            'const turn = () => letta.agents.messages.create(MISSING, { messages: [{ role: "user", content: "hi" }] });'.replace(
                "MISSING", json.dumps(missing)
            ),
            'await waiting("a turn", turn).catch(() => null);',
            "await new Promise((done) => setTimeout(done, 1000)); // the log's copy of the body is read on its own",
        ]
    )
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(cell)])
    NotebookClient(nb, timeout=120, kernel_name=tk.NAME, resources={"metadata": {"path": str(tk.LESSONS)}}).execute()
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(line["path"], line["status"]) for line in lines] == [(f"/v1/agents/{missing}/messages", 404)]
