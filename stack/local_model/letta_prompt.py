"""What the model service knows about the prompts a Letta 0.16.8 server sends: where the system message's
static instructions end, which memory blocks it shows and their values, which tool calls the turn has made.

Pure functions of an OpenAI chat request's messages (no model, no I/O), so they are unit-tested directly. What a
model family's prompt looks like is in chat_templates.py; what the model may answer is in tool_calls.py.
"""

from __future__ import annotations

import json
import re

# Letta's system message starts with the agent's (static) base instructions, then sections that change as
# memory changes. The prompt puts the static part first and the tool schemas next, so llama.cpp can reuse its
# cache for both when only a memory block changed, and across agents that share instructions.
DYNAMIC_SECTION_TAGS = ("<memory_blocks>", "<memory_filesystem>", "<tool_usage_rules>", "<directories>", "<memory_metadata>")

# Letta's heartbeats and other automated notes come as user messages with this prefix; they do not start a turn.
AUTOMATED_USER_PREFIX = "[This is an automated system message hidden from the user]"

# Letta's memory tools take a block `label`; small models copy the docstring's example ("customer") instead of
# a real label, so the schema limits `label` to the blocks listed in the system prompt.
MEMORY_TOOLS = {"memory_insert", "memory_replace", "memory_rethink", "memory_append", "core_memory_append", "core_memory_replace"}

_BLOCK_LABEL = re.compile(r"^<([A-Za-z0-9_][A-Za-z0-9_\-]*)>\s*\n<(?:description|metadata|value)>", re.MULTILINE)

# Letta's loop instructions describe native tool calling; a 1.5B model tends to repeat them back verbatim as
# its answer. The grammar already decides between a call and an answer, so they are left out of the prompt.
LOOP_INSTRUCTIONS = (
    "Continue executing and calling tools until the current task is complete or you need user input. "
    "To continue: call another tool. To yield control: end your response without calling a tool."
)


def split_system(text: str) -> tuple[str, str]:
    """Split a system message into (static instructions, dynamic sections)."""
    cut = min((i for i in (text.find(tag) for tag in DYNAMIC_SECTION_TAGS) if i >= 0), default=len(text))
    return text[:cut].rstrip(), text[cut:].strip()


def content_text(content) -> str:
    """OpenAI message content is a string or a list of parts; keep the text parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if isinstance(part, dict))


def _memory_section(messages: list[dict]) -> str:
    """The <memory_blocks> section of the (first) system message, or "" when there is none."""
    for message in messages:
        if message.get("role") in ("system", "developer"):
            text = content_text(message.get("content"))
            start, end = text.find("<memory_blocks>"), text.find("</memory_blocks>")
            return text[start:end] if start >= 0 else ""
    return ""


def memory_labels(messages: list[dict]) -> list[str]:
    """The labels of the memory blocks shown in the (first) system message."""
    return _BLOCK_LABEL.findall(_memory_section(messages))


_BLOCK_VALUE = re.compile(
    r"^<([A-Za-z0-9_][A-Za-z0-9_\-]*)>\s*\n"  # <label>
    r"(?:<description>[\s\S]*?</description>\s*\n)?(?:<metadata>[\s\S]*?</metadata>\s*\n)?"
    r"<value>\n?([\s\S]*?)\n?</value>",
    re.MULTILINE,
)


def memory_values(messages: list[dict]) -> dict[str, str]:
    """label -> the block's value as the model knows it now.

    Letta recompiles the system prompt only between turns, so within a turn the latest word on a block is the
    return of the last memory tool call that named it (its "message" is the block's new value).
    """
    values = dict(_BLOCK_VALUE.findall(_memory_section(messages)))
    labels_by_call: dict[str, str] = {}
    for message in messages:
        role = message.get("role")
        if role == "assistant":
            for call in message.get("tool_calls") or []:
                fn = call.get("function", {})
                if fn.get("name") in MEMORY_TOOLS:
                    args = parsed_args(fn.get("arguments"))
                    label = args.get("label") if isinstance(args, dict) else None
                    if isinstance(label, str):
                        labels_by_call[call.get("id", "")] = label
        elif role == "tool" and message.get("tool_call_id") in labels_by_call:
            text = content_text(message.get("content"))
            try:
                text = str(json.loads(text).get("message", text))
            except (ValueError, AttributeError):
                pass
            values[labels_by_call[message["tool_call_id"]]] = text
    return values


def sentences(value: str) -> list[str]:
    """A block value's lines and the sentences in them, each once: the text a replace may name as `old_string`."""
    out: list[str] = []
    for line in value.splitlines():
        for piece in [line, *re.split(r"(?<=[.!?])\s+", line)]:
            piece = piece.strip()
            if piece and piece not in out:
                out.append(piece)
    return out


def parsed_args(arguments):
    """A call's arguments as an object when they are a JSON string; anything else unchanged."""
    if isinstance(arguments, str):
        try:
            return json.loads(arguments or "{}")
        except json.JSONDecodeError:
            pass
    return arguments


def canonical(name: str, arguments) -> tuple[str, str]:
    return name, json.dumps(parsed_args(arguments), sort_keys=True, ensure_ascii=False)


def _this_turn(messages: list[dict]) -> list[dict]:
    """The messages after the user's last message (an automated one, Letta's system alerts, does not count)."""
    start = 0
    for i, message in enumerate(messages):
        if message.get("role") == "user" and AUTOMATED_USER_PREFIX not in content_text(message.get("content")):
            start = i + 1
    return messages[start:]


def calls_since_last_user(messages: list[dict]) -> list[tuple[str, str]]:
    """The (name, arguments) of every tool call the assistant made after the last user message."""
    return [
        canonical(call.get("function", {}).get("name", ""), call.get("function", {}).get("arguments"))
        for message in _this_turn(messages)
        if message.get("role") == "assistant"
        for call in message.get("tool_calls") or []
    ]


def has_history(messages: list[dict]) -> bool:
    """Whether anything was said before the last user message (a fresh agent's first turn has nothing)."""
    said = [i for i, m in enumerate(messages) if m.get("role") in ("user", "assistant", "tool")]
    users = [i for i in said if messages[i].get("role") == "user"]
    return bool(users) and said[0] < users[-1]


def memory_saved_this_turn(messages: list[dict]) -> bool:
    """Whether a memory tool already succeeded since the user's last message (Letta packs a tool's return as JSON
    with "status": "OK" or "Failed": letta/system.py, package_function_response)."""
    memory_calls: set[str] = set()
    for message in _this_turn(messages):
        if message.get("role") == "assistant":
            memory_calls |= {c.get("id", "") for c in message.get("tool_calls") or [] if c.get("function", {}).get("name") in MEMORY_TOOLS}
        elif message.get("role") == "tool" and message.get("tool_call_id") in memory_calls:
            try:
                if json.loads(content_text(message.get("content"))).get("status") == "OK":
                    return True
            except (ValueError, AttributeError):
                pass
    return False
