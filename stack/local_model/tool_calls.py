"""What the model may answer, as a decoding grammar, and what its output means.

Small local models do not emit reliable native tool calls, so the service constrains decoding with a grammar:
the model either answers in plain text or writes one JSON object `{"name": ..., "arguments": ...}` that must
match one of the request's tool schemas. The loop guard (`is_repeat`) and the per-turn call budget live here
too. Pure (no model, no I/O), so it is unit-tested directly.
"""

from __future__ import annotations

import dataclasses
import json
import re
import uuid
from dataclasses import dataclass, field

from .letta_prompt import MEMORY_TOOLS, canonical

# The longest text a memory tool may write in one call: a fact is a sentence. Without a limit, greedy decoding can
# ramble inside the string ("I love green art. I love green tea. ...") until the token limit cuts the call off.
MAX_MEMORY_TEXT = 400

# After this many tool calls since the user's last message the model must answer in text: a safety net for
# small models that otherwise keep calling tools; far above what a lesson's three-step pipeline needs.
MAX_TOOL_CALLS_PER_TURN = 8

# A docstring's sections after its summary: worked examples (with made-up labels such as "customer", which small
# models copy), argument lists the schema already gives, and return types.
_DOC_SECTIONS = re.compile(r"\n\s*(?:Examples?|Args|Arguments|Parameters|Returns?|Raises|Notes?)\s*:", re.IGNORECASE)


def short_description(text: str | None) -> str:
    """A tool description without its examples and argument sections, on one line."""
    summary = _DOC_SECTIONS.split(text or "", maxsplit=1)[0]
    return " ".join(summary.split())


def prompt_tool(tool: dict, labels: list[str] | None = None) -> dict:
    """What the prompt shows of a tool: its name, the summary of its description, and exactly the arguments the
    grammar lets the model write (so the model never sees an argument it cannot use)."""
    fn = tool.get("function", tool)
    params = {k: v for k, v in _call_arguments(fn, labels or []).items() if k != "additionalProperties"}
    return {"name": fn["name"], "description": short_description(fn.get("description")), "parameters": params}


def _call_arguments(fn: dict, labels: list[str]) -> dict:
    """The JSON schema of the arguments the model may write for one tool."""
    params = fn.get("parameters") or {"type": "object", "properties": {}}
    props = params.get("properties", {})
    # Only required arguments: small models fill optional ones with invented values (say, search tags that
    # match nothing), and every optional argument has a default on the server side. A tool with no required
    # argument keeps its first one (conversation_search's query): an empty call to a search finds nothing useful.
    required = params.get("required") or list(props)[:1]
    kept = {k: v for k, v in props.items() if k in required}
    if fn["name"] in MEMORY_TOOLS:
        kept = {k: {**v, "maxLength": MAX_MEMORY_TEXT} if v.get("type") == "string" else v for k, v in kept.items()}
        if labels and "label" in kept:
            label = {k: v for k, v in kept["label"].items() if k not in ("type", "maxLength")}
            kept["label"] = {**label, "enum": labels}
    # The schema's other keys stay: nested arguments (lesson 03's Pydantic models) refer to its "$defs".
    return {**params, "properties": kept, "required": [k for k in required if k in kept], "additionalProperties": False}


# What a memory tool writes to `human` starts as a note about the user: the small model otherwise copies the user's
# sentence in the first person ("I run a small bakery in Accra."), and `human` reads as a transcript, not as notes.
# Only the grammar says so; the prompt's schemas are unchanged (its cached start stays).
HUMAN_LABEL = "human"
HUMAN_NOTE_START = "The user"
NOTE_ARGUMENTS = ("new_string", "content", "new_memory")  # memory_insert/replace, core_memory_append, memory_rethink


