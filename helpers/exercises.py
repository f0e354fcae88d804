"""Checks for the lessons' exercises: each runs your answer against the real server and says what is still wrong.

A check returns a `CheckResult` that a notebook shows as `✓ ...` or as `Not yet:` followed by the problems, in
plain words. It never raises because of your answer: an exception in your code becomes one of the problems, so a
lesson with an unsolved exercise still runs to the end. Checks judge from what is stored on the server; only
lessons 06, 07 and 11 need an agent turn, and they make it last, once the cheap checks pass.
"""

from __future__ import annotations

import functools
import inspect
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from letta_client import APIStatusError, ConflictError, Letta, NotFoundError
from letta_client.types.agents import AssistantMessage, ReasoningMessage, ToolCallMessage
from letta_client.types.agents.letta_streaming_response import LettaPing, LettaStopReason, LettaUsageStatistics

from helpers.lesson import Lesson, delete_if_present, exists
from helpers.user_directory import UserDirectory


@dataclass
class CheckResult:
    praise: str  # what a right answer does, shown when there is no problem
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems

    def __repr__(self) -> str:  # what the notebook shows when the check is a cell's last line
        if self.passed:
            return f"✓ {self.praise}"
        return "Not yet:\n" + "\n".join(f"  - {problem}" for problem in self.problems)


class NotYet(Exception):
    """A problem that stops the check, because what it would check next depends on it."""


def _check(praise: str):
    """Turn a generator of problems (plain sentences) into a check that returns a CheckResult."""

    def decorate(problems_of: Callable[..., Iterator[str]]) -> Callable[..., CheckResult]:
        @functools.wraps(problems_of)
        def check(*args, **kwargs) -> CheckResult:
            result = CheckResult(praise)
            try:
                result.problems.extend(problems_of(*args, **kwargs))
            except NotYet as stop:
                result.problems.append(str(stop))
            return result

        return check

    return decorate


def _clip(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _short(value, limit: int = 120) -> str:
    return _clip(repr(value), limit)


def _error(err: Exception) -> str:
    detail = err.body.get("detail") if isinstance(err, APIStatusError) and isinstance(err.body, dict) else None
    return _clip(f"{type(err).__name__}: {detail or err}", 300)


def _argument(value) -> str:
    return "<stream>" if isinstance(value, Iterator) else _short(value, 60)


def _not_a_stub(name: str, function) -> None:
    """Stop at once when the learner's function is still the notebook's stub (checks that must pay for a turn first)."""
    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):  # a partial or a built-in: nothing to read, the call will tell
        return
    if "raise NotImplementedError" in source:
        raise NotYet(f"{name} is not written yet: replace `raise NotImplementedError` with your code.")


def _at_once(calls: list) -> list[BaseException]:
    """Run the calls in threads released together by a barrier; what they raised (a race check reports it in words)."""
    barrier, failures = threading.Barrier(len(calls)), []

    def run(call) -> None:
        barrier.wait()
        try:
            call()
        except BaseException as err:  # noqa: BLE001 (returned to the check)
            failures.append(err)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return failures


def _one_then_the_rest_at_once(name: str, function, agent_id: str, items: dict) -> dict:
    """Call function(agent_id, key, value) for the first item alone, then for the rest at the same moment."""
    (key, value), *rest = items.items()
    results = {key: attempt(name, function, agent_id, key, value)}

    def call(key) -> None:
        results[key] = function(agent_id, key, items[key])

    failures = _at_once([functools.partial(call, key) for key, _ in rest])
    if failures:
        raise NotYet(f"{len(rest)} calls at the same time: one raised {_error(failures[0])}.")
    return results


def attempt(name: str, function, *args, advice: str = "Fix that error, then run the check again"):
    """Run the learner's function; an exception it raises stops the check with an explanation."""
    try:
        return function(*args)
    except NotImplementedError:
        raise NotYet(f"{name} is not written yet: replace `raise NotImplementedError` with your code.") from None
    except Exception as err:
        call = f"{name}({', '.join(_argument(a) for a in args)})"
        raise NotYet(f"{call} raised {_error(err)}. {advice}.") from None


def _block(letta: Letta, agent_id: str, label: str) -> str:
    return letta.agents.blocks.retrieve(label, agent_id=agent_id).value


# 00 · setup


@_check("set_persona writes the persona block on the server")
def check_set_persona(set_persona, *, letta: Letta, agent_id: str):
    current = _block(letta, agent_id, "persona")
    persona = next(p for p in ("I am a cheerful guide who explains with examples.", "I am a calm coach.") if p != current)
    human = _block(letta, agent_id, "human")
    attempt("set_persona", set_persona, agent_id, persona)
    stored = _block(letta, agent_id, "persona")
    if stored == current:
        yield 'the persona block did not change: write it with letta.agents.blocks.update("persona", agent_id=..., value=...).'
    elif stored != persona:
        yield f"the persona block reads {_short(stored)}, not the persona set_persona was given ({persona!r})."
    if _block(letta, agent_id, "human") != human:
        yield "set_persona changed the human block too: change only the persona block."


@_check("tool_share reads the server's context overview: the share of the window's used tokens that are tool schemas")
def check_tool_share(tool_share, *, letta: Letta, agent_id: str):
    overview = letta.get(f"/v1/agents/{agent_id}/context", cast_to=object)
    wanted = overview["num_tokens_functions_definitions"] / overview["context_window_size_current"]
    got = attempt("tool_share", tool_share, agent_id)
    if not isinstance(got, int | float):
        raise NotYet(f"tool_share returned {_short(got)}: return a number between 0 and 1.")
    if got > 1:
        yield f"tool_share returned {got}: return a share between 0 and 1, not a percentage or a token count."
    elif abs(got - wanted) > 0.01:
        yield (
            f"tool_share returned {got:.3f}; the server's overview gives {wanted:.3f}: num_tokens_functions_definitions "
            "divided by context_window_size_current (the tokens in use, not the window's size)."
        )


