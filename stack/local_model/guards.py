"""Two checks on what the small model produced, before Letta sees it (pure: no model, no I/O).

- Echo: a 1.5B model sometimes answers by repeating its prompt (the tool instructions, Letta's base
  instructions, the memory section). An answer that copies ECHO_WORDS words in a row from those instructions is
  an echo; the service then answers again from a prompt without the tool instructions, and as a last resort
  cuts the answer where the copy starts. While streaming, text is held back ECHO_WORDS - 1 words, so a copy is
  caught before any of it was sent.
- Parrot: the model often answers by repeating the user's message ("Anika here. I run a small bakery in Accra."
  answered with itself; "What do you know about me?" answered with the question). An answer that starts with the
  user's message is asked again from the same cached prompt with one line more, asking for an answer instead.
- Persona: the model files facts the user tells about themselves ("my favourite colour is green") in the
  `persona` block, because it rewrites them in the first person ("I like green"). A write to `persona`
  is checked with one short question to the model; when the user was talking about themselves, the write
  goes to `human` instead. A sleeptime agent's own `memory_persona` holds its instructions, never facts: a
  write there goes to `human` without asking.
- Grounded: a memory write must keep something the user said. On a greeting the model saved "I am excited to help
  you." in its persona (every fresh agent, in a four-turn chat), and lines no user wrote reached `human`. A note
  that shares no word with the user's message (stop words aside) is not written: the model is asked again, from
  the same cached prompt, without the memory tools.
- Notes: a message that tells something about the user gets its note from a short side question with worked
  examples, written when the model answered in text (a missed note) or when it keeps more of the message than the
  model's own note (which often kept one of two facts).
- Questions about the user: asked what it knows about the user, and answering in text, the model answers from a
  short prompt that holds only its `human` notes and the question (from its whole prompt it recited its persona,
  or searched the history and said it knew nothing). On such a question it is not offered the history search or
  the memory tools, when `human` holds something.
- Placeholder: a block that holds only a placeholder ("Nothing known yet.") gets its first note in place of the
  placeholder (an insert becomes a replace of it), so `human` does not read "Nothing known yet. The user is Ada."
"""

from __future__ import annotations

import re

from . import letta_prompt as lp
from . import tool_calls as tc
from .chat_templates import ASSISTANT_START, ChatML

ECHO_WORDS = 8
_WORD = re.compile(r"[a-z0-9']+")


def _words(text: str) -> list[re.Match]:
    return list(_WORD.finditer(text.lower()))


def ngrams(text: str, n: int = ECHO_WORDS) -> set[tuple[str, ...]]:
    w = [m.group() for m in _words(text)]
    return {tuple(w[i : i + n]) for i in range(len(w) - n + 1)}


_FILE = re.compile(r"<file [^>]*>[\s\S]*?</file>")  # a file in <directories>, its text included


def instructions(messages: list[dict], tools: list[dict] | None, memory: dict[str, str], template: ChatML) -> set[tuple[str, ...]]:
    """The word runs of everything an answer must not copy: the system message without its block values
    (`memory`, from lp.memory_values: a remembered fact may be repeated), and the tool instructions `template` writes."""
    system = next((lp.content_text(m.get("content")) for m in messages if m.get("role") in ("system", "developer")), "")
    for value in memory.values():
        if value.strip():
            system = system.replace(value, " ")
    # Nor an open file's text: answering from a file quotes it. Lesson 11's answer from the club handbook was cut
    # at "The club handbook states that the" as an echo of the prompt.
    system = _FILE.sub(" ", system)
    return ngrams(system) | ngrams(template.tools_preamble(tools or [], lp.memory_labels(messages)))


# A tool call written out in an answer ('To call the function, reply with: {"name": "memory_replace", "arguments": ...'):
# after a save, with the memory tools withheld, the model retold its call as text in 4 of 37 natural conversations.
_CALL_IN_TEXT = re.compile(r'\{\s*"name"\s*:\s*"[^"]*"\s*,\s*"arguments"')


