"""An agent's tool rules, read from the server, drawn as a Mermaid flowchart (so the picture is never stale).

JupyterLab renders a Markdown output that holds a ```mermaid block, as it does in Markdown cells.
"""

from __future__ import annotations

import re

from helpers.client import client

START, END = "turn_starts", "turn_ends"


def _node(name: str) -> str:
    return "t_" + re.sub(r"\W", "_", name)


def rules_mermaid(agent_id: str, letta=None) -> str:
    """The agent's tool rules as Mermaid flowchart text: an arrow for every move a rule allows or forces."""
    letta = letta or client()
    agent = letta.agents.retrieve(agent_id, include=["agent.tools"])
    rules = agent.tool_rules or []
    approval = {r.tool_name for r in rules if r.type == "requires_approval"}
    lines = ["flowchart LR", f'    {START}(["turn starts"])', f'    {END}(["turn ends"])']
    for tool in sorted(t.name for t in agent.tools):
        label = f"{tool}<br/>waits for approval" if tool in approval else tool
        lines.append(f'    {_node(tool)}["{label}"]')
    for rule in rules:
        source = _node(rule.tool_name)
        if rule.type == "run_first":
            lines.append(f"    {START} -->|first| {source}")
        elif rule.type == "exit_loop":
            lines.append(f"    {source} --> {END}")
        elif rule.type == "constrain_child_tools":
            lines += [f"    {source} -->|then only| {_node(child)}" for child in rule.children]
        elif rule.type == "conditional":
            for output, child in (rule.child_output_mapping or {}).items():
                lines.append(f'    {source} -->|"returns {output}"| {_node(child)}')
            if rule.default_child:
                lines.append(f"    {source} -->|otherwise| {_node(rule.default_child)}")
        elif rule.type != "requires_approval":  # other kinds (max_count_per_step, ...) are named, not drawn
            lines.append(f'    {source} -.- {_node(rule.tool_name)}_{rule.type}["{rule.type}"]')
    return "\n".join(lines)


def show_rules(agent_id: str, letta=None) -> str:
    """Display the agent's tool rules as a diagram (the Mermaid text where no diagram can show); returns the text."""
    from IPython import get_ipython
    from IPython.display import display

    text = rules_mermaid(agent_id, letta)
    if get_ipython() is None:
        print(text)
    else:
        display({"text/markdown": f"```mermaid\n{text}\n```", "text/plain": text}, raw=True)
    return text
