"""The smoke subset of the agent behaviour evaluation (scripts/agent_eval.py): fresh agents, real server, real
model. It fails on what a learner must never see: an answer that repeats the prompt, or a turn that fails.
Memory placement and recall are measured by the full evaluation (`make eval`), not asserted here: they are
model behaviour, and the course runs with other models too."""

import pytest

from helpers.settings import settings
from scripts import agent_eval

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def smoke(letta):
    cfg = settings()
    data = agent_eval.load(smoke=True)
    assert len(data["conversations"]) >= 3, "data/agent_eval.json marks too few conversations as smoke"
    return agent_eval.evaluate(cfg.model, cfg.embedding, data, log=lambda line: None)


def _turns(smoke, **flag):
    key, value = next(iter(flag.items()))
    return [f"{t['conversation']}#{t['index']}: {t['answer'][:200]!r} ({t['error']})" for t in smoke["turns"] if t[key] == value]


def test_no_answer_repeats_the_prompt(smoke):
    assert not _turns(smoke, echo=True)


def test_no_turn_fails(smoke):
    assert not _turns(smoke, failed=True)


def test_every_smoke_conversation_ran_and_its_agents_are_gone(smoke, letta):
    assert smoke["summary"]["conversations"] == len(agent_eval.load(smoke=True)["conversations"])
    assert not letta.agents.list(tags=[agent_eval.TAG], limit=10).items