def _sentence_start(text: str, at: int) -> int:
    """Where the sentence holding `at` starts: a call is introduced by its own sentence ("To call it, reply with:")."""
    return max((m.end() for m in re.finditer(r"[.!?]\s+|\n", text[:at])), default=0)


def _call_start(text: str, at: int) -> int:
    """Where a call written out at `at` starts, with the sentence that introduces it ("To call it, reply with:",
    a ```json fence): the text before it is left only up to the sentence before."""
    before = text[:at].rstrip().removesuffix("json").rstrip().rstrip("`").rstrip()
    return _sentence_start(text, len(before) - 1 if before.endswith(":") else at)


def echo_start(text: str, copied: set[tuple[str, ...]]) -> int | None:
    """Where in `text` the first copied run of ECHO_WORDS words, or a tool call written out, starts; or None."""
    words = _words(text)
    starts = [_call_start(text, m.start()) for m in _CALL_IN_TEXT.finditer(text)][:1]
    for i in range(len(words) - ECHO_WORDS + 1):
        if tuple(m.group() for m in words[i : i + ECHO_WORDS]) in copied:
            starts.append(words[i].start())
            break
    return min(starts, default=None)


def without_echo(text: str, copied: set[tuple[str, ...]]) -> str:
    """The text up to where it starts copying the instructions."""
    start = echo_start(text, copied)
    return text if start is None else text[:start].rstrip()


PARROT_MIN_WORDS = 3  # "hi" answered "Hi!" is a greeting, not a parrot


def opening(user_text: str) -> tuple[str, ...]:
    """The first words of the user's message that an answer must not start with (its first ECHO_WORDS words), or ()
    for a message too short to tell a parrot from a fair answer."""
    words = tuple(m.group() for m in _words(user_text))[:ECHO_WORDS]
    return words if len(words) >= PARROT_MIN_WORDS else ()


def parrots(text: str, start: tuple[str, ...]) -> bool:
    """The answer starts by repeating the user's message (its `opening`), or is a part of it (three words or more)."""
    words = tuple(m.group() for m in _words(text))
    if not start or len(words) < PARROT_MIN_WORDS:
        return False
    return words[: len(start)] == start or (len(words) < len(start) and start[: len(words)] == words)


def after_repeat(text: str, user_text: str) -> str:
    """What an answer adds after repeating the user's message: the text past the words it shares with the message's
    start; "" when that rest is itself a piece of the message. Asked again after a parrot, the model once repeated
    a whole question ("I'm M-1. One more question: what does the handbook say ..."), and the rest past its first
    eight words was the question's tail, sent as the answer."""
    said, user = _words(text), [m.group() for m in _words(user_text)]
    n = 0
    while n < min(len(said), len(user)) and said[n].group() == user[n]:
        n += 1
    rest = text[said[n].start() :].strip() if n < len(said) else ""
    words = tuple(m.group() for m in _words(rest))
    return "" if words and words in ngrams(user_text, len(words)) else rest


RECITE_WORDS = 6  # this many words in a row from the persona block: a recital, not an answer


def recited_runs(persona: str) -> set[tuple[str, ...]]:
    """The word runs of the agent's persona that an answer must not recite. After one answer that recited its
    persona ("I am a friendly assistant. I keep my answers short."), the model answered every later turn with it."""
    return ngrams(persona, RECITE_WORDS) if persona.strip() else set()


def recital_start(text: str, recited: set[tuple[str, ...]]) -> int | None:
    """Where the sentence that starts reciting the persona starts, or None."""
    words = _words(text)
    for i in range(len(words) - RECITE_WORDS + 1):
        if tuple(m.group() for m in words[i : i + RECITE_WORDS]) in recited:
            return _sentence_start(text, words[i].start())
    return None


CALL_LOOKAHEAD = 80  # characters after a "{" that wait to show whether a call is being written out