# 01 · client

MISSING_AGENT = "agent-00000000-0000-4000-8000-000000000000"


@_check("find_agent returns the agent, None for a missing one, and lets other errors through")
def check_find_agent(find_agent, *, letta: Letta, agent_id: str):
    missing = attempt("find_agent", find_agent, MISSING_AGENT, advice="For a missing agent, catch NotFoundError and return None")
    if missing is not None:
        yield f"find_agent returned {_short(missing)} for an agent that does not exist: return None."
    found = attempt("find_agent", find_agent, agent_id)
    if found is None:
        yield "find_agent returned None for an agent that exists: return the agent from letta.agents.retrieve."
    elif getattr(found, "id", None) != agent_id:
        yield f"find_agent returned {_short(found)}: return the agent itself (its .id is {agent_id!r})."
    try:
        swallowed = find_agent("not-an-agent-id")
    except Exception:
        return  # the 422 (or whatever the learner turned it into) reached the caller: right
    yield (
        f"find_agent returned {_short(swallowed)} for 'not-an-agent-id', which the server refused with a 422 error, not 404: "
        "catch only NotFoundError, so that other errors (a malformed id, a server that is down) reach the caller."
    )


@_check("send_once sends a turn exactly once and, when the client gives up, hands back the run the server started")
def check_send_once(send_once, *, letta: Letta, agent_id: str):
    """A 1 s timeout that a turn on any model outlasts: the run must exist once on the server, and be what is returned."""
    before = {r.id for r in letta.runs.list(agent_id=agent_id, limit=50)}
    text = "Please summarise the rules of chess in five sentences."
    try:
        got = attempt("send_once", send_once, agent_id, text, 1.0)
        started = {r.id for r in letta.runs.list(agent_id=agent_id, limit=50)} - before
        if len(started) > 1:
            yield f"the server started {len(started)} turns for one call: the client retried it. Pass max_retries=0 for turns."
        if not started:
            raise NotYet("the server started no turn: send the message with agents.messages.create.")
        if got not in started:
            yield f"send_once returned {_short(got)}: when the client gives up, return the id of the run the server started."
    finally:
        active = [r.id for r in letta.runs.list(agent_id=agent_id, active=True, limit=50)]
        if active:
            letta.agents.messages.cancel(agent_id, run_ids=active)


# 02 · memory


@_check("remember_rating adds the rating to core memory and keeps what was there")
def check_remember_rating(remember_rating, *, letta: Letta, agent_id: str):
    before = _block(letta, agent_id, "human")
    attempt("remember_rating", remember_rating, agent_id, 1450)
    after, wanted = _block(letta, agent_id, "human"), "Rating: 1450"
    if wanted not in after:
        blocks = {b.label: b.value for b in letta.agents.blocks.list(agent_id).items}
        elsewhere = [label for label, value in blocks.items() if wanted in value]
        if elsewhere:
            yield f"{wanted!r} is in the {elsewhere[0]} block: facts about the learner belong in the human block."
        elif any(wanted in p.text for p in letta.agents.passages.list(agent_id)):
            yield f"{wanted!r} went to archival memory, which the agent reads only when it searches: it belongs in the human block."
        else:
            yield f"the human block does not contain {wanted!r} yet (it reads {_short(after)})."
    lost = [line for line in before.splitlines() if line.strip() and line not in after]
    if lost:
        yield f"the human block lost what it said before ({_short(lost[0])}): add the rating to the current value instead of replacing it."


@_check("no line lost: every call added its line, and the block kept what it said")
def check_add_task(add_task, *, letta: Letta, lesson: Lesson, writers: int = 8, rounds: int = 3):
    """Calls add_task from `writers` threads at the same instant, `rounds` times, on a fresh shared block."""
    block = letta.blocks.create(label=lesson.name("stretch-tasks"), value="Tasks:\n")
    try:
        attempt("add_task", add_task, block.id, "- warm-up")  # a plain error is reported as such, not as a race
        failures: list[BaseException] = []
        lines = []
        for r in range(rounds):
            batch = [f"- task {r}.{i}" for i in range(writers)]
            failures += _at_once([functools.partial(add_task, block.id, line) for line in batch])
            lines += batch
        conflicts = [err for err in failures if isinstance(err, ConflictError)]
        if len(conflicts) < len(failures):
            other = next(err for err in failures if not isinstance(err, ConflictError))
            raise NotYet(f"{len(failures)} of {len(lines)} calls at the same time raised {_error(other)}.")
        stored = letta.blocks.retrieve(block.id).value
        if not stored.startswith("Tasks:"):
            yield f"the block lost what it said before ({_short(stored)}): add to the current value instead of replacing it."
        lost = [line for line in ["- warm-up", *lines] if line not in stored.splitlines()]
        if lost:
            refused = f"; the server refused {len(conflicts)} of the writes with 409 ConflictError" if conflicts else ""
            yield (
                f"{len(lost)} of {len(lines) + 1} lines are missing (e.g. {lost[0]!r}): calls at the same time read the same "
                f"value, and the later write replaced the other's{refused}. Let one call at a time read and write the block."
            )
    finally:
        letta.blocks.delete(block.id)


# 03 · custom tools


