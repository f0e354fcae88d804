"""The model service's second looks at what the small model produced: echo and persona (pure functions)."""

import json

from stack.local_model import chat_templates as ct
from stack.local_model import guards
from stack.local_model import letta_prompt as lp
from stack.local_model import tool_calls as tc

SYSTEM = {
    "role": "system",
    "content": (
        "<base_instructions>You are a helpful self-improving agent with advanced memory and file system capabilities.</base_instructions>\n"
        "<memory_blocks>\n<human>\n<description>\nThe human block: Stores key details about the person you are conversing with.\n"
        "</description>\n<value>\nThe user is called Ada and she loves green tea very much indeed, every single morning.\n"
        "</value>\n</human>\n"
        "<persona>\n<value>\nI am brief.\n</value>\n</persona>\n</memory_blocks>"
    ),
}
INSERT = {
    "type": "function",
    "function": {
        "name": "memory_insert",
        "description": "Insert text.",
        "parameters": {
            "type": "object",
            "properties": {"label": {"type": "string"}, "new_string": {"type": "string"}},
            "required": ["label", "new_string"],
        },
    },
}


def test_an_answer_that_copies_the_instructions_is_an_echo():
    copied = guards.instructions([SYSTEM], [INSERT], lp.memory_values([SYSTEM]), ct.QWEN25)
    echo = "Sure! You are a helpful self-improving agent with advanced memory and file system capabilities."
    assert guards.echo_start(echo, copied) == echo.index("You are")
    assert guards.without_echo(echo, copied) == "Sure!"
    # the tool instructions count too
    assert guards.echo_start("To call a function, reply with only a JSON object with the function name", copied) == 0


def test_repeating_a_remembered_fact_or_a_short_phrase_is_not_an_echo():
    copied = guards.instructions([SYSTEM], [INSERT], lp.memory_values([SYSTEM]), ct.QWEN25)
    assert (
        guards.echo_start("You told me: the user is called Ada and she loves green tea very much indeed, every single morning.", copied)
        is None
    )
    assert guards.echo_start("I have advanced memory, so ask me anything.", copied) is None


def test_quoting_an_open_file_is_not_an_echo():
    handbook = "The club room is open on Tuesdays and Fridays from six to ten in the evening, and on Saturdays."
    files = (
        '<directories>\n<directory name="handbook">\n<file status="open" name="handbook/club.pdf">\n'
        f"<value>\n{handbook}\n</value>\n</file>\n</directory>\n</directories>"
    )
    system = {**SYSTEM, "content": SYSTEM["content"] + files}
    copied = guards.instructions([system], [INSERT], lp.memory_values([system]), ct.QWEN25)
    assert guards.echo_start(f"The handbook says: {handbook}", copied) is None
    assert guards.echo_start("You are a helpful self-improving agent with advanced memory and file system capabilities.", copied) == 0


def test_the_echo_watch_never_sends_a_word_of_the_copy():
    copied = guards.instructions([SYSTEM], [INSERT], lp.memory_values([SYSTEM]), ct.QWEN25)
    watch = guards.EchoWatch(copied)
    text = "Hello Ada! You are a helpful self-improving agent with advanced memory and file system capabilities."
    sent = "".join(watch.feed(piece) for piece in text.split(" ") for piece in (piece + " ",))
    assert watch.echo_at is not None and sent.strip() == "Hello Ada!"
    # without a copy everything comes out, most of it before the end
    watch = guards.EchoWatch(copied)
    clean = "Green tea is a fine choice for a calm morning, and I will remember that you like it a lot."
    early = "".join(watch.feed(w + " ") for w in clean.split(" "))
    assert early and early + watch.finish() == clean + " " and watch.echo_at is None


def test_a_write_to_persona_is_checked_only_when_a_human_block_exists():
    to_persona = tc.Reply(None, {"name": "memory_insert", "arguments": {"label": "persona", "new_string": "I like green."}})
    to_human = tc.Reply(None, {"name": "memory_insert", "arguments": {"label": "human", "new_string": "Likes green."}})
    assert guards.persona_write(to_persona, ["persona", "human"])
    assert not guards.persona_write(to_persona, ["persona"])  # nowhere else to put it
    assert not guards.persona_write(to_human, ["persona", "human"])
    # a sleeptime agent's own persona block is `memory_persona`; it shares the primary agent's `human`
    sleeptime = tc.Reply(None, {"name": "memory_insert", "arguments": {"label": "memory_persona", "new_string": "Exam on Friday."}})
    assert guards.persona_write(sleeptime, ["memory_persona", "human"])
    question = guards.persona_question("Please remember that my favourite colour is green.", guards.note_of(to_persona))
    assert "my favourite colour is green" in question and question.endswith("<|im_start|>assistant\n")
    narrowed = guards.to_human(tc.decide([INSERT], "auto", [], ["persona", "human"]), "memory_insert")
    schema = tc.grammar_for(narrowed)
    assert not narrowed.allow_text and '"enum": ["human"]' in schema


