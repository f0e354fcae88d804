"""What the model will read on an agent's next step, from the server's own context-window overview.

letta-client 1.7.12 has no method for `GET /v1/agents/{agent_id}/context` (0.16.8 serves it but marks it
deprecated), so `context_snapshot` calls it through the client's raw `get`, which still sends the base URL and
password. The overview recompiles the system prompt as a dry run, so it shows the blocks' current values even
before the agent's next step. Its tool figure counts every attached tool; at each step tool rules let the model
call only some of them.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from helpers.client import client

# (overview field, what it is). Their sum is the server's context_window_size_current.
PARTS = (
    ("num_tokens_system", "system instructions"),
    ("num_tokens_core_memory", "core memory"),
    ("num_tokens_tool_usage_rules", "tool rules"),
    ("num_tokens_directories", "folders and files"),
    ("num_tokens_memory_filesystem", "memory files"),
    ("num_tokens_external_memory_summary", "memory statistics"),
    ("num_tokens_summary_memory", "summary of older messages"),
    ("num_tokens_functions_definitions", "tool schemas"),
    ("num_tokens_messages", "messages in context"),
)
COLOURS = ("#4c72b0", "#dd8452", "#937860", "#8172b3", "#da8bc3", "#8c8c8c", "#ccb974", "#c44e52", "#55a868")
FOLD = 160  # characters of a block's value or a message shown before folding


@dataclass(frozen=True)
class Block:
    label: str
    description: str
    value: str
    limit: int


@dataclass(frozen=True)
class ContextSnapshot:
    """The overview at one moment: token figures per part, the blocks, the messages in the window, the tools."""

    agent_id: str
    conversation_id: str | None
    window: int
    tokens: dict[str, int]  # PARTS field -> tokens
    blocks: tuple[Block, ...]
    messages: tuple[tuple[str, str, str], ...]  # (id, role, first words), oldest first, without the system message
    tools: tuple[str, ...]
    summary: str
    rules: tuple[str, ...]  # the tool rules as the prompt states them
    recall_count: int  # messages the server keeps for the agent (searchable), in the window or not
    archival_count: int

    @property
    def used(self) -> int:
        return sum(self.tokens.values())


def _text_of(message: dict) -> str:
    parts = [c.get("text") or "" for c in message.get("content") or [] if isinstance(c, dict)]
    calls = [f"{(c.get('function') or {}).get('name')}(…)" for c in message.get("tool_calls") or []]
    return _fold(" ".join(parts + calls))


def _rules_of(section: str) -> list[str]:
    # The server writes each rule as <tool_rule>text</tool_rule> inside a <tool_usage_rules> section.
    return [" ".join(part.split("</tool_rule>")[0].split()) for part in section.split("<tool_rule>")[1:]]


def context_snapshot(agent_id: str, conversation_id: str | None = None, letta=None) -> ContextSnapshot:
    """Ask the server what the agent's next step will read (for one conversation, if given)."""
    letta = letta or client()
    options = {"params": {"conversation_id": conversation_id}} if conversation_id else {}
    overview = letta.get(f"/v1/agents/{agent_id}/context", options=options, cast_to=object)
    blocks = letta.agents.blocks.list(agent_id=agent_id, limit=100).items
    messages = overview.get("messages") or []
    return ContextSnapshot(
        agent_id=agent_id,
        conversation_id=conversation_id,
        window=overview["context_window_size_max"],
        tokens={field: overview.get(field) or 0 for field, _ in PARTS},
        blocks=tuple(Block(b.label, b.description or "", b.value, b.limit) for b in sorted(blocks, key=lambda b: b.label)),
        messages=tuple((m["id"], m["role"], _text_of(m)) for m in messages[1:]),
        tools=tuple(sorted((t.get("function") or {}).get("name", "?") for t in overview.get("functions_definitions") or [])),
        summary=overview.get("summary_memory") or "",
        rules=tuple(_rules_of(overview.get("tool_usage_rules") or "")),
        recall_count=overview["num_recall_memory"],
        archival_count=overview["num_archival_memory"],
    )


def titled(now: ContextSnapshot, since: ContextSnapshot | None = None) -> list[tuple[str, ContextSnapshot]]:
    """The snapshots to draw, with their bars' titles: now; before and now; or two conversations of one agent."""
    if since is None:
        return [("now", now)]
    if since.conversation_id == now.conversation_id:
        return [("before", since), ("now", now)]
    return [(_where(since), since), (_where(now), now)]


def _rows(shots: list[tuple[str, ContextSnapshot]]) -> list[tuple[str, list[int]]]:
    return [(name, [shot.tokens[field] for _, shot in shots]) for field, name in PARTS if any(shot.tokens[field] for _, shot in shots)]


