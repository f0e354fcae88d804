"""The local model service: an OpenAI-compatible API on loopback for the Letta server.

- Chat: a Qwen2.5 Instruct GGUF run by llama.cpp (xllamacpp, in this process, on an internal port).
  chat_templates.py writes the prompt (the model family's layout, ordered for the prompt cache); requests with
  `tools` are decoded under a grammar (tool_calls.py) so the model returns real `tool_calls`; letta_prompt.py
  reads what Letta's prompts hold (memory blocks, the turn's calls); guards.py checks the result.
- Embeddings: all-MiniLM-L6-v2 through sentence-transformers (384-dimensional vectors).
- Listing: `/v1/models` (OpenAI/vLLM style) and `/api/tags` + `/api/show` (Ollama style). The Letta server
  registers the service through `OLLAMA_BASE_URL`, the one built-in provider that lists both chat and
  embedding models, so the handles are `ollama/<chat model>` and `ollama/<embedding model>`.

Settings: the command line (`--help`), given by the stack from `.env`'s LOCAL_MODEL_* variables; the models
themselves are course/facts.py's. Letta always asks for temperature 1.0, which makes small models erratic, so by
default the service decodes greedily (temperature 0, fixed seed; `--temperature request` honours the client's).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import importlib
import json
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from course import facts

from . import guards, llama_http
from . import letta_prompt as lp
from . import tool_calls as tc
from .chat_templates import ChatML, for_model

# One JSON line per generation and per guard action in the service's log (.course/logs/model.log): where a turn's
# seconds went (prompt tokens processed vs reused, decode) and which second looks ran.
LOG = logging.getLogger("course.model")
logging.basicConfig(level=logging.INFO, format="%(message)s")

EMBEDDING_NAME = facts.EMBEDDING_MODEL.name
EMBEDDING_DIM = facts.EMBEDDING_MODEL.dimensions
EMBEDDING_CONTEXT = facts.EMBEDDING_MODEL.context_window


@dataclass(frozen=True)
class Settings:
    """What the service runs with. The stack gives every value on the command line (stack/parts.py, model_command, from
    `.env`'s LOCAL_MODEL_* variables); nothing is read from the environment."""

    model_path: str = ""
    host: str = facts.LOOPBACK
    port: int = facts.MODEL_PORT.default
    model_name: str = facts.LOCAL_MODEL.name
    context: int = facts.LOCAL_MODEL.context_window
    threads: int = os.cpu_count() or 2
    max_tokens: int = 512
    temperature: str = "0"  # a number, or "request": honour the client's temperature
    seed: int = 42
    dump_dir: str = ""  # debugging aid: keep each request as the Letta server sent it

    @classmethod
    def from_args(cls, argv: list[str] | None = None) -> Settings:
        parser = argparse.ArgumentParser(prog="python -m stack.local_model.server", description="The course's local model service.")
        for field in fields(cls):
            kind = {"int": int, "str": str}[field.type]
            parser.add_argument(f"--{field.name.replace('_', '-')}", type=kind, default=field.default)
        return cls(**vars(parser.parse_args(argv)))


SETTINGS = Settings()  # until main() reads the command line
TEMPLATE: ChatML = for_model(SETTINGS.model_name)  # how this model's prompts are written (chat_templates.py)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Engine:
    """llama.cpp for chat, sentence-transformers for embeddings; both loaded once at start."""

    def __init__(self, settings: Settings):
        import xllamacpp

        params = xllamacpp.CommonParams()
        params.model.path = settings.model_path
        # Two slots of the full context each: the agents' prompts always go to slot AGENT_SLOT (one at a time: on two
        # cores, parallel decoding only splits the same CPU), the guards' short side questions and prompts without
        # tools to SIDE_SLOT, so they never evict the agents' cached prompt (a re-read costs ~25 s).
        params.n_ctx = settings.context * 2
        params.n_parallel = 2
        params.cpuparams.n_threads = settings.threads
        params.cpuparams_batch.n_threads = settings.threads
        params.port = _free_port()
        params.verbosity = 1
        params.warmup = False
        # The host-memory prompt cache keeps the KV of earlier prompts, so switching between agents
        # (or lessons) does not throw away what was already processed.
        params.cache_ram_mib = 4096
        self.llama = xllamacpp.Server(params)
        self.llama_url = f"http://127.0.0.1:{params.port}"
        self.http = llama_http.client(self.llama_url)

        pkg_file = importlib.import_module(facts.EMBEDDING_MODEL.package).__file__  # the package carries the model
        from sentence_transformers import SentenceTransformer

        self.embedder = SentenceTransformer(str(Path(pkg_file).parent / "model"), device="cpu")
        self.settings = settings

    def sampling(self, body: dict) -> dict:
        s = self.settings
        temperature = body.get("temperature", 1.0) if s.temperature == "request" else float(s.temperature)
        max_tokens = min(int(body.get("max_tokens") or body.get("max_completion_tokens") or s.max_tokens), s.max_tokens)
        return {"temperature": temperature, "seed": s.seed, "n_predict": max_tokens, "cache_prompt": True, "id_slot": AGENT_SLOT}


AGENT_SLOT, SIDE_SLOT = 0, 1
ENGINE: Engine | None = None


def engine() -> Engine:
    assert ENGINE is not None, "engine not loaded"
    return ENGINE


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": "invalid_request_error"}}, status_code=status)


# ---------------------------------------------------------------- listing


async def health(request: Request) -> JSONResponse:
    # engine_url: the in-process llama.cpp server (loopback), for the tests that check how the service talks to it
    return JSONResponse({"status": "ok", "model": SETTINGS.model_name, "embedding": EMBEDDING_NAME, "engine_url": engine().llama_url})


async def models(request: Request) -> JSONResponse:
    now = int(time.time())
    return JSONResponse(
        {
            "object": "list",
            "data": [
                {"id": SETTINGS.model_name, "object": "model", "created": now, "owned_by": "local", "max_model_len": SETTINGS.context},
                {"id": EMBEDDING_NAME, "object": "model", "created": now, "owned_by": "local", "max_model_len": EMBEDDING_CONTEXT},
            ],
        }
    )


async def ollama_tags(request: Request) -> JSONResponse:
    return JSONResponse(
        {"models": [{"name": SETTINGS.model_name, "model": SETTINGS.model_name}, {"name": EMBEDDING_NAME, "model": EMBEDDING_NAME}]}
    )


async def ollama_show(request: Request) -> JSONResponse:
    body = await request.json()
    name = body.get("name") or body.get("model")
    if name == SETTINGS.model_name:
        info = {"general.architecture": "qwen2", "qwen2.context_length": SETTINGS.context}
        return JSONResponse({"capabilities": ["completion", "tools"], "model_info": info})
    if name == EMBEDDING_NAME:
        info = {"general.architecture": "bert", "bert.embedding_length": EMBEDDING_DIM, "bert.context_length": EMBEDDING_CONTEXT}
        return JSONResponse({"capabilities": ["embedding"], "model_info": info})
    return error(404, f"model {name!r} not found")


# ---------------------------------------------------------------- embeddings


async def embeddings(request: Request) -> JSONResponse:
    body = await request.json()
    inputs = body.get("input")
    if isinstance(inputs, str):
        inputs = [inputs]
    if not isinstance(inputs, list) or not all(isinstance(i, str) for i in inputs):
        return error(400, "input must be a string or a list of strings")
    vectors = await asyncio.to_thread(engine().embedder.encode, inputs, normalize_embeddings=True, batch_size=32)
    as_base64 = body.get("encoding_format") == "base64"  # the OpenAI SDK asks for base64 by default
    data = []
    for i, vec in enumerate(vectors):
        vec = np.asarray(vec, dtype=np.float32)
        emb = base64.b64encode(vec.tobytes()).decode() if as_base64 else vec.tolist()
        data.append({"object": "embedding", "index": i, "embedding": emb})
    tokens = sum(len(t.split()) for t in inputs)
    return JSONResponse(
        {"object": "list", "data": data, "model": EMBEDDING_NAME, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
    )


# ---------------------------------------------------------------- chat


@dataclass
class Plan:
    decision: tc.Decision  # what the model may produce
    prompt: str
    previous: list[tuple[str, str]]  # the calls made since the user's last message
    memory: dict[str, str]  # each memory block's latest value
    messages: list[dict]
    copied: set[tuple[str, ...]]  # word runs of the instructions, which an answer must not repeat

    def is_loop(self, reply: tc.Reply) -> bool:
        return tc.is_repeat(reply, self.previous, self.memory)

    @property
    def text_prompt(self) -> str:
        """The prompt without the tool instructions, for an answer in text (the grammar forbids a call anyway)."""
        return TEMPLATE.render(self.messages, None)


def _plan(body: dict) -> Plan:
    """From an OpenAI request: what the model may produce, the prompt, and what the loop guard needs."""
    messages = body.get("messages") or []
    tools = body.get("tools") or []
    previous = lp.calls_since_last_user(messages)
    decision = tc.decide(tools, body.get("tool_choice", "auto"), previous, lp.memory_labels(messages))
    prompt = TEMPLATE.render(messages, tools if decision.constrained else None, body.get("x_stable_prefix", True))
    memory = lp.memory_values(messages)
    return Plan(decision, prompt, previous, memory, messages, guards.instructions(messages, tools, memory, TEMPLATE))


def _payload(prompt: str, grammar: str | None, sampling: dict, stream: bool = False) -> dict:
    payload = {"prompt": prompt, "stream": stream, **sampling}
    if grammar:
        payload["grammar"] = grammar
    return payload


def _log_generation(purpose: str, result: dict) -> None:
    t = result.get("timings") or {}
    fields = {k: t.get(k) for k in ("prompt_n", "cache_n", "prompt_ms", "predicted_n", "predicted_ms")}
    LOG.info(json.dumps({"generation": purpose, **{k: round(v) if isinstance(v, float) else v for k, v in fields.items()}}))


async def _generate(prompt: str, grammar: str | None, sampling: dict, usage: dict | None = None, purpose: str = "reply") -> dict:
    response = await engine().http.post("/completion", json=_payload(prompt, grammar, sampling))
    if response.status_code != 200:
        raise RuntimeError(f"llama.cpp answered {response.status_code}: {response.text[:500]}")
    result = response.json()
    _log_generation(purpose, result)
    if usage is not None:  # a second look's tokens count towards the request's usage
        usage["completion_tokens"] += result.get("tokens_predicted", 0)
    return result


async def _instead_of_loop(plan: Plan, reply: tc.Reply, sampling: dict, usage: dict) -> tc.Reply | None:
    """The loop guard's answer to a call that repeats itself: text when text is allowed; when a call is
    required, a call to a tool not used yet this turn (None when there is no such tool: the reply stands)."""
    if plan.decision.allow_text:
        # From the prompt without tool instructions, in the side slot: from the agent's cached prompt the model
        # often "answered" with those instructions (350 tokens, 18 s, then answered again anyway). An echo left
        # is caught where every text answer is (never emptied here: that ended two evaluation turns with nothing).
        side = {**sampling, "id_slot": SIDE_SLOT}
        result = await _generate(plan.text_prompt, tc.TEXT_ONLY_GRAMMAR, side, usage, "loop guard: text")
        return tc.Reply(result.get("content", "").strip(), None)
    used = {name for name, _ in plan.previous} | {reply.tool_call["name"]}
    narrower = tc.steer_away(plan.decision, used)
    if narrower is None:
        return None
    result = await _generate(plan.prompt, tc.grammar_for(narrower), sampling, usage, "loop guard: another tool")
    return tc.reply_for(result.get("content", ""), narrower)


async def _persona_checked(plan: Plan, reply: tc.Reply, sampling: dict, usage: dict) -> tc.Reply:
    """A write to `persona` stands only if the model, asked plainly, says the note is about itself."""
    if not guards.persona_write(reply, plan.decision.labels):
        return reply
    # Asked only for `persona`: a sleeptime agent's `memory_persona` holds its own instructions, never facts.
    if reply.tool_call["arguments"]["label"] == guards.PERSONA:
        question = guards.persona_question(guards.last_user_text(plan.messages), guards.note_of(reply))
        short = {**sampling, "n_predict": 2, "id_slot": SIDE_SLOT}
        verdict = await _generate(question, guards.PERSONA_GRAMMAR, short, usage, "persona question")
        if verdict.get("content", "").strip() != "user":
            return reply
    to_human = guards.to_human(plan.decision, reply.tool_call["name"])
    result = await _generate(plan.prompt, tc.grammar_for(to_human), sampling, usage, "persona: write to human")
    return tc.reply_for(result.get("content", ""), to_human)


async def _answer_again(plan: Plan, echoed: str, sampling: dict, usage: dict) -> str:
    """An answer that copied the instructions, answered again without them in the prompt; whatever still copies
    them is cut off."""
    side = {**sampling, "id_slot": SIDE_SLOT}
    result = await _generate(plan.text_prompt, tc.TEXT_ONLY_GRAMMAR, side, usage, "echo: answer again")
    again = guards.without_echo(result.get("content", "").strip(), plan.copied)
    return again or guards.without_echo(echoed, plan.copied) or "Sorry, I lost my thread there. Could you say that again?"


async def _second_look(plan: Plan, reply: tc.Reply, sampling: dict, usage: dict) -> tc.Reply:
    """The loop guard, then the persona check on a call, or the echo check on text: what a whole reply (not one
    streamed as it came) may become. A text reply is never empty: that would end the turn with nothing."""
    if plan.is_loop(reply) and (instead := await _instead_of_loop(plan, reply, sampling, usage)):
        reply = instead
    if reply.tool_call:
        return await _persona_checked(plan, reply, sampling, usage)
    if not reply.content or guards.echo_start(reply.content, plan.copied) is not None:
        return tc.Reply(await _answer_again(plan, reply.content or "", sampling, usage), None)
    return reply


async def _complete(body: dict) -> tuple[tc.Reply, dict]:
    """Run one chat turn; returns the reply and token usage."""
    plan = _plan(body)
    sampling = engine().sampling(body)
    result = await _generate(plan.prompt, tc.grammar_for(plan.decision), sampling)
    reply = tc.reply_for(result.get("content", ""), plan.decision)
    usage = {"prompt_tokens": result.get("tokens_evaluated", 0), "completion_tokens": result.get("tokens_predicted", 0)}
    reply = await _second_look(plan, reply, sampling, usage)
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    usage["timings"] = result.get("timings", {})  # llama.cpp's own figures: prompt_n, prompt_per_second, ...
    return reply, usage


def _message(reply: tc.Reply) -> tuple[dict, str]:
    calls = reply.openai_tool_calls()
    message = {"role": "assistant", "content": None if calls else reply.content, "tool_calls": calls}
    return message, ("tool_calls" if calls else "stop")


async def chat_completions(request: Request):
    body = await request.json()
    if SETTINGS.dump_dir:  # debugging aid: keep each request as the Letta server sent it
        Path(SETTINGS.dump_dir).mkdir(parents=True, exist_ok=True)
        (Path(SETTINGS.dump_dir) / f"{time.time():.3f}.json").write_text(json.dumps(body, indent=1))
    if body.get("model") not in (SETTINGS.model_name, None):
        return error(404, f"model {body.get('model')!r} not served here; this service serves {SETTINGS.model_name!r}")
    completion_id = "chatcmpl-" + uuid.uuid4().hex
    created = int(time.time())
    if body.get("stream"):
        return StreamingResponse(_stream(body, completion_id, created), media_type="text/event-stream")
    reply, usage = await _complete(body)
    message, finish = _message(reply)
    return JSONResponse(
        {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": SETTINGS.model_name,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": _public_usage(usage),
            "timings": usage["timings"],
        }
    )


def _public_usage(usage: dict) -> dict:
    return {
        "prompt_tokens": usage["prompt_tokens"],
        "completion_tokens": usage["completion_tokens"],
        "total_tokens": usage["total_tokens"],
        "prompt_tokens_details": {"cached_tokens": usage.get("timings", {}).get("cache_n", 0)},
    }


def _chunk(completion_id: str, created: int, delta: dict, finish: str | None = None, usage: dict | None = None) -> str:
    choices = [] if usage is not None and not delta and finish is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    data = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": SETTINGS.model_name, "choices": choices}
    if usage is not None:
        data["usage"] = usage
    return f"data: {json.dumps(data)}\n\n"


async def _stream(body: dict, completion_id: str, created: int):
    """SSE: text is streamed token by token (held back a few words by the echo watch); a tool call is sent whole
    once its JSON is complete and checked."""
    plan = _plan(body)
    sampling = engine().sampling(body)
    payload = _payload(plan.prompt, tc.grammar_for(plan.decision), sampling, stream=True)
    yield _chunk(completion_id, created, {"role": "assistant", "content": ""})
    text, streaming_text, usage = "", False, {"prompt_tokens": 0, "completion_tokens": 0}
    watch = guards.EchoWatch(plan.copied)
    async with engine().http.stream("POST", "/completion", json=payload) as response:
        async for line in response.aiter_lines():
            if not line.startswith("data: "):
                continue
            event = json.loads(line[6:])
            piece = event.get("content", "")
            text += piece
            if not streaming_text and text.strip() and not text.lstrip().startswith("{"):
                streaming_text = True
                piece = text.lstrip()
            if streaming_text and piece and (safe := watch.feed(piece)):
                yield _chunk(completion_id, created, {"content": safe})
            if event.get("stop"):
                usage = {"prompt_tokens": event.get("tokens_evaluated", 0), "completion_tokens": event.get("tokens_predicted", 0)}
                _log_generation("reply (streamed)", event)
            if watch.echo_at is not None:  # it started copying its prompt: stop generating (closing cancels it)
                LOG.info(json.dumps({"generation": "reply (streamed)", "stopped": "echo"}))
                break
    if streaming_text:
        if watch.echo_at is None:
            if rest := watch.finish():
                yield _chunk(completion_id, created, {"content": rest})
        elif not watch.sent:
            yield _chunk(completion_id, created, {"content": await _answer_again(plan, text, sampling, usage)})
        reply = tc.Reply(text.strip(), None)
    else:
        reply = await _second_look(plan, tc.reply_for(text, plan.decision), sampling, usage)
        if reply.content:
            # Held back because it started like a JSON call but is none (cut off at the token limit), or the loop
            # guard's answer: sent whole now.
            yield _chunk(completion_id, created, {"content": reply.content})
    calls = reply.openai_tool_calls()
    if calls:
        delta = {"tool_calls": [{"index": 0, **calls[0]}]}
        yield _chunk(completion_id, created, delta)
    yield _chunk(completion_id, created, {}, finish="tool_calls" if calls else "stop")
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    if (body.get("stream_options") or {}).get("include_usage"):
        yield _chunk(completion_id, created, {}, usage=_public_usage(usage))
    yield "data: [DONE]\n\n"


app = Starlette(
    routes=[
        Route("/health", health),
        Route("/v1/models", models),
        Route("/api/tags", ollama_tags),
        Route("/api/show", ollama_show, methods=["POST"]),
        Route("/v1/embeddings", embeddings, methods=["POST"]),
        # Letta's Ollama provider sends embeddings to the base URL without /v1.
        Route("/embeddings", embeddings, methods=["POST"]),
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
    ]
)


def main() -> None:
    global ENGINE, SETTINGS, TEMPLATE
    SETTINGS = Settings.from_args()
    try:
        TEMPLATE = for_model(SETTINGS.model_name)
    except ValueError as err:
        raise SystemExit(str(err)) from None
    if not SETTINGS.model_path or not Path(SETTINGS.model_path).is_file():
        raise SystemExit(f"--model-path does not point to a GGUF file: {SETTINGS.model_path!r}")
    ENGINE = Engine(SETTINGS)
    uvicorn.run(app, host=SETTINGS.host, port=SETTINGS.port, log_level="warning")


if __name__ == "__main__":
    main()
