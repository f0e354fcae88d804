"""The local model service's prompt rendering, grammar, parsing and loop guard (pure functions)."""

import json

import pytest

from stack.local_model import chat_templates as ct
from stack.local_model import letta_prompt as lp
from stack.local_model import prompt_parts as pp
from stack.local_model import tool_calls as tc
from stack.local_model.slots import Marks, SlotTable, thread_of

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
MEMORY_INSERT = {
    "type": "function",
    "function": {
        "name": "memory_insert",
        "parameters": {
            "type": "object",
            "properties": {"label": {"type": "string"}, "new_string": {"type": "string"}},
            "required": ["label", "new_string"],
        },
    },
}
SYSTEM = (
    "<base_instructions>Be helpful.</base_instructions>\n\n<memory_blocks>\nThe following memory blocks...\n\n"
    "<human>\n<description>\nAbout the user.\n</description>\n<value>\nAda\n</value>\n</human>\n\n"
    "<persona>\n<metadata>\n- chars_current=3\n</metadata>\n<value>\nBot\n</value>\n</persona>\n\n</memory_blocks>\n\n"
    "<memory_metadata>\n- 0 previous messages\n</memory_metadata>"
)


def test_split_system_keeps_static_instructions_first():
    static, dynamic = lp.split_system(SYSTEM)
    assert static == "<base_instructions>Be helpful.</base_instructions>"
    assert dynamic.startswith("<memory_blocks>") and dynamic.endswith("</memory_metadata>")


def test_prompt_puts_tools_between_instructions_and_memory():
    prompt = ct.QWEN25.render([{"role": "system", "content": SYSTEM}, {"role": "user", "content": "hi"}], [WEATHER])
    assert prompt.index("Be helpful.") < prompt.index('"get_weather"') < prompt.index("<memory_blocks>")
    assert prompt.endswith("<|im_start|>assistant\n")


def test_a_memory_edit_leaves_the_prefix_unchanged():
    before = ct.QWEN25.render([{"role": "system", "content": SYSTEM}], [WEATHER])
    after = ct.QWEN25.render([{"role": "system", "content": SYSTEM.replace("Ada", "Ada Lovelace")}], [WEATHER])
    first_difference = next(i for i, (a, b) in enumerate(zip(before, after, strict=False)) if a != b)
    assert first_difference > before.index("</tools>")  # llama.cpp reuses its cache up to here


def test_history_renders_tool_calls_and_results():
    messages = [
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "1", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}],
        },
        {"role": "tool", "tool_call_id": "1", "content": "rain"},
    ]
    prompt = ct.QWEN25.render(messages, [WEATHER])
    assert '{"name": "get_weather", "arguments": {"city": "Oslo"}}' in prompt
    assert "<tool_response>\nrain\n</tool_response>" in prompt


