"""The models, loaded once: llama.cpp for chat (xllamacpp, called in this process) and sentence-transformers for
embeddings; and the two ways to ask llama.cpp for text, whole or as it comes.

llama.cpp is called directly (`Server.handle_completions`), not over its own HTTP port: that loopback hop cost
about 50 ms a call (a 4-token cached completion: 192 ms direct vs 243 ms over HTTP, median of 30 interleaved pairs),
and a turn makes one to three calls. The call blocks and releases the GIL, so it runs on a thread of its own."""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import socket
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import httpx

from course import facts

from . import prompt_parts
from .chat_templates import TURN_END, ChatML
from .settings import Settings
from .slots import Marks, SlotTable

# One JSON line per generation and per guard action in the service's log (.course/logs/model.log): where a turn's
# seconds went (prompt tokens processed vs reused, decode) and which second looks ran.
LOG = logging.getLogger("course.model")
logging.getLogger("httpx").setLevel(logging.WARNING)  # its line per request to llama.cpp's port is noise in that log

# Slots of the full context each. An agent's prompt goes to one of AGENT_SLOTS (slots.py: each conversation back to
# the slot that holds it); the guards' short side questions and prompts without tools go to SIDE_SLOT, so they
# never evict an agent's cached prompt (a re-read costs ~25 s). One generation at a time per slot (Engine.slot);
# generations in different slots run together and share the cores.
AGENT_SLOTS, SIDE_SLOT = (0, 1, 2), 3
WARM_UP_SLOT = AGENT_SLOTS[0]  # the one the warm-up reads into; its state is then copied to the others
PLACE = -1  # the id_slot of an agent's prompt until the engine places it (llama.cpp's own "any slot")


# Each generation holds a thread while llama.cpp works; a pool of its own keeps the embeddings' threads free.
# One generation per slot at a time, queued here (Engine.slot): two requests sent to one slot at once were not
# kept apart by llama.cpp. Measured: a greeting to one agent while another agent's turn ran in the same slot made
# that other agent save "The user is excited to chat with you.", words of the greeting's turn, not its own user's
# (tests/test_local_model.py). Queuing here costs nothing: the slot could serve one of them at a time anyway.
_GENERATIONS = ThreadPoolExecutor(max_workers=32, thread_name_prefix="llama")
_END = object()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((facts.LOOPBACK, 0))
        return s.getsockname()[1]


def _native(chunk: dict) -> dict:
    """llama.cpp's OpenAI-shaped completion (or chunk of one) in the shape the service reads: `content`, and on the
    last one `stop` with the token counts and llama.cpp's timings."""
    if "error" in chunk:
        raise RuntimeError(f"llama.cpp refused the request: {chunk['error'].get('message', chunk['error'])}")
    choice = chunk["choices"][0]
    event = {"content": choice.get("text") or ""}
    if choice.get("finish_reason") is not None:
        usage = chunk.get("usage") or {}
        event.update(
            stop=True,
            tokens_evaluated=usage.get("prompt_tokens", 0),
            tokens_predicted=usage.get("completion_tokens", 0),
            timings=chunk.get("timings") or {},
        )
    return event


def log_generation(purpose: str, result: dict, parts: dict[str, int] | None = None) -> None:
    """`parts`: the prompt's tokens by part (prompt_parts.py), so the log shows which parts were read again."""
    t = result.get("timings") or {}
    fields = {k: t.get(k) for k in ("prompt_n", "cache_n", "prompt_ms", "predicted_n", "predicted_ms")}
    line = {"generation": purpose, **{k: round(v) if isinstance(v, float) else v for k, v in fields.items()}}
    LOG.info(json.dumps({**line, **({"parts": parts} if parts else {})}))


