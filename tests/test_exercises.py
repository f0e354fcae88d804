"""Each exercise check passes on the hidden reference answer and says, in plain words, what an unwritten one lacks.

The server state a check needs is built without the model (agents with `include_base_tools=False`, blocks set
directly). Only the reference answers of lessons 06, 07 and 11 make an agent turn, all on one small agent.
"""

import inspect
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import pytest
from letta_client import APITimeoutError, Letta

from helpers import Lesson, UserDirectory, exercises
from tests import exercise_solutions as solutions

pytestmark = pytest.mark.stack
DATA = Path(__file__).resolve().parent.parent / "data"


def unwritten(*args):
    """The stub every notebook gives the learner."""
    raise NotImplementedError


def assert_not_yet(result, *phrases: str) -> None:
    """The check failed and its message says each phrase; a failing check is shown, never raised."""
    assert not result.passed and repr(result).startswith("Not yet:"), result
    for phrase in phrases:
        assert any(phrase in problem for problem in result.problems), f"{phrase!r} not in {result.problems}"


@pytest.fixture
def make_lesson(letta):
    """Lessons named `tNN-...`, cleaned before use and after the test."""
    made = []

    def make(slug: str) -> Lesson:
        lesson = Lesson(slug, letta=letta)
        lesson.cleanup()
        made.append(lesson)
        return lesson

    yield make
    for lesson in made:
        lesson.cleanup()


def small_agent(lesson: Lesson, name: str, **kwargs):
    kwargs.setdefault("memory_blocks", [{"label": "persona", "value": "I answer in one short sentence."}])
    return lesson.create_agent(name, include_base_tools=False, **kwargs)


@pytest.fixture(scope="module")
def talker(letta):
    """The one agent that answers turns, shared by the checks of lessons 06, 07 and 11 (a warm prompt cache)."""
    lesson = Lesson("t06-talker", letta=letta)
    lesson.cleanup()
    yield small_agent(lesson, "talker")
    lesson.cleanup()


def test_00_set_persona(letta, make_lesson):
    blocks = [{"label": "persona", "value": "I help."}, {"label": "human", "value": "Name: Ada."}]
    agent = small_agent(make_lesson("t00-exercise"), "first", memory_blocks=blocks)
    check = partial(exercises.check_set_persona, letta=letta, agent_id=agent.id)
    assert_not_yet(check(unwritten), "set_persona is not written yet")
    assert_not_yet(check(lambda agent_id, persona: None), "the persona block did not change")
    assert check(partial(solutions.set_persona, letta=letta)).passed


def test_00_stretch_tool_share(letta, make_lesson):
    agent = small_agent(make_lesson("t00-stretch"), "reader", tools=["memory_insert"])
    check = partial(exercises.check_tool_share, letta=letta, agent_id=agent.id)
    assert_not_yet(check(unwritten), "tool_share is not written yet")

    def of_the_window(agent_id):  # divides by the window's size, not by what is in use
        overview = letta.get(f"/v1/agents/{agent_id}/context", cast_to=object)
        return overview["num_tokens_functions_definitions"] / overview["context_window_size_max"]

    assert_not_yet(check(of_the_window), "the tokens in use")
    assert check(partial(solutions.tool_share, letta=letta)).passed


def test_01_find_agent(letta, make_lesson):
    agent = small_agent(make_lesson("t01-exercise"), "findable")
    check = partial(exercises.check_find_agent, letta=letta, agent_id=agent.id)
    assert_not_yet(check(unwritten), "find_agent is not written yet")

    def catches_everything(agent_id):
        try:
            return letta.agents.retrieve(agent_id)
        except Exception:
            return None

    assert_not_yet(check(catches_everything), "catch only NotFoundError")
    assert_not_yet(check(letta.agents.retrieve), "catch NotFoundError and return None")
    assert check(partial(solutions.find_agent, letta=letta)).passed


