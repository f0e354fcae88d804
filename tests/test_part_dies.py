"""A part of the stack killed in the middle of an agent turn: the notebook is told which part and what to run,
`python -m stack start` brings it back without clean-up by hand, and the agent is intact and answers again."""

import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from letta_client import APIConnectionError

import helpers
from course import facts
from helpers import diagnosis
from helpers.settings import Settings, settings
from stack import processes
from tests.kernel import run_cells, texts

# After the lessons: killing the model empties its prompt cache, and the lessons must run as a learner's would.
pytestmark = [pytest.mark.stack, pytest.mark.after_lessons]
TAG = "course-test:part-dies"
NAMED = {"postgres": "PostgreSQL", "redis": "Redis", "model": "the local model service", "letta": "the Letta server"}


def _start(timeout: float = 600) -> subprocess.CompletedProcess:
    """`python -m stack start`, as a learner runs it after a part died."""
    return subprocess.run([sys.executable, "-m", "stack", "start"], cwd=facts.ROOT, capture_output=True, text=True, timeout=timeout)


def _kill(part: str, cfg) -> None:
    if part == "postgres":  # pg_ctl's own pid file: the postmaster's pid is its first line
        os.kill(int((cfg.data_dir / "pg" / "postmaster.pid").read_text().split()[0]), signal.SIGKILL)
    else:
        os.killpg(processes.live_pid(part), signal.SIGKILL)


def test_a_healthy_stack_has_no_part_down(stack_config):
    assert diagnosis.parts_down() == []
    assert diagnosis.explain(APIConnectionError(request=None)) is None  # a failed call, but every part answers


def test_a_notebook_cell_says_which_part_is_down(stack_config):
    """The SDK's error, as always, and under it the line that names the dead part and what to run."""
    try:
        outputs = run_cells(
            "import helpers\nletta = helpers.wait_for_server()",
            "import subprocess, sys\nsubprocess.run([sys.executable, '-m', 'stack', 'stop', 'letta'], check=True, capture_output=True)",
            "letta.agents.list(limit=1)",
            allow_errors=True,
        )
    finally:
        started = _start()
        assert started.returncode == 0, started.stderr
    failed = outputs[2]
    assert [o["ename"] for o in failed if o["output_type"] == "error"] == ["APIConnectionError"]
    assert "Part of the course stack is down: the Letta server" in texts(failed) and "make start" in texts(failed)


def test_another_servers_errors_are_not_blamed_on_this_stack(stack_config):
    elsewhere = Settings(base_url="http://127.0.0.1:1")  # nothing of ours
    assert diagnosis.explain(APIConnectionError(request=None), elsewhere) is None


@pytest.mark.parametrize("part", ["postgres", "redis", "model", "letta"])
def test_a_part_killed_mid_turn_is_named_and_start_brings_it_back(part, stack_config, letta):
    cfg = settings()
    for old in letta.agents.list(tags=[TAG]):
        letta.agents.delete(old.id)
    agent = letta.agents.create(
        name=f"part-dies-{part}",
        model=cfg.model,
        embedding=cfg.embedding,
        include_base_tools=False,
        tags=[TAG],
        memory_blocks=[{"label": "human", "value": "Ada plays chess on Tuesdays."}],
    )
    failures = []

    def turn() -> None:
        try:
            letta.agents.messages.create(agent.id, messages=[{"role": "user", "content": "Tell me about the history of chess."}])
        except Exception as err:  # noqa: BLE001 (what the notebook would see)
            failures.append(err)

    worker = threading.Thread(target=turn)
    worker.start()
    time.sleep(4)  # the turn is under way: the server has sent the prompt to the model
    _kill(part, stack_config)
    try:
        for _ in range(20):  # SIGKILL is asynchronous: the port closes a moment later
            if any(NAMED[part] in down for down in diagnosis.parts_down()):
                break
            time.sleep(0.5)
        assert any(NAMED[part] in down for down in diagnosis.parts_down()), diagnosis.parts_down()
        worker.join(300)
        assert not worker.is_alive(), "the turn hung after the part died"
        if part != "redis":  # a plain turn does not need Redis (background runs and conversation locks do)
            assert failures, f"the turn finished although the {part} part was killed"
        if failures:
            line = diagnosis.explain(failures[0], cfg)
            assert line and NAMED[part] in line and "make start" in line, (failures[0], line)
    finally:
        started = _start()
        assert started.returncode == 0, started.stderr
    again = helpers.wait_for_server(cfg)
    try:
        assert again.agents.blocks.retrieve("human", agent_id=agent.id).value == "Ada plays chess on Tuesdays."
        reply = again.agents.messages.create(agent.id, messages=[{"role": "user", "content": "Hello again."}])
        assert reply.stop_reason.stop_reason == "end_turn"  # the interrupted turn left nothing that breaks the next
    finally:
        again.agents.delete(agent.id)


def test_a_power_cut_kills_every_part_at_once_and_start_brings_the_stack_back(stack_config, letta):
    """What a reboot or a power cut leaves: every part gone without a clean shutdown, their pid files and
    PostgreSQL's postmaster.pid still on disk. One `python -m stack start` brings the stack back, nothing lost."""
    cfg = settings()
    for old in letta.agents.list(tags=[TAG]):
        letta.agents.delete(old.id)
    agent = letta.agents.create(
        name="part-dies-power-cut",
        model=cfg.model,
        embedding=cfg.embedding,
        tags=[TAG],
        memory_blocks=[{"label": "human", "value": "Ada plays chess on Tuesdays."}],
    )
    letta.agents.passages.create(agent.id, text="The club's spare key is with the caretaker.")
    for part in ("letta", "model", "redis", "postgres"):
        _kill(part, stack_config)
    for _ in range(40):  # SIGKILL is asynchronous
        if len(diagnosis.parts_down()) == 4:
            break
        time.sleep(0.5)
    assert len(diagnosis.parts_down()) == 4, diagnosis.parts_down()
    assert (stack_config.data_dir / "pg" / "postmaster.pid").exists(), "a power cut leaves PostgreSQL's pid file behind"
    started = _start(timeout=900)  # all four parts, PostgreSQL's recovery included
    assert started.returncode == 0, started.stdout[-2000:] + started.stderr[-2000:]
    assert diagnosis.parts_down() == []
    again = helpers.wait_for_server(cfg)
    try:
        assert again.agents.blocks.retrieve("human", agent_id=agent.id).value == "Ada plays chess on Tuesdays."
        hits = again.agents.passages.search(agent.id, query="who has the key?").results
        assert any("caretaker" in hit.content for hit in hits)
        reply = again.agents.messages.create(agent.id, messages=[{"role": "user", "content": "Hello again."}])
        assert reply.stop_reason.stop_reason == "end_turn"
    finally:
        again.agents.delete(agent.id)