class EchoWatch:
    """Streamed text in, text safe to send out: the last ECHO_WORDS - 1 words wait until the next word shows
    whether they start a copy of the instructions, or (`start`, the user's opening words) a parrot of the user, or
    (`recited`) a recital of the persona; text from a "{" on waits too, until it is clearly no call written out."""

    def __init__(self, copied: set[tuple[str, ...]], start: tuple[str, ...] = (), recited: set[tuple[str, ...]] | None = None):
        self.copied, self.start, self.recited = copied, start, recited or set()
        self.text, self.sent, self.echo_at, self.parrot = "", 0, None, False

    def feed(self, piece: str) -> str:
        if self.echo_at is not None:
            return ""
        self.text += piece
        words = _words(self.text)
        if self.start and not self.sent and len(words) >= len(self.start) and parrots(self.text, self.start):
            self.echo_at, self.parrot = 0, True
            return ""
        recital = recital_start(self.text, self.recited)
        if recital is not None:
            self.echo_at, self.parrot = max(recital, self.sent), True
            return self._release(self.echo_at)
        start = echo_start(self.text, self.copied)
        if start is not None:
            self.echo_at = start
            return self._release(start)
        safe = words[-(ECHO_WORDS - 1)].start() if len(words) >= ECHO_WORDS - 1 else 0
        brace = self.text.rfind("{", self.sent)
        if brace >= 0 and len(self.text) - brace < CALL_LOOKAHEAD:
            safe = min(safe, _call_start(self.text, brace))
        return self._release(safe)

    def finish(self) -> str:
        """The rest, once the generation ended without a copy."""
        if self.echo_at is None and not self.sent and parrots(self.text, self.start):
            self.echo_at, self.parrot = 0, True
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


# Words that say nothing of what a note is about: a note must share some other word with the user's message.
_STOP_WORDS = set(
    "a an the and or but if of to in on at by for with from as is am are was were be been being it its this that these those "
    "i me my mine we us our you your yours he him his she her they them their user users assistant ai do does did done have "
    "has had can could will would should may might must shall not no yes so just also very really too about what which who "
    "whom whose when where why how there here all any some more most much many one ones now then than well ok okay hi hello "
    "hey thanks thank please let lets get got go going know want like".split()
)


def _content_words(text: str) -> set[str]:
    """A text's words that carry meaning, cut to five letters so that "formal" and "formally" meet."""
    return {w[:5] for w in (m.group() for m in _words(text)) if w not in _STOP_WORDS and (len(w) > 1 or w.isdigit())}


def note_shares_no_word(reply: tc.Reply, user_text: str) -> bool:
    """A memory write whose note shares no word with the user's message: not something the user said."""
    call = reply.tool_call or {}
    if call.get("name") not in lp.MEMORY_TOOLS or not user_text.strip():
        return False
    note = note_of(reply).replace(tc.HUMAN_NOTE_START, " ")
    return bool(note.strip()) and not (_content_words(note) & _content_words(user_text))


# A message that asks for a memory change in words ("Please remember ...", "Use memory_insert to add this to the human
# block: ...", "Add: book the hall"): a note to `human` from it needs no first-person sentence.
_MEMORY_REQUEST = re.compile(r"\b(remember|note|notes|save|store|memory|memory_\w+|add|keep in mind|forget|update)\b", re.I)


def unfounded_human_note(reply: tc.Reply, user_text: str) -> bool:
    """A note to `human` that is no fact the user told: a request or question retold ("The user is looking for a quick
    lunch.", "The user is asking about the number of minutes in a day."), or any note on a message that tells nothing
    about the user and asks for no memory change ("Hello there. Are you a bot?" saved "The user is a bot.")."""
    note = human_note(reply)
    if note is None or not user_text.strip():
        return False
    retold = bool(_REQUEST.match(" ".join(note.split())))
    return retold or not (tells_about_self(user_text) or _MEMORY_REQUEST.search(user_text))


