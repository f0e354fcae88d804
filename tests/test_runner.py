"""The course runner, on two tiny lessons (tests/notebooks): one real agent turn, and one that fails on purpose.

Run for two models, the course's and a handle the server does not offer, so the side-by-side table has a pass
and a fail in the same row. A failing lesson must not stop the others, and the exit code must say so.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import turn_log
from helpers.settings import settings
from runner.__main__ import main
from runner.execute import lessons

pytestmark = pytest.mark.stack
FIXTURES = Path(__file__).parent / "notebooks"
MISSING_MODEL = "ollama/no-such-model"


@pytest.fixture(scope="module")
def run(stack_config, tmp_path_factory):
    out = tmp_path_factory.mktemp("course-run")
    code = main(["--notebooks", str(FIXTURES), "--model", settings().model, "--model", MISSING_MODEL, "--seed", "7", "--output", str(out)])
    return code, out, json.loads((out / "report.json").read_text())


def _result(document, lesson, model):
    return next(r for r in document["lessons"] if r["lesson"] == lesson and r["model"] == model)


def test_lessons_are_picked_in_course_order_by_number_or_name():
    assert [nb.stem for nb in lessons(None, FIXTURES)] == ["01_one_turn", "02_fails"]
    assert [nb.stem for nb in lessons(["02"], FIXTURES)] == ["02_fails"]
    with pytest.raises(SystemExit, match="no lesson called '99'"):
        lessons(["99"], FIXTURES)


def test_a_passing_lesson_reports_its_turns_and_tokens(run):
    _, out, document = run
    ok = _result(document, "01_one_turn", settings().model)
    assert ok["passed"] and ok["error"] is None
    assert ok["turns"] == 1 and ok["prompt_tokens"] > 0 and ok["completion_tokens"] > 0
    assert ok["parameters"]["SEED"] == 7
    executed = json.loads((out / Path(ok["executed"]).relative_to(Path(ok["executed"]).parents[1])).read_text())
    printed = "".join("".join(o.get("text", "")) for c in executed["cells"] for o in c.get("outputs", []))
    assert "seed: 7" in printed, "the SEED parameter reaches the notebook"
    assert "✓ agent turn: " in printed and ok["silent_cells"] == []  # the course client's clock ran for the turn


def test_a_slow_cell_without_a_clock_is_reported_silent(tmp_path, monkeypatch):
    import nbformat
    import papermill

    from runner.execute import silent_cells

    # The slow import sits in the clocked cell: on a loaded machine importing helpers alone can pass the threshold.
    cells = ["import time", "time.sleep(3)", "from helpers.progress import waiting\n\nwith waiting('a wait'):\n    time.sleep(3)"]
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells]), tmp_path / "slow.ipynb")
    monkeypatch.setenv("COURSE_HEADLESS", "1")
    root = str(Path(__file__).resolve().parent.parent)
    papermill.execute_notebook(tmp_path / "slow.ipynb", tmp_path / "ran.ipynb", cwd=root, kernel_name="python3", progress_bar=False)
    assert silent_cells(tmp_path / "ran.ipynb", threshold=2.0) == [2]


def test_a_failing_lesson_reports_its_first_failing_cell_and_the_others_still_run(run):
    code, _, document = run
    failed = _result(document, "02_fails", settings().model)
    assert not failed["passed"]
    assert failed["error"]["cell"] == 4 and failed["error"]["ename"] == "ValueError"
    assert "fails here on purpose" in failed["error"]["evalue"] and "raise ValueError" in failed["error"]["source"]
    assert len(document["lessons"]) == 4, "every lesson ran for every model despite the failures"
    assert code == 1 and document["summary"]["passed"] == 1


def test_an_unknown_model_fails_with_the_setup_message(run):
    _, _, document = run
    missing = _result(document, "01_one_turn", MISSING_MODEL)
    assert not missing["passed"] and missing["error"]["ename"] == "CourseSetupError"
    assert "offers no model with handle" in missing["error"]["evalue"]


def test_the_report_compares_models_side_by_side(run):
    _, out, _ = run
    markdown = (out / "report.md").read_text()
    side = markdown.split("## Side by side", 1)[1]
    row = next(line for line in side.splitlines() if line.startswith("| 01_one_turn"))
    assert "pass" in row and "FAIL" in row
    assert "this lesson fails here on purpose" in markdown
    assert "<table>" in (out / "report.html").read_text()
    assert (out / "ollama-no-such-model" / "02_fails.ipynb").exists(), "executed copies are kept per model"


def test_the_turn_log_is_off_unless_asked_for(monkeypatch, tmp_path, letta):
    monkeypatch.delenv(turn_log.ENV, raising=False)
    letta.agents.list(limit=1)
    assert turn_log.read(tmp_path / "none.jsonl") == []
    event = b'data: {"message_type": "usage_statistics", "prompt_tokens": 5, "completion_tokens": 2}\n'
    assert turn_log.usage_of(event, "text/event-stream") == {"prompt_tokens": 5, "completion_tokens": 2, "steps": 0}
    # an error's body (a 409's, say) has no usage: every figure is still there, as 0
    assert turn_log.usage_of(b'"conversation busy"', "application/json") == {"prompt_tokens": 0, "completion_tokens": 0, "steps": 0}


def test_the_runner_runs_lessons_on_another_sdk_and_reports_the_documented_skips(tmp_path):
    import nbformat

    from runner.__main__ import run as run_lessons

    cells = [
        "from helpers import sdk\nprint('sdk', sdk.installed())",
        'if sdk.offers("tools.upsert_from_function"):\n    raise AssertionError("1.12.1 has no upsert_from_function")',
        "import letta_client\nassert not hasattr(letta_client.Letta(base_url='http://127.0.0.1:9').tools, 'create_from_function')",
    ]
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells]), tmp_path / "01_on_new_sdk.ipynb")
    results, paths = run_lessons(None, None, output=tmp_path / "out", folder=tmp_path, echo=lambda _: None, sdk="1.12.1")
    (result,) = results
    assert result.passed, result.error
    assert result.sdk_skips == ["tools.upsert_from_function"]
    printed = "".join(o.get("text", "") for c in nbformat.read(result.executed, 4).cells for o in c.outputs)
    assert "sdk 1.12.1" in printed and "was removed in letta-client 1.12.1" in printed
    report = json.loads(paths["json"].read_text())
    assert report["sdk"] == "letta-client 1.12.1" and "tools.upsert_from_function" in paths["md"].read_text()


def test_a_step_the_model_chose_not_to_take_is_explained_counted_and_stops_only_where_needed(tmp_path):
    import nbformat

    from runner.__main__ import run as run_lessons

    soft = [
        "import helpers\nassert helpers.expect_model(['a call'], 'call the tool')",
        "assert not helpers.expect_model([], 'call archival_memory_search', 'it answered from its context')",
        "print('the lesson went on')",
    ]
    needed = [*soft[:1], "helpers.expect_model(None, 'ask for approval', needed=True)", "print('not reached')"]
    for name, cells in (("01_soft", soft), ("02_needed", needed)):
        nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells]), tmp_path / f"{name}.ipynb")
    results, paths = run_lessons(None, None, output=tmp_path / "out", folder=tmp_path, echo=lambda _: None)
    went_on, stopped = results
    assert went_on.passed and went_on.model_differed == ["call archival_memory_search"]
    printed = "".join(o.get("text", "") for c in nbformat.read(went_on.executed, 4).cells for o in c.outputs)
    assert "The model did not call archival_memory_search: it answered from its context" in printed
    assert "the lesson went on" in printed
    assert not stopped.passed and stopped.error["ename"] == "ModelChoseOtherwise" and stopped.model_differed == ["ask for approval"]
    assert "run this cell again" in stopped.error["evalue"]
    report = json.loads(paths["json"].read_text())
    assert report["summary"]["model_differed"] == {"01_soft": ["call archival_memory_search"], "02_needed": ["ask for approval"]}


def test_turns_are_sorted_into_first_again_and_back():
    def turn(owner, seconds, kind="agents"):
        return {"path": f"/v1/{kind}/{owner}/messages", "seconds": seconds}

    turns = [turn("a", 10), turn("a", 2), turn("b", 8), turn("a", 5), turn("c", 1, "conversations"), turn("c", 1.5)]
    assert turn_log.by_kind(turns) == {
        "first": {"turns": 3, "seconds": 19.0},  # a, b, and the conversation c
        "again": {"turns": 2, "seconds": 3.5},  # a right after a; c right after c
        "back": {"turns": 1, "seconds": 5.0},  # a after b
    }
