"""Workshop mode: attendees share one password-protected server, and each sees and deletes only their own objects.

No model turns: creating agents, blocks, identities and tools proves the separation without the model.
"""

import inspect
from concurrent.futures import ThreadPoolExecutor

import pytest

import helpers
from helpers import Lesson, workshop
from helpers.lesson import delete_if_present, exists
from helpers.settings import Settings

SLUG = "l97-workshop"
ATTENDEES = ("test-ana", "test-ben", "test-cleo")
TEST_TOOL = r"l97_workshop_"  # the instructor's tool cleanup, limited to this test's tool


def l97_workshop_echo(text: str) -> str:
    """Return the text unchanged.

    Args:
        text: The text to return.
    """
    return text


def mini_lesson(url: str, password: str, attendee: str) -> dict:
    """What an attendee's lesson does: a tool every attendee registers, a named block and identity, an agent."""
    cfg = Settings(base_url=url, password=password, attendee=attendee)
    letta = helpers.wait_for_server(cfg)
    lesson = Lesson(SLUG, cfg=cfg)
    lesson.cleanup()
    tool = letta.tools.upsert(source_code=inspect.getsource(l97_workshop_echo))
    notes = letta.blocks.create(label=lesson.name("notes"), value=f"{attendee}'s notes")
    body = {"identifier_key": lesson.name("user"), "name": "a user", "identity_type": "user"}
    user = letta.post("/v1/identities/", body=body, cast_to=object)
    agent = lesson.create_agent(
        "helper",
        include_base_tools=False,
        tool_ids=[tool.id],
        block_ids=[notes.id],
        identity_ids=[user["id"]],
        memory_blocks=[{"label": "persona", "value": "I help."}],
    )
    return {"letta": letta, "lesson": lesson, "agent": agent, "notes": notes, "user": user, "tool": tool}


@pytest.fixture
def instructor(secure_server):
    url, password = secure_server
    return helpers.wait_for_server(Settings(base_url=url, password=password), check_models=False)


@pytest.fixture
def room(secure_server, instructor):
    """The three attendees after running the mini lesson at the same time, one thread each."""
    with ThreadPoolExecutor(len(ATTENDEES)) as pool:
        done = dict(zip(ATTENDEES, pool.map(lambda name: mini_lesson(*secure_server, name), ATTENDEES), strict=True))
    yield done
    for name in ATTENDEES:
        workshop.cleanup(instructor, name)
    for made in done.values():  # in case a test stopped before its cleanup
        for block in made["agent"].memory.blocks:
            delete_if_present(instructor.blocks.delete, block.id)
    for tool in instructor.tools.list(name=l97_workshop_echo.__name__).items:
        instructor.tools.delete(tool.id)


def _identity_keys(letta) -> set[str]:
    return {i["identifier_key"] for i in letta.get("/v1/identities/", options={"params": {"limit": 500}}, cast_to=object)}


@pytest.mark.stack
def test_each_attendee_sees_only_their_own_agents(room, instructor):
    for name, made in room.items():
        assert [a.id for a in made["lesson"].agents()] == [made["agent"].id]
        agent = instructor.agents.retrieve(made["agent"].id, include=["agent.tags", "agent.identities"])
        assert agent.name == f"{name}--{SLUG}-helper" and made["notes"].label == f"{name}--{SLUG}-notes"
        assert set(agent.tags) == {f"course-lesson:{SLUG}", f"attendee:{name}"}
        assert {i.identifier_key for i in agent.identities} == {f"attendee-{name}", f"{name}--{SLUG}-user"}
    # One tool for everyone: a tool's name is its function's name.
    assert len({made["tool"].id for made in room.values()}) == 1
    # The same lesson run without an attendee (the instructor's demo) does not see the attendees' agents.
    assert Lesson(SLUG, letta=instructor, cfg=Settings()).agents() == []