def copied_message(reply: tc.Reply, user_text: str) -> bool:
    """A memory write whose note is the user's message word for word ("Good evening." saved in `persona`), on a
    message that asks for no memory change: a copy, not a note."""
    call = reply.tool_call or {}
    if call.get("name") not in lp.MEMORY_TOOLS or _MEMORY_REQUEST.search(user_text):
        return False
    note = [m.group() for m in _words(note_of(reply))]
    return bool(note) and note == [m.group() for m in _words(user_text)]


def unfounded_write(reply: tc.Reply, user_text: str) -> bool:
    """A memory write the message does not found: a note with none of its words, a request retold or a note on a
    message that tells nothing about the user, or the message copied whole."""
    return note_shares_no_word(reply, user_text) or unfounded_human_note(reply, user_text) or copied_message(reply, user_text)


def without_memory_tools(decision: tc.Decision) -> tc.Decision:
    """The decision without the memory tools; text only (the tools still listed in the prompt) when none is left."""
    return tc.steer_away(decision, lp.MEMORY_TOOLS) or tc.Decision(allow_text=True, text_only=True)


# A block's value that only says nothing is known yet ("Nothing known yet.", "unknown", "n/a"): a placeholder, not a
# fact. The model appends its first note after it, and the block then reads "Nothing known yet. Ada likes tea."
_PLACEHOLDER = re.compile(r"^\s*\(?(nothing( is)?( known| yet| here)?|unknown|not known|no information|none|n/?a|empty|tbd)\b", re.I)


def is_placeholder(value: str) -> bool:
    return len(value.split()) <= 6 and bool(_PLACEHOLDER.match(value))


def over_placeholder(reply: tc.Reply, memory: dict[str, str], tool_names: set[str]) -> tc.Reply:
    """An insert into a block that holds only a placeholder, made a replace of the placeholder (when the agent has
    memory_replace): the note takes the placeholder's place instead of following it."""
    call = reply.tool_call or {}
    args = call.get("arguments") if call.get("name") == "memory_insert" else None
    value = memory.get(args.get("label", "")) if isinstance(args, dict) else None
    if value is None or "memory_replace" not in tool_names or not is_placeholder(value) or not args.get("new_string"):
        return reply
    replace = {"label": args["label"], "old_string": value.strip(), "new_string": str(args["new_string"]).strip()}
    return tc.Reply(None, {"name": "memory_replace", "arguments": replace})


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
        "Is the note about the user, or about the assistant itself? Answer with one word: user or assistant.<|im_end|>\n" + ASSISTANT_START
    )


def note_of(reply: tc.Reply) -> str:
    """What the write adds: a replace that keeps the old text ("I am friendly." -> "I am friendly. I live in
    Porto.") adds only the rest, and the old persona text would make the question look like one about itself."""
    args = (reply.tool_call or {}).get("arguments") or {}
    new = next((str(args[k]) for k in tc.NOTE_ARGUMENTS if args.get(k)), "")
    old = str(args.get("old_string") or "").strip()
    return " ".join(new.replace(old, " ").split()) if old and old in new else new


def to_human(decision: tc.Decision, tool_name: str) -> tc.Decision:
    """The decision narrowed to the same memory tool, writing to `human`."""
    tools = [t for t in decision.tools if t.get("function", t).get("name") == tool_name]
    return tc.Decision(allow_text=False, tools=tools, labels=[HUMAN], replaceable=decision.replaceable)


# Missed note: in a natural chat the model answered an introduction made after a greeting in text and saved nothing
# (4 of 4 runs): the greeting's text answer in the history is the pattern it follows. When it chooses text on a
# message that tells something in the first person, a short side question writes what the message says about the
# user as a note, and the note is saved only if it keeps the message's words. Asked the same question, the model
# never answers "nothing" (131 of 131 messages of the evaluation), so the gate is the note itself: on the
# evaluation's messages, a note was kept for 60 of 63 that tell a fact and for 3 of 68 that do not.
_FIRST_PERSON = re.compile(r"\b(i|i'm|im|i've|i'd|my|mine|calls? me)\b", re.I)  # "give me ..." asks; "call me Jo" tells
NOTE_GRAMMAR = '%llguidance {}\nstart: "nothing" | NOTE\nNOTE: /The user [^\\n]{1,200}/\n'
NOTE_KEEPS = 0.6  # the share of the note's words that must come from the message
HUMAN_NOTE = tc.HUMAN_NOTE_START
# A request retold is not a fact about the user ("The user wants tips for sleeping better.")
_REQUEST = re.compile(r"^The user (wants|would like|asks|asked|is asking|needs|is looking for|requests|is requesting)\b")