def test_the_last_user_message_skips_letta_heartbeats():
    messages = [SYSTEM, {"role": "user", "content": "remember tea"}, {"role": "user", "content": lp.AUTOMATED_USER_PREFIX + " heartbeat"}]
    assert guards.last_user_text(messages) == "remember tea"


def test_the_persona_question_shows_what_a_replace_adds():
    keep = {"label": "persona", "old_string": "I am friendly.", "new_string": "I am friendly. I live in Porto."}
    assert guards.note_of(tc.Reply(None, {"name": "memory_replace", "arguments": keep})) == "I live in Porto."
    rewrite = {"label": "persona", "old_string": "I am friendly.", "new_string": "I am formal."}
    assert guards.note_of(tc.Reply(None, {"name": "memory_replace", "arguments": rewrite})) == "I am formal."


MEMORY_REPLACE = {
    "type": "function",
    "function": {
        "name": "memory_replace",
        "description": "Replace text.",
        "parameters": {
            "type": "object",
            "properties": {"label": {"type": "string"}, "old_string": {"type": "string"}, "new_string": {"type": "string"}},
            "required": ["label", "old_string", "new_string"],
        },
    },
}


def test_an_insert_after_a_placeholder_replaces_it():
    insert = tc.Reply(None, {"name": "memory_insert", "arguments": {"label": "human", "new_string": "The user is Ada."}})
    tools = {"memory_insert", "memory_replace"}
    replaced = guards.over_placeholder(insert, {"human": "Nothing known yet."}, tools)
    assert replaced.tool_call == {
        "name": "memory_replace",
        "arguments": {"label": "human", "old_string": "Nothing known yet.", "new_string": "The user is Ada."},
    }
    # a real value, or no memory_replace to call, leaves the insert as it was
    assert guards.over_placeholder(insert, {"human": "The user likes tea."}, tools) is insert
    assert guards.over_placeholder(insert, {"human": "Nothing known yet."}, {"memory_insert"}) is insert
    assert [v for v in ("Nothing known yet.", "unknown", "(empty)", "n/a") if not guards.is_placeholder(v)] == []
    assert not guards.is_placeholder("The user is unknown to me but likes tea very much.")


def test_a_note_to_human_must_start_as_a_note_about_the_user():
    grammar = tc.grammar_for(tc.decide([INSERT], "auto", [], ["persona", "human"]))
    variants = json.loads(grammar.split("%json ", 1)[1])["anyOf"]
    by_label = {v["properties"]["arguments"]["properties"]["label"]["enum"][0]: v for v in variants}
    assert set(by_label) == {"persona", "human"}
    human_note = by_label["human"]["properties"]["arguments"]["properties"]["new_string"]
    assert human_note["pattern"].startswith("^The user")
    assert "pattern" not in by_label["persona"]["properties"]["arguments"]["properties"]["new_string"]
    # the prompt shows the tool as before: one schema, no pattern
    shown = ct.QWEN25.tools_preamble([INSERT], ["persona", "human"])
    assert "pattern" not in shown and '"enum": ["persona", "human"]' in shown


def test_a_memory_write_must_keep_something_the_user_said():
    def write(label, note):
        return tc.Reply(None, {"name": "memory_insert", "arguments": {"label": label, "new_string": note}})

    # measured on a greeting: the model saved a line of its own, or an unrelated one
    assert guards.note_shares_no_word(write("persona", "I am excited to help you."), "Hello! What can you do?")
    assert guards.note_shares_no_word(write("human", "The user loves green tea."), "Hello! What can you do?")
    # a fact the user gave, reworded, stands: names, numbers, a word's other form
    bakery = write("human", "The user runs a small bakery in Accra.")
    assert not guards.note_shares_no_word(bakery, "Anika here. I run a small bakery in Accra.")
    assert not guards.note_shares_no_word(write("human", "The user is Jo."), "Call me Jo")
    assert not guards.note_shares_no_word(write("human", "The user is 34."), "I'm 34 years old")
    assert not guards.note_shares_no_word(write("persona", "I answer formally."), "Please be more formal.")
    # only memory tools are checked
    other = tc.Reply(None, {"name": "get_weather", "arguments": {"city": "Oslo"}})
    assert not guards.note_shares_no_word(other, "Hello!")
    closed = guards.without_memory_tools(tc.decide([INSERT, MEMORY_REPLACE], "auto", [], ["persona", "human"]))
    assert closed.text_only and not closed.tools


