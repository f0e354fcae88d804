"""Read a fresh agent's static instructions and tools into the local model's cache when the stack starts, so the
learner's first turn does not wait while two cores read them (most of a cold first turn's 29 s).

Letta builds the request it would send the model for a new agent (`preview-raw-payload`: no model call, and the
agent is deleted at once); the model service reads that prompt into llama.cpp's cache (`/v1/prefill`). Every
fresh agent with the default tools shares the prompt's start, which ends where its memory blocks begin (the
model service puts the static instructions first, then the tools, then memory: stack/local_model/chat_templates.py).

    python -m stack.warm_up    # what `python -m stack start` runs in the background after starting the model
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import httpx

from course import facts
from course.stack_config import Config
from stack.processes import LOGS

LOG = LOGS / "warm-up.log"
# The blocks a lesson's first agent has (labels matter: the memory tools' descriptions name them).
BLOCKS = [{"label": "persona", "value": "I am a helpful assistant."}, {"label": "human", "value": "Nothing known yet."}]


def prefill(cfg: Config, **agent) -> dict:
    """Create an agent (the course's defaults, overridden by `agent`), have Letta build its first request, delete
    it, and read the request's prompt into the model's cache; returns the model service's figures."""
    from letta_client import Letta

    letta = Letta(base_url=cfg.letta_url, api_key=cfg.password, max_retries=0, timeout=60)
    settings = {"model": facts.LOCAL_MODEL.handle, "embedding": facts.EMBEDDING_MODEL.handle, "memory_blocks": BLOCKS, **agent}
    created = letta.agents.create(name=f"course-warm-up-{uuid.uuid4().hex[:8]}", **settings)
    try:
        payload = letta.post(
            f"/v1/agents/{created.id}/messages/preview-raw-payload",
            body={"messages": [{"role": "user", "content": "Hi!"}]},
            cast_to=dict[str, object],
        )
    finally:
        letta.agents.delete(created.id)
    response = httpx.post(f"{cfg.model_url}/v1/prefill", json=payload, timeout=600)
    response.raise_for_status()
    return response.json()


def in_background() -> None:
    """Start the warm-up and return at once: it takes as long as reading the prompt (about 25 s on two cores),
    and a turn that comes meanwhile waits for it, then reuses what it read."""
    LOG.parent.mkdir(parents=True, exist_ok=True)
    with LOG.open("a") as log:
        subprocess.Popen([sys.executable, "-m", "stack.warm_up"], cwd=facts.ROOT, stdout=log, stderr=log, start_new_session=True)


def main() -> None:
    try:
        print(json.dumps({"warm_up": prefill(Config.load())}), flush=True)
    except Exception as err:  # best effort: without it the first turn is only slower
        print(json.dumps({"warm_up": "skipped", "why": f"{type(err).__name__}: {err}"[:500]}), flush=True)


if __name__ == "__main__":
    main()
