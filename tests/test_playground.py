"""The playground notebook keeps its agent between sessions and removes it on request; the context view follows
an edit. Run as a workshop attendee of its own, so a learner's own playground agent is never touched."""

from __future__ import annotations

import dataclasses

import papermill
import pytest

from helpers import Lesson
from helpers.settings import settings
from helpers.widgets import ContextView
from tests.kernel import ROOT, environment

pytestmark = pytest.mark.stack
ATTENDEE = "test-playground"


def run_playground(tmp_path, **parameters) -> None:
    notebook = ROOT / "notebooks" / "playground.ipynb"
    with environment({"COURSE_ATTENDEE": ATTENDEE, "COURSE_HEADLESS": "1"}):
        papermill.execute_notebook(notebook, tmp_path / "playground.ipynb", parameters=parameters, cwd=notebook.parent, progress_bar=False)


def test_the_playground_keeps_its_agent_until_asked_to_clean_up(letta, tmp_path):
    playground = Lesson("playground", letta=letta, cfg=dataclasses.replace(settings(), attendee=ATTENDEE))
    playground.cleanup()
    run_playground(tmp_path)
    first = [a.id for a in playground.agents()]
    run_playground(tmp_path)
    assert [a.id for a in playground.agents()] == first and len(first) == 1  # the same agent, the next session
    run_playground(tmp_path, FRESH=True)
    assert len(playground.agents()) == 2
    run_playground(tmp_path, CLEAN_UP=True)
    assert playground.agents() == []


def test_the_context_view_marks_what_an_edit_changed(letta, capsys):
    lesson = Lesson("t-ctxview", letta=letta)
    lesson.cleanup()
    try:
        agent = lesson.create_agent("view", memory_blocks=[{"label": "human", "value": "Ada."}])
        view = ContextView(letta, agent.id)
        letta.agents.blocks.update("human", agent_id=agent.id, value="Ada, who plays chess on Tuesdays and likes green tea.")
        now = view.refresh()
    finally:
        lesson.cleanup()
    assert now.tokens["num_tokens_core_memory"] > view.previous.tokens["num_tokens_core_memory"]
    assert "[changed]" in view.text() and bytes(view.picture.value).startswith(b"\x89PNG")