class Engine:
    def __init__(self, settings: Settings, template: ChatML):
        import xllamacpp

        params = xllamacpp.CommonParams()
        params.model.path = settings.model_path
        params.n_ctx = settings.context * (len(AGENT_SLOTS) + 1)  # the agent slots and SIDE_SLOT, the full context each
        params.n_parallel = len(AGENT_SLOTS) + 1
        params.cpuparams.n_threads = settings.threads
        params.cpuparams_batch.n_threads = settings.threads
        params.port = _free_port()  # xllamacpp always opens its HTTP port; the service never calls it
        params.verbosity = 1
        params.warmup = False
        # The host-memory prompt cache keeps the KV of earlier prompts. llama.cpp consults it only when a
        # request would keep less than half of what its slot holds (get_available_slot: f_keep < 0.5): switching
        # to an unrelated prompt parks the old one and may restore a better one; two agents that share the
        # instructions and tools just share that start, and the rest of the prompt is read again.
        params.cache_ram_mib = 4096
        if settings.cache_dir:  # llama.cpp saves and restores a slot's prompt state there (save_prompt, restore_prompt)
            Path(settings.cache_dir).mkdir(parents=True, exist_ok=True)
            params.slot_save_path = str(Path(settings.cache_dir)) + "/"  # llama.cpp appends the file name as it is
        self.llama = xllamacpp.Server(params)
        # llama.cpp's own HTTP port, used only to tokenize a prompt for the log (about 10 ms for 2,000 tokens) and to
        # save and restore the warm-up's prompt state
        self._llama_http = httpx.Client(base_url=f"http://{facts.LOOPBACK}:{params.port}", timeout=10)
        self.template = template

        pkg_file = importlib.import_module(facts.EMBEDDING_MODEL.package).__file__  # the package carries the model
        from sentence_transformers import SentenceTransformer

        self.embedder = SentenceTransformer(str(Path(pkg_file).parent / "model"), device="cpu")
        self.settings = settings
        self._slots = {slot: asyncio.Lock() for slot in (*AGENT_SLOTS, SIDE_SLOT)}
        self.table = SlotTable(AGENT_SLOTS)

    def slot(self, sampling: dict) -> asyncio.Lock:
        """The lock a generation holds for the whole of its run in its slot."""
        return self._slots[sampling["id_slot"]]

    def placed(self, prompt: str, sampling: dict) -> dict:
        """`sampling` with its slot: an agent's prompt (PLACE) goes where the slot table says (and is noted there
        at once, so that the next placement sees it); a slot named outright is noted when it runs (_running)."""
        slot = sampling.get("id_slot", PLACE)
        if slot == PLACE:
            slot = self.table.place(prompt, self.marks(prompt))
        return {**sampling, "id_slot": slot}

    def marks(self, prompt: str) -> Marks:
        """Where the prompt's parts end, as the slot table reads them."""
        ends = dict(prompt_parts.part_ends(prompt, self.template))
        messages = ends.get("memory", 0)
        first_end = prompt.find(TURN_END, messages) if messages else -1
        return Marks(ends.get("tools", ends.get("instructions", 0)), messages, first_end if first_end >= 0 else len(prompt))

    def _running(self, sampling: dict, prompt: str) -> None:
        """Noted again once the slot is ours: generations may run in another order than they were placed."""
        if sampling["id_slot"] in AGENT_SLOTS:
            self.hold(sampling["id_slot"], prompt)

    def hold(self, slot: int, prompt: str) -> None:
        """Note that agent slot `slot` holds `prompt` (read there, or restored from a saved state)."""
        self.table.hold(slot, prompt, self.marks(prompt))

    def sampling(self, body: dict) -> dict:
        s = self.settings
        temperature = body.get("temperature", 1.0) if s.temperature == "request" else float(s.temperature)
        max_tokens = min(int(body.get("max_tokens") or body.get("max_completion_tokens") or s.max_tokens), s.max_tokens)
        return {"temperature": temperature, "seed": s.seed, "n_predict": max_tokens, "cache_prompt": True, "id_slot": PLACE}

    def _parts(self, prompt: str) -> dict[str, int] | None:
        """The prompt's tokens by part, for the log; None if llama.cpp could not tokenize it (the log goes on)."""
        try:
            response = self._llama_http.post("/tokenize", json={"content": prompt, "with_pieces": True})
            return prompt_parts.token_counts(prompt, response.raise_for_status().json()["tokens"], self.template)
        except (httpx.HTTPError, KeyError, ValueError):
            return None

    def saved_prompt(self, prefix: str) -> str | None:
        """The file of the prompt state saved under `prefix` (server.prompt_state_file), if there is one."""
        files = sorted(Path(self.settings.cache_dir).glob(f"{prefix}-*.bin")) if self.settings.cache_dir else []
        return files[-1].name if files else None

    async def restore_prompt(self, slot: int, filename: str, prompt: str) -> dict | None:
        """Load the state of `prompt` saved earlier into `slot`: its tokens and their KV (about 30 MB for 1,000
        tokens), in milliseconds instead of ~20 s of reading. None if it could not be loaded."""
        async with self._slots[slot]:
            restored = await self._slot_action(slot, "restore", filename)
            if restored and slot in AGENT_SLOTS:
                self.hold(slot, prompt)
            return restored

    async def share_warm_up(self, filename: str, prompt: str) -> None:
        """The warm-up's saved state (`filename`, of `prompt`) in every other agent slot no conversation has used
        yet (a copy takes milliseconds): a new agent then finds its instructions and tools read in any slot."""
        for slot in AGENT_SLOTS:
            async with self._slots[slot]:
                if slot not in self.table.held and await self._slot_action(slot, "restore", filename):
                    self.hold(slot, prompt)
                    LOG.info(json.dumps({"prompt_state": "copied", "slot": slot}))

    async def save_prompt(self, slot: int, filename: str) -> dict | None:
        """Save what `slot` holds now, for restore_prompt after the next start; older files for that slot go."""
        if not self.settings.cache_dir:
            return None
        async with self._slots[slot]:
            saved = await self._slot_action(slot, "save", filename)
        if saved:
            for old in Path(self.settings.cache_dir).glob(f"{filename.split('-')[0]}-*.bin"):
                if old.name != filename:
                    old.unlink(missing_ok=True)
        return saved

    async def _slot_action(self, slot: int, action: str, filename: str) -> dict | None:
        call = partial(self._llama_http.post, f"/slots/{slot}", params={"action": action}, json={"filename": filename}, timeout=120)
        try:
            response = await asyncio.get_running_loop().run_in_executor(_GENERATIONS, call)
            return response.raise_for_status().json()
        except (httpx.HTTPError, ValueError) as err:  # best effort: without it the prompt is only read again
            LOG.info(json.dumps({"prompt_state": action, "slot": slot, "failed": f"{type(err).__name__}: {err}"[:300]}))
            return None

    @staticmethod
    def _payload(prompt: str, grammar: str | None, sampling: dict, stream: bool) -> dict:
        return {"prompt": prompt, "stream": stream, **sampling, **({"grammar": grammar} if grammar else {})}

    async def complete(self, prompt: str, grammar: str | None, sampling: dict, usage: dict | None = None, purpose: str = "reply") -> dict:
        """One whole generation (the guards' second looks); its tokens count towards `usage` when given."""
        sampling = self.placed(prompt, sampling)
        payload = self._payload(prompt, grammar, sampling, stream=False)
        loop = asyncio.get_running_loop()
        async with self.slot(sampling):
            self._running(sampling, prompt)
            result = _native(await loop.run_in_executor(_GENERATIONS, self.llama.handle_completions, payload))
        log_generation(purpose, result, await loop.run_in_executor(_GENERATIONS, self._parts, prompt))
        if usage is not None:
            usage["completion_tokens"] += result.get("tokens_predicted", 0)
        return result

    async def stream(self, prompt: str, grammar: str | None, sampling: dict) -> AsyncIterator[dict]:
        """A generation as it comes: `content` pieces, the last with `stop` (and the figures). Leaving the loop early
        cancels the generation: llama.cpp stops at its next token."""
        sampling = self.placed(prompt, sampling)
        loop, pieces, cancelled = asyncio.get_running_loop(), asyncio.Queue(), threading.Event()
        seen = {"chunks": 0, "finished": False}

        def on_chunk(chunk: dict) -> bool:  # on llama.cpp's thread; True asks it to stop
            seen["chunks"] += 1
            seen["finished"] = "error" in chunk or chunk["choices"][0].get("finish_reason") is not None
            if not cancelled.is_set():
                try:
                    loop.call_soon_threadsafe(pieces.put_nowait, chunk)
                except RuntimeError:  # the event loop is gone (the service is stopping)
                    cancelled.set()
            return cancelled.is_set()

        def generate() -> None:
            try:
                self.llama.handle_completions(self._payload(prompt, grammar, sampling, stream=True), on_chunk)
            finally:
                if cancelled.is_set() and not seen["finished"]:  # how far llama.cpp got: proof that leaving stops it
                    LOG.info(json.dumps({"generation": "reply", "cancelled_after_chunks": seen["chunks"]}))
                else:
                    loop.call_soon_threadsafe(pieces.put_nowait, _END)

        lock = self.slot(sampling)
        await lock.acquire()
        self._running(sampling, prompt)
        done = loop.run_in_executor(_GENERATIONS, generate)
        try:
            while (chunk := await pieces.get()) is not _END:
                event = _native(chunk)
                if event.get("stop"):
                    log_generation("reply", event, await loop.run_in_executor(_GENERATIONS, self._parts, prompt))
                yield event
            await done  # an error in the call itself surfaces here
        finally:
            cancelled.set()
            # the slot is free once llama.cpp has stopped (at its next token when cancelled), not before
            done.add_done_callback(lambda _: lock.release())