def _sentences(text: str) -> list[str]:
    return re.split(r"(?<=[.!?])\s+", text.strip())


def tells_about_self(user_text: str) -> bool:
    """A sentence in the first person that is not a question ("I'm Rafael, I drive a bus", "call me Pip")."""
    return any(_FIRST_PERSON.search(s) and not s.rstrip().endswith("?") for s in _sentences(user_text))


# What the user asks about themselves: "about me", "what's my job?", "which instrument do I play?", "what should you
# call me?"; not "what did I just ask?" (the conversation) nor "how many days do I have to ...?" (lesson 02's search).
_ABOUT_ME = re.compile(r"\babout (me|myself)\b|\bcall me\b|\bremember (me|my)\b|\b(what|when|where|who|which)\b.*\b(my|am i|do i)\b", re.I)


def asks_about_self(user_text: str) -> bool:
    """A question about the user ("What do you know about me?", "Which instrument do I play?")."""
    return any(_ABOUT_ME.search(s) and s.rstrip().endswith("?") for s in _sentences(user_text))


def notes_about_user(human: str) -> str | None:
    """The `human` block's notes, on one line, or None when it holds nothing yet."""
    human = " ".join(human.split())
    return None if not human or is_placeholder(human) else human[:600]


# Answered from the notes (a small step of its own): asked "What have I told you about myself?", the agent's 1.5B model
# reads the memory section 1,000 tokens up poorly. In the natural evaluation it recited its persona, said "Yes, I
# remember your name." without the name, or searched the history and said it knew nothing: recall 22 of 37, though
# `human` held the facts. Asked from its notes alone, with one worked example, it answered all eleven of those
# questions from them. Only when it chose text: a question a tool answers (lesson 11's "Which plan am I on?")
# keeps its call.
_ANSWER_EXAMPLE = (
    "The user is Sam, who repairs old clocks in Leeds.",
    "What do you remember about me?",
    "You're Sam, and you repair old clocks in Leeds.",
)


def answer_from_notes(notes: str, question: str, example: bool = True) -> str:
    """A short prompt: the user's question about themselves, answered from the assistant's notes about them (after
    a worked example, unless `example` is False: asked again once it borrowed the example's words)."""

    def asked(note: str, q: str) -> str:
        return ChatML.turn("user", f'Your notes about the user: "{note}"\nThe user asks: "{q[:300]}"')

    example_notes, example_question, example_answer = _ANSWER_EXAMPLE
    system = (
        "You are an AI assistant. The user asks what you know about them. Answer from your notes about the user, "
        'speaking to the user as "you", in one or two sentences. Use only what the notes say.'
    )
    shown = asked(example_notes, example_question) + ChatML.turn("assistant", example_answer) if example else ""
    return ChatML.turn("system", system) + shown + asked(notes, question) + ASSISTANT_START


def answered_from_notes(answer: str, notes: str, question: str) -> bool:
    """The answer uses the notes (a word of them beyond the question's) and nothing of the worked example's that the
    notes lack: once, with notes about Hiro, it answered "You're Sam, and you're still ... in Leeds."."""
    words = _stems(answer) - _stems(question)
    borrowed = _stems(_ANSWER_EXAMPLE[0]) - _stems(notes) - _stems(question)
    return bool(words & _stems(notes)) and not (words & borrowed)


