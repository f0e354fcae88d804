"""The notebook widgets, driven from code as a test (or papermill) would: no front end, so they print.

Unit tests need no server. Tests marked `stack` use the real server; one of them needs the model (two model
calls: the agent asks for approval, then answers the denial), the others only read and write blocks.
"""

from __future__ import annotations

import inspect
from types import SimpleNamespace

import pytest
from letta_client import Letta
from letta_client.types.agents import ApprovalRequestMessage, AssistantMessage, ToolCallMessage

import helpers
from helpers import render
from helpers.context_window import context_snapshot
from helpers.widgets import ApprovalPanel, ChatPanel, MemoryInspector, headless, side_by_side, word_diff

# ------------------------------------------------------------------------------------------------ no server


def test_headless_rule(monkeypatch):
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    monkeypatch.setenv("COURSE_HEADLESS", "1")
    assert headless()
    monkeypatch.setenv("COURSE_HEADLESS", "0")
    assert not headless()  # forced widgets
    monkeypatch.delenv("COURSE_HEADLESS")
    assert headless()  # pytest is no kernel
    monkeypatch.setenv("JPY_SESSION_NAME", "/nb/02_memory.ipynb")
    assert headless()  # a Jupyter session name alone does not make pytest a front end


def _assistant(id_: str, text: str) -> AssistantMessage:
    fields = {"id": id_, "date": "2026-01-01T00:00:00Z", "message_type": "assistant_message", "content": text}
    return AssistantMessage.model_validate(fields)


def _call(id_: str, name: str | None, arguments: str) -> ToolCallMessage:
    return ToolCallMessage.model_validate(
        {
            "id": id_,
            "date": "2026-01-01T00:00:00Z",
            "message_type": "tool_call_message",
            "tool_call": {"name": name, "arguments": arguments, "tool_call_id": "c1"},
        }
    )


def test_add_chunk_joins_the_pieces_of_each_message():
    pieces = [_call("m1", "memory_insert", '{"label": '), _call("m1", None, '"human"}'), _assistant("m2", "Hel"), _assistant("m2", "lo")]
    pieces += [_assistant("m3", "Bye")]  # another message: not joined to m2
    messages: list = []
    for piece in pieces:
        render.add_chunk(messages, piece)
    assert [m.id for m in messages] == ["m1", "m2", "m3"]
    assert messages[0].tool_call.name == "memory_insert" and messages[0].tool_call.arguments == '{"label": "human"}'
    assert render.text_of(messages[1].content) == "Hello" and render.text_of(messages[2].content) == "Bye"
    assert pieces[2].content == "Hel"  # the chunks themselves are not changed


def test_show_stream_prints_separate_messages_on_separate_lines(capsys):
    render.show_stream([_assistant("m2", "Hel"), _assistant("m2", "lo"), _assistant("m3", "Bye")])
    assert capsys.readouterr().out.splitlines() == ["[assistant] Hello", "[assistant] Bye"]


def test_word_diff_marks_removed_and_added_words():
    pieces = word_diff("Nothing known yet.", "Name: Ada. Plays chess.")
    assert "".join(text for op, text in pieces if op != "+") == "Nothing known yet."
    assert "".join(text for op, text in pieces if op != "-") == "Name: Ada. Plays chess."
    assert word_diff("same", "same") == [("=", "same")]
    # a lone kept word inside a rewrite is folded into it: one removal, one addition
    rewrite = word_diff("Nothing known about the learner yet.", "My name is Ada and I play the Sicilian Defence.")
    assert rewrite == [("-", "Nothing known about the learner yet."), ("+", "My name is Ada and I play the Sicilian Defence.")]
    assert word_diff("Plays the Sicilian.", "Plays the Najdorf.") == [("=", "Plays the"), ("-", " Sicilian."), ("+", " Najdorf.")]


def _request() -> ApprovalRequestMessage:
    return ApprovalRequestMessage.model_validate(
        {
            "id": "m9",
            "date": "2026-01-01T00:00:00Z",
            "message_type": "approval_request_message",
            "tool_call": {"name": "delete_file", "arguments": '{"path": "a.txt"}', "tool_call_id": "call-1"},
        }
    )


def test_approval_panel_buttons_record_the_decision():
    panel = ApprovalPanel(_request())
    with pytest.raises(RuntimeError, match="no decision yet"):
        panel.message()
    panel.reason.value = "not that file"
    panel.deny_button.click()
    assert panel.message() == {
        "type": "approval",
        "approvals": [{"type": "approval", "tool_call_id": "call-1", "approve": False, "reason": "not that file"}],
    }
    assert panel.approve_button.disabled and "denied" in panel.status.value


