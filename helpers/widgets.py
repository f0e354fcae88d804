"""Notebook widgets (ipywidgets) that fall back to plain text where nobody can see a widget.

* `ApprovalPanel(request)`: a tool call that waits for a human decision, with Approve / Deny buttons.
* `ChatPanel(letta, agent_id)`: a text box and a Send button bound to one agent; the reply streams in as the
  model writes it, and tool calls, returns and reasoning are shown folded under it.
* `MemoryInspector(letta, agent_id)`: the agent's memory blocks; `refresh()` re-reads them and highlights what
  changed since the previous refresh.
* `ContextView(letta, agent_id)`: what the agent's next step will read (the token budget as a picture, the
  memory, messages and tools); `refresh()` re-reads it and marks what changed.
* `side_by_side(chat, inspector)`: panels next to each other.

Every button has a method that does exactly what clicking it does (`chat.send(text)`, `approval.approve()`,
`approval.deny(reason)`, `inspector.refresh()`), and every panel keeps what happened as plain state
(`chat.turns`, `approval.decision`, `inspector.changed`), so code and tests drive the panels and assert on them.

Widgets or text, the rule (`headless()`):

* `COURSE_HEADLESS=1` means text, `COURSE_HEADLESS=0` means widgets. The course runner (`python -m runner`,
  which `make test` uses for the lessons) sets `COURSE_HEADLESS=1`.
* Unset, widgets are used only inside an IPython kernel that a Jupyter front end started: JupyterLab and
  Notebook 7 (jupyter_server) set `JPY_SESSION_NAME` on the kernels they start. papermill, nbmake, pytest and
  a terminal do not, so there the panels print instead.

In text mode a panel prints what happens (the streamed reply, the changed blocks) rather than writing into
widgets no one will see. The widgets are built in both modes, so their buttons can be clicked from code.
"""

from __future__ import annotations

import difflib
import html
import json
import os
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import ipywidgets as widgets

from helpers import context_window, render


def headless() -> bool:
    """True where no front end can show widgets: print text instead (the rule is in the module docstring)."""
    forced = os.environ.get("COURSE_HEADLESS", "").strip()
    if forced:
        return forced != "0"
    return not (render.in_notebook() and os.environ.get("JPY_SESSION_NAME"))


class _Panel:
    """Shows `self.widget` where widgets render, and `self.text()` where they do not."""

    widget: widgets.Widget

    def text(self) -> str:
        return repr(self)

    def _ipython_display_(self) -> None:
        if headless():
            print(self.text())
            return
        from IPython.display import display

        display(self.widget)


def _on_click(button: widgets.Button, action: Callable[[], object], status: widgets.HTML) -> None:
    """Run `action` when `button` is clicked. A click has no cell to show a traceback in: errors go in `status`."""

    def clicked(_) -> None:
        try:
            action()
        except Exception as err:
            status.value = f"<span style='color:#a94442'>{html.escape(f'{type(err).__name__}: {err}')}</span>"

    button.on_click(clicked)


def _short(text: str, width: int = 60) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


# ---------------------------------------------------------------------------------------------------- approvals