@pytest.mark.stack
def test_one_attendees_cleanup_leaves_the_others_and_the_shared_tool(room, instructor):
    ana, ben, cleo = (room[name] for name in ATTENDEES)
    removed = ana["lesson"].cleanup()
    # the agent, its two blocks (the named notes, and the persona its deletion would otherwise leave behind)
    assert removed == {"agents": 1, "tools": 0, "blocks": 2, "folders": 0, "identities": 1}
    assert not exists(instructor.agents.retrieve, ana["agent"].id) and not exists(instructor.blocks.retrieve, ana["notes"].id)
    assert not any(exists(instructor.blocks.retrieve, b.id) for b in ana["agent"].memory.blocks)
    for other in (ben, cleo):
        assert [a.id for a in other["lesson"].agents()] == [other["agent"].id]
        assert instructor.blocks.retrieve(other["notes"].id).value.endswith("'s notes")
        assert other["user"]["identifier_key"] in _identity_keys(instructor)
        tools = instructor.agents.retrieve(other["agent"].id, include=["agent.tools"]).tools
        assert [t.name for t in tools] == ["l97_workshop_echo"]
    assert "attendee-test-ana" in _identity_keys(instructor)  # the attendee stays known until the instructor cleans up
    assert workshop.delete_unused_tools(instructor, TEST_TOOL) == 0  # Ben's and Cleo's agents use it


@pytest.mark.stack
def test_the_instructor_lists_and_cleans_up_the_room(room, instructor):
    assert set(ATTENDEES) <= set(workshop.attendees(instructor))
    rows = [row for row in workshop.agents(instructor) if row["attendee"] in ATTENDEES]
    assert sorted((row["attendee"], row["id"], row["lesson"]) for row in rows) == [(n, room[n]["agent"].id, SLUG) for n in ATTENDEES]
    assert all(row["created"] <= row["updated"] for row in rows)
    assert [row["id"] for row in workshop.agents(instructor, "test-ben")] == [room["test-ben"]["agent"].id]

    # One attendee: their agent, its two blocks (persona, notes) and both identities; tools stay.
    removed = workshop.cleanup(instructor, "test-ana")
    assert removed == {"agents": 1, "blocks": 2, "folders": 0, "identities": 2, "tools": 0}
    assert "test-ana" not in workshop.attendees(instructor)
    assert {row["attendee"] for row in workshop.agents(instructor)} >= {"test-ben", "test-cleo"}

    # Everyone: the rest, then the tool no agent uses any more.
    expected_agents = len(workshop.agents(instructor))
    removed = workshop.cleanup(instructor, tools=TEST_TOOL)
    assert removed["agents"] == expected_agents >= 2 and removed["tools"] == 1
    assert workshop.attendees(instructor) == [] and workshop.agents(instructor) == []
    for made in room.values():
        assert not exists(instructor.blocks.retrieve, made["notes"].id)
        assert made["user"]["identifier_key"] not in _identity_keys(instructor)
    assert instructor.tools.list(name="l97_workshop_echo").items == []


@pytest.mark.stack
def test_an_attendee_with_a_wrong_password_gets_the_clear_error(secure_server):
    url, _ = secure_server
    with pytest.raises(helpers.CourseSetupError, match="requires a password and LETTA_SERVER_PASSWORD is wrong"):
        helpers.wait_for_server(Settings(base_url=url, password="not-it", attendee="test-dan"))


@pytest.mark.parametrize("name", ["ana b", "-ana", "ana-", "ana--b", "ana_b", "ana.b", "x" * 33])
def test_an_unusable_attendee_name_is_refused(name):
    with pytest.raises(ValueError, match="COURSE_ATTENDEE=.* is not a usable name"):
        Settings(attendee=name)


def test_attendee_comes_from_the_environment_and_prefixes_names(monkeypatch):
    monkeypatch.setenv("COURSE_ATTENDEE", "team-3")
    cfg = Settings.from_env()
    assert cfg.attendee == "team-3"
    lesson = Lesson("l02-memory", letta=object(), cfg=cfg)
    assert lesson.name("team") == "team-3--l02-memory-team" and lesson.tag == "course-lesson:l02-memory"
    assert lesson.tool_prefix == "l02_memory_"  # tools keep their function names: shared by every attendee
    solo = Lesson("l02-memory", letta=object(), cfg=Settings())
    assert solo.name("team") == "l02-memory-team" and solo.prefix == "l02-memory-"