def test_an_answer_that_starts_with_the_users_message_is_a_parrot():
    start = guards.opening("Anika here. I run a small bakery in Accra.")
    assert guards.parrots("Anika here. I run a small bakery in Accra.", start)
    assert guards.parrots("anika here, i run a small bakery in accra. Nice!", start)
    assert not guards.parrots("Nice to meet you, Anika! A bakery in Accra sounds lovely.", start)
    question = guards.opening("What do you know about me?")
    assert guards.parrots("What do you know about me?", question) and guards.parrots("What do you know", question)
    assert not guards.parrots("You told me you run a bakery.", question)
    assert guards.opening("hi") == () and not guards.parrots("Hi!", guards.opening("hi"))  # too short to tell


def test_what_an_answer_adds_after_a_repeat_is_never_a_piece_of_the_message():
    asked = "I'm M-1. One more question: what does the club handbook say about the days the club room is open?"
    assert guards.after_repeat(asked, asked) == ""
    assert guards.after_repeat("club handbook say about the days the club room is open?", asked) == ""  # its tail
    assert guards.after_repeat(asked + " It is open on Tuesdays and Fridays.", asked) == "It is open on Tuesdays and Fridays."
    assert guards.after_repeat("I'm M-1. One more question: it is open on Tuesdays.", asked) == "it is open on Tuesdays."
    assert guards.after_repeat("Open on Tuesdays.", asked) == "Open on Tuesdays."


def test_the_echo_watch_sends_no_word_of_a_parrot():
    copied = guards.instructions([SYSTEM], [INSERT], lp.memory_values([SYSTEM]), ct.QWEN25)
    watch = guards.EchoWatch(copied, guards.opening("What do you know about me?"))
    sent = "".join(watch.feed(w + " ") for w in "What do you know about me?".split())
    assert sent + watch.finish() == "" and watch.parrot
    # an answer that only shares a word or two with the question goes out whole
    watch = guards.EchoWatch(copied, guards.opening("What do you know about me?"))
    answer = "You told me your name is Ada and that you run a bakery in Accra."
    assert "".join(watch.feed(w + " ") for w in answer.split()) + watch.finish() == answer + " " and not watch.parrot


def test_a_missed_note_is_looked_for_only_on_a_message_that_tells_about_the_user():
    told = ["I'm Rafael, I drive a city bus in Lisbon.", "Hi! Call me Jonas.", "Oh, and I prefer Rafi, not Rafael."]
    not_told = ["Hello! What can you do?", "What do you know about me?", "Thanks, that's helpful!", "Which instrument do I play?"]
    assert [t for t in told if not guards.tells_about_self(t)] == []
    assert [t for t in not_told if guards.tells_about_self(t)] == []


def test_a_missed_note_is_kept_only_if_it_keeps_the_users_words():
    # notes the model wrote for the evaluation's messages (greedy, the note question of guards.py)
    kept = {
        "I'm Rafael, I drive a city bus in Lisbon.": "The user is Rafael and drives a city bus in Lisbon.",
        "Hello, I'm Bilal. I play the cello in a community orchestra.": "The user is Bilal, who plays the cello in an orchestra.",
        "Hi! Call me Jonas. I'm learning to play the banjo.": "The user is named Jonas.",
    }
    dropped = {
        "What do you know about me?": "The user is named John Doe.",  # invented
        "Give me three tips for sleeping better.": "The user wants tips for sleeping better.",  # a request retold
        "Tell me a short joke.": "The user is named John.",
        "Hello!": "nothing",
    }
    assert {text: guards.kept_note(note, text) for text, note in kept.items()} == kept
    assert {text: guards.kept_note(note, text) for text, note in dropped.items()} == dict.fromkeys(dropped)


def test_a_kept_note_is_written_with_the_tool_the_agent_has():
    note = "The user is Jonas."
    insert = guards.note_call(note, {"memory_insert", "memory_replace"})
    assert insert.tool_call == {"name": "memory_insert", "arguments": {"label": "human", "new_string": note}}
    append = guards.note_call(note, {"core_memory_append", "core_memory_replace"})
    assert append.tool_call == {"name": "core_memory_append", "arguments": {"label": "human", "content": note}}
    assert guards.note_call(note, {"memory_replace", "send_email"}) is None