class ApprovalPanel(_Panel):
    """A pending tool call with Approve / Deny buttons; the decision is kept in `decision` for the next message.

    `on_decision(panel)` runs once a decision is made (the chat panel uses it to send the decision right away).
    """

    def __init__(self, request, on_decision: Callable[[ApprovalPanel], None] | None = None) -> None:
        """request: an `approval_request_message` from a response or a stream."""
        self.call = request.tool_call
        self.decision: dict | None = None
        self.on_decision = on_decision
        try:
            arguments = json.dumps(json.loads(self.call.arguments), indent=2, ensure_ascii=False)
        except (TypeError, ValueError):
            arguments = str(self.call.arguments)
        self.summary = f"{self.call.name}({arguments})"
        self.reason = widgets.Text(placeholder="reason (sent to the agent if you deny)", layout=widgets.Layout(width="60%"))
        self.approve_button = widgets.Button(description="Approve", button_style="success", icon="check")
        self.deny_button = widgets.Button(description="Deny", button_style="danger", icon="times")
        self.status = widgets.HTML("<i>waiting for your decision</i>")
        _on_click(self.approve_button, self.approve, self.status)
        _on_click(self.deny_button, lambda: self.deny(self.reason.value or "Denied by the user."), self.status)
        header = widgets.HTML(f"<b>The agent wants to run</b><pre>{html.escape(self.summary)}</pre>")
        self.widget = widgets.VBox([header, widgets.HBox([self.approve_button, self.deny_button, self.reason]), self.status])

    def approve(self) -> dict:
        self.decision = {"type": "approval", "tool_call_id": self.call.tool_call_id, "approve": True}
        self._settle("approved")
        return self.decision

    def deny(self, reason: str) -> dict:
        self.decision = {"type": "approval", "tool_call_id": self.call.tool_call_id, "approve": False, "reason": reason}
        self._settle(f"denied: {reason}")
        return self.decision

    def _settle(self, text: str) -> None:
        self.status.value = f"<b>{html.escape(text)}</b>"
        self.approve_button.disabled = self.deny_button.disabled = True
        if self.on_decision:
            self.on_decision(self)

    def message(self) -> dict:
        """The message that sends the decision back to the agent."""
        if self.decision is None:
            raise RuntimeError("no decision yet: click Approve or Deny, or call approve() / deny(reason)")
        return {"type": "approval", "approvals": [self.decision]}

    def __repr__(self) -> str:
        if self.decision is None:
            state = "waiting"
        else:
            state = "approved" if self.decision["approve"] else f"denied: {self.decision['reason']}"
        return f"ApprovalPanel({self.summary}, {state})"


# ---------------------------------------------------------------------------------------------------- chat


@dataclass(repr=False)
class Turn:
    """One exchange with the agent, as the chat panel saw it stream in."""

    user: str  # what the panel showed as sent: the user's text, or "(approved)" / "(denied: reason)"
    sent: dict  # the message sent to the server
    messages: list = field(default_factory=list)  # whole messages, token pieces joined (render.add_chunk); no pings
    stop_reason: str | None = None  # "end_turn", "requires_approval", ...
    usage: object | None = None  # the stream's usage_statistics: step_count, prompt_tokens, completion_tokens
    run_id: str | None = None  # the server's run for this turn (runs.retrieve / runs.messages.list)
    seconds: float = 0.0
    error: str | None = None

    def add(self, chunk) -> None:
        kind = getattr(chunk, "message_type", None)
        self.run_id = self.run_id or getattr(chunk, "run_id", None)
        if kind == "stop_reason":
            self.stop_reason = str(chunk.stop_reason)
        elif kind == "usage_statistics":
            self.usage = chunk
        elif kind != "ping":  # keep-alives carry nothing
            render.add_chunk(self.messages, chunk)
            if kind == "error_message":
                self.error = f"{chunk.error_type}: {chunk.message}"

    @property
    def assistant(self) -> str:
        """The agent's answer: the text of its assistant messages, joined."""
        return "\n".join(render.text_of(m.content) for m in self.messages if m.message_type == "assistant_message")

    @property
    def kinds(self) -> list[str]:
        """The message types seen, in order of first appearance."""
        return list(dict.fromkeys(m.message_type for m in self.messages))

    @property
    def approval_request(self):
        """The tool call waiting for approval, if the turn stopped for one."""
        return next((m for m in self.messages if m.message_type == "approval_request_message"), None)

    def footer(self) -> str:
        parts = [self.stop_reason or ("failed" if self.error else "streaming…")]
        if self.usage is not None:
            usage = self.usage
            parts.append(f"steps: {usage.step_count}, tokens: {usage.prompt_tokens} prompt + {usage.completion_tokens} completion")
        parts.append(f"{self.seconds:.1f} s")
        return " · ".join(parts)

    def __repr__(self) -> str:
        return f"Turn(user={_short(self.user)!r}, assistant={_short(self.assistant)!r}, kinds={self.kinds}, {self.footer()})"


def _turn_html(turn: Turn) -> str:
    parts = [f'<div style="margin:6px 0 2px"><b style="color:#555">you</b> {html.escape(turn.user)}</div>']
    for message in turn.messages:
        if message.message_type == "assistant_message":
            text = html.escape(render.text_of(message.content))
            parts.append(f'<div style="white-space:pre-wrap;margin:2px 0 2px 1em"><b>agent</b> {text}</div>')
        else:  # reasoning, tool calls, returns, approvals: one folded line each, open on click
            parts.append(f'<div style="margin-left:1em">{render.to_html(message, folded=True)}</div>')
    if turn.error:
        parts.append(f'<div style="color:#a94442">{html.escape(turn.error)}</div>')
    parts.append(f'<div style="color:#999;font-size:smaller;margin-left:1em">{html.escape(turn.footer())}</div>')
    return "".join(parts)


