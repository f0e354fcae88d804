"""helpers.progress: the clock's text form (papermill, a terminal), its live form in a real kernel, and the course
client showing it for a slow call in a notebook."""

from __future__ import annotations

import time

import pytest

from helpers.progress import waiting
from helpers.transport import slow_call
from tests.kernel import run_cells, texts


def test_the_slow_calls_are_the_sdks_own_paths():
    import httpx

    def what(path: str, method: str = "POST") -> str | None:
        return slow_call(httpx.Request(method, "http://letta" + path))

    assert what("/v1/agents/agent-1/messages") == what("/v1/agents/agent-1/messages/stream") == "agent turn"
    assert what("/v1/conversations/conv-1/messages") == "agent turn"
    assert what("/v1/conversations/conv-1/compact").startswith("compaction")  # the paths letta-client 1.7.12 sends
    assert what("/v1/agents/agent-1/summarize").startswith("compaction")
    assert what("/v1/agents/agent-1/tools/memory_insert/run").startswith("tool run")
    assert what("/v1/agents/agent-1/messages", "GET") is None and what("/v1/agents/agent-1/messages/async") is None


def test_text_form_reports_the_time_and_the_news(capsys, monkeypatch):
    monkeypatch.setenv("COURSE_HEADLESS", "1")
    with waiting("the files", expect="a few seconds") as wait:
        time.sleep(0.3)
        wait.note("a.txt: completed")
    line = capsys.readouterr().out.strip()
    assert line.startswith("✓ the files: 0.") and line.endswith(" s · a.txt: completed"), line


def test_text_form_says_what_failed_and_lets_the_error_through(capsys, monkeypatch):
    monkeypatch.setenv("COURSE_HEADLESS", "1")
    with pytest.raises(TimeoutError), waiting("the run"):
        raise TimeoutError("still running")
    assert capsys.readouterr().out.startswith("✗ the run after 0.0 s: TimeoutError")


def test_in_jupyterlab_a_live_label_ticks_then_one_line_stays():
    code = (
        "import time\nfrom helpers.progress import waiting\n"
        "with waiting('a wait') as wait:\n    time.sleep(2.5)\n    seen = wait._label.value\n"
        "print(seen)"
    )
    (outputs,) = run_cells(code, env={"COURSE_HEADLESS": "0"})
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs)  # the live label
    out = texts(outputs)
    assert "✓ a wait: 2." in out
    assert "⏳ a wait: 2 s" in out or "⏳ a wait: 1 s" in out  # the label had ticked while the block ran


@pytest.mark.stack
def test_the_course_client_shows_a_clock_for_slow_calls_in_a_notebook(letta):
    from helpers import Lesson

    lesson = Lesson("t-progress", letta=letta)
    lesson.cleanup()
    blocks = [{"label": "human", "value": "Ada."}]
    agent = lesson.create_agent("clock", include_base_tools=False, tools=["conversation_search"], memory_blocks=blocks)
    try:
        args = {"query": "tea"}
        run = f"import helpers\nhelpers.client().agents.tools.run('conversation_search', agent_id={agent.id!r}, args={args!r})"
        plain = f"helpers.client().agents.blocks.list({agent.id!r})"
        # A stream read to its end without being closed: its clock must still end in this cell.
        hi = [{"role": "user", "content": "Hi"}]
        stream = f"chunks = list(helpers.client().agents.messages.create({agent.id!r}, messages={hi!r}, streaming=True))"
        ran, listed, streamed = run_cells(run, plain, stream, env={"COURSE_HEADLESS": "1"})
    finally:
        lesson.cleanup()
    assert "✓ tool run in the server's sandbox:" in texts(ran)
    assert "✓" not in texts(listed)  # a quick read shows no clock
    assert "✓ agent turn:" in texts(streamed)