def budget_table(shots: list[tuple[str, ContextSnapshot]]) -> str:
    """The token budget as plain text: one column per snapshot."""
    width = max(len(name) for _, name in PARTS)
    lines = [f"{'tokens':{width}}" + "".join(f"{title:>12}" for title, _ in shots)]
    lines += [f"{name:{width}}" + "".join(f"{n:>12,}" for n in figures) for name, figures in _rows(shots)]
    lines.append(f"{'used':{width}}" + "".join(f"{shot.used:>12,}" for _, shot in shots))
    lines.append(f"{'free':{width}}" + "".join(f"{shot.window - shot.used:>12,}" for _, shot in shots))
    return "\n".join(lines)


def budget_png(shots: list[tuple[str, ContextSnapshot]]) -> bytes:
    """One stacked bar per snapshot, up to the context window (matplotlib, no pyplot: nothing global)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 0.9 + 0.55 * len(shots)), layout="constrained")
    ax = fig.subplots()
    titles = [title for title, _ in shots]
    left = [0] * len(shots)
    for (field, name), colour in zip(PARTS, COLOURS, strict=True):
        figures = [shot.tokens[field] for _, shot in shots]
        if any(figures):
            ax.barh(titles, figures, left=left, color=colour, label=f"{name} ({', '.join(f'{n:,}' for n in figures)})")
            left = [a + b for a, b in zip(left, figures, strict=True)]
    window = max(shot.window for _, shot in shots)
    ax.barh(titles, [shot.window - used for (_, shot), used in zip(shots, left, strict=True)], left=left, color="#eeeeee", label="free")
    for row, used in enumerate(left):
        ax.text(used, row, f" {used:,} used", va="center", fontsize=8)
    ax.set_xlim(0, window)
    ax.invert_yaxis()
    ax.set_xlabel(f"tokens (context window {window:,})")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    return buffer.getvalue()


def _fold(text: str, width: int = FOLD) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _where(shot: ContextSnapshot) -> str:
    return f"conv …{shot.conversation_id[-6:]}" if shot.conversation_id else "default thread"


def describe(now: ContextSnapshot, since: ContextSnapshot | None = None) -> str:
    """The memory section, the messages and the tools as text; with `since`, what changed (or, for another
    conversation of the agent, what differs: `+` marks a message the other window does not hold)."""
    lines = [f"{_where(now)} compared with {_where(since)}"] if since and since.conversation_id != now.conversation_id else []
    lines.append("core memory (in the window on every step):")
    before = {b.label: b for b in since.blocks} if since else {}
    for b in now.blocks:
        mark = "" if not since else ("  [new]" if b.label not in before else "  [changed]" if before[b.label].value != b.value else "")
        lines.append(f"  <{b.label}> {len(b.value):,}/{b.limit:,} chars{mark}  {_fold(b.description, 72)}")
        lines.append(f"      {_fold(b.value) or '(empty)'}")
    seen = {m[0] for m in since.messages} if since else set()
    lines.append(f"messages in the window: {len(now.messages)} (the server keeps {now.recall_count} in recall memory, searchable)")
    for mid, role, text in now.messages:
        lines.append(f"  {'+' if since and mid not in seen else ' '} {role:9} {text}")
    if since and since.conversation_id == now.conversation_id:
        gone = len([m for m in since.messages if m[0] not in {n[0] for n in now.messages}])
        if gone:
            lines.append(f"  ({gone} messages left the window since: compacted into the summary)")
    if now.summary:
        lines.append(f"summary of older messages: {_fold(now.summary)}")
    lines.append(f"archival memory: {now.archival_count} passages, outside the window until a search brings them in")
    lines.append(f"tools attached: {', '.join(now.tools) or 'none'}")
    if now.rules:
        lines.append("tool rules, as the prompt states them (the server also enforces them at each step):")
        lines += [f"  - {rule}" for rule in now.rules]
    return "\n".join(lines)


def show_context(agent_id: str, conversation_id: str | None = None, since: ContextSnapshot | None = None, letta=None) -> ContextSnapshot:
    """Show what the agent's next step will read: the token budget as a picture, then the memory, messages, tools.

    Pass `since=` an earlier `context_snapshot(...)` to see both bars and what changed. Returns the new snapshot.
    """
    from IPython import get_ipython
    from IPython.display import display

    now = context_snapshot(agent_id, conversation_id, letta)
    shots = titled(now, since)
    if get_ipython() is None:  # a plain script or terminal: the table only
        print(budget_table(shots))
    else:  # one output, two forms: the picture where images render (JupyterLab, HTML), the table elsewhere
        display({"image/png": budget_png(shots), "text/plain": budget_table(shots)}, raw=True)
    print(describe(now, since))
    return now