class ChatPanel(_Panel):
    """A chat box bound to one agent. Each Send is one turn, streamed token by token and kept in `turns`.

    on_turn: functions called with no arguments after every turn, e.g. `[inspector.refresh]`.
    When a turn stops for an approval, `pending` holds an ApprovalPanel shown under the reply; deciding it
    (a click, or `chat.pending.approve()` / `.deny(reason)`) sends the decision and streams the rest of the turn.
    """

    def __init__(self, letta, agent_id: str, on_turn: Iterable[Callable[[], object]] = ()) -> None:
        self.letta, self.agent_id = letta, agent_id
        self.turns: list[Turn] = []
        self.pending: ApprovalPanel | None = None
        self.on_turn = list(on_turn)
        self.input = widgets.Text(placeholder="Message the agent, then click Send", layout=widgets.Layout(width="70%"))
        self.send_button = widgets.Button(description="Send", button_style="primary", icon="paper-plane")
        self.transcript = widgets.VBox([])
        self.status = widgets.HTML()
        _on_click(self.send_button, self._clicked, self.status)
        header = widgets.HTML(f"<b>Chat</b> <small style='color:#999'>{html.escape(agent_id)}</small>")
        self.widget = widgets.VBox([header, self.transcript, widgets.HBox([self.input, self.send_button]), self.status])

    def send(self, text: str) -> Turn:
        """Send `text` as the user and stream the reply: exactly what typing it and clicking Send does."""
        if self.pending is not None:
            raise RuntimeError("the agent waits for an approval: decide it first (chat.pending.approve() or .deny(reason))")
        return self._run({"role": "user", "content": text}, text)

    def _clicked(self) -> None:
        text, self.input.value = self.input.value.strip(), ""
        if text:
            self.send(text)

    def _run(self, message: dict, shown: str) -> Turn:
        turn = Turn(user=shown, sent=message)
        self.turns.append(turn)
        view = widgets.HTML(_turn_html(turn))
        self.transcript.children += (view,)
        self.send_button.disabled, self.status.value = True, "<i>the agent is working…</i>"
        started, printing = time.monotonic(), headless()
        if printing:
            print(f"[you] {shown}")
        try:
            stream = self.letta.agents.messages.create(agent_id=self.agent_id, messages=[message], streaming=True, stream_tokens=True)
            if printing:
                render.show_stream(self._recorded(stream, turn))  # prints each piece as it arrives
            else:
                for chunk in self._recorded(stream, turn):
                    if getattr(chunk, "message_type", None) != "ping":
                        turn.seconds = time.monotonic() - started
                        view.value = _turn_html(turn)  # the reply grows on screen
        except Exception as err:
            turn.error = turn.error or f"{type(err).__name__}: {err}"
            raise
        finally:
            turn.seconds = time.monotonic() - started
            view.value = _turn_html(turn)
            request = turn.approval_request if turn.stop_reason == "requires_approval" and not turn.error else None
            if request is not None:
                self._ask(request)  # the panel is on screen before anything is clickable again
            # While a decision is pending the server refuses new messages, so Send stays off until it is made.
            self.send_button.disabled = request is not None
            self.status.value = "<i>decide the approval above to go on</i>" if request is not None else ""
        for callback in self.on_turn:
            callback()
        return turn

    @staticmethod
    def _recorded(stream, turn: Turn):
        """Pass the stream's chunks on, recording each into the turn first."""
        for chunk in stream:
            turn.add(chunk)
            yield chunk

    def _ask(self, request) -> None:
        self.pending = ApprovalPanel(request, on_decision=self._answer)
        self.transcript.children += (self.pending.widget,)
        if headless():
            print(f"{self.pending!r}: decide with chat.pending.approve() or chat.pending.deny(reason)")

    def _answer(self, approval: ApprovalPanel) -> None:
        self.pending = None
        decision = approval.decision
        shown = "(approved)" if decision["approve"] else f"(denied: {decision['reason']})"
        self._run(approval.message(), shown)

    def __repr__(self) -> str:
        last = f", last answer: {_short(self.turns[-1].assistant)!r}" if self.turns else ""
        waiting = ", waiting for an approval" if self.pending else ""
        return f"ChatPanel({self.agent_id}, {len(self.turns)} turns{last}{waiting})"