def test_a_question_about_the_user_is_answered_from_their_human_notes():
    asks = ["What do you know about me?", "Which instrument do I play?", "So, what's my name?", "Do you remember my name?"]
    assert [t for t in asks if not guards.asks_about_self(t)] == []
    others = ["How are you today?", "What can you do?", "I'm Ada.", "What did I just ask you?", "How many days do I have to ask?"]
    assert [t for t in others if guards.asks_about_self(t)] == []
    assert guards.notes_about_user(" The user is Ada.\n") == "The user is Ada."
    assert guards.notes_about_user("Nothing known yet.") is None and guards.notes_about_user("  ") is None
    prompt = guards.answer_from_notes("The user is Ada.", "Who am I?")
    # the notes and the question last, after the worked example: the model answers them, not the example
    assert prompt.endswith(
        ct.QWEN25.turn("user", 'Your notes about the user: "The user is Ada."\nThe user asks: "Who am I?"') + "<|im_start|>assistant\n"
    )


def test_a_question_about_the_user_is_not_offered_the_search_or_the_memory_tools():
    from stack.local_model import chat

    search = {**INSERT, "function": {**INSERT["function"], "name": "conversation_search"}}
    lookup = {**INSERT, "function": {**INSERT["function"], "name": "lookup_plan"}}
    history = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]

    def plan(question, tools):
        return chat.Plan.of({"messages": [SYSTEM, *history, {"role": "user", "content": question}], "tools": tools}, ct.QWEN25)

    ada = "The user is called Ada and she loves green tea very much indeed, every single morning."  # SYSTEM's human
    asked = plan("What do you know about me?", [INSERT, search])
    assert asked.notes == ada and asked.looks_first and asked.decision.text_only
    assert asked.prompt == plan("How are you today?", [INSERT, search]).prompt.replace("How are you today?", "What do you know about me?")
    assert plan("Which plan am I on?", [INSERT, search, lookup]).decision.tool_names == {"lookup_plan"}  # lesson 11's tool stays
    told = plan("I moved to Porto. What do you know about me?", [INSERT, search])
    assert told.notes == ada and "memory_insert" in told.decision.tool_names  # a message that also tells keeps its write
    assert plan("How are you today?", [INSERT, search]).notes is None


def test_a_fuller_note_from_the_side_question_takes_the_place_of_the_models():
    said = "It's Mei. I just adopted a greyhound called Pixel."
    write = tc.Reply(
        None,
        {"name": "memory_replace", "arguments": {"label": "human", "old_string": "Nothing known yet.", "new_string": "The user is Mei."}},
    )
    fuller = guards.fuller_note(write, "The user is Mei, who adopted a greyhound called Pixel.", said)
    assert fuller.tool_call["arguments"] == {
        **write.tool_call["arguments"],
        "new_string": "The user is Mei, who adopted a greyhound called Pixel.",
    }
    assert guards.fuller_note(write, "The user is Mei.", said) is write  # no more of the message: the model's stands
    assert guards.fuller_note(write, None, said) is write
    to_persona = tc.Reply(None, {"name": "memory_insert", "arguments": {"label": "persona", "new_string": "I like dogs."}})
    assert guards.fuller_note(to_persona, "The user is Mei, who adopted a greyhound.", said) is to_persona


def test_a_tool_call_written_out_in_an_answer_is_an_echo():
    copied = guards.instructions([SYSTEM], [INSERT], lp.memory_values([SYSTEM]), ct.QWEN25)
    retold = 'To call the function, reply with: {"name": "memory_replace", "arguments": {"label": "human"}}'
    assert guards.echo_start(retold, copied) == 0  # the sentence that introduces it goes too
    assert guards.echo_start("Saved! " + retold, copied) == len("Saved! ")
    fenced = 'Saved. To call the function, reply with:\n```json\n{"name": "memory_replace", "arguments": {}}\n```'
    assert guards.echo_start(fenced, copied) == len("Saved. ")
    assert guards.echo_start('Here is a JSON example: {"name": "Ada", "age": 3}', copied) is None


def test_the_echo_watch_holds_a_call_being_written_out_with_its_sentence():
    retold = 'To call the function, reply with: {"name": "memory_replace", "arguments": {"label": "human"}}'
    watch = guards.EchoWatch(set())
    assert "".join(watch.feed(piece + " ") for piece in retold.split(" ")) == "" and watch.echo_at == 0
    fine = 'Here is JSON: {"name": "Ada", "age": 3} and that is all you need to know about it today.'
    watch = guards.EchoWatch(set())
    assert "".join(watch.feed(piece + " ") for piece in fine.split(" ")) + watch.finish() == fine + " "