def _argument_variants(fn: dict, labels: list[str], replaceable: dict[str, list[str]] | None = None) -> list[dict]:
    """The schemas of the arguments the model may write for one tool. A memory tool that may name `human` beside
    other blocks gets one for `human`, whose note starts with HUMAN_NOTE_START, and one for the others. A tool that
    replaces text (`old_string`) gets one per block, its `old_string` one of that block's sentences (`replaceable`):
    the model otherwise replaced text the block no longer held (the placeholder, after the first note had taken its
    place) or never held, the call failed, and its answer apologised for the failure."""
    arguments = _call_arguments(fn, labels)
    props = arguments["properties"]
    if fn["name"] not in MEMORY_TOOLS or "label" not in props:
        return [arguments]
    note = next((k for k in NOTE_ARGUMENTS if k in props), None)
    old = "old_string" if "old_string" in props and replaceable else None
    if old:
        groups = [[label] for label in labels if replaceable.get(label)]
    else:
        groups = [g for g in ([label for label in labels if label != HUMAN_LABEL], [HUMAN_LABEL] if HUMAN_LABEL in labels else []) if g]
    if not groups or (not old and (note is None or HUMAN_LABEL not in labels)):
        return [arguments]
    variants = []
    for group in groups:
        shaped = {**props, "label": {**props["label"], "enum": group}}
        if old:
            shaped[old] = {"type": "string", "enum": replaceable[group[0]]}
        if note and group == [HUMAN_LABEL]:
            length = props[note].get("maxLength", MAX_MEMORY_TEXT) - len(HUMAN_NOTE_START)
            pattern = {"pattern": f"^{HUMAN_NOTE_START}[^\\n]{{1,{length}}}$"}
            shaped[note] = {k: v for k, v in props[note].items() if k != "maxLength"} | pattern
        variants.append({**arguments, "properties": shaped})
    return variants


def _call_schemas(tool: dict, labels: list[str], replaceable: dict[str, list[str]] | None = None) -> list[dict]:
    fn = tool.get("function", tool)
    return [
        {
            "type": "object",
            "properties": {"name": {"const": fn["name"]}, "arguments": arguments},
            "required": ["name", "arguments"],
            "additionalProperties": False,
        }
        for arguments in _argument_variants(fn, labels, replaceable)
    ]


@dataclass
class Decision:
    """What the model may produce for one request."""

    allow_text: bool
    tools: list[dict] = field(default_factory=list)  # the tools it may call; empty means text only
    labels: list[str] = field(default_factory=list)  # memory block labels the memory tools may name
    replaceable: dict[str, list[str]] = field(default_factory=dict)  # label -> the sentences a replace may name
    # The service withholds the tools (the call budget is spent, or none is left to offer): text that cannot be a
    # call written as text. The prompt still lists the tools, so it keeps the start the model has cached.
    text_only: bool = False

    @property
    def constrained(self) -> bool:
        return bool(self.tools)

    @property
    def tool_names(self) -> set[str]:
        return {t.get("function", t).get("name") for t in self.tools}


# Searching the history when nothing was said before: a fresh agent's first turn. Small models reach for it on a
# greeting or an introduction, find nothing, then apologise or search again, instead of answering or saving.
NEEDS_HISTORY = {"conversation_search"}


def decide(
    tools: list[dict] | None,
    tool_choice,
    previous_calls: list[tuple[str, str]],
    labels: list[str] | None = None,
    history: bool = True,
    memory_saved: bool = False,
) -> Decision:
    """Honour tool_choice ("none", "auto", "required", or a named function) and the per-turn call budget. In
    "auto": with no history yet, the tools that search it are not offered; once a memory edit succeeded this
    turn, neither the memory tools (small models then save the same fact twice, reworded, so the loop guard's exact
    match misses it) nor the search (after a save it searched the history for the fact just saved, found other
    turns, and answered "I don't have enough information")."""
    tools, labels = tools or [], labels or []
    if not tools or tool_choice == "none":
        return Decision(allow_text=True)
    if isinstance(tool_choice, dict):
        name = tool_choice.get("function", {}).get("name") or tool_choice.get("name")
        named = [t for t in tools if t.get("function", t).get("name") == name]
        return Decision(allow_text=False, tools=named or tools, labels=labels)
    spent = len(previous_calls) >= MAX_TOOL_CALLS_PER_TURN
    if tool_choice == "required":
        forced = Decision(allow_text=False, tools=tools, labels=labels)
        # No text allowed (a sleeptime agent's loop, say): a spent budget steers to tools not used yet this turn,
        # which is where a tool that ends the loop (memory_finish_edits) is.
        return (steer_away(forced, {name for name, _ in previous_calls}) or forced) if spent else forced
    if spent:
        return Decision(allow_text=True, text_only=True)
    unwanted = (NEEDS_HISTORY if memory_saved or not history else set()) | (MEMORY_TOOLS if memory_saved else set())
    decision = Decision(allow_text=True, tools=tools, labels=labels)
    return (steer_away(decision, unwanted) or Decision(allow_text=True, text_only=True)) if unwanted else decision


def steer_away(decision: Decision, names: set[str]) -> Decision | None:
    """The same decision without the named tools, or None when no tool would be left."""
    left = [t for t in decision.tools if t.get("function", t).get("name") not in names]
    return dataclasses.replace(decision, tools=left, text_only=False) if left else None