# ---------------------------------------------------------------------------------------------------- memory


def word_diff(old: str, new: str) -> list[tuple[str, str]]:
    """(op, text) pieces turning `old` into `new`, word by word: op is "=" kept, "-" removed, "+" added.

    A single kept word between two changes is folded into them, so a rewritten sentence reads as one
    removal and one addition rather than a patchwork around every "the".
    """
    words = re.compile(r"\s*\S+|\s+$")  # each word with the spaces before it: joining them gives the text back
    a, b = words.findall(old), words.findall(new)
    opcodes = difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes()
    pieces, removed, added = [], [], []
    for index, (op, i1, i2, j1, j2) in enumerate(opcodes):
        if op == "equal" and not (0 < index < len(opcodes) - 1 and i2 - i1 == 1):
            pieces += [(sign, "".join(text)) for sign, text in (("-", removed), ("+", added)) if text]
            removed, added = [], []
            pieces.append(("=", "".join(a[i1:i2])))
        else:
            removed += a[i1:i2]
            added += b[j1:j2] if op != "equal" else a[i1:i2]
    pieces += [(sign, "".join(text)) for sign, text in (("-", removed), ("+", added)) if text]
    return pieces


class MemoryInspector(_Panel):
    """An agent's core memory blocks: label, value, characters used of the limit.

    `refresh()` re-reads the blocks from the server; `changed` then lists the labels whose value changed since
    the previous read (added and removed blocks too), and those blocks are highlighted with a word diff.
    """

    def __init__(self, letta, agent_id: str) -> None:
        self.letta, self.agent_id = letta, agent_id
        self.values: dict[str, str] = {}  # label -> value, as of the last read
        self.limits: dict[str, int] = {}
        self.previous: dict[str, str] = {}  # label -> value, as of the read before
        self.changed: list[str] = []
        self.view = widgets.HTML()
        self.status = widgets.HTML()
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh")
        _on_click(self.refresh_button, self.refresh, self.status)
        header = widgets.HTML(f"<b>Memory</b> <small style='color:#999'>{html.escape(agent_id)}</small>")
        self.widget = widgets.VBox([widgets.HBox([header, self.refresh_button]), self.view, self.status])
        self._read()

    def _read(self) -> None:
        blocks = self.letta.agents.blocks.list(self.agent_id, limit=100).items
        self.values = {b.label: b.value or "" for b in blocks}
        self.limits = {b.label: b.limit for b in blocks}
        self.view.value = self._html()

    def refresh(self) -> list[str]:
        """Re-read the blocks; return (and keep in `changed`) the labels that changed since the last read."""
        self.previous = dict(self.values)
        self._read()
        labels = list(dict.fromkeys([*self.values, *self.previous]))
        self.changed = [label for label in labels if self.values.get(label) != self.previous.get(label)]
        self.view.value = self._html()
        if headless():
            print(self.changes())
        return self.changed

    def diff(self, label: str) -> str:
        """What changed in one block at the last refresh, as text: [-removed-]{+added+}."""
        marks = {"=": "{}", "-": "[-{}-]", "+": "{{+{}+}}"}
        return "".join(marks[op].format(text) for op, text in word_diff(self.previous.get(label, ""), self.values.get(label, "")))

    def _usage(self, label: str) -> str:
        return f"{len(self.values.get(label, ''))}/{self.limits.get(label, '?')} chars"

    def changes(self) -> str:
        """The last refresh as text: each changed block and its diff."""
        if not self.changed:
            return "memory: no block changed"
        lines = [f"memory: {', '.join(self.changed)} changed"]
        lines += [f"  {label} ({self._usage(label)}): {self.diff(label)}" for label in self.changed]
        return "\n".join(lines)

    def text(self) -> str:
        lines = [f"memory of {self.agent_id}:"]
        for label, value in self.values.items():
            mark = " (changed)" if label in self.changed else ""
            lines.append(f"  {label} ({self._usage(label)}){mark}: {value}")
        return "\n".join(lines)

    def _html(self) -> str:
        marks = {"=": "{}", "-": "<del style='background:#fdd'>{}</del>", "+": "<ins style='background:#dfd'>{}</ins>"}
        parts = []
        for label in dict.fromkeys([*self.values, *self.changed]):
            changed = label in self.changed
            if changed:
                pieces = word_diff(self.previous.get(label, ""), self.values.get(label, ""))
                body = "".join(marks[op].format(html.escape(text)) for op, text in pieces)
            else:
                body = html.escape(self.values.get(label, ""))
            over = len(self.values.get(label, "")) > (self.limits.get(label) or 10**9)
            usage = f"<span style='color:{'#a94442' if over else '#999'}'>{self._usage(label)}</span>"
            badge = " <b style='color:#8a6d3b'>changed</b>" if changed else ""
            colour = "#f0ad4e" if changed else "#ddd"
            parts.append(
                f"<div style='border:1px solid {colour};{'background:#fffbea;' if changed else ''}margin:3px 0;padding:3px'>"
                f"<b>{html.escape(label)}</b> {usage}{badge}<div style='white-space:pre-wrap;font-family:monospace'>{body}</div></div>"
            )
        return "".join(parts)

    def __repr__(self) -> str:
        blocks = ", ".join(f"{label}{'*' if label in self.changed else ''} {self._usage(label)}" for label in self.values)
        return f"MemoryInspector({self.agent_id}: {blocks}; changed={self.changed})"


