"""The behaviour evaluation's scoring of natural conversations (scripts/agent_eval.py), on made-up turns: pure, no
server. Each scorer is shown catching the failure it names and passing the good case beside it."""

from __future__ import annotations

from scripts import agent_eval as ev

SAID = ["Hello! What can you do?", "Anika here. I run a small bakery in Accra.", "Give me one idea to sell more bread on rainy days."]


def test_a_question_the_user_asked_is_found_in_human_and_a_note_is_not():
    transcript = "Nothing known yet. I run a small bakery in Accra. Give me one idea to sell more bread on rainy days."
    assert ev.human_questions(transcript, [*SAID, "What do you know about me?"]) == []  # no "?" copied yet
    assert ev.human_questions(transcript + " What do you know about me?", [*SAID, "What do you know about me?"])
    assert ev.human_questions("Anika runs a small bakery in Accra.", [*SAID, "What do you know about me?"]) == []


def test_a_first_person_copy_of_the_user_is_a_transcript_and_a_third_person_note_is_not():
    assert ev.human_first_person("Nothing known yet.\nI run a small bakery in Accra.", SAID) == ["I run a small bakery in Accra."]
    assert ev.human_first_person("The user's name is Anika. She runs a small bakery in Accra.", SAID) == []
    assert ev.human_first_person("I am not sure yet.", SAID) == []  # first person, but nothing the user wrote


def test_an_answer_that_repeats_the_user_or_recites_the_persona_is_parroted():
    persona = "I am a friendly assistant. I keep my answers short."
    assert ev.parroted("What do you know about me?", "What do you know about me?", persona) == "user"
    assert ev.parroted("I am a friendly assistant. I keep my answers short.", "Who are you?", persona) == "persona"
    assert ev.parroted("You're Anika, and you run a bakery in Accra.", "What do you know about me?", persona) is None
    said = "Anika here. I run a small bakery in Accra."
    assert ev.parroted("Anika here. I run a small bakery in Accra.", said, persona) == "user"
    assert ev.parroted("I'm glad you run a small bakery in Accra. How can I help today?", said, persona) is None


def _turn(kind: str, before: dict, after: dict, answer: str = "Sure.", user: str = "hi") -> ev.Turn:
    turn = ev.Turn("c", 0, kind, user, False, answer=answer, stop_reason="end_turn")
    spec = {"kind": kind}
    ev.score(turn, spec, before, after, [])
    ev.score_natural(turn, spec, before, after, [user])
    return turn


def test_a_greeting_that_writes_a_block_fails_blocks_kept_and_the_persona():
    before = {"persona": "I am a friendly assistant.", "human": "Nothing known yet."}
    changed = _turn("greeting", before, {**before, "persona": "I am a friendly assistant.\nI am excited to help you."})
    kept = _turn("greeting", before, dict(before))
    assert changed.blocks_kept is False and not changed.persona_kept
    assert kept.blocks_kept is True and kept.persona_kept


def test_the_placeholder_left_beside_a_new_note_is_flagged():
    before = {"persona": "p", "human": ev.PLACEHOLDER}
    assert _turn("intro", before, {**before, "human": ev.PLACEHOLDER + "\nThe user is Anika."}).placeholder_left
    assert not _turn("intro", before, {**before, "human": "The user is Anika."}).placeholder_left
    assert not _turn("greeting", before, dict(before)).placeholder_left


def test_the_summary_scores_conversations_and_turns_against_the_targets():
    before = {"persona": "p", "human": ev.PLACEHOLDER}
    good = [_turn("greeting", before, dict(before)), _turn("recall", before, dict(before), answer="You are Anika.")]
    for t in good:
        t.natural, t.mentions_ok = True, True if t.kind == "recall" else None
    bad = _turn("greeting", before, {**before, "persona": "q"})
    bad.conversation = "d"
    figures = ev.summarise_natural([*good, bad])
    assert figures["conversations"] == 2 and figures["turns"] == 3
    assert figures["chat_kept_blocks"] == 0.5 and figures["persona_kept_conversations"] == 0.5 and figures["recall"] == 1.0
    assert figures["meets_targets"]["chat_kept_blocks"] is False and figures["meets_targets"]["recall"] is True


def test_the_summary_counts_every_conversation_and_keeps_the_natural_figures_apart():
    before = {"persona": "p", "human": ev.PLACEHOLDER}
    scripted = ev.score(ev.Turn("s", 0, "chat", "hi", False, answer="Hello!", stop_reason="end_turn"), {}, before, dict(before), [])
    natural = _turn("greeting", before, dict(before))  # scored as a natural turn too
    figures = ev.summarise([scripted, natural])
    assert figures["conversations"] == 2 and figures["turns"] == 2 and figures["natural"]["conversations"] == 1