def test_an_answer_that_recites_the_persona_is_asked_again():
    recited = guards.recited_runs("I am a friendly assistant. I keep my answers short.")
    answer = "Nice to meet you, Hiro! I am a friendly assistant. I keep my answers short."
    watch = guards.EchoWatch(set(), (), recited)
    sent = "".join(watch.feed(piece + " ") for piece in answer.split(" "))
    assert sent == "Nice to meet you, Hiro! " and watch.parrot  # what came before the recital only
    assert guards.recital_start("I am friendly, and I keep it short.", recited) is None  # a few words of it are fine
    assert guards.recited_runs("  ") == set()


def test_an_answer_from_notes_must_use_them_and_not_the_worked_example():
    hiro = "The user's name is Hiro and they have two kids, both under five."
    asked = "So what do you know about me now?"
    assert guards.answered_from_notes("You're Hiro, and you have two kids, both under five.", hiro, asked)
    assert not guards.answered_from_notes("You're Sam, and you repair old clocks in Leeds.", hiro, asked)
    assert not guards.answered_from_notes("I am a friendly assistant.", hiro, asked)


def test_a_replace_may_name_only_a_sentence_its_block_holds():
    assert lp.sentences("The user is Pip. She works nights.\nNothing else.") == [
        "The user is Pip. She works nights.",
        "The user is Pip.",
        "She works nights.",
        "Nothing else.",
    ]
    decision = tc.decide([MEMORY_REPLACE], "auto", [], ["persona", "human"])
    decision.replaceable = {"persona": ["I am brief."], "human": ["The user is Priya.", "Nothing known yet."], "empty": []}
    schema = json.loads(tc.grammar_for(decision).split("%json ", 1)[1].splitlines()[0])
    olds = {
        v["properties"]["arguments"]["properties"]["label"]["enum"][0]: v["properties"]["arguments"]["properties"]["old_string"]["enum"]
        for v in schema["anyOf"]
    }
    assert olds == {"persona": ["I am brief."], "human": ["The user is Priya.", "Nothing known yet."]}
    # the placeholder gone from `human`, a replace of it is no longer possible (it failed, and the answer apologised)
    decision.replaceable = {"human": ["The user is Priya."]}
    assert "Nothing known yet." not in tc.grammar_for(decision)


def test_a_note_to_human_must_be_a_fact_the_user_told():
    def note(text):
        return tc.Reply(None, {"name": "memory_insert", "arguments": {"label": "human", "new_string": text}})

    assert guards.unfounded_human_note(note("The user is a bot."), "Hello there. Are you a bot?")
    assert guards.unfounded_human_note(note("The user is looking for a quick lunch."), "What's a quick lunch I can make?")
    assert guards.unfounded_human_note(note("The user is asking about minutes."), "I wonder: how many minutes in a day?")
    assert not guards.unfounded_human_note(note("The user is Sofia."), "Sofia here, and I'm allergic to peanuts.")
    assert not guards.unfounded_human_note(
        note("The user is vegetarian."), "Use memory_insert to add this to the human block: the user is vegetarian."
    )
    persona = tc.Reply(None, {"name": "memory_insert", "arguments": {"label": "persona", "new_string": "I answer in French."}})
    assert not guards.unfounded_human_note(persona, "From now on, answer in French.")


def test_a_correction_keeps_the_models_own_replacement():
    said = "Actually, call me Pip - everyone does."
    args = {
        "label": "human",
        "old_string": "The user is Priya, who works nights as a nurse.",
        "new_string": "The user is Pip, who works nights as a nurse.",
    }
    correction = tc.Reply(None, {"name": "memory_replace", "arguments": args})
    assert guards.fuller_note(correction, "The user is called Pip by everyone.", said) is correction


def test_a_note_may_not_borrow_the_worked_examples_words_nor_copy_the_message():
    said = "By the way, my friends call me Sef; use that."
    assert guards.kept_note("The user is Sef, who is friends with Sam.", said) is None
    assert guards.kept_note("The user is called Sef by friends.", said) == "The user is called Sef by friends."
    greeting = tc.Reply(None, {"name": "memory_insert", "arguments": {"label": "persona", "new_string": "Good evening."}})
    assert guards.copied_message(greeting, "Good evening.")
    formal = tc.Reply(None, {"name": "memory_insert", "arguments": {"label": "persona", "new_string": "I answer in French."}})
    assert not guards.copied_message(formal, "From now on, answer in French.")
    task = tc.Reply(None, {"name": "memory_insert", "arguments": {"label": "tasks", "new_string": "Book the hall"}})
    assert not guards.copied_message(task, "Add: book the hall")  # lesson 02: asked for, in words