def test_approval_panel_approve_without_a_front_end():
    panel = ApprovalPanel(_request())
    panel.approve_button.click()
    assert panel.decision["approve"] is True and "approved" in repr(panel)


def test_approval_panel_reports_its_decision_once_and_shows_click_errors():
    decided = []
    panel = ApprovalPanel(_request(), on_decision=decided.append)
    panel.reason.value = "keep it"
    panel.deny_button.click()
    assert decided == [panel] and panel.decision == {"type": "approval", "tool_call_id": "call-1", "approve": False, "reason": "keep it"}
    assert repr(panel).endswith("denied: keep it)") and panel.approve_button.disabled

    def broken(_panel):
        raise ValueError("the server is gone")

    failing = ApprovalPanel(_request(), on_decision=broken)
    failing.approve_button.click()  # the click path must not raise into the front end's log...
    assert "ValueError: the server is gone" in failing.status.value  # ...it shows the error on the panel
    with pytest.raises(ValueError):
        ApprovalPanel(_request(), on_decision=broken).approve()  # code calling the method gets the exception


def test_chat_panel_click_shows_a_connection_error_and_records_it(capsys):
    nowhere = Letta(base_url="http://127.0.0.1:9", max_retries=0, timeout=3)
    chat = ChatPanel(nowhere, "agent-00000000-0000-4000-8000-000000000000")
    chat.input.value = "hello?"
    chat.send_button.click()
    assert "APIConnectionError" in chat.status.value
    assert len(chat.turns) == 1 and chat.turns[0].user == "hello?" and "APIConnectionError" in chat.turns[0].error
    assert chat.input.value == "" and not chat.send_button.disabled
    assert "[you] hello?" in capsys.readouterr().out


def test_chat_panel_send_returns_the_turn_it_records(monkeypatch, capsys):
    """Lesson 01: `chat.send(text)` is what Send does, and its turn holds the answer joined from the streamed pieces."""
    monkeypatch.setenv("COURSE_HEADLESS", "1")
    pieces = [
        AssistantMessage.model_validate(
            {"id": "m", "date": "2026-01-01T00:00:00Z", "message_type": "assistant_message", "content": part, "run_id": "run-1"}
        )
        for part in ("Your name ", "is Grace.")
    ]
    calls = []
    messages = SimpleNamespace(create=lambda **kwargs: calls.append(kwargs) or iter(pieces))
    chat = ChatPanel(SimpleNamespace(agents=SimpleNamespace(messages=messages)), "agent-1")
    turn = chat.send("What is my name?")
    assert chat.turns == [turn] and turn.user == "What is my name?" and turn.run_id == "run-1"
    assert calls[0]["messages"] == [{"role": "user", "content": "What is my name?"}] and calls[0]["streaming"] is True
    assert turn.assistant == "Your name is Grace." and turn.kinds == ["assistant_message"] and turn.error is None
    assert "Your name is Grace." in capsys.readouterr().out


# ------------------------------------------------------------------------------------------------ the server


@pytest.fixture(scope="module")
def lesson(letta):
    lesson = helpers.Lesson("t-widgets", letta=letta)
    lesson.cleanup()
    yield lesson
    lesson.cleanup()


