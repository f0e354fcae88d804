"""Which of llama.cpp's agent slots an agent's prompt goes to.

A slot keeps the KV of the last prompt it read, so a prompt that starts the same is read only from where it
differs. With one slot, every switch between agents (lesson 05's two users, lesson 07's two conversations, an
agent and its sleeptime agent in lessons 08 and 11) read the other's memory and messages again: 300 to 1,500
tokens, 10 to 50 s on two cores. With a few slots, each conversation goes back to the slot that holds it, and a
new one takes the slot used least recently among those that share the most of its instructions and tools.

A conversation is known by the agent Letta names in the system message (`<memory_metadata>`: AGENT_ID,
CONVERSATION_ID) and by its first message: two conversations of one agent may both say "default" (one created
from the agent's own system message). A prompt without those lines goes where most of it is already read.
Pure bookkeeping, unit-tested in tests/test_chat_format.py.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

_THREAD = re.compile(r"^- AGENT_ID: (\S+)\n- CONVERSATION_ID: (\S+)$", re.MULTILINE)


@dataclass(frozen=True)
class Marks:
    """Where a prompt's parts end (character offsets): its instructions and tools, its system message, its first
    message after that."""

    start_end: int
    messages_start: int
    first_message_end: int


def thread_of(prompt: str, marks: Marks) -> str | None:
    """The conversation a Letta prompt belongs to: its agent, its CONVERSATION_ID and its first message; None for a
    prompt without Letta's names."""
    found = _THREAD.search(prompt, 0, marks.messages_start)
    return f"{found[1]}/{found[2]}/{prompt[marks.messages_start : marks.first_message_end]}" if found else None


@dataclass
class SlotTable:
    slots: tuple[int, ...]
    held: dict[int, str] = field(default_factory=dict)  # slot -> the prompt it last read
    threads: dict[int, str | None] = field(default_factory=dict)  # slot -> that prompt's conversation
    used: dict[int, int] = field(default_factory=dict)  # slot -> when it was last given a prompt (a counter)
    clock: int = 0

    def place(self, prompt: str, marks: Marks) -> int:
        """The slot for `prompt`, now marked as holding it. A new conversation does not take the slot used last
        (two conversations taking turns is the common case: two users, an agent and its sleeptime agent), unless
        no other slot holds a prompt yet (right after a start, before the warm-up's state is copied: it then
        queues behind the warm-up instead of reading everything). Of the rest, the one that holds the most of its
        instructions and tools (not of the rest: another agent's memory may begin with the same words), then the
        one used least recently."""
        thread = thread_of(prompt, marks)
        own = [s for s in self.slots if thread is not None and self.threads.get(s) == thread]
        if own:
            slot = own[0]
        else:
            cap = marks.start_end if thread is not None else len(prompt)
            last = max(self.slots, key=lambda s: self.used.get(s, -1))
            others = [s for s in self.slots if s != last and s in self.held]
            pool = others if thread is not None and others else list(self.slots)
            shared = {s: min(len(os.path.commonprefix([prompt, self.held.get(s, "")])), cap) for s in pool}
            slot = min((s for s in pool if shared[s] == max(shared.values())), key=lambda s: self.used.get(s, -1))
        self.hold(slot, prompt, marks)
        return slot

    def hold(self, slot: int, prompt: str, marks: Marks) -> None:
        """Note that `slot` now holds `prompt` (placed, or read there by the warm-up)."""
        self.clock += 1
        self.held[slot], self.threads[slot], self.used[slot] = prompt, thread_of(prompt, marks), self.clock
