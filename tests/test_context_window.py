"""helpers.context_window against the real server: its figures are the server's, edits show, and it draws.

No model turn: the overview is computed by the server without calling the model.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from helpers import Lesson
from helpers.context_window import PARTS, context_snapshot, describe
from tests.kernel import ROOT, run_cells, texts

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def agent(letta):
    lesson = Lesson("t-context", letta=letta)
    lesson.cleanup()
    yield lesson.create_agent(
        "seen",
        memory_blocks=[{"label": "persona", "value": "I am a tutor."}, {"label": "human", "value": "The learner is new."}],
    )
    lesson.cleanup()


def test_the_figures_are_the_servers_overview(letta, agent):
    overview = letta.get(f"/v1/agents/{agent.id}/context", cast_to=object)
    shot = context_snapshot(agent.id, letta=letta)
    assert shot.tokens == {field: overview[field] for field, _ in PARTS}
    assert shot.used == overview["context_window_size_current"] > 0
    assert shot.window == overview["context_window_size_max"] == agent.llm_config.context_window
    assert shot.tools == tuple(sorted(t.name for t in letta.agents.retrieve(agent.id, include=["agent.tools"]).tools))
    assert [b.label for b in shot.blocks] == ["human", "persona"]
    # A fresh agent with the default tools: their schemas, not its memory, take most of the window's use.
    assert shot.tokens["num_tokens_functions_definitions"] > shot.tokens["num_tokens_core_memory"]


def test_a_memory_edit_grows_core_memory_and_is_marked(letta, agent):
    before = context_snapshot(agent.id, letta=letta)
    value = "The learner is new. Her name is Ada; she loves green tea and long walks by the sea."
    letta.agents.blocks.update("human", agent_id=agent.id, value=value)
    after = context_snapshot(agent.id, letta=letta)
    assert after.tokens["num_tokens_core_memory"] > before.tokens["num_tokens_core_memory"]
    assert after.tokens["num_tokens_functions_definitions"] == before.tokens["num_tokens_functions_definitions"]
    assert {b.label: b.value for b in after.blocks}["human"] == value  # the blocks as the server holds them
    text = describe(after, since=before)
    assert "<human> 83/" in text and "[changed]" in text and text.count("[changed]") == 1


def test_archival_passages_are_counted_not_put_in_the_window(letta, agent):
    """Lesson 02: the window counts the passages; their text is in no block and no message until a search."""
    letta.agents.passages.create(agent.id, text="Refunds are possible within 30 days of purchase.")
    shot = context_snapshot(agent.id, letta=letta)
    assert shot.archival_count == len(letta.agents.passages.list(agent.id, limit=10)) == 1
    assert not any("Refunds" in b.value for b in shot.blocks) and not any("Refunds" in m[2] for m in shot.messages)


def test_two_conversations_show_one_memory_and_their_own_messages(letta):
    """Lesson 07's two windows. No model turn: a fork of the default thread has its messages, a new conversation none."""
    lesson = Lesson("t-context-conv", letta=letta)
    lesson.cleanup()
    try:
        agent = lesson.create_agent(
            "threads",
            include_base_tools=False,
            memory_blocks=[{"label": "persona", "value": "I am a tutor."}],
            initial_message_sequence=[{"role": "user", "content": "My name is Ada."}, {"role": "assistant", "content": "Hello Ada."}],
        )
        fresh = letta.conversations.create(agent_id=agent.id, summary="fresh")
        forked = letta.post("/v1/conversations/default/fork", options={"params": {"agent_id": agent.id}}, cast_to=object)
        empty, full = context_snapshot(agent.id, fresh.id, letta=letta), context_snapshot(agent.id, forked["id"], letta=letta)
        assert (empty.conversation_id, full.conversation_id) == (fresh.id, forked["id"])
        assert empty.blocks == full.blocks  # one memory
        assert empty.messages == () and any("My name is Ada." in text for _, _, text in full.messages)  # separate messages
        text = describe(full, since=empty)
        assert text.startswith(f"conv …{forked['id'][-6:]} compared with conv …{fresh.id[-6:]}") and "  + user" in text
    finally:
        lesson.cleanup()


def test_a_notebook_gets_a_picture_and_a_script_a_table(agent, tmp_path):
    code = f"from helpers.context_window import show_context\nshow_context({agent.id!r})"
    (outputs,) = run_cells(code)
    image = next(o for o in outputs if "image/png" in o.get("data", {}))
    assert image["data"]["image/png"].startswith("iVBORw0KGgo")  # base64 of the PNG signature
    assert "tool schemas" in image["data"]["text/plain"]  # the fallback rides along in the same output
    assert "core memory (in the window" in texts(outputs)

    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "tool schemas" in out and "free" in out and "image/png" not in out
