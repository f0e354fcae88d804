"""Measure the course stack and lessons; write output/benchmark.json and print it.

    .venv/bin/python scripts/benchmark.py [--skip-start] [--skip-lessons] [--lessons 00_setup 01_client]

Figures:
- stack: seconds for `python -m stack start` from stopped (installed, nothing running) and when already running;
- model: llama.cpp's prefill and decode tokens/s on a ~1,500-token prompt;
- prompt_cache: tokens llama.cpp had to process after a memory edit, with the course's stable prompt layout
  (instructions, tools, then memory) and with the usual layout (whole system message, then tools);
- lessons: each lesson run by the course runner (papermill): wall time, agent turns and tokens, and turn latency
  p50/p95 (every POST .../messages the helpers' client made, read to the end; helpers/turn_log.py);
- capacity: a workshop room on this one stack: N attendees (1, 2, 4, 8) each send their own fresh agent one message
  at the same moment; per-turn seconds (p50, p95, max), the room's wall time, and failed turns;
- agent_eval: the agent behaviour evaluation (scripts/agent_eval.py, data/agent_eval.json) for the course's model:
  no echo, right block, recall, failed turns, turn p50/p95 (its turns are also in output/agent-eval.json).
No thresholds: this reports, it does not judge.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from course import facts  # noqa: E402
from course.stack_config import Config  # noqa: E402
from helpers import turn_log  # noqa: E402
from helpers.settings import settings  # noqa: E402
from runner.execute import lessons as runner_lessons  # noqa: E402
from runner.execute import run_lesson, turn_log_of  # noqa: E402
from scripts import agent_eval  # noqa: E402

OUT = facts.OUTPUT
MODEL = facts.LOCAL_MODEL.name


def run_stack(*args: str) -> float:
    start = time.monotonic()
    subprocess.run([sys.executable, "-m", "stack", *args], cwd=ROOT, check=True, capture_output=True, text=True)
    return round(time.monotonic() - start, 1)


def bench_start() -> dict:
    run_stack("stop")
    cold = run_stack("start")
    warm = run_stack("start")
    return {"start_from_stopped_s": cold, "start_when_running_s": warm}


def _chat(model_url: str, body: dict) -> dict:
    response = httpx.post(f"{model_url}/chat/completions", json={"model": MODEL, **body}, timeout=900)
    response.raise_for_status()
    return response.json()


def bench_model(model_url: str) -> dict:
    paragraph = (
        "Letta agents keep their memory in blocks that are always in context, and in archival passages that are "
        "searched by meaning. The server stores every message, so an application sends only the new one. "
    )
    prompt = f"[{uuid.uuid4()}] " + paragraph * 38 + "\nSummarise the text above in five sentences."
    timings = _chat(model_url, {"messages": [{"role": "user", "content": prompt}], "max_tokens": 128})["timings"]
    return {
        "prompt_tokens": timings["prompt_n"],
        "prefill_tokens_per_s": round(timings["prompt_per_second"], 1),
        "generated_tokens": timings["predicted_n"],
        "decode_tokens_per_s": round(timings["predicted_per_second"], 1),
    }


def _letta_request(letta, cfg) -> tuple[str, list[dict]]:
    """The system prompt and tool schemas of a real, fresh agent (created and deleted here)."""
    agent = letta.agents.create(
        name=f"benchmark-{uuid.uuid4().hex[:8]}",
        model=cfg.model,
        embedding=cfg.embedding,
        memory_blocks=[{"label": "human", "value": "Nothing known yet."}, {"label": "persona", "value": "A tutor."}],
    )
    try:
        system = letta.agents.retrieve(agent.id, include=["agent.blocks"]).system
        blocks = letta.agents.blocks.list(agent.id)
        memory = "\n".join(f"<{b.label}>\n<value>\n{b.value}\n</value>\n</{b.label}>" for b in blocks)
        system = f"{system}\n\n<memory_blocks>\n{memory}\n</memory_blocks>"
        tools = [{"type": "function", "function": t.json_schema} for t in agent.tools]
        return system, tools
    finally:
        letta.agents.delete(agent.id)


def bench_prompt_cache(model_url: str, letta, cfg) -> dict:
    system, tools = _letta_request(letta, cfg)
    result = {}
    for layout, stable in (("stable_layout", True), ("template_layout", False)):
        nonce = uuid.uuid4().hex[:8]  # a fresh system prompt per layout, so the first request starts cold
        before = system.replace("You are", f"[{nonce}] You are", 1)
        after = before.replace("Nothing known yet.", "The user is called Ada and likes chess.")
        figures = []
        for text in (before, after):
            body = {
                "messages": [{"role": "system", "content": text}, {"role": "user", "content": "Hello"}],
                "tools": tools,
                "max_tokens": 1,
                "x_stable_prefix": stable,
            }
            timings = _chat(model_url, body)["timings"]
            figures.append(
                {
                    "processed_tokens": timings["prompt_n"],
                    "cached_tokens": timings["cache_n"],
                    "prefill_s": round(timings["prompt_ms"] / 1000, 1),
                }
            )
        result[layout] = {"first_request": figures[0], "after_memory_edit": figures[1]}
    return result


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 2)
    return round(statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1], 2)


CAPACITY_MESSAGE = "Hi, I'm attendee {n}. In one sentence: what can you help me with?"


def _room(letta, agent_ids: list[str]) -> tuple[list[float], list[str], float]:
    """Every attendee sends one message at the same moment (threads behind a barrier: the SDK's calls block);
    returns each turn's seconds, the failed turns, and the room's wall time."""
    import threading

    barrier, seconds, failures = threading.Barrier(len(agent_ids)), [], []

    def attendee(n: int, agent_id: str) -> None:
        barrier.wait()
        began = time.monotonic()
        try:
            letta.agents.messages.create(agent_id=agent_id, messages=[{"role": "user", "content": CAPACITY_MESSAGE.format(n=n)}])
            seconds.append(time.monotonic() - began)
        except Exception as err:  # a failed turn is a figure here, not a crash
            failures.append(f"{type(err).__name__}: {str(err)[:200]}")

    began = time.monotonic()
    threads = [threading.Thread(target=attendee, args=(n, agent_id)) for n, agent_id in enumerate(agent_ids)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return seconds, failures, time.monotonic() - began


def bench_capacity(letta, cfg, sizes: list[int]) -> dict:
    """A workshop room on this one stack: N attendees, each with a fresh agent. The model serves one agent prompt
    at a time, so the room's turns queue."""
    result, run = {}, uuid.uuid4().hex[:6]
    for size in sizes:
        agents = [
            letta.agents.create(
                name=f"capacity-{run}-{size}-{n}",
                model=cfg.model,
                embedding=cfg.embedding,
                tags=["course-benchmark:capacity"],
                memory_blocks=[{"label": "human", "value": f"Attendee {n}."}, {"label": "persona", "value": "I am a helpful assistant."}],
            )
            for n in range(size)
        ]
        try:
            seconds, failures, wall = _room(letta, [a.id for a in agents])
        finally:
            for agent in agents:
                letta.agents.delete(agent.id)
        result[str(size)] = {
            "turn_p50_s": _percentile(seconds, 50),
            "turn_p95_s": _percentile(seconds, 95),
            "turn_max_s": round(max(seconds), 1) if seconds else None,
            "room_wall_s": round(wall, 1),
            "failed_turns": len(failures),
            "failures": failures,
        }
        print(f"capacity {size}: {json.dumps(result[str(size)])}", flush=True)
    return result


def bench_lessons(names: list[str] | None) -> dict:
    """Each lesson run by the course runner (papermill), with its agent turns' latency from the turn log."""
    out_dir = OUT / "benchmark"
    lessons, all_turns = {}, []
    for notebook in runner_lessons(names):
        result = run_lesson(notebook, out_dir)
        turns = [t["seconds"] for t in turn_log.read(turn_log_of(out_dir / notebook.name))]
        all_turns += turns
        lessons[notebook.stem] = {
            "passed": result.passed,
            "wall_s": result.wall_s,
            "agent_turns": result.turns,
            "prompt_tokens": result.prompt_tokens,
            "completion_tokens": result.completion_tokens,
            "turn_p50_s": _percentile(turns, 50),
            "turn_p95_s": _percentile(turns, 95),
        }
    return {
        "lessons": lessons,
        "all_turns": {"count": len(all_turns), "p50_s": _percentile(all_turns, 50), "p95_s": _percentile(all_turns, 95)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark the course stack and lessons.")
    parser.add_argument("--skip-start", action="store_true", help="do not stop and restart the stack")
    parser.add_argument("--skip-lessons", action="store_true")
    parser.add_argument("--lessons", nargs="*", help="notebook stems, e.g. 00_setup (default: all)")
    parser.add_argument("--skip-eval", action="store_true", help="skip the agent behaviour evaluation (~15 min)")
    parser.add_argument("--capacity", nargs="*", type=int, default=[1, 2, 4, 8], help="room sizes (none: skip)")
    args = parser.parse_args()

    figures: dict = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "cores": os.cpu_count()}
    if not args.skip_start:
        figures["stack"] = bench_start()
    stack_cfg = Config.load()
    cfg = settings()
    from helpers import wait_for_server

    letta = wait_for_server(cfg)
    if stack_cfg.local_model:
        model_url = stack_cfg.model_url + "/v1"
        figures["model"] = bench_model(model_url)
        figures["prompt_cache"] = bench_prompt_cache(model_url, letta, cfg)
    if args.capacity:
        figures["capacity"] = bench_capacity(letta, cfg, args.capacity)
    if not args.skip_lessons:
        figures.update(bench_lessons(args.lessons))
    if not args.skip_eval:
        agent_eval.main(["--out", str(OUT / "agent-eval.json")])
        figures["agent_eval"] = json.loads((OUT / "agent-eval.json").read_text())["results"][0]["summary"]
    OUT.mkdir(exist_ok=True)
    (OUT / "benchmark.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