@pytest.mark.stack
def test_memory_inspector_sees_what_changed_on_the_server(letta, lesson, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_HEADLESS", "1")
    agent = lesson.create_agent(
        "memory",
        include_base_tools=False,
        memory_blocks=[{"label": "persona", "value": "I am brief."}, {"label": "human", "value": "Nothing known yet.", "limit": 100}],
    )
    inspector = MemoryInspector(letta, agent.id)
    assert inspector.values == {"persona": "I am brief.", "human": "Nothing known yet."} and inspector.changed == []
    assert inspector.limits["human"] == 100

    letta.agents.blocks.update("human", agent_id=agent.id, value="Nothing known yet. Name: Ada.")
    assert inspector.refresh() == ["human"] and inspector.changed == ["human"]
    assert inspector.values["human"] == letta.agents.blocks.retrieve("human", agent_id=agent.id).value
    assert inspector.previous["human"] == "Nothing known yet."
    assert inspector.diff("human") == "Nothing known yet.{+ Name: Ada.+}"
    printed = capsys.readouterr().out
    assert "memory: human changed" in printed and "human (29/100 chars): Nothing known yet.{+ Name: Ada.+}" in printed
    assert "<ins" in inspector.view.value and "changed" in inspector.view.value  # the widget highlights it too
    assert "human* 29/100 chars" in repr(inspector)

    assert inspector.refresh() == []  # nothing changed since the last read
    assert "memory: no block changed" in capsys.readouterr().out

    shared = letta.blocks.create(label=lesson.name("notes"), value="Club night on Friday.")
    letta.agents.blocks.attach(shared.id, agent_id=agent.id)
    assert inspector.refresh() == [shared.label] and inspector.values[shared.label] == "Club night on Friday."
    assert inspector.diff(shared.label) == "{+Club night on Friday.+}"


def t_widgets_cancel_order(order_id: str) -> str:
    """Cancel a customer's order.

    Args:
        order_id: The order's id, for example A-100.
    """
    return f"Order {order_id} cancelled."


@pytest.mark.stack
def test_chat_panel_streams_turns_asks_for_approval_and_sends_the_denial(letta, lesson, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_HEADLESS", "1")
    tool = letta.tools.upsert(source_code=inspect.getsource(t_widgets_cancel_order), default_requires_approval=True)
    agent = lesson.create_agent(
        "clerk",
        include_base_tools=False,  # one tool, a short prompt: the cheapest real turn
        tool_ids=[tool.id],
        memory_blocks=[{"label": "persona", "value": "I cancel orders with my tool when asked."}],
    )
    inspector = MemoryInspector(letta, agent.id)
    window_before = context_snapshot(agent.id, letta=letta)
    after_each_turn = []
    chat = ChatPanel(letta, agent.id, on_turn=[inspector.refresh, lambda: after_each_turn.append(len(chat.turns))])

    chat.input.value = "Please cancel order A-7."
    chat.send_button.click()  # what a learner does in JupyterLab
    asked = chat.turns[0]
    assert chat.send_button.disabled and "decide the approval" in chat.status.value  # Send waits for the decision
    assert asked.user == "Please cancel order A-7." and asked.error is None
    assert asked.stop_reason == "requires_approval" and "approval_request_message" in asked.kinds
    assert asked.run_id and asked.usage.step_count >= 1
    assert isinstance(chat.pending, ApprovalPanel) and chat.pending.call.name == tool.name
    assert chat.pending.widget in chat.transcript.children  # shown under the reply
    assert after_each_turn == [1] and inspector.changed == []
    with pytest.raises(RuntimeError, match="waits for an approval"):
        chat.send("Anything else?")  # the server would refuse a new message now

    chat.pending.deny("Order A-7 has already shipped.")  # what clicking Deny does: sends the decision
    answered = chat.turns[1]
    assert "assistant_message" in answered.kinds
    assert chat.pending is None and answered.user == "(denied: Order A-7 has already shipped.)"
    assert answered.sent["approvals"][0]["approve"] is False
    assert answered.stop_reason == "end_turn" and answered.assistant, answered
    assert after_each_turn == [1, 2]
    assert not chat.send_button.disabled and chat.status.value == ""

    # The server stored exactly what streamed in: the run's answer, and the denial that did not run the tool.
    stored = [m for m in letta.runs.messages.list(answered.run_id).items if m.message_type == "assistant_message"]
    assert answered.assistant == "\n".join(render.text_of(m.content) for m in stored)
    history = letta.agents.messages.list(agent.id, limit=50).items
    responses = [m for m in history if m.message_type == "approval_response_message"]
    returns = [m for m in history if m.message_type == "tool_return_message"]
    assert [r.approvals[0].approve for r in responses] == [False]
    assert len(context_snapshot(agent.id, letta=letta).messages) > len(window_before.messages)  # lesson 02: turns fill the window
    assert returns and returns[-1].status == "error" and "cancelled." not in str(returns[-1].tool_return)

    printed = capsys.readouterr().out  # headless: what happened was printed, not written into hidden widgets
    assert "[you] Please cancel order A-7." in printed and "[approval request] t_widgets_cancel_order" in printed
    assert "decide with chat.pending.approve()" in printed and answered.assistant[:40] in printed
    assert repr(chat).startswith(f"ChatPanel({agent.id}, 2 turns, last answer:")
    assert "ChatPanel" in repr(side_by_side(chat, inspector)) and "memory of" in side_by_side(chat, inspector).text()