# One worked example of each outcome: without them the note kept one of two facts ("The user is Tomasz, by the way."
# for "I'm Tomasz, by the way. I teach maths at a secondary school.", "The user is Mei." for "It's Mei. I just
# adopted a greyhound called Pixel."); with them, all seven introductions the evaluation had saved half of were whole.
_NOTE_EXAMPLES = (
    ("Hey there, Sam here. I repair old clocks in Leeds.", "The user is Sam, who repairs old clocks in Leeds."),
    ("Can you give me a recipe for soup?", "nothing"),
)
_NOTE_ASK = 'Write every lasting fact about the user in this message as one note starting "The user", or write "nothing" if it has none.'


def note_question(user_text: str) -> str:
    """A short, context-free prompt: every lasting fact about the user in their message, as one note."""

    def asked(text: str) -> str:
        return ChatML.turn("user", f'The user wrote: "{text[:600]}"\n{_NOTE_ASK}')

    system = (
        "You keep notes about a user for their AI assistant. A note is a lasting fact about the user: their name, where "
        "they live, their work, family, pets, likes and dislikes, plans. Greetings, thanks, questions and requests are "
        "not facts about the user."
    )
    examples = "".join(asked(text) + ChatML.turn("assistant", note) for text, note in _NOTE_EXAMPLES)
    return ChatML.turn("system", system) + examples + asked(user_text) + ASSISTANT_START


def _stems(text: str) -> set[str]:
    return {w[:4] for w in _content_words(text)}


def kept_note(note: str, user_text: str) -> str | None:
    """The note, if most of its words come from the user's message ("The user is named John." for "What do you
    know about me?" keeps none of them); else None."""
    note = " ".join(note.split())
    words = _stems(note.removeprefix(HUMAN_NOTE)) - {"name"}  # "The user is named Jo.": the name is the fact
    borrowed = _stems(" ".join(note for _, note in _NOTE_EXAMPLES)) - _stems(user_text)
    if not note.startswith(HUMAN_NOTE) or _REQUEST.match(note) or not words or words & borrowed:
        return None  # borrowed: "my friends call me Sef" gave "The user is Sef, who is friends with Sam." (the example's)
    return note if len(words & _stems(user_text)) / len(words) >= NOTE_KEEPS else None


NOTE_TOOLS = {"memory_insert", "core_memory_append"}  # the tools that add a note to a block (Letta's two tool sets)


def note_call(note: str, tool_names: set[str]) -> tc.Reply | None:
    """The memory call that adds `note` to `human` with a tool the agent has, or None (no such tool)."""
    if "memory_insert" in tool_names:
        return tc.Reply(None, {"name": "memory_insert", "arguments": {"label": HUMAN, "new_string": note}})
    if "core_memory_append" in tool_names:
        return tc.Reply(None, {"name": "core_memory_append", "arguments": {"label": HUMAN, "content": note}})
    return None


def human_note(reply: tc.Reply) -> str | None:
    """The note a memory write puts in `human`, or None for any other reply."""
    call = reply.tool_call or {}
    args = call.get("arguments")
    if call.get("name") not in lp.MEMORY_TOOLS or not isinstance(args, dict) or args.get("label") != HUMAN:
        return None
    return next((str(args[k]) for k in tc.NOTE_ARGUMENTS if k in args), None)


def fuller_note(reply: tc.Reply, note: str | None, user_text: str) -> tc.Reply:
    """The write with `note` (the side question's, already kept) in place of the model's own, when it keeps more of
    the message's words: the model's note often kept one of two facts ("The user is Mei." for "It's Mei. I just
    adopted a greyhound called Pixel.")."""
    own = human_note(reply)
    old = str(reply.tool_call["arguments"].get("old_string") or "") if own is not None else ""
    if old and not is_placeholder(old):
        return reply  # a correction: the model's new text keeps the rest of the sentence it replaces
    if own is None or not note or len(_stems(note) & _stems(user_text)) <= len(_stems(own) & _stems(user_text)):
        return reply
    args = reply.tool_call["arguments"]
    key = next(k for k in tc.NOTE_ARGUMENTS if k in args)
    return tc.Reply(None, {**reply.tool_call, "arguments": {**args, key: note}})
