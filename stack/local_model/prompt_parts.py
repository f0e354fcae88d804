"""Which part of a prompt its tokens belong to, for the generation log: the static instructions, the tool schemas,
the memory (the rest of the system message), the messages; or a guard's side question, which is none of these.

With llama.cpp's `cache_n` (the prompt's first tokens, reused), the log then says which parts had to be read again
and so where the cache ran out (scripts/prompt_accounting.py). Pure functions, unit-tested in tests/test_chat_format.py.
"""

from __future__ import annotations

from .chat_templates import TURN_END, ChatML
from .letta_prompt import DYNAMIC_SECTION_TAGS

PARTS = ("instructions", "tools", "memory", "messages", "side question")
_SYSTEM_START = "<|im_start|>system\n"


def part_ends(prompt: str, template: ChatML) -> list[tuple[str, int]]:
    """(part, character offset where it ends), in prompt order. An agent's prompt (template.render) starts with the
    system message: instructions, tools when listed, then memory; everything after it is messages."""
    system_end = prompt.find(TURN_END) + len(TURN_END) if prompt.startswith(_SYSTEM_START) else -1
    dynamic = [i for i in (prompt.find(tag, 0, system_end) for tag in DYNAMIC_SECTION_TAGS) if i >= 0]
    tools = prompt.find(template.tools_header, 0, system_end)
    if system_end < 0 or (tools < 0 and not dynamic):
        return [("side question", len(prompt))]
    ends = []
    if tools >= 0:
        ends += [("instructions", tools), ("tools", prompt.find(template.tools_footer, tools) + len(template.tools_footer))]
    else:
        ends.append(("instructions", min(dynamic)))
    return [*ends, ("memory", system_end), ("messages", len(prompt))]


def token_counts(prompt: str, tokens: list[dict], template: ChatML) -> dict[str, int]:
    """How many of the prompt's tokens fall in each part. `tokens`: llama.cpp's /tokenize answer with pieces (a
    piece is text, or a list of byte values when it is not whole UTF-8); a token belongs where its first byte is."""
    ends = [(part, len(prompt[:end].encode())) for part, end in part_ends(prompt, template)]
    counts = dict.fromkeys((part for part, _ in ends), 0)
    at, i = 0, 0
    for token in tokens:
        piece = token["piece"]
        while i < len(ends) - 1 and at >= ends[i][1]:
            i += 1
        counts[ends[i][0]] += 1
        at += len(piece.encode()) if isinstance(piece, str) else len(piece)
    return counts


def read_again(counts: dict[str, int], reused: int) -> dict[str, int]:
    """Of each part, the tokens after the first `reused` (llama.cpp's cache_n): what the model read again."""
    out, start = {}, 0
    for part, n in counts.items():
        out[part] = max(0, start + n - max(reused, start))
        start += n
    return out
