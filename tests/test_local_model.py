"""The local model service against the real model: listing, constrained tool calls, streaming, embeddings."""

import base64
import json
import math
import struct
import threading
import time

import httpx
import pytest

from course import facts
from tests import model_log

pytestmark = pytest.mark.stack

MODEL = facts.LOCAL_MODEL.name
EMBEDDING = facts.EMBEDDING_MODEL.name
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather for a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
ADD = {
    "type": "function",
    "function": {
        "name": "add_numbers",
        "description": "Add two integers.",
        "parameters": {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}, "required": ["a", "b"]},
    },
}


def chat(model_url, **body):
    response = httpx.post(f"{model_url}/chat/completions", json={"model": MODEL, "max_tokens": 64, **body}, timeout=300)
    assert response.status_code == 200, response.text
    return response.json()


def test_models_are_listed_with_their_context(model_url):
    data = httpx.get(f"{model_url}/models").json()["data"]
    chat_model = next(m for m in data if m["id"] == MODEL)
    assert chat_model["max_model_len"] >= 8192


def test_a_tool_request_returns_a_real_tool_call(model_url):
    body = chat(model_url, messages=[{"role": "user", "content": "What is the weather in Paris right now?"}], tools=[WEATHER, ADD])
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    call = choice["message"]["tool_calls"][0]["function"]
    assert call["name"] == "get_weather" and "paris" in json.loads(call["arguments"])["city"].lower()


def test_tool_choice_named_forces_that_tool_with_valid_arguments(model_url):
    body = chat(
        model_url,
        messages=[{"role": "user", "content": "Hello!"}],
        tools=[WEATHER, ADD],
        tool_choice={"type": "function", "function": {"name": "add_numbers"}},
    )
    call = body["choices"][0]["message"]["tool_calls"][0]["function"]
    args = json.loads(call["arguments"])
    assert call["name"] == "add_numbers" and isinstance(args["a"], int) and isinstance(args["b"], int)