def test_01_stretch_send_once(letta, make_lesson):
    sender = small_agent(make_lesson("t01-stretch"), "sender")  # its own agent: the check cancels turns it starts
    check = partial(exercises.check_send_once, letta=letta, agent_id=sender.id)
    assert_not_yet(check(unwritten), "send_once is not written yet")

    def with_retries(agent_id, text, timeout):  # the SDK's default: two more attempts, two more turns
        sdk_default = Letta(base_url=letta.base_url, api_key=letta.api_key, timeout=timeout)  # the course client sends turns once
        try:
            sdk_default.agents.messages.create(agent_id=agent_id, messages=[{"role": "user", "content": text}])
        except APITimeoutError:
            return None

    assert_not_yet(check(with_retries), "the client retried it", "return the id of the run")
    plain = Letta(base_url=letta.base_url, api_key=letta.api_key)  # as the lesson's `sdk`: max_retries=0 is the solution's doing
    assert check(partial(solutions.send_once, letta=plain)).passed


def test_02_remember_rating(letta, make_lesson):
    blocks = [{"label": "persona", "value": "I tutor chess."}, {"label": "human", "value": "Name: Ada.\nPlays the Sicilian."}]
    agent = small_agent(make_lesson("t02-exercise"), "tutor", memory_blocks=blocks)
    check = partial(exercises.check_remember_rating, letta=letta, agent_id=agent.id)
    assert_not_yet(check(unwritten), "remember_rating is not written yet")

    def overwrites(agent_id, rating):
        letta.agents.blocks.update("human", agent_id=agent_id, value=f"Rating: {rating}")

    assert_not_yet(check(overwrites), "lost what it said before")
    letta.agents.blocks.update("human", agent_id=agent.id, value="Name: Ada.\nPlays the Sicilian.")
    assert check(partial(solutions.remember_rating, letta=letta)).passed


def test_02_stretch_add_task(letta, make_lesson):
    lesson = make_lesson("t02-stretch")
    check = partial(exercises.check_add_task, letta=letta, lesson=lesson)
    assert_not_yet(check(unwritten), "add_task is not written yet")

    def unguarded(block_id, line):  # read, change, write back: what the lesson shows losing lines
        current = letta.blocks.retrieve(block_id).value
        letta.blocks.update(block_id, value=f"{current}{line}\n")

    assert_not_yet(check(unguarded), "lines are missing")

    def replaces(block_id, line):
        letta.blocks.update(block_id, value=line)

    assert_not_yet(check(replaces), "lost what it said before")
    assert check(partial(solutions.add_task, letta=letta)).passed
    assert not list(letta.blocks.list(label=lesson.name("stretch-tasks")))  # the check removes its block


def test_03_word_count_tool(letta, make_lesson):
    lesson = make_lesson("t03-exercise")
    agent = small_agent(lesson, "calculator")
    check = partial(exercises.check_word_count_tool, letta=letta, agent_id=agent.id)
    assert_not_yet(check(unwritten), "is not written yet")

    def t03_exercise_undocumented(text: str) -> int:
        return len(text.split())

    assert_not_yet(check(t03_exercise_undocumented), "docstring with an `Args:` section")
    assert check(solutions.t03_exercise_word_count).passed


def t03_stretch_hard_coded(note: str) -> str:
    """Log a visit in the agent's visits block, signed with the club's name.

    Args:
        note: What happened at the visit, in one sentence.
    """
    import os

    from letta_client import Letta

    own = Letta(base_url="http://127.0.0.1:8283")
    agent_id = os.getenv("LETTA_AGENT_ID")
    block = own.agents.blocks.retrieve("visits", agent_id=agent_id)
    own.agents.blocks.update("visits", agent_id=agent_id, value=f"{block.value}\nRiverside Chess: {note}")
    return "ok"


def t03_stretch_no_client(note: str) -> str:
    """Log a visit in the agent's visits block, signed with the club's name.

    Args:
        note: What happened at the visit, in one sentence.
    """
    import os

    return f"{os.getenv('CLUB_NAME')}: {note}"


def test_03_stretch_log_visit(letta, make_lesson):
    lesson = make_lesson("t03-stretch")
    check = partial(exercises.check_log_visit, letta=letta, lesson=lesson)

    def l03_tools_log_visit(note: str) -> str:
        raise NotImplementedError

    assert_not_yet(check(l03_tools_log_visit), "is not written yet")
    assert_not_yet(check(t03_stretch_hard_coded), "builds its own Letta()", "written in the tool")
    assert_not_yet(check(t03_stretch_no_client), "should gain the line")
    assert check(solutions.t03_stretch_log_visit).passed
    assert lesson.agents() == [] and not letta.tools.list(name="t03_stretch_log_visit").items  # the check leaves nothing


