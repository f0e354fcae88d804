"""One chat turn, streamed or not, by one path: the plan (prompt and grammar), the generation, the guards'
second looks, and the OpenAI-shaped reply.

llama.cpp always streams to the service. Text goes out as it comes, held back a few words by the echo watch
(guards.py), to a `send` that a streaming request turns into chunks and a whole request collects; a tool call is
checked whole (loop guard, persona check) before it is sent. So a whole reply is exactly the streamed one put
together, and an answer that starts copying its prompt is stopped there, streamed or not.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from . import guards
from . import letta_prompt as lp
from . import tool_calls as tc
from .chat_templates import ASSISTANT_START, ChatML
from .engine import LOG, SIDE_SLOT, Engine

LOST_THREAD = "Sorry, I lost my thread there. Could you say that again?"
PARROT_NUDGE = "Do not repeat the user's message or your persona. Answer the user's last message, in your own words."


def with_system_line(prompt: str, template: ChatML, line: str) -> str:
    """The prompt with one system line more just before the answer: the cached start is kept."""
    return prompt.removesuffix(ASSISTANT_START) + template.turn("system", line) + ASSISTANT_START


@dataclass
class Plan:
    """What one request may produce, and what the guards need to check it."""

    decision: tc.Decision  # what the model may produce
    prompt: str
    previous: list[tuple[str, str]]  # the calls made since the user's last message
    memory: dict[str, str]  # each memory block's latest value
    messages: list[dict]
    copied: set[tuple[str, ...]]  # word runs of the instructions, which an answer must not repeat
    template: ChatML
    start: tuple[str, ...] = ()  # the user's opening words, which an answer must not start with
    user_text: str = ""  # the user's last message
    recited: set[tuple[str, ...]] = dataclasses.field(default_factory=set)  # the persona's word runs, not to be recited
    notes: str | None = None  # a question about the user: their `human` notes, to answer from if the model answers in text

    @classmethod
    def of(cls, body: dict, template: ChatML) -> Plan:
        messages = body.get("messages") or []
        tools = body.get("tools") or []
        previous = lp.calls_since_last_user(messages)
        labels, history, saved = lp.memory_labels(messages), lp.has_history(messages), lp.memory_saved_this_turn(messages)
        memory = lp.memory_values(messages)
        decision = tc.decide(tools, body.get("tool_choice", "auto"), previous, labels, history, saved)
        decision.replaceable = {label: lp.sentences(value) for label, value in memory.items()}
        user_text = guards.last_user_text(messages)
        asks = not previous and decision.allow_text and guards.asks_about_self(user_text)
        notes = guards.notes_about_user(memory.get(guards.HUMAN, "")) if asks else None
        if notes and not guards.tells_about_self(user_text):
            # The answer is in `human`: searching the history found other turns and "no results", and a question is not
            # a note. Other tools stay (lesson 11's plan lookup).
            decision = tc.steer_away(decision, tc.NEEDS_HISTORY | lp.MEMORY_TOOLS) or tc.Decision(allow_text=True, text_only=True)
        listed = tools if decision.constrained or decision.text_only else None  # text_only: the cached start stays
        prompt = template.render(messages, listed, body.get("x_stable_prefix", True))
        copied = guards.instructions(messages, tools, memory, template)
        return cls(
            decision,
            prompt,
            previous,
            memory,
            messages,
            copied,
            template,
            guards.opening(user_text),
            user_text,
            guards.recited_runs(memory.get(guards.PERSONA, "")),
            notes,
        )

    @property
    def looks_first(self) -> bool:
        """Whether an answer in text waits for a second look before its first word is sent: a missed note, or a
        question about the user that is answered from the notes."""
        return self.may_note or self.notes is not None

    @property
    def may_note(self) -> bool:
        """The first step of a turn whose message tells something in the first person, with a tool that can add a
        note to `human`: if the model answers it in text, the missed-note check runs first (guards.py)."""
        d = self.decision
        return (
            d.allow_text
            and not self.previous
            and guards.HUMAN in d.labels
            and bool(guards.NOTE_TOOLS & d.tool_names)
            and guards.tells_about_self(self.user_text)
        )

    @property
    def may_fill_note(self) -> bool:
        """The first step of a chat turn whose message tells something in the first person: a note the model writes
        to `human` is compared with the side question's (guards.fuller_note)."""
        return self.decision.allow_text and not self.previous and guards.tells_about_self(self.user_text)

    def is_loop(self, reply: tc.Reply) -> bool:
        return tc.is_repeat(reply, self.previous, self.memory)

    @property
    def text_prompt(self) -> str:
        """The prompt without the tool instructions, for an answer in text (the grammar forbids a call anyway)."""
        return self.template.render(self.messages, None)