@_check("your tool counts words on the server, in the sandbox")
def check_word_count_tool(word_count, *, letta: Letta, agent_id: str):
    name = getattr(word_count, "__name__", "your tool")
    for text, words in (("the quick brown fox jumps", 5), ("  one\ttwo\nthree  ", 3)):
        counted = attempt(name, word_count, text)
        if counted != words:
            raise NotYet(
                f"{name}({text!r}) returned {_short(counted)}; that text has {words} words (text.split() splits on any whitespace)."
            )
    try:
        tool = letta.tools.upsert(source_code=inspect.getsource(word_count))
    except APIStatusError as err:
        raise NotYet(
            f"the server cannot register {name} ({_error(err)}): give it type hints and a docstring with an `Args:` section."
        ) from None
    letta.agents.tools.attach(tool.id, agent_id=agent_id)
    run = letta.agents.tools.run(tool.name, agent_id=agent_id, args={"text": "the quick brown fox jumps"})
    if run.status != "success":
        lines = [line for line in "\n".join(run.stderr or [str(run.func_return)]).splitlines() if line.strip()]
        error = lines[-1].strip() if lines else "no error output"
        yield f"{name} works here but fails in the server's sandbox ({error}): put imports and helpers inside the function."
    elif str(run.func_return) != "5":
        yield f"in the sandbox {name} returned {_short(run.func_return)} for five words."


STRETCH_CLUB = "Riverside Chess"  # the agent's secret CLUB_NAME in lesson 03's stretch exercise


@_check("your tool reads the club's name from a secret and writes the visit into the visits block with the injected client")
def check_log_visit(log_visit, *, letta: Letta, lesson: Lesson):
    name = getattr(log_visit, "__name__", "your tool")
    try:
        source = inspect.getsource(log_visit)
    except (OSError, TypeError):
        raise NotYet("pass the function itself (a def in a cell), so that its source can go to the server.") from None
    _not_a_stub(name, log_visit)
    if "Letta(" in source:
        yield f"{name} builds its own Letta(): use the injected `client` (section 7), which needs no URL or key in the source."
    if STRETCH_CLUB in source:
        yield 'the club\'s name is written in the tool: read the secret with os.getenv("CLUB_NAME").'
    try:
        tool = letta.tools.upsert(source_code=source)
    except APIStatusError as err:
        raise NotYet(f"the server cannot register {name} ({_error(err)}): give it type hints and an `Args:` section.") from None
    agent = lesson.create_agent(
        "stretch-visitor",
        include_base_tools=False,
        tool_ids=[tool.id],
        secrets={"CLUB_NAME": STRETCH_CLUB},
        memory_blocks=[{"label": "persona", "value": "I log visits."}, {"label": "visits", "value": "Visits:"}],
    )
    try:
        run = letta.agents.tools.run(tool.name, agent_id=agent.id, args={"note": "Ada played a simul."})
        if run.status != "success":
            lines = [line for line in "\n".join(run.stderr or [str(run.func_return)]).splitlines() if line.strip()]
            raise NotYet(f"{name} failed in the server's sandbox ({lines[-1].strip() if lines else 'no error output'}).")
        value = letta.agents.blocks.retrieve("visits", agent_id=agent.id).value
        wanted = f"{STRETCH_CLUB}: Ada played a simul."
        if wanted not in value:
            yield f"the visits block reads {_short(value)}: it should gain the line {wanted!r}."
        if not value.startswith("Visits:"):
            yield "the visits block lost what it said before: add the line to the current value."
    finally:
        letta.agents.delete(agent.id)
        letta.tools.delete(tool.id)


# 04 · client-side tools


@_check("run_list_files lists the data folder the way the approval loop needs")
def check_run_list_files(run_list_files, *, data_dir: Path):
    result = attempt("run_list_files", run_list_files, "{}")
    if not (isinstance(result, tuple) and len(result) == 2):
        raise NotYet(f"run_list_files returned {_short(result)}: return a pair (tool_return, status), e.g. ('a.txt\\nb.pdf', 'success').")
    listing, status = result
    if status != "success":
        yield f"the status is {status!r}: when the folder can be read it is 'success'."
    if not isinstance(listing, str):
        raise NotYet(f"the tool return is a {type(listing).__name__}: the server takes text, so join the names with newlines.")
    files = {p.name for p in Path(data_dir).iterdir() if p.is_file()}
    lines = {line.strip() for line in listing.splitlines() if line.strip()}
    if files - lines:
        yield f"the listing leaves out {sorted(files - lines)}."
    if lines - files:
        yield f"these lines are not names of files in {Path(data_dir).name}/: {sorted(lines - files)[:3]} (names only, one per line)."


@_check("answers_for answers every pending call: your tools run here, anything else is refused with a reason")
def check_answers_for(answers_for, *, letta: Letta, lesson: Lesson):
    """One turn on a fresh agent whose rule makes the first call a client-side tool; then your answer is sent."""
    _not_a_stub("answers_for", answers_for)  # before the turn: an unsolved exercise costs no model time
    name = f"{lesson.tool_prefix}stretch_list_files"
    docstring = "List the files in the shared folder.\n\n    Returns the file names, one per line.\n    "
    source = f'def {name}() -> str:\n    """{docstring}"""\n    raise RuntimeError("client-side tool")\n'
    tool = letta.tools.upsert(source_code=source, default_requires_approval=True)
    agent = lesson.create_agent(
        "stretch-approver",
        include_base_tools=False,
        tool_ids=[tool.id],
        tool_rules=[{"type": "run_first", "tool_name": name}],
        memory_blocks=[{"label": "persona", "value": "I list the shared files when asked."}],
    )
    try:
        response = letta.agents.messages.create(agent_id=agent.id, messages=[{"role": "user", "content": "Which files are shared?"}])
        requests = [m for m in response.messages if m.message_type == "approval_request_message"]
        if not requests:
            raise NotYet("the agent asked for nothing this time (no approval request); run the check again.")
        refused = attempt("answers_for", answers_for, requests, {})
        approvals = refused.get("approvals", []) if isinstance(refused, dict) else []
        if not (isinstance(refused, dict) and refused.get("type") == "approval" and len(approvals) == len(requests)):
            raise NotYet(f'answers_for returned {_short(refused)}: return {{"type": "approval", "approvals": [one answer per call]}}.')
        if any(a.get("approve") is not False or not a.get("reason") for a in approvals):
            yield 'a call to a tool you do not run must be refused: {"type": "approval", "approve": False, "reason": ...}.'
        listing = "notes.txt\nplan.pdf"
        message = attempt("answers_for", answers_for, requests, {name: lambda arguments: (listing, "success")})
        try:
            letta.agents.messages.create(agent_id=agent.id, messages=[message])
        except APIStatusError as err:
            raise NotYet(f"the server refused your answer ({_error(err)}): one answer per tool_call_id, of type tool.") from None
        returns = [m for m in letta.agents.messages.list(agent.id, limit=50) if m.message_type == "tool_return_message"]
        if not any(str(m.tool_return) == listing and m.status == "success" for m in returns):
            yield f"the server has no successful return {listing!r} for the call: answer it with type tool, tool_return and status."
    finally:
        letta.agents.delete(agent.id)
        letta.tools.delete(tool.id)


