"""A bigger room's path: the chat model served by an OpenAI-compatible engine that Letta registers from the
provider settings `.env` passes through (`VLLM_API_BASE`, stack/parts.py PROVIDER_KEYS), not by the course's own
`ollama/` registration. The engine here is the course's model service reached as a vLLM-style provider (it answers
`/v1/models` with `max_model_len`, as vLLM does), and lesson 00 runs on it from top to bottom.

The server is a second Letta on the stack's database, started with the stack's own `letta_env`, so that the running
stack is left as it is."""

from __future__ import annotations

import dataclasses

import nbformat
import pytest

from course import facts
from runner.execute import NOTEBOOKS, run_lesson
from stack import parts
from stack.second_server import second_server

pytestmark = pytest.mark.stack

VLLM_HANDLE = f"vllm/{facts.LOCAL_MODEL.name}"  # Letta's VLLMProvider: "vllm/" + the id /v1/models reports


@pytest.fixture(scope="module")
def vllm_server(stack_config, model_url):
    # What a learner's .env line `VLLM_API_BASE=http://<engine>/v1` becomes in the server's environment.
    cfg = dataclasses.replace(stack_config, env={**stack_config.env, "VLLM_API_BASE": model_url})
    env = parts.letta_env(cfg)
    assert env["VLLM_API_BASE"] == model_url, "the stack does not pass VLLM_API_BASE to the Letta server"
    with second_server(env, "the Letta server with a vLLM provider") as url:
        yield url


def test_the_engine_is_registered_as_a_vllm_provider(vllm_server, stack_config):
    from letta_client import Letta

    letta = Letta(base_url=vllm_server, api_key=stack_config.password or "self-hosted")
    models = {m.handle: m for m in letta.models.list()}
    assert VLLM_HANDLE in models, sorted(models)
    chat = models[VLLM_HANDLE]
    # Letta reaches it with its OpenAI client at the engine's URL, under the provider named "vllm".
    assert (chat.provider_name, chat.model_endpoint_type, chat.model_endpoint) == ("vllm", "openai", stack_config.model_url + "/v1")
    assert chat.context_window == facts.LOCAL_MODEL.context_window


def test_lesson_00_runs_on_the_external_engine(vllm_server, tmp_path):
    result = run_lesson(NOTEBOOKS / "00_setup.ipynb", tmp_path, parameters={"BASE_URL": vllm_server, "MODEL": VLLM_HANDLE})
    assert result.passed, result.error
    assert result.turns >= 1, "lesson 00 made no agent turn"
    executed = nbformat.read(tmp_path / "00_setup.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for c in executed.cells if c.cell_type == "code" for o in c.outputs)
    # The lesson's first agent was made on the vLLM handle: the cell that creates it prints the handle the server
    # stored (`agent.model`), then its agent type.
    assert f" {VLLM_HANDLE} letta_v1_agent" in printed, printed[:3000]
