"""What a lesson run says (passed or not, time, turns, tokens, first error), and running one with papermill.

Two executors share this: `make test` runs every notebook under nbmake (runner/pytest_plugin.py hooks its items),
`make run-lessons` runs lessons with papermill (`run_lesson`, parameterised: another model, server or seed).
Both give the kernel the same environment (`lesson_environment`) and build the same `LessonResult` (`result_of`).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

import nbformat
import papermill
from papermill.exceptions import PapermillExecutionError

from course import facts
from helpers import model_checks, sdk, turn_log
from helpers.settings import settings

ROOT = facts.ROOT
NOTEBOOKS = ROOT / "notebooks"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
SILENT_S = 5.0  # a cell may run this long with nothing on screen
_CLOCK_LINE = re.compile(r"[✓✗] [^\n]+ [\d.]+ s")  # what helpers.progress leaves once a wait is over


@dataclass
class LessonResult:
    lesson: str  # the notebook's stem, e.g. "02_memory"
    model: str  # the model handle the lesson ran with (the one given, else LETTA_MODEL from .env)
    passed: bool
    wall_s: float
    turns: int  # agent turns the lesson's client asked for (POST .../messages)
    prompt_tokens: int
    completion_tokens: int
    executed: str  # the executed copy, with every output
    error: dict | None = None  # the first failing cell: {"cell": its number from 1, "source", "ename", "evalue"}
    parameters: dict = field(default_factory=dict)
    silent_cells: list[int] = field(default_factory=list)  # cells that ran > SILENT_S with no clock (see silent_cells)
    sdk_skips: list[str] = field(default_factory=list)  # 1.7 conveniences skipped on a newer letta-client (helpers/sdk.py)
    model_differed: list[str] = field(default_factory=list)  # steps the model chose not to take (helpers/model_checks.py)

    def to_json(self) -> dict:
        return asdict(self)


def lessons(names: list[str] | None = None, folder: Path = NOTEBOOKS) -> list[Path]:
    """The lesson notebooks in course order; `names` picks some by stem or number ("02", "02_memory")."""
    found = sorted(Path(folder).glob("[0-9][0-9]_*.ipynb"))
    if not names:
        return found
    picked = []
    for name in names:
        matches = [nb for nb in found if nb.stem == name or nb.stem.split("_", 1)[0] == name]
        if not matches:
            raise SystemExit(f"no lesson called {name!r}; the lessons are: {', '.join(nb.stem for nb in found)}")
        picked += matches
    return picked


def _lesson_cell_number(cells: list, index: int) -> int:
    """A cell's number (from 1) in the lesson as committed: papermill adds a cell for the parameters."""
    injected = [i for i, c in enumerate(cells) if "injected-parameters" in c.metadata.get("tags", [])]
    return index + 1 - sum(1 for i in injected if i < index)


def _first_error(executed: Path, err: Exception) -> dict:
    """Where a run stopped. papermill stops at the first cell that raises, so that cell is the first failure."""
    if isinstance(err, PapermillExecutionError):
        cell = _lesson_cell_number(nbformat.read(executed, as_version=4).cells, err.cell_index)
        return {"cell": cell, "source": err.source, "ename": err.ename, "evalue": _ANSI.sub("", err.evalue)}
    return {"cell": None, "source": "", "ename": type(err).__name__, "evalue": _ANSI.sub("", str(err))}


def _seconds(cell) -> float:
    """How long a code cell ran: nbclient records when it started and when the kernel replied (papermill and
    nbmake both run on nbclient); papermill's own figure is the fallback."""
    timing = cell.metadata.get("execution") or {}
    began, ended = timing.get("iopub.execute_input") or timing.get("shell.execute_reply.started"), timing.get("shell.execute_reply")
    if began and ended:
        return (datetime.fromisoformat(ended.replace("Z", "+00:00")) - datetime.fromisoformat(began.replace("Z", "+00:00"))).total_seconds()
    return (cell.metadata.get("papermill") or {}).get("duration") or 0


