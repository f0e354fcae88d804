"""What the lessons say about Letta 0.16.8's own behaviour, checked on the running server without the model.

If a server release changes one of these, the lesson that teaches it is wrong, and this file says which.
"""

from __future__ import annotations

import threading

import pytest

import helpers

pytestmark = pytest.mark.stack


def _inserts_at_once(letta, writers, rounds: int, lock: threading.Lock | None = None) -> int:
    """Rounds in which every writer's memory_insert, started at the same instant, kept its line."""
    kept = 0
    blocks = {block.id for _, block in writers}
    for r in range(rounds):
        for block_id in blocks:
            letta.blocks.update(block_id, value="Tasks:\n")
        barrier = threading.Barrier(len(writers))

        def insert(barrier, agent, block, line):
            barrier.wait()
            if lock is None:
                letta.agents.tools.run("memory_insert", agent_id=agent.id, args={"label": block.label, "new_string": line})
            else:
                with lock:
                    letta.agents.tools.run("memory_insert", agent_id=agent.id, args={"label": block.label, "new_string": line})

        lines = [f"- {agent.name} {r}" for agent, _ in writers]
        threads = [threading.Thread(target=insert, args=(barrier, a, b, line)) for (a, b), line in zip(writers, lines, strict=True)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        stored = "".join(letta.blocks.retrieve(block_id).value for block_id in blocks)
        kept += all(line in stored for line in lines)
    return kept


def test_concurrent_memory_inserts_into_one_block_lose_lines_and_serialised_ones_do_not(letta):
    """Lesson 02: memory_insert writes the whole block back (last writer wins); a lock or one writer per block helps."""
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
        assert _inserts_at_once(letta, [(a, own[0]), (b, own[1])], rounds) == rounds
    finally:
        lesson.cleanup()
