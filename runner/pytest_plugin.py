"""nbmake runs every notebook in notebooks/ as a test; this plugin makes each run a course-runner result too.

`make test` is `pytest`, whose options (pyproject.toml) turn nbmake on with a per-cell timeout. For each lesson
nbmake collects, the item here (nbmake's NotebookItem, with its execution, its failure output and its name) also
gives the kernel the runner's environment (turn log, headless widgets), keeps the executed copy in
output/course-run/<model>/ and writes the runner's report (output/course-run/report.{json,md,html}) after every
lesson, passed or failed. So each lesson is executed once, by nbmake, and the report comes from that run.
A failure prints the first failing cell and its error; a cell over the timeout fails with what to check.
The TypeScript lessons (notebooks/typescript/) run the same way, on their own kernel, and so do the lessons'
deep dives (notebooks/deep_dives/, notebooks/typescript/deep_dives/). Notebooks outside those folders (the
runner's own test fixtures in tests/notebooks/) are not collected.
Tests marked `after_lessons` (the course site's, built from the executed copies) run after the last lesson.
"""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pytest
from nbmake.nb_run import NotebookRun
from nbmake.pytest_items import NbMakeFailureRepr, NotebookFailedException, NotebookFile, NotebookItem

from course import facts
from helpers import sdk
from helpers.settings import settings
from runner import report
from runner.execute import _ANSI, NOTEBOOKS, LessonResult, lesson_environment, model_dir, result_of

TYPESCRIPT = "typescript"  # the TypeScript lessons' folder, inside the lessons' (Deno's kernel: course/typescript_kernel.py)
DEEP_DIVES = "deep_dives"  # the lessons' companions: depth not needed on first reading, checked like a lesson

_results: list[LessonResult] = []


def lesson_folders(lessons: Path) -> list[Path]:
    """The folders whose notebooks run as lessons: the Python lessons, the TypeScript track, and each one's deep dives."""
    return [lessons, lessons / DEEP_DIVES, lessons / TYPESCRIPT, lessons / TYPESCRIPT / DEEP_DIVES]


def _meta() -> dict:
    return {"models": [settings().model], "executor": "nbmake", "sdk": f"letta-client {sdk.installed()}"}


def pytest_addoption(parser) -> None:
    group = parser.getgroup("course", "the course's lessons")
    group.addoption("--lessons", type=Path, default=NOTEBOOKS, help="the folder whose notebooks are lessons (default: notebooks/)")
    group.addoption("--course-output", type=Path, default=facts.COURSE_RUN, help="where the executed copies and report go")


def _error(nb, failure) -> dict:
    """The first failing cell (numbered from 1, as in JupyterLab's order) from nbmake's NotebookError."""
    index = failure.failing_cell_index
    cell = nb.cells[index] if 0 <= index < len(nb.cells) else None
    if cell is None:
        return {"cell": None, "source": "", "ename": "NotebookError", "evalue": _ANSI.sub("", failure.summary)}
    raised = next((o for o in cell.get("outputs", []) if o.get("output_type") == "error"), None)
    if raised is None or failure.summary.startswith("A cell timed out"):  # stopped by the per-cell timeout (nbclient's words)
        return {"cell": index + 1, "source": cell.source, "ename": "CellTimeoutError", "evalue": _ANSI.sub("", failure.summary)}
    return {"cell": index + 1, "source": cell.source, "ename": raised["ename"], "evalue": _ANSI.sub("", raised["evalue"])}


class LessonItem(NotebookItem):
    result: LessonResult | None = None

    def runtest(self) -> None:
        option = self.config.option
        source = Path(self.filename)
        executed = option.course_output / model_dir(None) / source.name
        executed.parent.mkdir(parents=True, exist_ok=True)
        start = time.monotonic()
        with lesson_environment(executed):
            run = NotebookRun(source, option.nbmake_timeout, verbose=bool(option.verbose), kernel=option.nbmake_kernel).execute()
        nbformat.write(run.nb, executed)
        error = None if run.error is None else _error(run.nb, run.error)
        self.result = result_of(source, executed, time.monotonic() - start, error)
        _results.append(self.result)
        report.write(_results, option.course_output, _meta())
        if run.error is not None:
            raise NotebookFailedException(run)  # what nbmake raises, so its failure output stays

    def repr_failure(self, excinfo, style=None):
        shown = super().repr_failure(excinfo, style)  # nbmake's: the failing cell's source and traceback
        r = self.result
        if r is None or r.error is None or not isinstance(shown, NbMakeFailureRepr):
            return shown
        where = f"{r.lesson} failed at cell {r.error['cell']} (executed copy: {r.executed})"
        if r.error["ename"] == "CellTimeoutError":
            where += (
                f"\nThat cell was still running after {self.config.option.nbmake_timeout} s, the per-cell limit "
                "(--nbmake-timeout in pyproject.toml). Is every part of the stack up? `make status`, then `make logs`."
            )
        return NbMakeFailureRepr(f"{where}\n{shown.term}", f"{r.lesson}: cell {r.error['cell']}: {r.error['ename']}")


class LessonFile(NotebookFile):
    def collect(self):
        yield LessonItem.from_parent(self, filename=str(self.path))


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "after_lessons: runs after every lesson (it reads what the lessons produced)")


@pytest.hookimpl(wrapper=True)
def pytest_collect_file(parent, file_path: Path):
    """nbmake offers every .ipynb; keep the lessons' folder (and its TypeScript track) and run those as LessonItems."""
    collected = yield
    if file_path.suffix != ".ipynb":
        return collected
    kept = [c for c in collected if not isinstance(c, NotebookFile)]
    lessons = parent.config.option.lessons.resolve()
    if any(isinstance(c, NotebookFile) for c in collected) and file_path.parent in lesson_folders(lessons):
        kept.append(LessonFile.from_parent(parent, path=file_path))
    return kept


def pytest_collection_modifyitems(session, config, items) -> None:
    last = [item for item in items if item.get_closest_marker("after_lessons")]
    items[:] = [item for item in items if item not in last] + last


def pytest_sessionfinish(session, exitstatus) -> None:
    if _results:
        paths = report.write(_results, session.config.option.course_output, _meta())
        session.config.pluginmanager.get_plugin("terminalreporter").write_line(f"course runner report: {paths['md']}")