# Used when the guard rejects a repeated call: plain text that cannot start like a JSON call.
TEXT_ONLY_GRAMMAR = "%llguidance {}\nstart: TEXT\nTEXT: /[^{<`\\s][\\s\\S]*/\n"

# Compact JSON: with the schema's default flexible whitespace, greedy decoding can emit newlines inside a call
# until the token limit (seen with conversation_search, whose arguments were an empty object).
_COMPACT_JSON = {"whitespace_flexible": False, "key_separator": ": ", "item_separator": ", "}


def grammar_for(decision: Decision) -> str | None:
    """An llguidance (Lark) grammar: plain text, or one JSON tool call that matches a tool's schema."""
    if not decision.constrained:
        return TEXT_ONLY_GRAMMAR if decision.text_only else None
    schemas = [s for t in decision.tools for s in _call_schemas(t, decision.labels, decision.replaceable)]
    schema = {"anyOf": schemas, "x-guidance": _COMPACT_JSON}
    call = "call: %json " + json.dumps(schema) + "\n"
    if decision.allow_text:
        # A call starts with "{"; text may not start with "{", "<" or "`" (these models otherwise write a call as
        # text, or fence it), so the first token says which of the two the model chose.
        return "%llguidance {}\nstart: call | TEXT\nTEXT: /[^{<`\\s][\\s\\S]*/\n" + call
    return "%llguidance {}\nstart: call\n" + call


@dataclass
class Reply:
    content: str | None
    tool_call: dict | None  # {"name": ..., "arguments": {...}}

    def openai_tool_calls(self) -> list[dict] | None:
        if not self.tool_call:
            return None
        return [
            {
                "id": "call_" + uuid.uuid4().hex[:24],
                "type": "function",
                "function": {"name": self.tool_call["name"], "arguments": json.dumps(self.tool_call["arguments"], ensure_ascii=False)},
            }
        ]


_JSON_START = re.compile(r"\{\s*\"name\"")


def _embedded_call(text: str, tool_names: set[str]) -> dict | None:
    """A call the model wrote inside its text (often in a ```json fence) instead of making it."""
    decoder = json.JSONDecoder()
    for match in _JSON_START.finditer(text):
        try:
            call, _ = decoder.raw_decode(text[match.start() :])
        except json.JSONDecodeError:
            continue
        if isinstance(call, dict) and call.get("name") in tool_names and isinstance(call.get("arguments", {}), dict):
            return {"name": call["name"], "arguments": call.get("arguments") or {}}
    return None


def parse_output(text: str, tool_names: set[str] | None = None) -> Reply:
    """Split generated text into assistant content or a tool call.

    With tool_names, a call to one of those tools written inside the text counts as the call: small models
    sometimes explain the call they mean to make instead of making it.
    """
    stripped = text.strip()
    if stripped.startswith("{"):
        body = stripped
        try:
            call = json.loads(body)
            if isinstance(call, dict) and "name" in call:
                return Reply(content=None, tool_call={"name": call["name"], "arguments": call.get("arguments") or {}})
        except json.JSONDecodeError:
            pass
    if tool_names and (call := _embedded_call(stripped, tool_names)):
        return Reply(content=None, tool_call=call)
    return Reply(content=stripped, tool_call=None)


def reply_for(text: str, decision: Decision) -> Reply:
    """The reply a generation means: a tool call only if the decision offered tools."""
    return parse_output(text, decision.tool_names) if decision.constrained else Reply(text.strip(), None)


def is_repeat(reply: Reply, previous_calls: list[tuple[str, str]], memory: dict[str, str] | None = None) -> bool:
    """A degenerate loop: the very same call was already made this turn, or a memory write that adds nothing.

    Small models re-insert text the block already holds (often the whole block, which doubles it) after a
    successful edit; such a write after an earlier call in the same turn is a loop, not new information.
    """
    if not reply.tool_call:
        return False
    name, args = reply.tool_call["name"], reply.tool_call.get("arguments") or {}
    if canonical(name, args) in previous_calls:
        return True
    if not previous_calls or name not in MEMORY_TOOLS or not isinstance(args, dict):
        return False
    value = (memory or {}).get(args.get("label", ""))
    new = str(args.get("new_string") or args.get("content") or args.get("new_str") or "").strip()
    if value is None or not new:
        return False
    old = str(args.get("old_string") or args.get("old_str") or "").strip()
    return new in value and (not old or old not in value or old in new)