# 05 · multi-user


@_check("agent_for_user finds a user's agent, creates one only for a new user, and writes a lost directory row back")
def check_agent_for_user(
    agent_for_user, *, letta: Letta, directory: UserDirectory, new_user: tuple[str, str], existing_user: tuple[str, str]
):
    """Calls it for a user with an agent, twice for a new user, then once more after deleting the new user's row."""
    known = directory.get(existing_user[0])
    again = attempt("agent_for_user", agent_for_user, *existing_user)
    if getattr(again, "id", None) != known.agent_id:
        yield f"for {existing_user[0]!r}, who has an agent, it returned {_short(again)}: look the agent up with find_user_agent first."
    user_id, tag = new_user[0], f"user:{new_user[0]}"
    first = attempt("agent_for_user", agent_for_user, *new_user)
    if getattr(first, "id", None) is None:
        raise NotYet(f"for a new user agent_for_user returned {_short(first)}: create the agent with create_agent_for_user.")
    second = attempt("agent_for_user", agent_for_user, *new_user)
    if getattr(second, "id", None) != first.id:
        yield f"a second call for {user_id!r} returned {_short(getattr(second, 'id', second))}, not the same agent: find before creating."
    else:
        directory.forget(user_id)  # a lost row, as after a rebuilt directory: the tag still finds the agent
        third = attempt("agent_for_user", agent_for_user, *new_user)
        if getattr(third, "id", None) != first.id:
            got = _short(getattr(third, "id", third))
            yield f"with {user_id!r}'s directory row gone it returned {got}: find_user_agent still finds the agent by its tag."
    count = len(letta.agents.list(tags=[tag], limit=10).items)
    if count != 1:
        yield f"{count} agents carry the tag {tag!r}: there should be exactly one."
    record = directory.get(user_id)
    if record is None:
        yield (
            f"the directory has no row for {user_id!r}: when find_user_agent finds the agent by its tag alone, "
            "write the row back with directory.save(user_id, agent.id)."
        )
    elif record.agent_id != first.id:
        yield f"the directory links {user_id!r} to {record.agent_id}, not to its first agent {first.id}."


@_check("forget_user removes the user's agent, its memory and its directory row, and leaves everyone else alone")
def check_forget_user(forget_user, *, letta: Letta, lesson: Lesson, directory: UserDirectory):
    """Two users with an agent each (tagged, with a human block and a row in the directory); forgets one of them."""
    users, ada_id, ben_id = {}, lesson.name("stretch-ada"), lesson.name("stretch-ben")  # unique per attendee too
    for user_id, fact in ((ada_id, "Name: Ada. Allergic to hazelnuts."), (ben_id, "Name: Ben. Plays on Tuesdays.")):
        agent = lesson.create_agent(
            f"{user_id.rsplit('-', 1)[-1]}-stretch-agent",
            include_base_tools=False,
            tags=[*lesson.tags, f"user:{user_id}"],
            memory_blocks=[{"label": "persona", "value": "I help one user."}, {"label": "human", "value": fact}],
        )
        directory.save(user_id, agent.id)
        users[user_id] = (agent, [b.id for b in letta.agents.blocks.list(agent.id).items])
    try:
        attempt("forget_user", forget_user, ada_id)
        ada_blocks, ben = users[ada_id][1], users[ben_id][0]
        if letta.agents.list(tags=[f"user:{ada_id}"], limit=5).items:
            yield f"an agent tagged user:{ada_id} is still on the server: delete the user's agent."
        kept = [b for b in ada_blocks if exists(letta.blocks.retrieve, b)]
        if kept:
            yield (
                f"{len(kept)} of the agent's memory blocks are still in the database (what it knew about the user): deleting "
                "an agent leaves its blocks, so delete them too (list them before you delete the agent)."
            )
        if directory.get(ada_id) is not None:
            yield f"the directory still has a row for {ada_id}: directory.forget(user_id)."
        if not exists(letta.agents.retrieve, ben.id) or directory.get(ben_id) is None:
            yield f"{ben_id}'s agent or row is gone too: forget only the user you were asked to."
    finally:
        for user_id, (agent, blocks) in users.items():
            delete_if_present(letta.agents.delete, agent.id)
            for block_id in blocks:
                delete_if_present(letta.blocks.delete, block_id)
            directory.forget(user_id)


# 06 · streaming