class Turn:
    """One request's generation and second looks, on one engine."""

    def __init__(self, engine: Engine, body: dict, template: ChatML):
        self.engine, self.plan, self.sampling = engine, Plan.of(body, template), engine.sampling(body)
        self.usage = {"prompt_tokens": 0, "completion_tokens": 0, "timings": {}}

    async def _ask(self, prompt: str, grammar: str | None, purpose: str, **sampling) -> str:
        result = await self.engine.complete(prompt, grammar, {**self.sampling, **sampling}, self.usage, purpose)
        return result.get("content", "")

    async def _instead_of_loop(self, reply: tc.Reply) -> tc.Reply | None:
        """The loop guard's answer to a call that repeats itself: text when text is allowed; when a call is
        required, a call to a tool not used yet this turn (None when there is no such tool: the reply stands)."""
        plan = self.plan
        if plan.decision.allow_text:
            # From the prompt without tool instructions, in the side slot: from the agent's cached prompt the model
            # often "answered" with those instructions (350 tokens, 18 s, then answered again anyway). An echo left
            # is caught where every text answer is (never emptied here: that ended two evaluation turns with nothing).
            text = await self._ask(plan.text_prompt, tc.TEXT_ONLY_GRAMMAR, "loop guard: text", id_slot=SIDE_SLOT)
            return tc.Reply(text.strip(), None)
        used = {name for name, _ in plan.previous} | {reply.tool_call["name"]}
        narrower = tc.steer_away(plan.decision, used)
        if narrower is None:
            return None
        return tc.reply_for(await self._ask(plan.prompt, tc.grammar_for(narrower), "loop guard: another tool"), narrower)

    async def _persona_checked(self, reply: tc.Reply) -> tc.Reply:
        """A write to `persona` stands only if the model, asked plainly, says the note is about itself."""
        plan = self.plan
        if not guards.persona_write(reply, plan.decision.labels):
            return reply
        # Asked only for `persona`: a sleeptime agent's `memory_persona` holds its own instructions, never facts.
        if reply.tool_call["arguments"]["label"] == guards.PERSONA:
            question = guards.persona_question(plan.user_text, guards.note_of(reply))
            verdict = await self._ask(question, guards.PERSONA_GRAMMAR, "persona question", n_predict=2, id_slot=SIDE_SLOT)
            if verdict.strip() != "user":
                return reply
        to_human = guards.to_human(plan.decision, reply.tool_call["name"])
        return tc.reply_for(await self._ask(plan.prompt, tc.grammar_for(to_human), "persona: write to human"), to_human)

    async def _without_memory_tools(self) -> tc.Reply:
        """The reply again, from the same (cached) prompt, with the memory tools withheld: a call to another tool, or text."""
        narrower = guards.without_memory_tools(self.plan.decision)
        return tc.reply_for(await self._ask(self.plan.prompt, tc.grammar_for(narrower), "memory: not in the message, again"), narrower)

    async def _side_note(self, guard: str) -> str | None:
        """The note the user's message gives, from the side question, if it keeps the message's words; else None."""
        user_text = self.plan.user_text
        question, purpose = guards.note_question(user_text), "note: what the message tells"
        note = (await self._ask(question, guards.NOTE_GRAMMAR, purpose, n_predict=60, id_slot=SIDE_SLOT)).strip()
        kept = guards.kept_note(note, user_text)
        LOG.info(json.dumps({"guard": guard, "note": note[:120], "kept": kept is not None}))
        return kept

    async def _missed_note(self) -> tc.Reply | None:
        """The model chose to answer in text: the note its user's message gives, as a write to `human`, if the side
        question finds one; else None (the answer in text goes ahead)."""
        kept = await self._side_note("missed note")
        call = guards.note_call(kept, self.plan.decision.tool_names) if kept else None
        return guards.over_placeholder(call, self.plan.memory, self.plan.decision.tool_names) if call else None

    async def _from_notes(self) -> str | None:
        """The answer to a question about the user, from their `human` notes alone; None if it does not use them (or
        borrowed the worked example's), or repeats the question."""
        plan = self.plan
        for example in (True, False):
            prompt = guards.answer_from_notes(plan.notes or "", plan.user_text, example)
            answer = (await self._ask(prompt, tc.TEXT_ONLY_GRAMMAR, "answer from notes", n_predict=80, id_slot=SIDE_SLOT)).strip()
            used = guards.answered_from_notes(answer, plan.notes or "", plan.user_text) and not self.repeats(answer)
            LOG.info(json.dumps({"guard": "answer from notes", "example": example, "answer": answer[:120], "used": used}))
            if used:
                return answer
        return None

    def repeats(self, text: str) -> bool:
        """The answer repeats the user's message or recites the persona."""
        return guards.parrots(text, self.plan.start) or guards.recital_start(text, self.plan.recited) is not None

    async def _instead_of_parrot(self, parroted: str) -> str:
        """An answer that repeated the user's message or recited the persona, asked again from the same (cached)
        prompt with one line more; if it repeats again, what it adds after the repeat, or the lost-thread line."""
        prompt = with_system_line(self.plan.prompt, self.plan.template, PARROT_NUDGE)
        again = (await self._ask(prompt, tc.TEXT_ONLY_GRAMMAR, "parrot: answer again")).strip()
        if (recital := guards.recital_start(again, self.plan.recited)) is not None:
            again = again[:recital].rstrip()
        if not guards.parrots(again, self.plan.start):
            return guards.without_echo(again, self.plan.copied) or LOST_THREAD
        return guards.after_repeat(again, self.plan.user_text) or LOST_THREAD

    async def _answer_again(self, echoed: str) -> str:
        """An answer that copied the instructions, answered again without them in the prompt; whatever still copies
        them is cut off."""
        again = await self._ask(self.plan.text_prompt, tc.TEXT_ONLY_GRAMMAR, "echo: answer again", id_slot=SIDE_SLOT)
        copied = self.plan.copied
        return guards.without_echo(again.strip(), copied) or guards.without_echo(echoed, copied) or LOST_THREAD

    async def _second_look(self, reply: tc.Reply) -> tc.Reply:
        """The loop guard, then the persona check on a call, or the echo check on text: what a reply that was held
        back whole may become. A text reply is never empty: that would end the turn with nothing."""
        if self.plan.is_loop(reply) and (instead := await self._instead_of_loop(reply)):
            reply = instead
        if self.plan.decision.allow_text and guards.unfounded_write(reply, self.plan.user_text):
            reply = await self._without_memory_tools()
        if reply.tool_call:
            checked = await self._persona_checked(reply)
            if self.plan.may_fill_note and guards.human_note(checked) is not None:
                checked = guards.fuller_note(checked, await self._side_note("note: fuller"), self.plan.user_text)
            return guards.over_placeholder(checked, self.plan.memory, self.plan.decision.tool_names)
        if reply.content and self.repeats(reply.content):
            return tc.Reply(await self._instead_of_parrot(reply.content), None)
        if not reply.content or guards.echo_start(reply.content, self.plan.copied) is not None:
            return tc.Reply(await self._answer_again(reply.content or ""), None)
        return reply

    async def run(self, send: Callable[[str], Awaitable[None]] | None = None, look_first: bool = True) -> tc.Reply:
        """Generate the reply: text goes to `send` (a stream's) as it becomes safe; the reply is returned once
        complete, its content exactly the text sent (a call is the caller's to send)."""
        plan = self.plan
        look_first = look_first and plan.looks_first
        text, streaming_text, sent, chose_text = "", False, [], False
        watch = guards.EchoWatch(plan.copied, plan.start, plan.recited)

        async def out(piece: str) -> None:
            sent.append(piece)
            if send is not None:
                await send(piece)

        # closed as soon as the loop is left (an echo): the slot is freed then, not whenever the generator is collected
        async with contextlib.aclosing(self.engine.stream(plan.prompt, tc.grammar_for(plan.decision), self.sampling)) as events:
            async for event in events:
                piece = event.get("content", "")
                text += piece
                if not streaming_text and text.strip() and not text.lstrip().startswith("{"):
                    if look_first:  # nothing sent yet: stop here, and look first
                        chose_text = True
                        break
                    streaming_text = True
                    piece = text.lstrip()
                if streaming_text and piece and (safe := watch.feed(piece)):
                    await out(safe)
                if event.get("stop"):
                    self.usage["prompt_tokens"] = event.get("tokens_evaluated", 0)
                    self.usage["completion_tokens"] += event.get("tokens_predicted", 0)
                    self.usage["timings"] = event.get("timings") or {}  # llama.cpp's own figures: prompt_n, cache_n, ...
                if watch.echo_at is not None:  # it started copying its prompt: stop generating (leaving cancels it)
                    LOG.info(json.dumps({"generation": "reply", "stopped": "echo"}))
                    break
        if chose_text:
            if plan.may_note and (note := await self._missed_note()):
                return note
            if plan.notes and (answer := await self._from_notes()):
                await out(answer)
                return tc.Reply(answer, None)
            # the prompt stays cached in the agents' slot: answering again costs only the answer
            return await self.run(send, look_first=False)
        if streaming_text:
            if watch.echo_at is None:
                if rest := watch.finish():
                    await out(rest)
            elif watch.parrot:
                await out(await self._instead_of_parrot(text))
            elif not watch.sent:
                await out(await self._answer_again(text))
            return tc.Reply("".join(sent).strip(), None)
        reply = await self._second_look(tc.reply_for(text, plan.decision))
        if reply.content:
            # Held back because it started like a JSON call but is none (cut off at the token limit), or the loop
            # guard's answer: sent whole now.
            await out(reply.content)
        return reply

    def public_usage(self) -> dict:
        u = self.usage
        return {
            "prompt_tokens": u["prompt_tokens"],
            "completion_tokens": u["completion_tokens"],
            "total_tokens": u["prompt_tokens"] + u["completion_tokens"],
            "prompt_tokens_details": {"cached_tokens": u["timings"].get("cache_n", 0)},
        }


def openai_message(reply: tc.Reply) -> tuple[dict, str]:
    """The assistant message of a whole completion, and its finish reason."""
    calls = reply.openai_tool_calls()
    message = {"role": "assistant", "content": None if calls else reply.content, "tool_calls": calls}
    return message, ("tool_calls" if calls else "stop")


def completion_id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex
