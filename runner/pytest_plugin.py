"""pytest collects every notebook in notebooks/ as a test and runs it with the course runner (papermill).

So `make test` executes each lesson once, keeps the executed copies in output/course-run/<model>/ and writes the
runner's report (output/course-run/report.{json,md,html}) after every lesson, whatever passed or failed.
Tests marked `after_lessons` (the course site's, built from those copies) run after the last lesson.
A failure shows the first failing cell and its error. With `--nbmake` pytest's nbmake plugin runs the notebooks
instead, and this plugin steps aside.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.settings import settings
from runner import report
from runner.execute import NOTEBOOKS, LessonResult, model_dir, run_lesson

OUTPUT = NOTEBOOKS.parent / "output" / "course-run"
_results: list[LessonResult] = []


class LessonFailed(Exception):
    def __init__(self, result: LessonResult) -> None:
        super().__init__(result.lesson)
        self.result = result


class LessonItem(pytest.Item):
    def runtest(self) -> None:
        result = run_lesson(self.path, OUTPUT / model_dir(None))
        _results.append(result)
        report.write(_results, OUTPUT, {"models": [settings().model]})  # up to date for what runs next
        if not result.passed:
            raise LessonFailed(result)

    def repr_failure(self, excinfo, style=None):
        if not isinstance(excinfo.value, LessonFailed):
            return super().repr_failure(excinfo, style)
        r = excinfo.value.result
        error = r.error or {}
        return (
            f"{r.lesson} failed at cell {error.get('cell')} (executed copy: {r.executed})\n"
            f"{error.get('source', '').rstrip()}\n\n{error.get('ename')}: {error.get('evalue')}"
        )

    def reportinfo(self):
        return self.path, 0, f"lesson {self.path.stem}"


class LessonFile(pytest.File):
    def collect(self):
        yield LessonItem.from_parent(self, name=self.path.name)


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "after_lessons: runs after every lesson (it reads what the lessons produced)")


def pytest_collection_modifyitems(session, config, items) -> None:
    last = [item for item in items if item.get_closest_marker("after_lessons")]
    items[:] = [item for item in items if item not in last] + last


def pytest_collect_file(parent, file_path: Path):
    if file_path.suffix == ".ipynb" and file_path.parent == NOTEBOOKS and not parent.config.getoption("nbmake", default=False):
        return LessonFile.from_parent(parent, path=file_path)
    return None


def pytest_sessionfinish(session, exitstatus) -> None:
    if _results:
        paths = report.write(_results, OUTPUT, {"models": [settings().model]})
        session.config.pluginmanager.get_plugin("terminalreporter").write_line(f"course runner report: {paths['md']}")