def _sample_stream() -> list:
    """A token stream as the server sends it: two assistant messages (the first in two pieces) among other chunks."""
    when = "2026-01-01T00:00:00Z"

    def piece(message_id: str, text: str) -> AssistantMessage:
        return AssistantMessage(id=message_id, date=when, message_type="assistant_message", content=text)

    return [
        LettaPing(id="ping-1", date=when, message_type="ping"),
        ReasoningMessage(id="m-0", date=when, message_type="reasoning_message", reasoning="The user greets me."),
        piece("m-1", "Hello "),
        LettaPing(id="ping-2", date=when, message_type="ping"),
        piece("m-1", "there."),
        ToolCallMessage.model_validate(
            {
                "id": "m-2",
                "date": when,
                "message_type": "tool_call_message",
                "tool_call": {"name": "t", "arguments": "{}", "tool_call_id": "c"},
            }
        ),
        piece("m-3", "Bye."),
        LettaStopReason(stop_reason="end_turn", message_type="stop_reason"),
        LettaUsageStatistics(message_type="usage_statistics", step_count=2),
    ]


@_check("collect_answer returns exactly the answer the server stored")
def check_collect_answer(collect_answer, *, letta: Letta, agent_id: str):
    expected = "Hello there.\n\nBye."
    got = attempt("collect_answer", collect_answer, iter(_sample_stream()))  # iter(): a stream can be read only once
    if got != expected:
        hint = "return the text as one string"
        if isinstance(got, str) and "greets" in got:
            hint = "keep only assistant_message chunks (that text is reasoning)"
        elif got == "Hello there.Bye.":
            hint = "join different messages (different id) with a blank line, '\\n\\n'"
        elif isinstance(got, str) and "Hello \n\nthere." in got:
            hint = "pieces with the same id are one message: join them with nothing between"
        raise NotYet(f"for a sample token stream whose answer is {expected!r}, collect_answer returned {_short(got)}: {hint}.")
    seen: list = []

    def recorded(stream):  # passes the live stream through, keeping the chunks to compare with the server
        for chunk in stream:
            seen.append(chunk)
            yield chunk

    live = recorded(
        letta.agents.messages.create(
            agent_id=agent_id, messages=[{"role": "user", "content": "Say hi."}], streaming=True, stream_tokens=True, include_pings=True
        )
    )
    got = attempt("collect_answer", collect_answer, live)
    for _ in live:  # finish the turn even if collect_answer stopped reading early
        pass
    run_id = next((c.run_id for c in seen if getattr(c, "run_id", None)), None)
    stored = "\n\n".join(m.content for m in letta.runs.messages.list(run_id).items if m.message_type == "assistant_message")
    if got != stored:
        yield f"on a live token stream collect_answer returned {_short(got)}, but the server stored the answer {_short(stored)}."


@_check("finish_answer picks the dropped run up where it stopped: the whole answer, every piece once")
def check_finish_answer(finish_answer, *, letta: Letta, agent_id: str):
    """Drops a background stream after three pieces of the answer (one agent turn), then hands over what arrived."""
    _not_a_stub("finish_answer", finish_answer)  # before the turn: an unsolved exercise costs no model time
    stream = letta.agents.messages.create(
        agent_id=agent_id,
        messages=[{"role": "user", "content": "Count from one to ten in words, separated by commas."}],
        streaming=True,
        stream_tokens=True,
        background=True,
    )
    before = []
    for chunk in stream:
        before.append(chunk)
        if sum(c.message_type == "assistant_message" for c in before) == 3:
            break
    stream.close()  # the dropped connection: the run goes on
    run_id = next(c.run_id for c in before if getattr(c, "run_id", None))
    got = attempt("finish_answer", finish_answer, list(before))
    for _ in range(120):  # the stored answer, once the run is over
        if letta.runs.retrieve(run_id).status not in ("created", "running"):
            break
        time.sleep(1)
    stored = "".join(m.content for m in letta.runs.messages.list(run_id).items if m.message_type == "assistant_message")
    seen = "".join(c.content or "" for c in before if c.message_type == "assistant_message")
    if not isinstance(got, str):
        raise NotYet(f"finish_answer returned {_short(got)}: return the answer's text.")
    if got == stored:
        return
    if stored.startswith(got) or (seen and not got.startswith(seen)):
        yield f"it returned {_short(got)}, not the whole answer {_short(stored)}: put the pieces you already had before the rest."
    elif len(got) > len(stored):
        yield (
            f"it returned {_short(got)}, longer than the answer {_short(stored)}: some pieces came twice. "
            "Resume with starting_after= the last seq_id you saw."
        )
    else:
        yield f"it returned {_short(got)}; the run's answer is {_short(stored)}."


# 07 · conversations


def _texts(letta: Letta, conversation_id: str, message_type: str) -> list[str]:
    messages = letta.conversations.messages.list(conversation_id, order="asc", limit=100).items
    return [m.content for m in messages if m.message_type == message_type]


@_check("open_and_ask opens a new conversation and returns its answer")
def check_open_and_ask(open_and_ask, *, letta: Letta, agent_id: str):
    before = {c.id for c in letta.conversations.list(agent_id=agent_id)}
    question = "What is 2 + 2?"
    result = attempt("open_and_ask", open_and_ask, question)  # the agent turn, if the answer is written
    if not (isinstance(result, tuple) and len(result) == 2):
        raise NotYet(f"open_and_ask returned {_short(result)}: return a pair (conversation_id, answer).")
    conversation_id, answer = result
    if conversation_id not in {c.id for c in letta.conversations.list(agent_id=agent_id)}:
        raise NotYet(
            f"{_short(conversation_id)} is not a conversation of this agent: open one with letta.conversations.create(agent_id=...)."
        )
    if conversation_id in before:
        yield "open_and_ask sent into a conversation that already existed: start a new one on every call."
    asked = _texts(letta, conversation_id, "user_message")
    if asked != [question]:
        yield f"the conversation holds the user messages {_short(asked)}; it should hold exactly your one question."
    stored = _texts(letta, conversation_id, "assistant_message")
    if not isinstance(answer, str) or not answer:
        yield f"the answer is {_short(answer)}: return the text of the assistant_message chunks."
    elif not stored or not all(text in answer for text in stored):
        yield f"the answer {_short(answer)} is not what the server stored for the conversation ({_short(stored)})."


