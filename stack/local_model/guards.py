"""Two checks on what the small model produced, before Letta sees it (pure: no model, no I/O).

- Echo: a 1.5B model sometimes answers by repeating its prompt (the tool instructions, Letta's base
  instructions, the memory section). An answer that copies ECHO_WORDS words in a row from those instructions is
  an echo; the service then answers again from a prompt without the tool instructions, and as a last resort
  cuts the answer where the copy starts. While streaming, text is held back ECHO_WORDS - 1 words, so a copy is
  caught before any of it was sent.
- Persona: the model files facts the user tells about themselves ("my favourite colour is green") in the
  `persona` block, because it rewrites them in the first person ("I like green"). A write to `persona`
  is checked with one short question to the model; when the user was talking about themselves, the write
  goes to `human` instead. A sleeptime agent's own `memory_persona` holds its instructions, never facts: a
  write there goes to `human` without asking.
"""

from __future__ import annotations

import re

from . import letta_prompt as lp
from . import tool_calls as tc
from .chat_templates import ChatML

ECHO_WORDS = 8
_WORD = re.compile(r"[a-z0-9']+")


def _words(text: str) -> list[re.Match]:
    return list(_WORD.finditer(text.lower()))


def ngrams(text: str, n: int = ECHO_WORDS) -> set[tuple[str, ...]]:
    w = [m.group() for m in _words(text)]
    return {tuple(w[i : i + n]) for i in range(len(w) - n + 1)}


def instructions(messages: list[dict], tools: list[dict] | None, memory: dict[str, str], template: ChatML) -> set[tuple[str, ...]]:
    """The word runs of everything an answer must not copy: the system message without its block values
    (`memory`, from lp.memory_values: a remembered fact may be repeated), and the tool instructions `template` writes."""
    system = next((lp.content_text(m.get("content")) for m in messages if m.get("role") in ("system", "developer")), "")
    for value in memory.values():
        if value.strip():
            system = system.replace(value, " ")
    return ngrams(system) | ngrams(template.tools_preamble(tools or [], lp.memory_labels(messages)))


def echo_start(text: str, copied: set[tuple[str, ...]]) -> int | None:
    """Where in `text` the first copied run of ECHO_WORDS words starts, or None."""
    words = _words(text)
    for i in range(len(words) - ECHO_WORDS + 1):
        if tuple(m.group() for m in words[i : i + ECHO_WORDS]) in copied:
            return words[i].start()
    return None


def without_echo(text: str, copied: set[tuple[str, ...]]) -> str:
    """The text up to where it starts copying the instructions."""
    start = echo_start(text, copied)
    return text if start is None else text[:start].rstrip()


class EchoWatch:
    """Streamed text in, text safe to send out: the last ECHO_WORDS - 1 words wait until the next word shows
    whether they start a copy."""

    def __init__(self, copied: set[tuple[str, ...]]):
        self.copied, self.text, self.sent, self.echo_at = copied, "", 0, None

    def feed(self, piece: str) -> str:
        if self.echo_at is not None:
            return ""
        self.text += piece
        start = echo_start(self.text, self.copied)
        if start is not None:
            self.echo_at = start
            return self._release(start)
        words = _words(self.text)
        safe = words[-(ECHO_WORDS - 1)].start() if len(words) >= ECHO_WORDS - 1 else 0
        return self._release(safe)

    def finish(self) -> str:
        """The rest, once the generation ended without a copy."""
        return "" if self.echo_at is not None else self._release(len(self.text))

    def _release(self, upto: int) -> str:
        out = self.text[self.sent : max(upto, self.sent)]
        self.sent = max(upto, self.sent)
        return out


def last_user_text(messages: list[dict]) -> str:
    for message in reversed(messages):
        text = lp.content_text(message.get("content"))
        if message.get("role") == "user" and lp.AUTOMATED_USER_PREFIX not in text:
            return text
    return ""


PERSONA, HUMAN = "persona", "human"
PERSONA_GRAMMAR = '%llguidance {}\nstart: "user" | "assistant"\n'


def is_persona(label) -> bool:
    """`persona`, or a sleeptime agent's own `memory_persona` (any label ending in `_persona`)."""
    return isinstance(label, str) and (label == PERSONA or label.endswith("_" + PERSONA))


def persona_write(reply: tc.Reply, labels: list[str]) -> bool:
    """A memory write aimed at a persona block when a `human` block exists to receive facts about the user."""
    call = reply.tool_call or {}
    args = call.get("arguments")
    return call.get("name") in lp.MEMORY_TOOLS and isinstance(args, dict) and is_persona(args.get("label")) and HUMAN in labels


def persona_question(user_text: str, note: str) -> str:
    """A short, context-free prompt: is the note about the user or about the assistant? (answer: one word)"""
    return (
        f'<|im_start|>user\nA user wrote to their AI assistant: "{user_text[:600]}"\n'
        f'The assistant is about to save this note in its memory: "{note[:300]}"\n'
        "Is the note about the user, or about the assistant itself? Answer with one word: user or assistant.<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def note_of(reply: tc.Reply) -> str:
    """What the write adds: a replace that keeps the old text ("I am friendly." -> "I am friendly. I live in
    Porto.") adds only the rest, and the old persona text would make the question look like one about itself."""
    args = (reply.tool_call or {}).get("arguments") or {}
    new = str(args.get("new_string") or args.get("content") or args.get("new_memory") or "")
    old = str(args.get("old_string") or "").strip()
    return " ".join(new.replace(old, " ").split()) if old and old in new else new


def to_human(decision: tc.Decision, tool_name: str) -> tc.Decision:
    """The decision narrowed to the same memory tool, writing to `human`."""
    tools = [t for t in decision.tools if t.get("function", t).get("name") == tool_name]
    return tc.Decision(allow_text=False, tools=tools, labels=[HUMAN])
