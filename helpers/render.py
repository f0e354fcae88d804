"""Readable rendering of agent messages: HTML in a notebook, plain text in a terminal or a log.

`show(response)` prints each message of a response; `show_stream(stream)` prints chunks as they arrive and
returns them, so a cell can both watch a stream and assert on it afterwards. `add_chunk` joins the pieces of a
token stream back into whole messages. The chat panel (helpers/widgets.py) renders with the same functions.
"""

from __future__ import annotations

import html
import json
import sys
from collections.abc import Iterable

# message_type -> (label, colour) used by both renderers
STYLES = {
    "user_message": ("user", "#555"),
    "system_message": ("system", "#777"),
    "reasoning_message": ("reasoning", "#8a6d3b"),
    "hidden_reasoning_message": ("reasoning (hidden)", "#8a6d3b"),
    "tool_call_message": ("tool call", "#31708f"),
    "tool_return_message": ("tool return", "#3c763d"),
    "assistant_message": ("assistant", "#000"),
    "approval_request_message": ("approval request", "#a94442"),
    "approval_response_message": ("approval response", "#a94442"),
    "usage_statistics": ("usage", "#999"),
    "stop_reason": ("stop", "#999"),
    "ping": ("ping", "#bbb"),
}


def messages_of(response) -> list:
    """The messages of a LettaResponse, or the items of a list/stream already collected."""
    return list(getattr(response, "messages", response))


def text_of(content) -> str:
    """The text of a message's `content`: a string, or a list of content parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(getattr(part, "text", "") or (part.get("text", "") if isinstance(part, dict) else "") for part in content)


def _args(raw) -> str:
    try:
        return json.dumps(json.loads(raw), ensure_ascii=False)
    except (TypeError, ValueError):
        return str(raw)


def describe(message) -> tuple[str, str]:
    """(label, one-line body) for any message, chunk or usage object the SDK returns."""
    kind = getattr(message, "message_type", type(message).__name__)
    label = STYLES.get(kind, (kind, ""))[0]
    if kind in ("tool_call_message", "approval_request_message"):
        call = getattr(message, "tool_call", None) or (getattr(message, "tool_calls", None) or [None])[0]
        body = f"{getattr(call, 'name', '?')}({_args(getattr(call, 'arguments', ''))})" if call else ""
    elif kind == "tool_return_message":
        body = f"[{getattr(message, 'status', '')}] {getattr(message, 'tool_return', '')}"
    elif kind in ("reasoning_message",):
        body = message.reasoning
    elif kind == "hidden_reasoning_message":
        body = "(hidden by the provider)"
    elif kind == "approval_response_message":
        approvals = getattr(message, "approvals", None) or []
        body = "; ".join(f"{getattr(a, 'type', '')} approve={getattr(a, 'approve', '')}" for a in approvals) or str(
            getattr(message, "approve", "")
        )
    elif kind == "usage_statistics":
        body = f"steps={message.step_count} prompt_tokens={message.prompt_tokens} completion_tokens={message.completion_tokens}"
    elif kind == "stop_reason":
        body = str(message.stop_reason)
    elif kind == "ping":
        body = ""
    else:
        body = text_of(getattr(message, "content", "")) or str(message)
    return label, body


def format_message(message) -> str:
    label, body = describe(message)
    return f"[{label}] {body}"


def in_notebook() -> bool:
    """True inside an IPython kernel (JupyterLab, papermill, nbmake), False in a terminal or under pytest."""
    try:
        from IPython import get_ipython

        shell = get_ipython()
        return shell is not None and "IPKernelApp" in shell.config
    except ImportError:
        return False


def to_html(message, folded: bool = False) -> str:
    """One message as HTML; `folded` puts the body behind a one-line summary the reader can click open."""
    label, body = describe(message)
    colour = STYLES.get(getattr(message, "message_type", ""), ("", "#000"))[1]
    style = "margin:2px 0;font-family:monospace;white-space:pre-wrap"
    head = f'<b style="color:{colour}">{html.escape(label)}</b>'
    if not folded:
        return f'<div style="{style}">{head} {html.escape(body)}</div>'
    line = " ".join(body.split())  # one line: the summary sits under white-space:pre-wrap
    summary = line if len(line) <= 80 else line[:79] + "…"
    return f'<details style="{style}"><summary>{head} {html.escape(summary)}</summary>{html.escape(body)}</details>'


def show(response, file=None) -> None:
    """Print every message of a response (and its usage) readably."""
    items = messages_of(response)
    usage = getattr(response, "usage", None)
    if usage is not None:
        items = [*items, usage]
    if in_notebook() and file is None:
        from IPython.display import HTML, display

        display(HTML("".join(to_html(m) for m in items)))
        return
    for item in items:
        print(format_message(item), file=file or sys.stdout)


def _key(chunk) -> tuple:
    """Pieces of one message share its id and type (a reasoning and an answer can share an id)."""
    return getattr(chunk, "id", None), getattr(chunk, "message_type", None)


def add_chunk(messages: list, chunk) -> None:
    """Add a stream chunk to `messages`, joined to the earlier pieces of the same message (token streaming).

    Text pieces are concatenated (`content`, `reasoning`), and so are a tool call's argument pieces, so
    `messages` always holds whole messages, as `agents.messages.list` would return them.
    """
    key = _key(chunk)
    if key[0] is not None:
        for i in range(len(messages) - 1, -1, -1):
            if _key(messages[i]) == key:
                messages[i] = _joined(messages[i], chunk)
                return
    messages.append(chunk)


def _joined(whole, piece):
    kind = whole.message_type
    if kind == "assistant_message":
        return whole.model_copy(update={"content": text_of(whole.content) + text_of(piece.content)})
    if kind == "reasoning_message":
        return whole.model_copy(update={"reasoning": (whole.reasoning or "") + (piece.reasoning or "")})
    if kind in ("tool_call_message", "approval_request_message") and whole.tool_call and piece.tool_call:
        call = whole.tool_call.model_copy(
            update={
                "name": whole.tool_call.name or piece.tool_call.name,
                "arguments": (whole.tool_call.arguments or "") + (piece.tool_call.arguments or ""),
                "tool_call_id": whole.tool_call.tool_call_id or piece.tool_call.tool_call_id,
            }
        )
        return whole.model_copy(update={"tool_call": call})
    return piece  # other types arrive whole: the later chunk is the newer state


def show_stream(stream: Iterable, file=None) -> list:
    """Render a stream chunk by chunk as it arrives; return the chunks.

    Token streaming sends many small chunks of one message: they are printed on one line. Keep-alive pings
    are returned but not printed.
    """
    chunks, last_key = [], None
    out = file or sys.stdout
    for chunk in stream:
        chunks.append(chunk)
        kind = getattr(chunk, "message_type", None)
        if kind == "ping":
            continue
        label, body = describe(chunk)
        growing = kind in ("assistant_message", "reasoning_message")  # token pieces may follow on this line
        if growing and _key(chunk) == last_key:
            print(body, end="", file=out, flush=True)  # continuation of the same message
        else:
            print(("\n" if last_key else "") + f"[{label}] {body}", end="", file=out, flush=True)
        if not growing:  # end the line now: what prints next (the turn's clock, say) starts on its own line
            print(file=out, flush=True)
        last_key = _key(chunk) if growing else None
    if last_key:
        print(file=out)
    return chunks
