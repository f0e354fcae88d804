"""The local model service: an OpenAI-compatible API on loopback for the Letta server.

- Chat: a Qwen2.5 Instruct GGUF run by llama.cpp (engine.py: xllamacpp, in this process, on an internal port).
  chat_templates.py writes the prompt (the model family's layout, ordered for the prompt cache); requests with
  `tools` are decoded under a grammar (tool_calls.py) so the model returns real `tool_calls`; letta_prompt.py
  reads what Letta's prompts hold (memory blocks, the turn's calls); chat.py runs a turn, streamed or not, by one
  path, and guards.py checks the result.
- Embeddings: all-MiniLM-L6-v2 through sentence-transformers (384-dimensional vectors).
- Listing: `/v1/models` (OpenAI/vLLM style) and `/api/tags` + `/api/show` (Ollama style). The Letta server
  registers the service through `OLLAMA_BASE_URL`, the one built-in provider that lists both chat and
  embedding models, so the handles are `ollama/<chat model>` and `ollama/<embedding model>`.

Settings: the command line (settings.py, `--help`), given by the stack from `.env`'s LOCAL_MODEL_* variables;
the models themselves are course/facts.py's. Letta always asks for temperature 1.0, which makes small models
erratic, so by default the service decodes greedily (temperature 0, fixed seed; `--temperature request` honours
the client's). `create_app` builds the app around one engine, so everything a request needs is in `app.state`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import time
from pathlib import Path

import numpy as np
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from course import facts

from . import prompt_parts
from .chat import Plan, Turn, completion_id, openai_message
from .chat_templates import ChatML, for_model
from .engine import LOG, SIDE_SLOT, WARM_UP_SLOT, Engine
from .settings import Settings

EMBEDDING = facts.EMBEDDING_MODEL


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": "invalid_request_error"}}, status_code=status)


def _state(request: Request) -> tuple[Settings, Engine, ChatML]:
    state = request.app.state
    return state.settings, state.engine, state.template


# ---------------------------------------------------------------- listing


async def health(request: Request) -> JSONResponse:
    settings, _, _ = _state(request)
    return JSONResponse({"status": "ok", "model": settings.model_name, "embedding": EMBEDDING.name})


async def models(request: Request) -> JSONResponse:
    settings, now = request.app.state.settings, int(time.time())
    return JSONResponse(
        {
            "object": "list",
            "data": [
                {"id": settings.model_name, "object": "model", "created": now, "owned_by": "local", "max_model_len": settings.context},
                {"id": EMBEDDING.name, "object": "model", "created": now, "owned_by": "local", "max_model_len": EMBEDDING.context_window},
            ],
        }
    )


async def ollama_tags(request: Request) -> JSONResponse:
    name = request.app.state.settings.model_name
    return JSONResponse({"models": [{"name": name, "model": name}, {"name": EMBEDDING.name, "model": EMBEDDING.name}]})


async def ollama_show(request: Request) -> JSONResponse:
    settings = request.app.state.settings
    body = await request.json()
    name = body.get("name") or body.get("model")
    if name == settings.model_name:
        info = {"general.architecture": "qwen2", "qwen2.context_length": settings.context}
        return JSONResponse({"capabilities": ["completion", "tools"], "model_info": info})
    if name == EMBEDDING.name:
        info = {
            "general.architecture": "bert",
            "bert.embedding_length": EMBEDDING.dimensions,
            "bert.context_length": EMBEDDING.context_window,
        }
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
    embedder = request.app.state.engine.embedder
    vectors = await asyncio.to_thread(embedder.encode, inputs, normalize_embeddings=True, batch_size=32)
    as_base64 = body.get("encoding_format") == "base64"  # the OpenAI SDK asks for base64 by default
    data = []
    for i, vec in enumerate(vectors):
        vec = np.asarray(vec, dtype=np.float32)
        emb = base64.b64encode(vec.tobytes()).decode() if as_base64 else vec.tolist()
        data.append({"object": "embedding", "index": i, "embedding": emb})
    tokens = sum(len(t.split()) for t in inputs)
    return JSONResponse(
        {"object": "list", "data": data, "model": EMBEDDING.name, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
    )


# ---------------------------------------------------------------- chat


async def chat_completions(request: Request):
    settings, engine, template = _state(request)
    body = await request.json()
    if settings.dump_dir:  # debugging aid: keep each request as the Letta server sent it
        Path(settings.dump_dir).mkdir(parents=True, exist_ok=True)
        (Path(settings.dump_dir) / f"{time.time():.3f}.json").write_text(json.dumps(body, indent=1))
    if body.get("model") not in (settings.model_name, None):
        return error(404, f"model {body.get('model')!r} not served here; this service serves {settings.model_name!r}")
    turn, cid, created = Turn(engine, body, template), completion_id(), int(time.time())
    if body.get("stream"):
        return StreamingResponse(_sse(turn, body, settings.model_name, cid, created), media_type="text/event-stream")
    reply = await turn.run()
    message, finish = openai_message(reply)
    return JSONResponse(
        {
            "id": cid,
            "object": "chat.completion",
            "created": created,
            "model": settings.model_name,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": turn.public_usage(),
            "timings": turn.usage["timings"],
        }
    )


async def prefill(request: Request) -> JSONResponse:
    """Read a chat request's prompts into llama.cpp's cache without answering (one token is generated and dropped):
    the prompt with tools in the agents' slot, and the one without them in the side slot, which the guards' second
    looks use. The stack sends a fresh agent's first request here at start, so a first turn reuses the static
    instructions and tools instead of reading them again (stack/warm_up.py).

    What was read is saved (--cache-dir), and the next start with the same model restores it instead of reading it
    again (about 30 s of two cores' work after every restart but the first); if the instructions or tools changed,
    only what differs from the saved state is read."""
    settings, engine, template = _state(request)
    body = await request.json()
    plan, figures, states = Plan.of(body, template), {}, {}
    for name, prompt, slot in (("agent", plan.prompt, WARM_UP_SLOT), ("side", plan.text_prompt, SIDE_SLOT)):
        state = states[name] = prompt_state_file(name, prompt, settings, template)
        saved = engine.saved_prompt(state.rsplit("-", 1)[0])  # any state of this slot and model
        restored = await engine.restore_prompt(slot, saved, prompt) if saved else None
        if restored is not None:
            tokens, ms = restored.get("n_restored", 0), round((restored.get("timings") or {}).get("restore_ms") or 0)
            LOG.info(json.dumps({"prompt_state": "restored", "slot": name, "tokens": tokens, "ms": ms}))
            if saved == state:
                figures[name] = {"prompt_tokens": 0, "cached_tokens": tokens, "ms": ms, "restored": True}
                continue
        # A state saved for other instructions or tools still holds their common start: only the rest is read.
        result = await engine.complete(prompt, None, {**engine.sampling(body), "n_predict": 1, "id_slot": slot}, purpose=f"prefill: {name}")
        t = result.get("timings") or {}
        figures[name] = {"prompt_tokens": result.get("tokens_evaluated", 0), "cached_tokens": t.get("cache_n", 0), "ms": t.get("prompt_ms")}
        await engine.save_prompt(slot, state)
    if engine.saved_prompt(states["agent"].rsplit("-", 1)[0]) == states["agent"]:
        await engine.share_warm_up(states["agent"], plan.prompt)
    return JSONResponse(figures)


def prompt_state_file(name: str, prompt: str, settings: Settings, template: ChatML) -> str:
    """The file a slot's prompt state is saved in: `{name}-{model}-{start}.bin`. {model} names the model file and
    context (a state is restored only for the same ones: another model's KV would be garbage); {start} the prompt's
    stable start, its instructions and tools (the memory section carries the time, and a fresh agent's differs)."""
    ends = dict(prompt_parts.part_ends(prompt, template))
    stable = prompt[: ends.get("tools", ends.get("instructions", len(prompt)))]
    model = Path(settings.model_path)
    model_key = hashlib.sha256(f"{model.resolve()}|{model.stat().st_size}|{settings.context}".encode()).hexdigest()[:12]
    return f"{name}-{model_key}-{hashlib.sha256(stable.encode()).hexdigest()[:16]}.bin"


def _chunk(model: str, cid: str, created: int, delta: dict, finish: str | None = None, usage: dict | None = None) -> str:
    choices = [] if usage is not None and not delta and finish is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    data = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model, "choices": choices}
    if usage is not None:
        data["usage"] = usage
    return f"data: {json.dumps(data)}\n\n"


async def _sse(turn: Turn, body: dict, model: str, cid: str, created: int):
    """The same turn as server-sent events: text chunks as the turn sends them, then a call whole, then the end."""
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    async def send(piece: str) -> None:
        await queue.put(_chunk(model, cid, created, {"content": piece}))

    async def run() -> list[dict] | None:
        try:
            return (await turn.run(send)).openai_tool_calls()
        finally:
            await queue.put(None)

    yield _chunk(model, cid, created, {"role": "assistant", "content": ""})
    task = asyncio.create_task(run())
    try:
        while (chunk := await queue.get()) is not None:
            yield chunk
        calls = await task
    finally:
        task.cancel()  # the client went away: stop generating
    if calls:
        yield _chunk(model, cid, created, {"tool_calls": [{"index": 0, **calls[0]}]})
    yield _chunk(model, cid, created, {}, finish="tool_calls" if calls else "stop")
    if (body.get("stream_options") or {}).get("include_usage"):
        yield _chunk(model, cid, created, {}, usage=turn.public_usage())
    yield "data: [DONE]\n\n"


def create_app(settings: Settings, engine: Engine, template: ChatML) -> Starlette:
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
            Route("/v1/prefill", prefill, methods=["POST"]),
        ]
    )
    app.state.settings, app.state.engine, app.state.template = settings, engine, template
    return app


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    settings = Settings.from_args()
    if not settings.model_path or not Path(settings.model_path).is_file():
        raise SystemExit(f"--model-path does not point to a GGUF file: {settings.model_path!r}")
    try:
        template = for_model(settings.model_name)  # before the models load: an unknown family fails at once
    except ValueError as err:
        raise SystemExit(str(err)) from None
    uvicorn.run(create_app(settings, Engine(settings, template), template), host=settings.host, port=settings.port, log_level="warning")


if __name__ == "__main__":
    main()
