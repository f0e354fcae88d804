"""The stack's warm-up (stack/warm_up.py): what it reads into the model's cache is what a fresh agent's first turn
reuses."""

from __future__ import annotations

import time
import uuid

import psutil
import pytest

from course import facts
from stack import warm_up
from tests import model_log

pytestmark = pytest.mark.stack


def _no_warm_up_running() -> None:
    """A warm-up the stack started (after a test restarted the model) would take the agents' slot meanwhile."""
    for _ in range(120):
        if not any("stack.warm_up" in " ".join(p.info["cmdline"] or []) for p in psutil.process_iter(["cmdline"])):
            return
        time.sleep(1)
    pytest.fail("a warm-up has been running for 2 minutes")


def test_a_fresh_agents_first_turn_reuses_the_prompt_start_the_warm_up_read(stack_config, model_url, letta):
    # A prompt start no earlier request had (the cache would otherwise hold it anyway, and this could not fail).
    system = f"You are check {uuid.uuid4().hex} of the course's warm-up. Answer in one short sentence."
    _no_warm_up_running()
    warmed = warm_up.prefill(stack_config, system=system)
    assert warmed["agent"]["cached_tokens"] < 20, warmed  # nothing of it was cached before
    assert warmed["side"]["prompt_tokens"] > 0
    before = len(model_log.generations(stack_config))
    agent = letta.agents.create(
        name=f"t-warm-up-{uuid.uuid4().hex[:8]}",
        model=facts.LOCAL_MODEL.handle,
        embedding=facts.EMBEDDING_MODEL.handle,
        system=system,
        memory_blocks=[{"label": "persona", "value": "I help with chess."}, {"label": "human", "value": "Ola plays on Sundays."}],
    )
    try:
        letta.agents.messages.create(agent_id=agent.id, messages=[{"role": "user", "content": "Hi! Who are you?"}])
    finally:
        letta.agents.delete(agent.id)
    first = next(g for g in model_log.generations(stack_config)[before:] if g["generation"] == "reply")
    # The instructions and the tools come first in the prompt; only the memory blocks and the message are new.
    assert first["cache_n"] >= warmed["agent"]["prompt_tokens"] // 2, (first, warmed)


def test_a_restart_restores_the_warm_up_from_disk_instead_of_reading_it_again(stack_config):
    """The model service saves what the warm-up read (.course/model-cache/) and restores it at the next warm-up:
    the same start of the prompt, and none of its ~1,000 tokens read again."""
    _no_warm_up_running()
    first = warm_up.prefill(stack_config)  # read, or restored if an earlier start saved it
    again = warm_up.prefill(stack_config)
    assert again["agent"].get("restored") and again["side"].get("restored"), again
    whole = first["agent"]["cached_tokens"] if first["agent"].get("restored") else first["agent"]["prompt_tokens"]
    assert again["agent"]["cached_tokens"] == whole > 500, (first, again)
    assert sorted(p.name.split("-")[0] for p in (facts.STATE / "model-cache").glob("*.bin")) == ["agent", "side"]