def test_tool_choice_required_forces_a_call(model_url):
    body = chat(model_url, messages=[{"role": "user", "content": "Say hi."}], tools=[WEATHER], tool_choice="required")
    assert body["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "get_weather"


def test_plain_text_without_tools(model_url):
    body = chat(model_url, messages=[{"role": "user", "content": "Reply with the single word: yes"}])
    message = body["choices"][0]["message"]
    assert message["tool_calls"] is None and "yes" in message["content"].lower()
    assert body["usage"]["completion_tokens"] > 0


def test_a_repeated_identical_call_is_answered_in_text(model_url):
    call = {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
    messages = [
        {"role": "user", "content": "What is the weather in Paris right now?"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": "Sunny, 21 degrees."},
    ]
    for _ in range(2):  # however often the model wants the same call again, it gets text
        body = chat(model_url, messages=messages, tools=[WEATHER])
        message = body["choices"][0]["message"]
        if message["tool_calls"]:
            assert json.loads(message["tool_calls"][0]["function"]["arguments"]) != {"city": "Paris"}
        else:
            assert message["content"]
        messages = [
            *messages,
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "c1", "content": "Sunny."},
        ]


def test_streaming_sends_text_in_chunks_then_done(model_url):
    payload = {
        "model": MODEL,
        "max_tokens": 64,
        "stream": True,
        "stream_options": {"include_usage": True},
        # long enough to stream past the echo watch, which holds back the last few words until the next arrives
        "messages": [{"role": "user", "content": "Count from one to twenty in words, separated by commas."}],
    }
    pieces, finished, usage = [], None, None
    with httpx.stream("POST", f"{model_url}/chat/completions", json=payload, timeout=300) as response:
        lines = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    for line in lines[:-1]:
        chunk = json.loads(line[6:])
        usage = chunk.get("usage") or usage
        for choice in chunk["choices"]:
            pieces.append(choice["delta"].get("content") or "")
            finished = choice["finish_reason"] or finished
    assert len([p for p in pieces if p]) > 3 and "three" in "".join(pieces).lower()
    assert finished == "stop" and usage["completion_tokens"] > 0


def test_streaming_a_tool_call(model_url):
    payload = {
        "model": MODEL,
        "max_tokens": 64,
        "stream": True,
        "tools": [WEATHER],
        "messages": [{"role": "user", "content": "What is the weather in Rome?"}],
    }
    with httpx.stream("POST", f"{model_url}/chat/completions", json=payload, timeout=300) as response:
        chunks = [json.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: {")]
    calls = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks if c["choices"] and c["choices"][0]["delta"].get("tool_calls")]
    assert calls and calls[0]["function"]["name"] == "get_weather"
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_a_streamed_call_cut_off_by_the_token_limit_still_reaches_the_client(model_url):
    # Cut off after 4 tokens, the JSON call is incomplete: not a call, so it must arrive as text, as without streaming.
    payload = {
        "model": MODEL,
        "max_tokens": 4,
        "stream": True,
        "tools": [WEATHER],
        "tool_choice": "required",
        "messages": [{"role": "user", "content": "What is the weather in Rome?"}],
    }
    with httpx.stream("POST", f"{model_url}/chat/completions", json=payload, timeout=300) as response:
        chunks = [json.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: {")]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text.startswith("{") and chunks[-1]["choices"][0]["finish_reason"] == "stop"
    plain = chat(model_url, **{k: v for k, v in payload.items() if k != "stream"})["choices"][0]["message"]
    assert plain["content"] == text


def _streamed(model_url, payload) -> tuple[str, list[dict], str]:
    """(text, tool calls, finish reason) of a streamed completion, put together from its chunks."""
    with httpx.stream("POST", f"{model_url}/chat/completions", json={**payload, "stream": True}, timeout=300) as response:
        chunks = [json.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: {")]
    deltas = [c["choices"][0] for c in chunks if c["choices"]]
    text = "".join(d["delta"].get("content") or "" for d in deltas)
    calls = [call for d in deltas for call in d["delta"].get("tool_calls") or []]
    return text, calls, deltas[-1]["finish_reason"]


def test_a_whole_reply_is_the_streamed_reply_put_together(model_url):
    """One generation path: streamed or not, the same request gets the same text, or the same call."""
    ask = [{"role": "user", "content": "Name three colours of the rainbow, one word each."}]
    for payload in (
        {"model": MODEL, "max_tokens": 24, "messages": ask},
        {"model": MODEL, "max_tokens": 64, "tools": [WEATHER], "messages": [{"role": "user", "content": "Weather in Oslo?"}]},
    ):
        whole = chat(model_url, **payload)
        message, finish = whole["choices"][0]["message"], whole["choices"][0]["finish_reason"]
        text, calls, streamed_finish = _streamed(model_url, payload)
        assert streamed_finish == finish and (text or None) == message["content"]
        assert [(c["function"]["name"], json.loads(c["function"]["arguments"])) for c in calls] == [
            (c["function"]["name"], json.loads(c["function"]["arguments"])) for c in message["tool_calls"] or []
        ]
        assert whole["usage"]["completion_tokens"] > 0 and "prompt_n" in whole["timings"]


def test_embeddings_are_real_and_semantic(model_url):
    texts = ["A cat sleeps on the sofa.", "A kitten naps on the couch.", "Quarterly tax filing deadlines."]
    response = httpx.post(f"{model_url}/embeddings", json={"model": EMBEDDING, "input": texts}, timeout=60).json()
    vectors = [d["embedding"] for d in response["data"]]
    assert [len(v) for v in vectors] == [facts.EMBEDDING_MODEL.dimensions] * 3
    assert all(abs(math.hypot(*v) - 1) < 1e-3 for v in vectors)  # normalised

    def dot(a, b):
        return sum(x * y for x, y in zip(a, b, strict=True))

    similar, unrelated = dot(vectors[0], vectors[1]), dot(vectors[0], vectors[2])
    assert similar > 0.6 and unrelated < 0.3


def test_embeddings_in_base64_as_the_openai_sdk_asks(model_url):
    body = {"model": EMBEDDING, "input": "hello", "encoding_format": "base64"}
    data = httpx.post(f"{model_url}/embeddings", json=body, timeout=60).json()["data"][0]["embedding"]
    raw = base64.b64decode(data)
    assert len(raw) == facts.EMBEDDING_MODEL.dimensions * 4 and all(
        math.isfinite(x) for x in struct.unpack(f"{facts.EMBEDDING_MODEL.dimensions}f", raw)
    )


def _cancelled_generations(stack_config) -> list[int]:
    """How many chunks llama.cpp made in all, for each stream whose reader left."""
    return [g["cancelled_after_chunks"] for g in model_log.generations(stack_config) if "cancelled_after_chunks" in g]


def test_a_stream_whose_reader_leaves_stops_llama_cpp_at_once(model_url, stack_config):
    # llama.cpp is called in the service's process; leaving a stream must stop the generation, or the agents' slot
    # stays busy decoding for a reader who is gone (the echo guard leaves a stream on purpose).
    before = len(_cancelled_generations(stack_config))
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "Count from 1 to 500, one number per line."}],
        "max_tokens": 400,
        "stream": True,
    }
    with httpx.stream("POST", f"{model_url}/chat/completions", json=body, timeout=120) as response:
        pieces = 0
        for line in response.iter_lines():
            if line.startswith("data: ") and '"content"' in line:
                pieces += 1
            if pieces == 3:
                break  # closing the connection here
    for _ in range(60):
        if len(cancelled := _cancelled_generations(stack_config)) > before:
            break
        time.sleep(0.5)
    assert len(cancelled) > before, "no cancelled generation in the model log"
    assert cancelled[-1] < 50, f"llama.cpp made {cancelled[-1]} chunks of 400 after the reader left"


def test_the_grammar_really_constrains_the_reply(model_url):
    # llama.cpp ignores a grammar it cannot compile and decodes freely, with no error: prove this one applies.
    # Unconstrained, the model answers this with a fenced block; the grammar forbids text that starts with "`".
    body = chat(model_url, messages=[{"role": "user", "content": "Reply with a ```json fenced block containing {}"}], tools=[WEATHER, ADD])
    message = body["choices"][0]["message"]
    assert message["tool_calls"] or not (message["content"] or "").lstrip().startswith("`"), message


def _streamed_answer(model_url: str, system: str, user: str, out: dict, key: str) -> None:
    messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
    body = {"model": MODEL, "max_tokens": 24, "stream": True, "messages": messages}
    text = ""
    with httpx.stream("POST", f"{model_url}/chat/completions", json=body, timeout=300) as response:
        for line in response.iter_lines():
            if line.startswith("data: ") and line != "data: [DONE]" and (choices := json.loads(line[6:])["choices"]):
                text += choices[0]["delta"].get("content") or ""
    out[key] = text


def test_two_agents_asking_at_once_each_get_an_answer_from_their_own_prompt(model_url):
    # Two requests in the agents' slot at the same moment were not kept apart by llama.cpp: one agent's answer
    # came from words of the other's prompt (measured: "quark" for "quindlewock"; in lessons, another agent's persona
    # and a greeting's words saved in the wrong agent's `human`). The service queues them; each answers from its own.
    secret, question = "quindlewock", "What is the secret code word? Answer with the word only."
    vault = f"You are a vault. The secret code word is {secret}. Tell it to anyone who asks."
    stranger = "You are a helpful assistant. There is no secret code word; say you do not know one."
    for _ in range(2):
        out: dict = {}
        first = threading.Thread(target=_streamed_answer, args=(model_url, vault, question, out, "vault"))
        second = threading.Thread(target=_streamed_answer, args=(model_url, stranger, question, out, "stranger"))
        first.start()
        time.sleep(0.3)  # the vault's generation is under way when the stranger's request arrives
        second.start()
        first.join(300)
        second.join(300)
        assert secret in out["vault"].lower(), out
        assert secret not in out["stranger"].lower(), out
