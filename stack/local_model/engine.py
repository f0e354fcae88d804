"""The models, loaded once: llama.cpp for chat (xllamacpp, in this process, answering on an internal port) and
sentence-transformers for embeddings; and the two ways to ask llama.cpp for text, whole or as it comes."""

from __future__ import annotations

import importlib
import json
import logging
import socket
from collections.abc import AsyncIterator
from pathlib import Path

from course import facts

from . import llama_http
from .settings import Settings

# One JSON line per generation and per guard action in the service's log (.course/logs/model.log): where a turn's
# seconds went (prompt tokens processed vs reused, decode) and which second looks ran.
LOG = logging.getLogger("course.model")

# Two slots of the full context each: the agents' prompts always go to slot AGENT_SLOT (one at a time: on two
# cores, parallel decoding only splits the same CPU), the guards' short side questions and prompts without
# tools to SIDE_SLOT, so they never evict the agents' cached prompt (a re-read costs ~25 s).
AGENT_SLOT, SIDE_SLOT = 0, 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((facts.LOOPBACK, 0))
        return s.getsockname()[1]


def log_generation(purpose: str, result: dict) -> None:
    t = result.get("timings") or {}
    fields = {k: t.get(k) for k in ("prompt_n", "cache_n", "prompt_ms", "predicted_n", "predicted_ms")}
    LOG.info(json.dumps({"generation": purpose, **{k: round(v) if isinstance(v, float) else v for k, v in fields.items()}}))


class Engine:
    def __init__(self, settings: Settings):
        import xllamacpp

        params = xllamacpp.CommonParams()
        params.model.path = settings.model_path
        params.n_ctx = settings.context * 2  # AGENT_SLOT and SIDE_SLOT, the full context each
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
        self.llama_url = f"http://{facts.LOOPBACK}:{params.port}"
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

    @staticmethod
    def _payload(prompt: str, grammar: str | None, sampling: dict, stream: bool) -> dict:
        return {"prompt": prompt, "stream": stream, **sampling, **({"grammar": grammar} if grammar else {})}

    async def complete(self, prompt: str, grammar: str | None, sampling: dict, usage: dict | None = None, purpose: str = "reply") -> dict:
        """One whole generation (the guards' second looks); its tokens count towards `usage` when given."""
        response = await self.http.post("/completion", json=self._payload(prompt, grammar, sampling, stream=False))
        if response.status_code != 200:
            raise RuntimeError(f"llama.cpp answered {response.status_code}: {response.text[:500]}")
        result = response.json()
        log_generation(purpose, result)
        if usage is not None:
            usage["completion_tokens"] += result.get("tokens_predicted", 0)
        return result

    async def stream(self, prompt: str, grammar: str | None, sampling: dict) -> AsyncIterator[dict]:
        """A generation as it comes: llama.cpp's events, the last with `stop` (and the figures). Leaving the loop
        early closes the connection, which cancels the generation."""
        async with self.http.stream("POST", "/completion", json=self._payload(prompt, grammar, sampling, stream=True)) as response:
            if response.status_code != 200:
                raise RuntimeError(f"llama.cpp answered {response.status_code}: {(await response.aread())[:500]!r}")
            async for line in response.aiter_lines():
                if line.startswith("data: "):
                    event = json.loads(line[6:])
                    if event.get("stop"):
                        log_generation("reply", event)
                    yield event
