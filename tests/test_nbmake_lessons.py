"""`make test` executes the lessons with nbmake, and the course report comes from that same run.

A real pytest, with nbmake and the course's plugin, runs three small notebooks that need no server (one passes,
one raises in its third cell, one outlives the per-cell timeout) and one notebook outside the lessons' folder.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
from nbmake.pytest_items import NotebookItem

from runner.execute import NOTEBOOKS, ROOT, lessons
from runner.pytest_plugin import lesson_folders


def _notebook(path: Path, *cells: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells]), path)


def _pytest(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT), "-p", "runner.pytest_plugin", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_nbmake_runs_each_lesson_once_and_the_report_comes_from_that_run(tmp_path):
    folder, out = tmp_path / "lessons", tmp_path / "out"
    _notebook(
        folder / "01_passes.ipynb",
        "import os",
        "print('headless', os.environ.get('COURSE_HEADLESS'), 'log', 'turns.jsonl' in os.environ['COURSE_TURN_LOG'])",
    )
    _notebook(folder / "02_fails.ipynb", "x = 1", "y = 2", "raise ValueError('this lesson fails here on purpose')", "z = 3")
    _notebook(folder / "03_hangs.ipynb", "x = 1", "import time\ntime.sleep(120)")
    _notebook(folder / "fixtures" / "99_not_a_lesson.ipynb", "raise SystemExit('collected from outside the lessons folder')")

    ran = _pytest(str(folder), "--lessons", str(folder), "--course-output", str(out), "--nbmake-timeout", "5", "-v")
    printed = ran.stdout
    assert ran.returncode == 1, printed
    # nbmake's items ran, and nothing outside the lessons' folder did
    assert "01_passes.ipynb::01_passes.ipynb PASSED" in printed and "02_fails.ipynb::02_fails.ipynb FAILED" in printed
    assert "99_not_a_lesson" not in printed
    # a failure names the lesson's first failing cell and shows its error; a stuck cell says what to check
    assert "02_fails failed at cell 3" in printed and "this lesson fails here on purpose" in printed
    assert "03_hangs failed at cell 2" in printed and "the per-cell limit" in printed and "make status" in printed

    document = json.loads((out / "report.json").read_text())
    assert document["executor"] == "nbmake" and [r["lesson"] for r in document["lessons"]] == ["01_passes", "02_fails", "03_hangs"]
    passed, failed, hung = document["lessons"]
    assert passed["passed"] and passed["error"] is None and passed["turns"] == 0
    assert not failed["passed"] and failed["error"]["cell"] == 3 and failed["error"]["ename"] == "ValueError"
    assert "raise ValueError" in failed["error"]["source"]
    assert not hung["passed"] and hung["error"]["cell"] == 2 and hung["error"]["ename"] == "CellTimeoutError"
    # the executed copies are the CI artifacts: outputs of the run itself, with the runner's kernel environment
    executed = nbformat.read(ROOT / passed["executed"] if not Path(passed["executed"]).is_absolute() else passed["executed"], 4)
    assert "headless 1 log True" in executed.cells[1].outputs[0]["text"]
    assert "nbmake" in (out / "report.md").read_text().splitlines()[2]


def test_make_test_collects_every_notebook_of_the_course_as_an_nbmake_item_and_no_fixture():
    listed = _pytest("--collect-only", "-q", "notebooks", "tests/notebooks").stdout
    items = [line for line in listed.splitlines() if ".ipynb::" in line]
    expected = sorted(p.name for folder in lesson_folders(NOTEBOOKS) for p in folder.glob("*.ipynb"))
    assert sorted(line.split("::")[-1] for line in items) == expected, listed
    assert all(line.startswith("notebooks/") for line in items)
    assert {p.name for p in lessons()} <= set(expected)


def test_the_lessons_item_is_nbmakes():
    from runner.pytest_plugin import LessonItem

    assert issubclass(LessonItem, NotebookItem)