# ---------------------------------------------------------------------------------------------------- context


class ContextView(_Panel):
    """What the agent's next step will read (helpers/context_window.py) as a panel; `refresh()` re-reads it
    and marks what changed since the previous read. Pass it to a chat panel's `on_turn` to follow every turn."""

    def __init__(self, letta, agent_id: str, conversation_id: str | None = None) -> None:
        self.letta, self.agent_id, self.conversation_id = letta, agent_id, conversation_id
        self.previous: context_window.ContextSnapshot | None = None
        self.now = context_window.context_snapshot(agent_id, conversation_id, letta)
        self.picture = widgets.Image(format="png")
        self.details = widgets.HTML()
        self.status = widgets.HTML()
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh")
        _on_click(self.refresh_button, self.refresh, self.status)
        header = widgets.HTML("<b>Context window</b> <small style='color:#999'>what the next step will read</small>")
        self.widget = widgets.VBox([widgets.HBox([header, self.refresh_button]), self.picture, self.details, self.status])
        self._draw()

    def _draw(self) -> None:
        self.picture.value = context_window.budget_png(context_window.titled(self.now, self.previous))
        body = html.escape(context_window.describe(self.now, self.previous))
        self.details.value = f"<pre style='margin:0;font-size:85%;line-height:1.3;white-space:pre-wrap'>{body}</pre>"

    def refresh(self) -> context_window.ContextSnapshot:
        self.previous, self.now = self.now, context_window.context_snapshot(self.agent_id, self.conversation_id, self.letta)
        self._draw()
        if headless():
            print(context_window.budget_table(context_window.titled(self.now, self.previous)))
        return self.now

    def text(self) -> str:
        shots = context_window.titled(self.now, self.previous)
        return context_window.budget_table(shots) + "\n" + context_window.describe(self.now, self.previous)

    def __repr__(self) -> str:
        return f"ContextView({self.agent_id}: {self.now.used:,} of {self.now.window:,} tokens)"


# ---------------------------------------------------------------------------------------------------- layout


class _Row(_Panel):
    def __init__(self, panels) -> None:
        self.panels = panels
        self.widget = widgets.HBox([p.widget for p in panels], layout=widgets.Layout(align_items="flex-start"))
        for p in panels:
            p.widget.layout.width = f"{100 // len(panels)}%"

    def text(self) -> str:
        return "\n".join(p.text() for p in self.panels)

    def __repr__(self) -> str:
        return f"side_by_side({', '.join(repr(p) for p in self.panels)})"


def side_by_side(*panels: _Panel) -> _Row:
    """Show panels next to each other (in text mode, one after the other)."""
    return _Row(panels)