def test_content_parts_are_joined():
    assert lp.content_text([{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]) == "ab"


CALL = ("get_weather", '{"city": "Oslo"}')


def test_auto_allows_text_or_a_call():
    decision = tc.decide([WEATHER], "auto", [])
    grammar = tc.grammar_for(decision)
    assert decision.allow_text and "start: call | TEXT" in grammar and '"const": "get_weather"' in grammar


def test_required_and_named_choice_force_a_call():
    assert not tc.decide([WEATHER, MEMORY_INSERT], "required", []).allow_text
    named = tc.decide([WEATHER, MEMORY_INSERT], {"type": "function", "function": {"name": "memory_insert"}}, [])
    assert not named.allow_text and [t["function"]["name"] for t in named.tools] == ["memory_insert"]
    assert "start: call\n" in tc.grammar_for(named)


def test_no_tools_or_none_means_unconstrained_text():
    assert tc.grammar_for(tc.decide([], "auto", [])) is None
    assert tc.grammar_for(tc.decide([WEATHER], "none", [])) is None


def test_call_budget_forces_text_but_chains_below_it_are_allowed():
    assert tc.decide([WEATHER], "auto", [CALL] * 3).constrained  # a three-tool pipeline is fine
    assert not tc.decide([WEATHER], "auto", [CALL] * tc.MAX_TOOL_CALLS_PER_TURN).constrained


def test_memory_tool_labels_are_limited_to_real_blocks():
    labels = lp.memory_labels([{"role": "system", "content": SYSTEM}])
    assert labels == ["human", "persona"]
    grammar = tc.grammar_for(tc.decide([MEMORY_INSERT, WEATHER], "auto", [], labels))
    schema = json.loads(grammar.split("%json ", 1)[1].splitlines()[0])
    inserts = [s for s in schema["anyOf"] if s["properties"]["name"]["const"] == "memory_insert"]
    assert sorted(label for s in inserts for label in s["properties"]["arguments"]["properties"]["label"]["enum"]) == ["human", "persona"]
    weather = next(s for s in schema["anyOf"] if s["properties"]["name"]["const"] == "get_weather")
    assert "enum" not in weather["properties"]["arguments"]["properties"]["city"]


def test_parse_output_text_and_call():
    assert tc.parse_output("  Hello there ").content == "Hello there"
    reply = tc.parse_output('{"name": "get_weather", "arguments": {"city": "Oslo"}}')
    assert reply.tool_call == {"name": "get_weather", "arguments": {"city": "Oslo"}}
    calls = reply.openai_tool_calls()
    assert calls[0]["function"]["name"] == "get_weather" and json.loads(calls[0]["function"]["arguments"]) == {"city": "Oslo"}


def test_loop_guard_sees_repeats_since_the_last_real_user_message():
    call = {"function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}
    heartbeat = lp.AUTOMATED_USER_PREFIX + " Function call failed, returning control"
    messages = [
        {"role": "user", "content": "weather in Oslo?"},
        {"role": "assistant", "tool_calls": [call]},
        {"role": "tool", "content": "error"},
        {"role": "user", "content": json.dumps({"type": "heartbeat", "reason": heartbeat})},
    ]
    previous = lp.calls_since_last_user(messages)
    assert previous == [("get_weather", '{"city": "Oslo"}')]
    assert tc.is_repeat(tc.parse_output('{"name": "get_weather", "arguments": {"city": "Oslo"}}'), previous)
    assert not tc.is_repeat(tc.parse_output('{"name": "get_weather", "arguments": {"city": "Rome"}}'), previous)
    # a new question from the user starts a new turn: asking again is not a loop
    assert lp.calls_since_last_user([*messages, {"role": "user", "content": "and again?"}]) == []


def _system_with(blocks: dict[str, str]) -> dict:
    body = "".join(
        f"<{label}>\n<description>\nA block.\n</description>\n<metadata>\n- chars_current={len(value)}\n</metadata>\n"
        f"<value>\n{value}\n</value>\n</{label}>\n\n"
        for label, value in blocks.items()
    )
    return {"role": "system", "content": f"Base.\n<memory_blocks>\nThe following memory blocks:\n\n{body}</memory_blocks>\n"}


def test_memory_values_are_read_from_the_system_prompt():
    messages = [_system_with({"human": "Name: Ada\nLikes: teal", "persona": "I am brief."})]
    assert lp.memory_values(messages) == {"human": "Name: Ada\nLikes: teal", "persona": "I am brief."}
    assert lp.memory_values([{"role": "user", "content": "hi"}]) == {}
    # within a turn the system prompt is stale: a memory tool's return carries the block's new value
    call = {"id": "call_1", "function": {"name": "memory_insert", "arguments": '{"label": "human", "new_string": "Plays chess"}'}}
    result = json.dumps({"status": "OK", "message": "Name: Ada\nLikes: teal\nPlays chess"})
    turn = [*messages, {"role": "user", "content": "remember chess"}, {"role": "assistant", "tool_calls": [call]}]
    assert lp.memory_values([*turn, {"role": "tool", "tool_call_id": "call_1", "content": result}])["human"].endswith("Plays chess")


def test_a_memory_write_that_adds_nothing_after_a_call_is_a_loop():
    memory = {"human": "Facts:\nFacts:\nFavourite colour: teal"}
    earlier = [("memory_insert", '{"label": "human", "new_string": "Facts:\\nFavourite colour: teal"}')]
    again = tc.parse_output('{"name": "memory_insert", "arguments": {"label": "human", "new_string": "Favourite colour: teal"}}')
    fresh = tc.parse_output('{"name": "memory_insert", "arguments": {"label": "human", "new_string": "Plays chess"}}')
    assert tc.is_repeat(again, earlier, memory)
    assert not tc.is_repeat(fresh, earlier, memory)
    # the first write of a turn is never judged: the text may be in the block because the user said it before
    assert not tc.is_repeat(again, [], memory)
    # a replace that would still change the block is real work; one whose result is already there is not
    replace = '{{"name": "memory_replace", "arguments": {{"label": "human", "old_string": "{old}", "new_string": "{new}"}}}}'
    assert not tc.is_repeat(tc.parse_output(replace.format(old="teal", new="navy")), earlier, memory)
    assert tc.is_repeat(tc.parse_output(replace.format(old="green", new="teal")), earlier, memory)


def test_a_loop_where_a_call_is_required_steers_to_tools_not_used_yet():
    finish = {"type": "function", "function": {"name": "memory_finish_edits", "parameters": {"type": "object", "properties": {}}}}
    rethink = ("memory_insert", '{"label": "human", "new_string": "x"}')
    # a sleeptime agent's loop: tool_choice "required", no text allowed; at the budget only unused tools remain
    spent = tc.decide([MEMORY_INSERT, finish], "required", [rethink] * tc.MAX_TOOL_CALLS_PER_TURN)
    assert not spent.allow_text and spent.tool_names == {"memory_finish_edits"}
    # below the budget every tool stays offered; the guard narrows only after a repeated call
    below = tc.decide([MEMORY_INSERT, finish], "required", [rethink])
    assert below.tool_names == {"memory_insert", "memory_finish_edits"}
    assert tc.steer_away(below, {"memory_insert"}).tool_names == {"memory_finish_edits"}
    assert tc.steer_away(below, {"memory_insert", "memory_finish_edits"}) is None


def test_a_spent_call_budget_forces_plain_text():
    decision = tc.decide([WEATHER], "auto", [CALL] * tc.MAX_TOOL_CALLS_PER_TURN)
    assert not decision.constrained and tc.grammar_for(decision) == tc.TEXT_ONLY_GRAMMAR


def test_a_call_written_inside_text_is_taken_as_the_call():
    text = 'To do this, call the function:\n```json\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n```\nThat will work.'
    assert tc.parse_output(text, {"get_weather"}).tool_call == {"name": "get_weather", "arguments": {"city": "Oslo"}}
    # unknown tools, or no tools offered, leave the text alone
    assert tc.parse_output(text, {"other_tool"}).content == text
    assert tc.parse_output(text).content == text


def test_the_grammar_offers_only_required_arguments():
    search = {
        "type": "function",
        "function": {
            "name": "search",
            "parameters": {"type": "object", "properties": {"query": {"type": "string"}, "tags": {"type": "array"}}, "required": ["query"]},
        },
    }
    schema = json.loads(tc.grammar_for(tc.decide([search], "auto", [])).split("%json ", 1)[1].splitlines()[0])
    assert list(schema["anyOf"][0]["properties"]["arguments"]["properties"]) == ["query"]


def test_letta_loop_instructions_are_left_out_of_the_prompt():
    system = "<base_instructions>Be kind.\\n" + lp.LOOP_INSTRUCTIONS + "\\n</base_instructions>"
    prompt = ct.QWEN25.render([{"role": "system", "content": system}], None)
    assert "Be kind." in prompt and "To continue: call another tool" not in prompt


def test_the_prompt_shows_tools_compactly_and_only_what_the_grammar_allows():
    search = {
        "type": "function",
        "function": {
            "name": "conversation_search",
            "description": "Search prior conversation history.\n\nExamples:\n    conversation_search(query='x')\n\nReturns:\n    str: hits",
            "parameters": {"type": "object", "properties": {"query": {"type": "string"}, "limit": {"type": "integer"}}, "required": []},
        },
    }
    shown = tc.prompt_tool(search)
    assert shown["description"] == "Search prior conversation history."
    # no required argument: the first one is kept, so a search always has a query
    assert list(shown["parameters"]["properties"]) == ["query"] and shown["parameters"]["required"] == ["query"]
    prompt = ct.QWEN25.render([{"role": "system", "content": SYSTEM}, {"role": "user", "content": "hi"}], [search, MEMORY_INSERT])
    assert "Examples" not in prompt and "limit" not in prompt
    assert '"enum": ["human", "persona"]' in prompt  # the memory tool's labels, as in the grammar


def test_calls_are_compact_json_and_memory_text_is_bounded():
    grammar = tc.grammar_for(tc.decide([MEMORY_INSERT], "auto", [], ["persona", "human"]))
    schema = json.loads(grammar.split("%json ", 1)[1].splitlines()[0])
    assert schema["x-guidance"]["whitespace_flexible"] is False
    persona, human = (s["properties"]["arguments"]["properties"] for s in schema["anyOf"])
    assert persona["new_string"]["maxLength"] == tc.MAX_MEMORY_TEXT and "maxLength" not in persona["label"]
    # a note to `human` is bounded by its pattern: the start it must have, then at most the rest of the limit
    bound = tc.MAX_MEMORY_TEXT - len(tc.HUMAN_NOTE_START)
    assert human["new_string"]["pattern"].endswith(f"{{1,{bound}}}$") and "maxLength" not in human["label"]
    # core_memory_append (older agent types) writes `content`: its note to `human` starts the same way
    append = {
        "type": "function",
        "function": {
            "name": "core_memory_append",
            "parameters": {
                "type": "object",
                "properties": {"label": {"type": "string"}, "content": {"type": "string"}},
                "required": ["label", "content"],
            },
        },
    }
    schema = json.loads(tc.grammar_for(tc.decide([append], "auto", [], ["persona", "human"])).split("%json ", 1)[1].splitlines()[0])
    human = next(
        s["properties"]["arguments"]["properties"]
        for s in schema["anyOf"]
        if s["properties"]["arguments"]["properties"]["label"].get("enum") == ["human"]
    )
    assert human["content"]["pattern"].startswith("^" + tc.HUMAN_NOTE_START)


def test_a_model_family_is_found_by_name_and_an_unknown_one_is_refused():
    assert ct.for_model("qwen2.5-coder-1.5b-instruct") is ct.QWEN25
    assert ct.for_model("Qwen2.5-7B-Instruct") is ct.QWEN25
    with pytest.raises(ValueError, match=r"no chat template for model 'llama-3.2-1b'.*\['qwen2.5'\].*LOCAL_MODEL=off"):
        ct.for_model("llama-3.2-1b")


SEARCH = {"type": "function", "function": {"name": "conversation_search", "parameters": {"type": "object", "properties": {}}}}


def test_a_fresh_agents_first_turn_is_not_offered_the_history_search():
    first = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Hi, I'm Priya."}]
    later = [*first, {"role": "assistant", "content": "Hello Priya!"}, {"role": "user", "content": "What did I say?"}]
    assert not lp.has_history(first) and lp.has_history(later)

    def offered(messages):
        return [t["function"]["name"] for t in tc.decide([SEARCH, MEMORY_INSERT], "auto", [], history=lp.has_history(messages)).tools]

    assert offered(first) == ["memory_insert"] and offered(later) == ["conversation_search", "memory_insert"]
    nothing_left = tc.decide([SEARCH], "auto", [], history=False)
    assert not nothing_left.constrained and nothing_left.text_only  # nothing else to call: text, the tools still listed
    assert tc.decide([SEARCH], "required", [], history=False).tools == [SEARCH]  # a required call is the caller's choice


def test_after_a_memory_edit_succeeded_this_turn_neither_memory_tools_nor_the_search_are_offered_again():
    def call(name, call_id):
        tool_call = {"id": call_id, "type": "function", "function": {"name": name, "arguments": "{}"}}
        return {"role": "assistant", "content": None, "tool_calls": [tool_call]}

    def returned(call_id, status):
        return {"role": "tool", "tool_call_id": call_id, "content": json.dumps({"status": status, "message": "...", "time": "now"})}

    user = {"role": "user", "content": "I'm Ada and I love green tea."}
    failed = [user, call("memory_replace", "a"), returned("a", "Failed")]
    saved = [*failed, call("memory_insert", "b"), returned("b", "OK")]
    next_turn = [*saved, {"role": "assistant", "content": "Noted!"}, {"role": "user", "content": "I also play chess."}]
    assert [lp.memory_saved_this_turn(m) for m in (failed, saved, next_turn)] == [False, True, False]
    offered = tc.decide([MEMORY_INSERT, SEARCH, WEATHER], "auto", [], memory_saved=True).tools
    assert [t["function"]["name"] for t in offered] == ["get_weather"]  # nor the search for what was just saved
    assert tc.grammar_for(tc.decide([MEMORY_INSERT], "auto", [], memory_saved=True)) == tc.TEXT_ONLY_GRAMMAR  # text


def test_the_tools_are_listed_in_one_order_whatever_order_letta_sends():
    # Letta lists an agent's tools in no fixed order; the prompt's start must not depend on it (prompt cache).
    template = ct.QWEN25
    assert template.tools_preamble([WEATHER, MEMORY_INSERT]) == template.tools_preamble([MEMORY_INSERT, WEATHER])


def test_an_agent_with_one_more_tool_shares_the_default_tools_prompt_start():
    """Archival memory's tools sort before the default ones by name; they come after them, so the cache still
    holds the default tools for such an agent."""
    default = [{"type": "function", "function": {"name": n, "parameters": {}}} for n in reversed(ct.DEFAULT_TOOLS)]
    archival = {"type": "function", "function": {"name": "archival_memory_search", "parameters": {}}}
    alone, more = ct.QWEN25.tools_preamble(default), ct.QWEN25.tools_preamble([archival, *default])
    shared = alone.removesuffix(ct.QWEN25.tools_footer)
    assert more.startswith(shared) and more.index("archival_memory_search") > more.index("memory_replace")


def _pieces(text: str) -> list[dict]:
    """A stand-in for llama.cpp's /tokenize pieces: one token per character, and é as two byte tokens."""
    out = []
    for char in text:
        raw = char.encode()
        out += [{"piece": list(raw[:1])}, {"piece": list(raw[1:])}] if len(raw) > 1 else [{"piece": char}]
    return out


def test_the_log_counts_a_prompts_tokens_by_part_and_what_was_read_again():
    messages = [{"role": "system", "content": SYSTEM.replace("Ada", "Adé")}, {"role": "user", "content": "hi"}]
    prompt = ct.QWEN25.render(messages, [WEATHER])
    ends = dict(pp.part_ends(prompt, ct.QWEN25))
    assert prompt[: ends["instructions"]].endswith("Be helpful.</base_instructions>\n\n")
    assert prompt[ends["instructions"] : ends["tools"]].count('"get_weather"') == 1
    assert prompt[ends["tools"] : ends["memory"]].startswith("\n\n<memory_blocks>")
    assert prompt[ends["memory"] :] == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    counts = pp.token_counts(prompt, _pieces(prompt), ct.QWEN25)
    assert counts["instructions"] == ends["instructions"] and counts["messages"] == len(prompt) - ends["memory"]
    assert sum(counts.values()) == len(prompt) + 1  # é is two tokens
    reused = ends["tools"] + 5  # the cache ran out five tokens into the memory
    again = pp.read_again(counts, reused)
    assert again["instructions"] == again["tools"] == 0 and again["memory"] == counts["memory"] - 5
    assert again["messages"] == counts["messages"]


def test_a_prompt_without_tools_or_memory_is_counted_as_it_is():
    text_prompt = ct.QWEN25.render([{"role": "system", "content": SYSTEM}, {"role": "user", "content": "hi"}], None)
    assert [part for part, _ in pp.part_ends(text_prompt, ct.QWEN25)] == ["instructions", "memory", "messages"]
    question = "<|im_start|>user\nIs this note about the user?<|im_end|>\n<|im_start|>assistant\n"
    assert pp.part_ends(question, ct.QWEN25) == [("side question", len(question))]


def _letta_prompt(start: str, agent: str, conversation: str = "default", first: str = "", more: str = "") -> tuple[str, Marks]:
    """A prompt as the slot table sees it, with its marks."""
    system = f"{start}<memory_metadata>\n- AGENT_ID: {agent}\n- CONVERSATION_ID: {conversation}\n</memory_metadata>"
    return system + first + more, Marks(len(start), len(system), len(system + first))


def test_each_conversation_goes_back_to_the_slot_that_holds_it_and_a_new_one_not_to_the_slot_used_last():
    start = "instructions and tools "
    table = SlotTable((0, 1, 2))
    for slot in (0, 1, 2):  # the warm-up's state, copied to every agent slot
        table.hold(slot, *_letta_prompt(start, "agent-warm-up", first="Hi!"))
    ada = table.place(*_letta_prompt(start, "agent-ada", first="I'm Ada."))
    ben = table.place(*_letta_prompt(start, "agent-ben", first="I'm Ben."))
    # a conversation of Ada's agent that also says "default" (created from the agent's own system message)
    trip = table.place(*_letta_prompt(start, "agent-ada", first="Plan a trip."))
    assert len({ada, ben, trip}) == 3  # three conversations, three slots
    assert table.place(*_letta_prompt(start, "agent-ada", first="I'm Ada.", more=" And more.")) == ada  # back to its own
    assert table.place(*_letta_prompt(start, "agent-ben", first="I'm Ben.", more=" And more.")) == ben
    # a fourth takes the slot used least recently (the trip conversation's), not Ada's or Ben's
    assert table.place(*_letta_prompt(start, "agent-cy", "conv-1", "Hello.")) == trip
    # a new agent with other tools shares less of the start with every slot: not the slot used last (Cy's)
    other, marks = _letta_prompt("instructions and other tools ", "agent-dee", first="Hi.")
    assert table.place(other, Marks(len(start), marks.messages_start, marks.first_message_end)) == ada


def test_a_prompt_without_letta_names_goes_where_most_of_it_is_read():
    table = SlotTable((0, 1))
    table.hold(0, "system: a; user: one", Marks(0, 0, 0))
    table.hold(1, "system: b; user: two", Marks(0, 0, 0))
    assert table.place("system: b; user: two, three", Marks(0, 0, 0)) == 1
    assert thread_of(*_letta_prompt("x", "agent-1", "conv-2", "Hello", " more")) == "agent-1/conv-2/Hello"
    assert thread_of("no names", Marks(0, 0, 0)) is None


def test_a_new_conversation_waits_for_the_only_slot_that_holds_its_start():
    # Right after a start only the warm-up's slot holds the instructions and tools (the others are empty until the
    # warm-up's state is copied): a turn that comes meanwhile queues there instead of reading everything elsewhere.
    start = "instructions and tools "
    table = SlotTable((0, 1, 2))
    table.hold(0, *_letta_prompt(start, "agent-warm-up", first="Hi!"))
    assert table.place(*_letta_prompt(start, "agent-ada", first="I'm Ada.")) == 0
