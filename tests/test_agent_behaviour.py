"""The smoke subset of the agent behaviour evaluation (scripts/agent_eval.py): fresh agents, real server, real
model. It fails on what a learner must never see: an answer that repeats the prompt, a turn that fails, and, in
the natural conversations (a greeting, an introduction in passing, a task, a question about the user), the
systematic memory failures measured before the model service's guards: small talk rewriting the persona, and the
user's questions copied into `human`. Recall and where each fact went are measured by the full evaluation
(`make eval`), not asserted here: they are model behaviour, and the course runs with other models too."""

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


def test_small_talk_leaves_the_persona_as_it_was(smoke):
    changed = [
        f"{t['conversation']}#{t['index']} ({t['user']!r}): {t['blocks_after'].get('persona')!r}"
        for t in smoke["turns"]
        if t["natural"] and not t["persona_kept"]
    ]
    assert not changed


def test_human_holds_no_question_the_user_asked(smoke):
    copied = [f"{t['conversation']}#{t['index']}: {t['human_questions']}" for t in smoke["turns"] if t["human_questions"]]
    assert not copied


def test_the_smoke_subset_has_natural_conversations(smoke):
    natural = smoke["summary"]["natural"]
    assert natural["conversations"] >= 2 and {t["kind"] for t in smoke["turns"] if t["natural"]} >= {"greeting", "intro", "task", "recall"}