@_check("each ticket has its own conversation, and the shared open_tickets block lists every ticket")
def check_open_ticket_thread(open_ticket_thread, *, letta: Letta, lesson: Lesson):
    """Opens three tickets at the same moment (threads) on a fresh agent; reads the conversations and the block back."""
    agent = lesson.create_agent(
        "stretch-tickets",
        include_base_tools=False,
        memory_blocks=[{"label": "persona", "value": "I handle tickets."}, {"label": "open_tickets", "value": "Open tickets:"}],
    )
    try:
        tickets = {"T-1": "printer jams", "T-2": "login fails", "T-3": "invoice missing"}
        results = _one_then_the_rest_at_once("open_ticket_thread", open_ticket_thread, agent.id, tickets)
        for ticket_id, conversation_id in results.items():
            if not isinstance(conversation_id, str):
                raise NotYet(f"for {ticket_id} it returned {_short(conversation_id)}: return the new conversation's id.")
            try:
                conversation = letta.conversations.retrieve(conversation_id)
            except APIStatusError:
                raise NotYet(f"the server has no conversation {conversation_id!r} (for {ticket_id}).") from None
            if conversation.agent_id != agent.id:
                yield f"the conversation for {ticket_id} belongs to another agent."
            if ticket_id not in (conversation.summary or ""):
                yield f"the conversation for {ticket_id} has the summary {_short(conversation.summary)}: name the ticket in it."
        if len(set(results.values())) < len(results):
            yield "two tickets share one conversation: create one per ticket."
        value = _block(letta, agent.id, "open_tickets")
        if not value.startswith("Open tickets:"):
            yield f"the open_tickets block lost what it said before ({_short(value)}): add to the current value."
        missing = [t for t in tickets if t not in value]
        if missing:
            yield (
                f"the open_tickets block does not list {', '.join(missing)} (it reads {_short(value)}): "
                "two calls at once wrote the block over each other, or the line was never added. One writer at a time (lesson 02)."
            )
    finally:
        letta.agents.delete(agent.id)


# 08 · sleeptime


@_check("sleeptime_agent_of finds the sleeptime partner, and None when there is none")
def check_sleeptime_agent_of(sleeptime_agent_of, *, letta: Letta, with_sleeptime: str, without_sleeptime: str):
    group = letta.agents.retrieve(with_sleeptime, include=["agent.managed_group"]).managed_group
    partners = [a for a in group.agent_ids if letta.agents.retrieve(a).agent_type == "sleeptime_agent"]
    got = attempt("sleeptime_agent_of", sleeptime_agent_of, with_sleeptime)
    if got is None:
        yield 'for an agent with sleeptime it returned None: read managed_group, which is filled only with include=["agent.managed_group"].'
    elif got == with_sleeptime:
        yield "it returned the agent's own id: return its partner's, from managed_group.agent_ids."
    elif got == group.id:
        yield "it returned the group's id: return the sleeptime agent's id, from managed_group.agent_ids."
    elif got not in partners:
        yield f"it returned {_short(got)}, not the id of the sleeptime agent ({partners[0]})."
    none = attempt("sleeptime_agent_of", sleeptime_agent_of, without_sleeptime)
    if none is not None:
        yield f"for an agent without sleeptime it returned {_short(none)}: return None when managed_group is None."


@_check("the agent has a sleeptime partner that runs every few turns, as asked")
def check_sleeptime_every(sleeptime_every, *, letta: Letta, lesson: Lesson):
    """Gives a fresh agent without sleeptime to the learner's function, then reads its group from the server."""
    agent = lesson.create_agent("stretch-sleeper", include_base_tools=False, memory_blocks=[{"label": "human", "value": "(nothing yet)"}])
    try:
        partner = attempt("sleeptime_every", sleeptime_every, agent.id, 3)
        group = letta.agents.retrieve(agent.id, include=["agent.managed_group"]).managed_group
        if group is None:
            raise NotYet("the agent still has no sleeptime partner: agents.update(agent_id, enable_sleeptime=True).")
        if group.sleeptime_agent_frequency != 3:
            yield (
                f"its partner runs every {group.sleeptime_agent_frequency} turns, not 3: PATCH the group's manager_config "
                "(letta.patch, as in section 2)."
            )
        if partner not in group.agent_ids:
            yield f"it returned {_short(partner)}: return the sleeptime agent's id, from managed_group.agent_ids."
    finally:
        group = letta.agents.retrieve(agent.id, include=["agent.managed_group"]).managed_group
        for agent_id in [agent.id, *(group.agent_ids if group else [])]:
            delete_if_present(letta.agents.delete, agent_id)


# 09 · agent files


def _passages_with_metadata(letta: Letta, agent_id: str) -> list[tuple]:
    return sorted((p.text, sorted(p.tags or []), p.created_at) for p in letta.agents.passages.list(agent_id))


