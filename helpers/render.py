"""Readable rendering of agent messages: HTML in a notebook, plain text in a terminal or a log.

`show(response)` prints each message of a response; `show_stream(stream)` prints chunks as they arrive and
returns them, so a cell can both watch a stream and assert on it afterwards.
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


def _text(content) -> str:
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
        body = _text(getattr(message, "content", "")) or str(message)
    return label, body


def format_message(message) -> str:
    label, body = describe(message)
    return f"[{label}] {body}"


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython

        shell = get_ipython()
        return shell is not None and "IPKernelApp" in shell.config
    except ImportError:
        return False


def _html(message) -> str:
    label, body = describe(message)
    colour = STYLES.get(getattr(message, "message_type", ""), ("", "#000"))[1]
    return (
        f'<div style="margin:2px 0;font-family:monospace;white-space:pre-wrap">'
        f'<b style="color:{colour}">{html.escape(label)}</b> {html.escape(body)}</div>'
    )


def show(response, file=None) -> None:
    """Print every message of a response (and its usage) readably."""
    items = messages_of(response)
    usage = getattr(response, "usage", None)
    if usage is not None:
        items = [*items, usage]
    if _in_notebook() and file is None:
        from IPython.display import HTML, display

        display(HTML("".join(_html(m) for m in items)))
        return
    for item in items:
        print(format_message(item), file=file or sys.stdout)


def show_stream(stream: Iterable, file=None) -> list:
    """Render a stream chunk by chunk as it arrives; return the chunks.

    Token streaming sends many small chunks of one message: they are printed on one line.
    """
    chunks, last_kind = [], None
    out = file or sys.stdout
    for chunk in stream:
        chunks.append(chunk)
        kind = getattr(chunk, "message_type", None)
        label, body = describe(chunk)
        if kind in ("assistant_message", "reasoning_message") and kind == last_kind:
            print(body, end="", file=out, flush=True)  # continuation of the same message
        else:
            print(("\n" if last_kind else "") + f"[{label}] {body}", end="", file=out, flush=True)
        last_kind = kind
    print(file=out)
    return chunks
