"""Reference answers to the lessons' exercises, kept out of the notebooks and helpers so learners do not see them.

Each is written as a learner would write it in the lesson's answer cell. What that cell takes from the notebook
(the client, an agent's id, a helper the lesson defined) is a keyword argument here, which the tests bind with
`functools.partial`; the positional arguments are the ones the exercise asks for.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from letta_client import APITimeoutError, Letta, NotFoundError
from letta_client.types import ChildToolRule, InitToolRule, RequiresApprovalToolRule, TerminalToolRule


def set_persona(agent_id: str, persona: str, *, letta: Letta) -> None:  # 00
    letta.agents.blocks.update("persona", agent_id=agent_id, value=persona)


def find_agent(agent_id: str, *, letta: Letta):  # 01
    try:
        return letta.agents.retrieve(agent_id)
    except NotFoundError:
        return None


def remember_rating(agent_id: str, rating: int, *, letta: Letta) -> None:  # 02
    current = letta.agents.blocks.retrieve("human", agent_id=agent_id).value
    letta.agents.blocks.update("human", agent_id=agent_id, value=f"{current.rstrip()}\nRating: {rating}")


_block_locks: dict[str, threading.Lock] = {}
_locks_lock = threading.Lock()


def add_task(block_id: str, line: str, *, letta: Letta) -> None:  # 02, stretch: one writer at a time per block
    with _locks_lock:
        lock = _block_locks.setdefault(block_id, threading.Lock())
    with lock:
        current = letta.blocks.retrieve(block_id).value
        letta.blocks.update(block_id, value=f"{current.rstrip()}\n{line}\n")


def t03_stretch_log_visit(note: str) -> str:  # 03, stretch: a secret and the injected client
    """Log a visit in the agent's visits block, signed with the club's name.

    Args:
        note: What happened at the visit, in one sentence.
    """
    import os

    agent_id = os.getenv("LETTA_AGENT_ID")
    line = f"{os.getenv('CLUB_NAME')}: {note}"
    block = client.agents.blocks.retrieve("visits", agent_id=agent_id)  # noqa: F821 (injected by the server)
    client.agents.blocks.update("visits", agent_id=agent_id, value=f"{block.value.rstrip()}\n{line}")  # noqa: F821
    return f"Logged: {line}"


def t03_exercise_word_count(text: str) -> int:  # 03: a tool's name is its function's name (the tests' prefix)
    """Count the words in a text.

    Args:
        text: The text to count.
    """
    return len(text.split())


def run_list_files(arguments: str, *, data_dir: Path) -> tuple[str, str]:  # 04
    return "\n".join(sorted(p.name for p in data_dir.iterdir() if p.is_file())), "success"


def agent_for_user(user_id: str, name: str, *, find_user_agent, create_agent_for_user, directory):  # 05
    agent = find_user_agent(user_id)
    if agent is None:
        return create_agent_for_user(user_id, name)
    if directory.get(user_id) is None:  # found by its tag alone: write the row back
        directory.save(user_id, agent.id)
    return agent


def collect_answer(stream) -> str:  # 06
    by_message: dict[str, str] = {}
    for chunk in stream:
        if chunk.message_type == "assistant_message":
            by_message[chunk.id] = by_message.get(chunk.id, "") + (chunk.content or "")
    return "\n\n".join(by_message.values())


def open_and_ask(text: str, *, letta: Letta, agent_id: str) -> tuple[str, str]:  # 07
    conversation = letta.conversations.create(agent_id=agent_id)
    chunks = letta.conversations.messages.create(conversation.id, messages=[{"role": "user", "content": text}])
    return conversation.id, "".join(c.content for c in chunks if c.message_type == "assistant_message")


def sleeptime_agent_of(agent_id: str, *, letta: Letta) -> str | None:  # 08
    managed = letta.agents.retrieve(agent_id, include=["agent.managed_group"]).managed_group
    if managed is None or managed.manager_type != "sleeptime":
        return None
    return managed.agent_ids[0]


def clone_agent(agent_id: str, new_name: str, *, letta: Letta) -> str:  # 09
    document = letta.agents.export_file(agent_id)
    upload = ("clone.af", document.encode(), "application/json")
    new_id = letta.agents.import_file(file=upload, name=new_name).agent_ids[0]
    for passage in letta.agents.passages.list(agent_id):
        letta.agents.passages.create(new_id, text=passage.text, tags=passage.tags, created_at=passage.created_at)
    return new_id


def order_rules(check_stock: str, place_order: str) -> list:  # 10: the lesson's `order_rules`, for these tool names
    return [
        InitToolRule(type="run_first", tool_name=check_stock),
        ChildToolRule(type="constrain_child_tools", tool_name=check_stock, children=[place_order]),
        TerminalToolRule(type="exit_loop", tool_name=place_order),
    ]


def open_ticket(member: str, text: str, *, letta: Letta, directory, desk_id: str) -> str:  # 11
    if directory.get(member) is None:
        conversation = letta.conversations.create(agent_id=desk_id, summary=f"help desk: {member}")
        directory.save(member, desk_id, conversation.id)
    chunks = letta.conversations.messages.create(directory.get(member).conversation_id, messages=[{"role": "user", "content": text}])
    return "".join(c.content for c in chunks if c.message_type == "assistant_message")


_tickets_lock = threading.Lock()


def open_ticket_thread(agent_id: str, ticket_id: str, subject: str, *, letta: Letta) -> str:  # 07, stretch
    conversation = letta.conversations.create(agent_id=agent_id, summary=f"ticket {ticket_id}: {subject}")
    with _tickets_lock:  # lesson 02: one writer at a time for a shared block
        current = letta.agents.blocks.retrieve("open_tickets", agent_id=agent_id).value
        letta.agents.blocks.update("open_tickets", agent_id=agent_id, value=f"{current.rstrip()}\n- {ticket_id}: {subject}")
    return conversation.id


def workflow_rules(propose: str, confirm: str, execute: str) -> list:  # 10, stretch: propose, confirm, execute
    return [
        InitToolRule(type="run_first", tool_name=propose),
        ChildToolRule(type="constrain_child_tools", tool_name=propose, children=[confirm]),
        ChildToolRule(type="constrain_child_tools", tool_name=confirm, children=[execute]),
        TerminalToolRule(type="exit_loop", tool_name=execute),
        RequiresApprovalToolRule(type="requires_approval", tool_name=execute),
    ]


def sleeptime_every(agent_id: str, turns: int, *, letta: Letta) -> str:  # 08, stretch
    letta.agents.update(agent_id, enable_sleeptime=True)
    group = letta.agents.retrieve(agent_id, include=["agent.managed_group"]).managed_group
    letta.patch(
        f"/v1/groups/{group.id}",
        body={"manager_config": {"manager_type": "sleeptime", "sleeptime_agent_frequency": turns}},
        cast_to=object,
    )
    return group.agent_ids[0]


def share_agent(agent_id: str, path: Path, *, letta: Letta) -> Path:  # 09, stretch: no messages, a blank `human`
    document = json.loads(letta.agents.export_file(agent_id, scrub_messages=True))
    for block in document["blocks"]:
        if block["label"] == "human":
            block["value"] = ""
    path.write_text(json.dumps(document))
    return path


def forget_user(user_id: str, *, letta: Letta, directory) -> None:  # 05, stretch: a user asks to be forgotten
    for agent in letta.agents.list(tags=[f"user:{user_id}"], limit=50).items:
        blocks = [b.id for b in letta.agents.blocks.list(agent.id).items]  # before the agent goes: it leaves them behind
        letta.agents.delete(agent.id)
        for block_id in blocks:
            if not letta.blocks.agents.list(block_id, limit=1).items:  # shared memory stays
                letta.blocks.delete(block_id)
    directory.forget(user_id)


def send_once(agent_id: str, text: str, timeout: float, *, letta: Letta) -> str:  # 01, stretch
    known = {r.id for r in letta.runs.list(agent_id=agent_id, limit=50)}
    try:
        response = letta.with_options(max_retries=0, timeout=timeout).agents.messages.create(
            agent_id=agent_id, messages=[{"role": "user", "content": text}]
        )
        return next(m.run_id for m in response.messages if getattr(m, "run_id", None))
    except APITimeoutError:  # the turn goes on: find it instead of sending the message again
        return next(r.id for r in letta.runs.list(agent_id=agent_id, limit=50) if r.id not in known)


def tool_share(agent_id: str, *, letta: Letta) -> float:  # 00, stretch
    overview = letta.get(f"/v1/agents/{agent_id}/context", cast_to=object)
    return overview["num_tokens_functions_definitions"] / overview["context_window_size_current"]


def finish_answer(before: list, *, letta: Letta) -> str:  # 06, stretch: resume a dropped background stream
    run_id = next(c.run_id for c in before if getattr(c, "run_id", None))
    last = max(c.seq_id for c in before if getattr(c, "seq_id", None) is not None)
    after = list(letta.runs.messages.stream(run_id, starting_after=last))
    return "".join(c.content or "" for c in before + after if c.message_type == "assistant_message")


def answers_for(requests: list, client_tools: dict) -> dict:  # 04, stretch: one message answering every request
    approvals = []
    for request in requests:
        call = request.tool_call
        if call.name in client_tools:
            tool_return, status = client_tools[call.name](call.arguments)
            approvals.append({"type": "tool", "tool_call_id": call.tool_call_id, "tool_return": tool_return, "status": status})
        else:
            approvals.append({"type": "approval", "tool_call_id": call.tool_call_id, "approve": False, "reason": "Not a tool I run."})
    return {"type": "approval", "approvals": approvals}


_ticket_log_lock = threading.Lock()


def close_ticket(agent_id: str, member_id: str, summary: str, *, letta: Letta) -> str:  # 11, stretch
    line = f"{member_id}: {summary}"
    with _ticket_log_lock:  # lesson 02: one writer at a time
        current = letta.agents.blocks.retrieve("ticket_log", agent_id=agent_id).value
        value = line if current == "(no tickets yet)" else f"{current}\n{line}"
        letta.agents.blocks.update("ticket_log", agent_id=agent_id, value=value)  # read-only for agents, not for you
    passage = letta.agents.passages.create(agent_id, text=f"Ticket closed for {member_id}: {summary}", tags=[member_id, "closed"])
    return passage[0].id
