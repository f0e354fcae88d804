"""What the lessons say about Letta 0.16.8's own behaviour, checked on the running server without the model.

If a server release changes one of these, the lesson that teaches it is wrong, and this file says which.
"""

from __future__ import annotations

import threading
import time

import pytest

import helpers

pytestmark = pytest.mark.stack


def _inserts_at_once(letta, writers, rounds: int, lock: threading.Lock | None = None, apart: float = 0.0) -> int:
    """Rounds in which every writer's memory_insert, started at the same instant (or the i-th writer
    i * round * apart seconds after the first), kept its line."""
    kept = 0
    blocks = {block.id for _, block in writers}
    for r in range(rounds):
        for block_id in blocks:
            letta.blocks.update(block_id, value="Tasks:\n")
        barrier = threading.Barrier(len(writers))

        def insert(barrier, agent, block, line, delay):
            barrier.wait()
            time.sleep(delay)
            if lock is None:
                letta.agents.tools.run("memory_insert", agent_id=agent.id, args={"label": block.label, "new_string": line})
            else:
                with lock:
                    letta.agents.tools.run("memory_insert", agent_id=agent.id, args={"label": block.label, "new_string": line})

        lines = [f"- {agent.name} {r}" for agent, _ in writers]
        threads = [
            threading.Thread(target=insert, args=(barrier, a, b, line, i * r * apart))
            for i, ((a, b), line) in enumerate(zip(writers, lines, strict=True))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        stored = "".join(letta.blocks.retrieve(block_id).value for block_id in blocks)
        kept += all(line in stored for line in lines)
    return kept


def test_concurrent_memory_inserts_into_one_block_lose_lines_and_serialised_ones_do_not(letta):
    """Lesson 02: memory_insert writes the whole block back (last writer wins), and an agent's tool writes back its old
    copy of every block it holds, so one writer per block still loses lines when both agents hold both blocks; a
    lock keeps every line, and so does a block that only its writer holds."""
    lesson = helpers.Lesson("t-claims-race", letta=letta)
    lesson.cleanup()
    try:
        team = letta.blocks.create(label=lesson.name("team"), value="Tasks:\n")
        a, b = (lesson.create_agent(n, memory_blocks=[{"label": "persona", "value": n}], block_ids=[team.id]) for n in "ab")
        rounds = 10
        assert _inserts_at_once(letta, [(a, team), (b, team)], rounds) < rounds, "no concurrent insert was lost: lesson 02 says they are"
        assert _inserts_at_once(letta, [(a, team), (b, team)], rounds, lock=threading.Lock()) == rounds
        own = [letta.blocks.create(label=lesson.name(f"{n}-notes"), value="Tasks:\n") for n in "ab"]
        for agent, block in zip((a, b), own, strict=True):
            letta.agents.blocks.attach(block.id, agent_id=agent.id)
        own_writers = [(a, own[0]), (b, own[1])]
        assert _inserts_at_once(letta, own_writers, rounds, apart=0.01) == rounds, "a block only its writer holds keeps every line"
        for agent, block in zip((b, a), own, strict=True):  # now each agent holds the other's block too
            letta.agents.blocks.attach(block.id, agent_id=agent.id)
        # The second writer 0, 10 ... 190 ms late, then in steps of 3 ms and of 1 ms: the window (the first writer's load
        # to its write-back) is in there. How wide it is follows the machine's speed: at a fast hour 0-190 ms once missed it.
        lost = any(_inserts_at_once(letta, own_writers, 2 * rounds, apart=step) < 2 * rounds for step in (0.01, 0.003, 0.001))
        assert lost, "lesson 02 says old copies are written back"
        assert _inserts_at_once(letta, own_writers, 2 * rounds, apart=0.01, lock=threading.Lock()) == 2 * rounds
    finally:
        lesson.cleanup()


def test_a_read_only_block_refuses_the_agents_memory_tools_and_takes_your_codes_writes(letta):
    """Capstone: policies and ticket_log are read-only to agents (the sleeptime agent too), yet blocks.update works."""
    lesson = helpers.Lesson("t-claims-readonly", letta=letta)
    lesson.cleanup()
    try:
        agent = lesson.create_agent("desk", memory_blocks=[{"label": "ticket_log", "value": "(none)", "read_only": True}])
        tried = letta.agents.tools.run("memory_insert", agent_id=agent.id, args={"label": "ticket_log", "new_string": "M-9: refunded"})
        assert tried.status == "error" and "read-only" in str(tried.stderr), tried
        assert letta.agents.blocks.retrieve("ticket_log", agent_id=agent.id).value == "(none)"
        letta.agents.blocks.update("ticket_log", agent_id=agent.id, value="M-2: refunded")
        assert letta.agents.blocks.retrieve("ticket_log", agent_id=agent.id).value == "M-2: refunded"
    finally:
        lesson.cleanup()


def test_running_a_tool_alone_notes_a_return_over_its_limit_without_cutting_it(letta):
    """Lesson 03 section 11: on 0.16.8 agents.tools.run appends the truncation note but returns the whole text."""
    source = 'def t_claims_long_return() -> str:\n    """Return a long text."""\n    return "x" * 3000\n'
    tool = letta.tools.upsert(source_code=source, return_char_limit=100)
    lesson = helpers.Lesson("t-claims-limit", letta=letta)
    lesson.cleanup()
    try:
        agent = lesson.create_agent("reader", include_base_tools=False, tool_ids=[tool.id])
        returned = letta.agents.tools.run(tool.name, agent_id=agent.id).func_return
        assert returned.startswith("x" * 3000) and "truncated" in returned
    finally:
        lesson.cleanup()
        letta.tools.delete(tool.id)


def test_the_stack_pings_as_often_as_lesson_06_says():
    """Lesson 06's silent-stream demonstration relies on the interval the stack gives the server."""
    import json
    from pathlib import Path

    from stack.parts import PING_INTERVAL_S

    lesson = json.loads((Path(__file__).parent.parent / "notebooks" / "06_streaming.ipynb").read_text())
    text = "".join("".join(c["source"]) for c in lesson["cells"])
    assert f"pings every {PING_INTERVAL_S} seconds" in text and "read=8.0" in text and PING_INTERVAL_S < 8