def test_04_run_list_files():
    check = partial(exercises.check_run_list_files, data_dir=DATA)
    assert_not_yet(check(unwritten), "run_list_files is not written yet")
    names = sorted(p.name for p in DATA.iterdir() if p.is_file())
    assert_not_yet(check(lambda arguments: (names, "success")), "join the names with newlines")
    assert_not_yet(check(lambda arguments: (names[0], "success")), "leaves out")
    assert check(partial(solutions.run_list_files, data_dir=DATA)).passed


def test_05_agent_for_user(letta, make_lesson, tmp_path):
    lesson = make_lesson("t05-exercise")
    directory = UserDirectory(tmp_path / "users.sqlite")

    def create_agent_for_user(user_id, name):  # the lesson's helpers, which the answer uses
        agent = small_agent(lesson, f"assistant-{name.lower()}", tags=[f"user:{user_id}"])
        directory.save(user_id, agent.id)
        return agent

    def find_user_agent(user_id):  # the directory first, then the tag (without writing the row back)
        record = directory.get(user_id)
        if record:
            return letta.agents.retrieve(record.agent_id)
        found = letta.agents.list(tags=[f"user:{user_id}"], match_all_tags=True, limit=1).items
        return found[0] if found else None

    ada = (lesson.name("ada"), "Ada")
    create_agent_for_user(*ada)
    check = partial(exercises.check_agent_for_user, letta=letta, directory=directory, existing_user=ada)
    assert_not_yet(check(unwritten, new_user=(lesson.name("ben"), "Ben")), "agent_for_user is not written yet")
    assert_not_yet(check(create_agent_for_user, new_user=(lesson.name("cleo"), "Cleo")), "look the agent up", "not the same agent")

    def reads_only(user_id, name):  # finds and creates, but never writes a lost row back
        return find_user_agent(user_id) or create_agent_for_user(user_id, name)

    assert_not_yet(check(reads_only, new_user=(lesson.name("dev"), "Dev")), "write the row back")
    answer = partial(
        solutions.agent_for_user, find_user_agent=find_user_agent, create_agent_for_user=create_agent_for_user, directory=directory
    )
    assert check(answer, new_user=(lesson.name("eve"), "Eve")).passed


def test_07_stretch_open_ticket_thread(letta, make_lesson):
    lesson = make_lesson("t07-stretch")
    check = partial(exercises.check_open_ticket_thread, letta=letta, lesson=lesson)
    assert_not_yet(check(unwritten), "open_ticket_thread is not written yet")

    def one_for_all(agent_id, ticket_id, subject):  # a conversation, but the block is never written
        return letta.conversations.create(agent_id=agent_id, summary=f"ticket {ticket_id}").id

    assert_not_yet(check(one_for_all), "does not list")

    def replaces(agent_id, ticket_id, subject):
        letta.agents.blocks.update("open_tickets", agent_id=agent_id, value=f"- {ticket_id}: {subject}")
        return letta.conversations.create(agent_id=agent_id, summary=f"ticket {ticket_id}").id

    assert_not_yet(check(replaces), "lost what it said before")
    assert check(partial(solutions.open_ticket_thread, letta=letta)).passed
    assert lesson.agents() == []  # the check removes its agent


def test_06_stretch_finish_answer(letta, talker):
    check = partial(exercises.check_finish_answer, letta=letta, agent_id=talker.id)
    assert_not_yet(check(unwritten), "finish_answer is not written yet")

    def from_the_start(before):  # reconnects without starting_after: the pieces already seen come again
        run_id = next(c.run_id for c in before if getattr(c, "run_id", None))
        again = list(letta.runs.messages.stream(run_id))
        return "".join(c.content or "" for c in before + again if c.message_type == "assistant_message")

    assert_not_yet(check(from_the_start), "came twice")
    assert check(partial(solutions.finish_answer, letta=letta)).passed