def silent_cells(executed: Path, threshold: float = SILENT_S) -> list[int]:
    """Cells (numbered as in the lesson) that took longer than `threshold` and left no clock line: in JupyterLab
    they would have shown nothing while they ran."""
    cells = nbformat.read(executed, as_version=4).cells
    silent = []
    for index, cell in enumerate(cells):
        text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
        if cell.cell_type == "code" and _seconds(cell) > threshold and not _CLOCK_LINE.search(text):
            silent.append(_lesson_cell_number(cells, index))
    return silent


def model_dir(model: str | None) -> str:
    """A folder name for a model handle ("ollama/qwen2.5" -> "ollama-qwen2.5"); None is the model from .env."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", model or settings().model)


@contextmanager
def lesson_environment(executed: Path) -> Iterator[None]:
    """What a lesson's kernel inherits while it runs: the turn log, the SDK skip log and the model log to write (next to the
    executed copy), and headless widgets (nobody can click here). The previous values come back afterwards."""
    logs = {turn_log.ENV: turn_log_of(executed), sdk.SKIP_LOG: skip_log_of(executed), model_checks.MODEL_LOG: model_log_of(executed)}
    for log in logs.values():
        log.unlink(missing_ok=True)
    saved = {k: os.environ.get(k) for k in (*logs, "COURSE_HEADLESS")}
    os.environ.update({**{k: str(v) for k, v in logs.items()}, "COURSE_HEADLESS": "1"})
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def turn_log_of(executed: Path) -> Path:
    return executed.with_name(f"{executed.stem}.turns.jsonl")


def skip_log_of(executed: Path) -> Path:
    return executed.with_name(f"{executed.stem}.sdk-skips.jsonl")


def model_log_of(executed: Path) -> Path:
    return executed.with_name(f"{executed.stem}.model-differed.jsonl")


def result_of(notebook: Path, executed: Path, seconds: float, error: dict | None, parameters: dict | None = None) -> LessonResult:
    """The LessonResult of a finished run, from its executed copy and its turn log."""
    parameters = parameters or {}
    turns = turn_log.read(turn_log_of(executed))
    return LessonResult(
        silent_cells=silent_cells(executed) if executed.exists() else [],
        sdk_skips=sdk.skipped(skip_log_of(executed)),
        model_differed=model_checks.differences(model_log_of(executed)),
        lesson=notebook.stem,
        model=parameters.get("MODEL") or settings().model,
        passed=error is None,
        wall_s=round(seconds, 1),
        turns=len(turns),
        prompt_tokens=sum(t["prompt_tokens"] for t in turns),
        completion_tokens=sum(t["completion_tokens"] for t in turns),
        executed=str(executed.relative_to(ROOT) if executed.is_relative_to(ROOT) else executed),
        error=error,
        parameters=parameters,
    )


def run_lesson(
    notebook: Path, out_dir: Path, parameters: dict | None = None, timeout: float = 2400, kernel: str = "python3"
) -> LessonResult:
    """Execute `notebook` with papermill (parameters injected) into `out_dir` on `kernel`; a failure is recorded,
    never raised."""
    parameters = {k: v for k, v in (parameters or {}).items() if v is not None}
    out_dir.mkdir(parents=True, exist_ok=True)
    executed = out_dir / notebook.name
    error, start = None, time.monotonic()
    with lesson_environment(executed):
        try:
            papermill.execute_notebook(
                str(notebook),
                str(executed),
                parameters=parameters,
                cwd=str(notebook.parent),
                kernel_name=kernel,
                execution_timeout=timeout,
                progress_bar=False,
                log_output=False,
            )
        except Exception as err:  # a failing lesson is a result, not the end of the run
            error = _first_error(executed, err)
    return result_of(notebook, executed, time.monotonic() - start, error, parameters)