@_check("clone_agent copies the agent: name, blocks, tools and passages (with their tags and dates)")
def check_clone_agent(clone_agent, *, letta: Letta, agent_id: str, new_name: str):
    clone_id = attempt("clone_agent", clone_agent, agent_id, new_name)
    if not isinstance(clone_id, str) or clone_id == agent_id:
        raise NotYet(f"clone_agent returned {_short(clone_id)}: return the new agent's id, from import_file(...).agent_ids[0].")
    try:
        clone = letta.agents.retrieve(clone_id, include=["agent.tools"])
    except (NotFoundError, APIStatusError):
        raise NotYet(f"the server has no agent {clone_id!r}: return the id import_file gave the new agent.") from None
    original = letta.agents.retrieve(agent_id, include=["agent.tools"])
    if clone.name != new_name:
        yield f"the clone is named {clone.name!r}, not {new_name!r}: pass name= to import_file."
    blocks = [{b.label: b.value for b in letta.agents.blocks.list(a).items} for a in (agent_id, clone_id)]
    if blocks[0] != blocks[1]:
        yield "the clone's memory blocks differ from the original's: import the exported file as it is."
    if {t.name for t in clone.tools} != {t.name for t in original.tools}:
        yield f"the clone has the tools {sorted(t.name for t in clone.tools)}, the original {sorted(t.name for t in original.tools)}."
    copied_all, wanted_all = _passages_with_metadata(letta, clone_id), _passages_with_metadata(letta, agent_id)
    copied, wanted = sorted(p[0] for p in copied_all), sorted(p[0] for p in wanted_all)
    if copied != wanted:
        missing = "has no archival passages" if not copied else f"has the passages {_short(copied)}"
        yield f"the clone {missing}; the original has {_short(wanted)}: the .af file has none, copy them (passages.list, .create)."
    elif copied_all != wanted_all:
        yield "the clone's passages lost their tags or dates: pass tags= and created_at= from each passage to passages.create."


@_check("share_agent writes a file another server can import: no history, no secret's value, a blank human block")
def check_share_agent(share_agent, *, letta: Letta, lesson: Lesson, folder: Path):
    """Shares a fresh agent that has a secret, a history and a human block; reads the file, then imports it back."""
    agent = lesson.create_agent(
        "stretch-shared",
        include_base_tools=False,
        secrets={"CLUB_API_TOKEN": "stretch-s3cret"},
        memory_blocks=[{"label": "persona", "value": "I am shared."}, {"label": "human", "value": "Name: Ada."}],
    )
    try:
        path = attempt("share_agent", share_agent, agent.id, folder / "shared.af")
        path = Path(path) if isinstance(path, str | Path) else None
        if path is None or not path.is_file():
            raise NotYet(f"share_agent returned {_short(path)}: write the file and return its path.")
        text = path.read_text()
        try:
            document = json.loads(text)
        except json.JSONDecodeError:
            raise NotYet(f"{path.name} is not JSON: write the text agents.export_file returns, as it is.") from None
        exported = (document.get("agents") or [{}])[0]
        if exported.get("messages"):
            yield f"the file carries {len(exported['messages'])} messages of the agent's history: export with scrub_messages=True."
        if "stretch-s3cret" in text:
            yield "the secret's value is in the file."
        humans = [b.get("value") for b in document.get("blocks") or [] if b.get("label") == "human"]
        still_said = [value for value in humans if value]
        if not humans:
            yield 'the file has no human block: keep it, with the value "", so the copy can learn about its new user.'
        elif still_said:
            yield f'the human block still says {_short(still_said[0])}: set its value to "" in the JSON before you write the file.'
        try:
            with path.open("rb") as f:
                imported = letta.agents.import_file(file=(path.name, f, "application/json"), name=lesson.name("stretch-import"))
        except APIStatusError as err:
            raise NotYet(f"the server cannot import {path.name} ({_error(err)}).") from None
        for agent_id in imported.agent_ids:
            delete_if_present(letta.agents.delete, agent_id)
    finally:
        delete_if_present(letta.agents.delete, agent.id)


# 10 · tool rules


@_check("the server holds your three rules: check_stock first, then only place_order, which ends the turn")
def check_order_rules(order_rules, *, lesson: Lesson, check_stock, place_order):
    first, then = check_stock.name, place_order.name
    if not order_rules:
        raise NotYet("order_rules is empty: it needs an InitToolRule, a ChildToolRule and a TerminalToolRule.")
    try:
        agent = lesson.create_agent(
            "rules-check", include_base_tools=False, tool_ids=[check_stock.id, place_order.id], tool_rules=list(order_rules)
        )
    except Exception as err:  # the learner's rules: a 422 from the server, or a value the SDK cannot send
        raise NotYet(
            f'the server refused these rules ({_error(err)}): give each rule its type=, e.g. InitToolRule(type="run_first", ...).'
        ) from None
    try:
        rules = lesson.letta.agents.retrieve(agent.id).tool_rules or []
    finally:
        lesson.letta.agents.delete(agent.id)
    if not any(r.type == "run_first" and r.tool_name == first for r in rules):
        yield f'nothing makes the turn start with {first}: InitToolRule(type="run_first", tool_name=...).'
    children = [tuple(r.children) for r in rules if r.type == "constrain_child_tools" and r.tool_name == first]
    if not children:
        yield f'nothing limits what may follow {first}: ChildToolRule(type="constrain_child_tools", tool_name=..., children=[...]).'
    elif children[0] != (then,):
        yield f"after {first} your rule allows {list(children[0])}: only {then} may follow."
    if not any(r.type == "exit_loop" and r.tool_name == then for r in rules):
        yield f'{then} does not end the turn: TerminalToolRule(type="exit_loop", tool_name=...).'


def _stretch_tool(lesson: Lesson, step: str, doc: str):
    name = f"{lesson.tool_prefix}stretch_{step}"
    source = (
        f'def {name}(plan: str) -> str:\n    """{doc}\n\n    Args:\n        plan: The plan, in one sentence.\n    """\n    return "ok"\n'
    )
    return lesson.letta.tools.upsert(source_code=source)