def test_04_stretch_answers_for(letta, make_lesson):
    lesson = make_lesson("t04-stretch")
    check = partial(exercises.check_answers_for, letta=letta, lesson=lesson)
    assert_not_yet(check(unwritten), "answers_for is not written yet")

    def approves_everything(requests, client_tools):  # lets the server run what only this side may run
        return {
            "type": "approval",
            "approvals": [{"type": "approval", "tool_call_id": r.tool_call.tool_call_id, "approve": True} for r in requests],
        }

    assert_not_yet(check(approves_everything), "must be refused")
    assert check(solutions.answers_for).passed
    assert lesson.agents() == []


def test_05_stretch_forget_user(letta, make_lesson, tmp_path):
    lesson, directory = make_lesson("t05-stretch"), UserDirectory(tmp_path / "users.sqlite")
    check = partial(exercises.check_forget_user, letta=letta, lesson=lesson, directory=directory)
    assert_not_yet(check(unwritten), "forget_user is not written yet")

    def agent_only(user_id):  # the agent goes; its blocks and the directory row stay
        for agent in letta.agents.list(tags=[f"user:{user_id}"], limit=5).items:
            letta.agents.delete(agent.id)

    assert_not_yet(check(agent_only), "blocks are still in the database", "still has a row")
    assert check(partial(solutions.forget_user, letta=letta, directory=directory)).passed
    assert lesson.agents() == [] and directory.all() == []


def test_08_sleeptime_agent_of(letta, make_lesson):
    lesson = make_lesson("t08-exercise")
    buddy, plain = small_agent(lesson, "buddy", enable_sleeptime=True), small_agent(lesson, "plain")
    check = partial(exercises.check_sleeptime_agent_of, letta=letta, with_sleeptime=buddy.id, without_sleeptime=plain.id)
    assert_not_yet(check(unwritten), "sleeptime_agent_of is not written yet")
    assert_not_yet(check(lambda agent_id: agent_id), "the agent's own id")
    assert check(partial(solutions.sleeptime_agent_of, letta=letta)).passed


def test_08_stretch_sleeptime_every(letta, make_lesson):
    lesson = make_lesson("t08-stretch")
    check = partial(exercises.check_sleeptime_every, letta=letta, lesson=lesson)
    assert_not_yet(check(unwritten), "sleeptime_every is not written yet")

    def default_frequency(agent_id, turns):  # sleeptime on, the frequency left at its default
        letta.agents.update(agent_id, enable_sleeptime=True)
        return letta.agents.retrieve(agent_id, include=["agent.managed_group"]).managed_group.agent_ids[0]

    assert_not_yet(check(default_frequency), "not 3")
    assert check(partial(solutions.sleeptime_every, letta=letta)).passed
    assert lesson.agents() == []


def test_09_stretch_share_agent(letta, make_lesson, tmp_path):
    lesson = make_lesson("t09-stretch")
    check = partial(exercises.check_share_agent, letta=letta, lesson=lesson, folder=tmp_path)
    assert_not_yet(check(unwritten), "share_agent is not written yet")

    def with_history(agent_id, path):
        letta.agents.messages.list(agent_id)  # nothing scrubbed
        path.write_text(letta.agents.export_file(agent_id))
        return path

    assert_not_yet(check(with_history), "scrub_messages=True")
    assert check(partial(solutions.share_agent, letta=letta)).passed
    assert lesson.agents() == []


def test_09_clone_agent(letta, make_lesson):
    lesson = make_lesson("t09-exercise")
    blocks = [{"label": "persona", "value": "I am portable."}, {"label": "human", "value": "Name: Ada."}]
    original = small_agent(lesson, "original", memory_blocks=blocks)
    letta.agents.passages.create(original.id, text="Ada's rating is 1720.", tags=["chess"], created_at=datetime(2026, 3, 14, tzinfo=UTC))
    check = partial(exercises.check_clone_agent, letta=letta, agent_id=original.id)
    assert_not_yet(check(unwritten, new_name=lesson.name("stub")), "clone_agent is not written yet")

    def text_only(agent_id, new_name):  # what lesson 09 used to do: the passages lose their tags and dates
        upload = ("clone.af", letta.agents.export_file(agent_id).encode(), "application/json")
        new_id = letta.agents.import_file(file=upload, name=new_name).agent_ids[0]
        for passage in letta.agents.passages.list(agent_id):
            letta.agents.passages.create(new_id, text=passage.text)
        return new_id

    assert_not_yet(check(text_only, new_name=lesson.name("bare")), "lost their tags or dates")
    assert check(partial(solutions.clone_agent, letta=letta), new_name=lesson.name("clone")).passed
    assert len(lesson.agents()) == 3  # the clones kept the lesson's tag, so cleanup finds them


