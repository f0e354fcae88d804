"""How each model family's chat is written as one prompt string, registered by the family's name.

The service renders prompts itself (llama.cpp only completes text) so it can order them for the prompt cache:
the system message's static instructions first, then the tools, then memory and history. A family is found by
the start of the model's name (`for_model("qwen2.5-coder-1.5b-instruct")`); a model of another family needs its
own template here, and the service refuses to start without one rather than guess a layout.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .letta_prompt import LOOP_INSTRUCTIONS, content_text, memory_labels, split_system
from .tool_calls import prompt_tool

# Where the model's answer begins: every prompt, the agents' and the guards' side questions, ends with it.
ASSISTANT_START = "<|im_start|>assistant\n"
TURN_END = "<|im_end|>\n"


@dataclass(frozen=True)
class ChatML:
    """ChatML turns (`<|im_start|>role ... <|im_end|>`) with a family's way of listing tools."""

    tools_header: str
    tools_footer: str

    def tools_preamble(self, tools: list[dict], labels: list[str] | None = None) -> str:
        """The tools section of the system prompt, compact (about 100 tokens a tool), in one order: Letta lists an
        agent's tools in no fixed order, and two agents with the same tools should share the prompt's start (the
        model's cache, and the stack's warm-up, reuse it). A new agent's default tools come first, then the others
        by name: an agent with one more tool (archival memory, a custom tool) still shares the default ones' ~500
        tokens with every other agent, instead of missing the cache from its first tool on."""
        ordered = sorted(tools, key=lambda t: _tool_rank(t.get("function", t).get("name", "")))
        lines = [json.dumps(prompt_tool(t, labels), ensure_ascii=False) for t in ordered]
        return self.tools_header + "\n".join(lines) + self.tools_footer

    @staticmethod
    def turn(role: str, text: str) -> str:
        return f"<|im_start|>{role}\n{text}{TURN_END}"

    @staticmethod
    def assistant_text(message: dict) -> str:
        parts = [content_text(message.get("content"))]
        for call in message.get("tool_calls") or []:
            fn = call.get("function", {})
            try:
                args = json.loads(fn.get("arguments") or "{}")
            except json.JSONDecodeError:
                args = fn.get("arguments")
            parts.append(json.dumps({"name": fn.get("name"), "arguments": args}, ensure_ascii=False))
        return "\n".join(p for p in parts if p)

    def render(self, messages: list[dict], tools: list[dict] | None, stable_prefix: bool = True) -> str:
        """The prompt with a stable prefix: static instructions, then tools, then memory and history.

        stable_prefix=False renders the family's usual layout (the whole system message, then the tools); kept
        only so the benchmark can measure what the stable layout saves.
        """
        out: list[str] = []
        first_system = True
        labels = memory_labels(messages)
        for message in messages:
            role = message.get("role")
            text = content_text(message.get("content"))
            if role in ("system", "developer") and first_system:
                first_system = False
                text = text.replace(LOOP_INSTRUCTIONS, "")
                static, dynamic = split_system(text) if stable_prefix else (text, "")
                preamble = self.tools_preamble(tools, labels) if tools else ""
                pieces = [static, preamble, dynamic] if stable_prefix else [text, preamble]
                out.append(self.turn("system", "\n\n".join(p for p in pieces if p)))
            elif role in ("system", "developer"):
                out.append(self.turn("system", text))
            elif role == "assistant":
                out.append(self.turn("assistant", self.assistant_text(message)))
            elif role == "tool":
                out.append(self.turn("user", f"<tool_response>\n{text}\n</tool_response>"))
            else:
                out.append(self.turn("user", text))
        if first_system and tools:
            out.insert(0, self.turn("system", self.tools_preamble(tools, labels)))
        out.append(ASSISTANT_START)
        return "".join(out)


# Letta 0.16.8's tools for a new agent (letta_v1_agent), which the stack's warm-up reads; listed first.
DEFAULT_TOOLS = ("conversation_search", "memory_insert", "memory_replace")


def _tool_rank(name: str) -> tuple[int, str]:
    return (DEFAULT_TOOLS.index(name), "") if name in DEFAULT_TOOLS else (len(DEFAULT_TOOLS), name)


# Qwen2.5's layout (signatures inside <tools>), with one JSON object as the call. Qwen's own <tool_call> wrapper
# is a special token that the grammar engine cannot name, so calls are bare JSON.
QWEN25 = ChatML(
    tools_header=(
        "# Tools\n\nYou may call one function to assist with the user query, or answer the user directly in plain text.\n\n"
        "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n"
    ),
    tools_footer=(
        "\n</tools>\n\nTo call a function, reply with only a JSON object with the function name and arguments:\n"
        '{"name": <function-name>, "arguments": <args-json-object>}\n'
        "When a function can do what the user asks, reply with that JSON object only, with no explanation. "
        "Otherwise, answer in plain text."
    ),
)

TEMPLATES: dict[str, ChatML] = {"qwen2.5": QWEN25}  # family (the start of a model's name) -> its template


def for_model(name: str) -> ChatML:
    """The template of the family `name` belongs to; a clear error for a family with none."""
    for family, template in TEMPLATES.items():
        if name.lower().startswith(family):
            return template
    raise ValueError(
        f"no chat template for model {name!r}: this service renders the families {sorted(TEMPLATES)} "
        "(stack/local_model/chat_templates.py): add its family there, or set LOCAL_MODEL=off and use a provider (README)."
    )