@_check("the workflow can only go propose, confirm, execute, and a person approves the execution")
def check_workflow_rules(workflow_rules, *, lesson: Lesson):
    propose, confirm, execute = (
        _stretch_tool(lesson, step, doc)
        for step, doc in (
            ("propose", "Propose a plan."),
            ("confirm", "Ask the user to confirm the plan."),
            ("execute", "Carry out the plan."),
        )
    )
    rules = attempt("workflow_rules", workflow_rules, propose.name, confirm.name, execute.name)
    if not rules:
        raise NotYet("workflow_rules returned no rules.")
    try:
        agent = lesson.create_agent(
            "stretch-workflow", include_base_tools=False, tool_ids=[propose.id, confirm.id, execute.id], tool_rules=list(rules)
        )
    except Exception as err:  # the learner's rules: a 422 from the server, or a value the SDK cannot send
        raise NotYet(f"the server refused these rules ({_error(err)}): give each rule its type=.") from None
    try:
        stored = lesson.letta.agents.retrieve(agent.id).tool_rules or []
    finally:
        lesson.letta.agents.delete(agent.id)
        for tool in (propose, confirm, execute):
            lesson.letta.tools.delete(tool.id)
    children = {r.tool_name: list(r.children) for r in stored if r.type == "constrain_child_tools"}
    if not any(r.type == "run_first" and r.tool_name == propose.name for r in stored):
        yield "the turn does not have to start with the proposal: an InitToolRule for it."
    if children.get(propose.name) != [confirm.name]:
        yield f"after the proposal, {children.get(propose.name, 'any tool')} may follow: only the confirmation should."
    if children.get(confirm.name) != [execute.name]:
        yield f"after the confirmation, {children.get(confirm.name, 'any tool')} may follow: only the execution should."
    if not any(r.type == "exit_loop" and r.tool_name == execute.name for r in stored):
        yield "the execution does not end the turn: a TerminalToolRule for it."
    if not any(r.type == "requires_approval" and r.tool_name == execute.name for r in stored):
        yield "nobody approves the execution: a RequiresApprovalToolRule for it (lesson 04's approvals)."


# 11 · capstone


@_check("open_ticket gives a new member a conversation and returns the desk's answer")
def check_open_ticket(open_ticket, *, letta: Letta, directory: UserDirectory, agent_id: str, member: str):
    directory.forget(member)  # the member is new, even when the check runs again
    question = "When is the club room open?"
    answer = attempt("open_ticket", open_ticket, member, question)  # the agent turn, if the answer is written
    record = directory.get(member)
    if record is None or not record.conversation_id:
        raise NotYet(
            f"the directory has no conversation for {member!r}: create one, then directory.save(member, agent_id, conversation_id)."
        )
    if record.conversation_id not in {c.id for c in letta.conversations.list(agent_id=agent_id)}:
        raise NotYet(f"the directory points to {record.conversation_id!r}, which is not a conversation of the desk agent.")
    asked = _texts(letta, record.conversation_id, "user_message")
    if asked != [question]:
        yield f"the member's conversation holds the user messages {_short(asked)}; it should hold exactly their one question."
    stored = _texts(letta, record.conversation_id, "assistant_message")
    if not isinstance(answer, str) or (stored and not answer):  # no stored answer: the model ended its turn without text
        yield f"open_ticket returned {_short(answer)}: return the assistant's answer as one string."
    elif answer and not (stored and all(text in answer for text in stored)):
        yield f"open_ticket returned {_short(answer)}, but the desk's stored answer is {_short(stored)}."


@_check("close_ticket logs each ticket once, keeps the log's earlier lines, and files it in archival memory")
def check_close_ticket(close_ticket, *, letta: Letta, lesson: Lesson):
    """Closes three tickets on a fresh agent, two of them at the same moment; reads the block and passages back."""
    agent = lesson.create_agent(
        "stretch-close",
        include_base_tools=False,
        memory_blocks=[
            {"label": "persona", "value": "I am a help desk."},
            {"label": "ticket_log", "value": "(no tickets yet)", "read_only": True},
        ],
    )
    try:
        tickets = {"M-1": "card expired, renewed", "M-2": "charged twice, refunded 40 EUR", "M-3": "locker key lost"}
        results = _one_then_the_rest_at_once("close_ticket", close_ticket, agent.id, tickets)
        block = letta.agents.blocks.retrieve("ticket_log", agent_id=agent.id)
        if not block.read_only:
            yield "the ticket_log block is no longer read-only: your code may write it (blocks.update), the agent may not."
        lines = block.value.splitlines()
        if "(no tickets yet)" in lines:
            yield "the ticket_log block still says '(no tickets yet)': replace the placeholder with the first ticket."
        wanted = [f"{m}: {s}" for m, s in tickets.items()]
        missing = [line for line in wanted if line not in lines]
        if missing:
            yield (
                f"the ticket_log block lacks {_short(missing)} (it reads {_short(block.value, 200)}): add one line per ticket to the "
                "current value; two calls at once must not write the block over each other (lesson 02: one writer at a time)."
            )
        elif len(lines) != len(wanted):
            yield f"the ticket_log block has {len(lines)} lines for {len(wanted)} tickets: one line per ticket."
        passages = {p.id: p for p in letta.agents.passages.list(agent.id)}
        for member_id, passage_id in results.items():
            passage = passages.get(passage_id) if isinstance(passage_id, str) else None
            if passage is None:
                yield f"for {member_id} it returned {_short(passage_id)}, not the id of one of the agent's passages."
            elif tickets[member_id] not in passage.text:
                yield f"the passage for {member_id} reads {_short(passage.text)}: put the ticket's summary in it."
            elif not {member_id, "closed"} <= set(passage.tags or []):
                yield f"the passage for {member_id} has the tags {passage.tags}: tag it with the member's id and 'closed'."
    finally:
        letta.agents.delete(agent.id)