def t10_exercise_check_stock(item: str) -> str:
    """Check how many of an item are in stock.

    Args:
        item: The item's name.
    """
    return "12 in stock"


def t10_exercise_place_order(item: str) -> str:
    """Place an order for an item.

    Args:
        item: The item's name.
    """
    return "ordered"


def test_10_stretch_workflow_rules(letta, make_lesson):
    lesson = make_lesson("t10-stretch")
    check = partial(exercises.check_workflow_rules, lesson=lesson)
    assert_not_yet(check(unwritten), "workflow_rules is not written yet")
    assert_not_yet(check(lambda p, c, e: solutions.workflow_rules(p, c, e)[:-1]), "nobody approves")  # no approval rule
    assert_not_yet(check(lambda p, c, e: solutions.workflow_rules(p, e, c)), "only the confirmation should")
    assert check(solutions.workflow_rules).passed
    assert not [t for t in letta.tools.list(limit=200).items if t.name.startswith(lesson.tool_prefix)]  # nothing left


def test_10_order_rules(letta, make_lesson):
    lesson = make_lesson("t10-exercise")
    check_stock, place_order = (
        letta.tools.upsert(source_code=inspect.getsource(f)) for f in (t10_exercise_check_stock, t10_exercise_place_order)
    )
    check = partial(exercises.check_order_rules, lesson=lesson, check_stock=check_stock, place_order=place_order)
    assert_not_yet(check([]), "order_rules is empty")
    rules = solutions.order_rules(check_stock.name, place_order.name)
    assert_not_yet(check(rules[:2]), "does not end the turn")
    assert check(rules).passed
    assert lesson.agents() == []  # the check deletes the agent it made


# The three checks below make one agent turn each with the reference answer; the stubs fail before any turn.


def test_06_collect_answer(letta, talker):
    check = partial(exercises.check_collect_answer, letta=letta, agent_id=talker.id)
    assert_not_yet(check(unwritten), "collect_answer is not written yet")
    assert_not_yet(check(lambda stream: "".join(c.content for c in stream if c.message_type == "assistant_message")), "blank line")
    assert check(solutions.collect_answer).passed


def test_07_open_and_ask(letta, talker):
    check = partial(exercises.check_open_and_ask, letta=letta, agent_id=talker.id)
    assert_not_yet(check(unwritten), "open_and_ask is not written yet")
    assert_not_yet(check(lambda text: None), "return a pair (conversation_id, answer)")
    assert check(partial(solutions.open_and_ask, letta=letta, agent_id=talker.id)).passed


def test_11_open_ticket(letta, talker, tmp_path):
    directory = UserDirectory(tmp_path / "desk.sqlite")
    check = partial(exercises.check_open_ticket, letta=letta, directory=directory, agent_id=talker.id, member="t11-cleo")
    assert_not_yet(check(unwritten), "open_ticket is not written yet")
    assert_not_yet(check(lambda member, text: "Open all day."), "the directory has no conversation")
    assert check(partial(solutions.open_ticket, letta=letta, directory=directory, desk_id=talker.id)).passed


def test_11_stretch_close_ticket(letta, make_lesson):
    lesson = make_lesson("t11-stretch")
    check = partial(exercises.check_close_ticket, letta=letta, lesson=lesson)
    assert_not_yet(check(unwritten), "close_ticket is not written yet")

    def replaces(agent_id, member_id, summary):  # files the passage, but the log keeps only the last ticket
        letta.agents.blocks.update("ticket_log", agent_id=agent_id, value=f"{member_id}: {summary}")
        return letta.agents.passages.create(agent_id, text=summary, tags=[member_id, "closed"])[0].id

    assert_not_yet(check(replaces), "lacks")

    def untagged(agent_id, member_id, summary):
        solutions.close_ticket(agent_id, member_id, summary, letta=letta)
        return letta.agents.passages.create(agent_id, text=summary)[0].id

    assert_not_yet(check(untagged), "tag it with the member's id")
    assert check(partial(solutions.close_ticket, letta=letta)).passed
    assert lesson.agents() == []  # the check removes its agent
