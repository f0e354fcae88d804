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
import concurrent.futures
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from course import facts  # noqa: E402
from course import typescript_kernel as tk  # noqa: E402
from course.stack_config import Config  # noqa: E402
from helpers import turn_log  # noqa: E402
from helpers.settings import settings  # noqa: E402
from runner.execute import NOTEBOOKS, run_lesson, turn_log_of  # noqa: E402
from runner.execute import lessons as runner_lessons  # noqa: E402
from scripts import agent_eval, prompt_accounting  # noqa: E402
from stack import parts, warm_up  # noqa: E402
from stack.second_server import second_server  # noqa: E402

OUT = facts.OUTPUT
MODEL = facts.LOCAL_MODEL.name


def run_stack(*args: str) -> float:
    start = time.monotonic()
    subprocess.run([sys.executable, "-m", "stack", *args], cwd=ROOT, check=True, capture_output=True, text=True)
    return round(time.monotonic() - start, 1)


def bench_start() -> dict:
    run_stack("stop")
    lines_before = len(warm_up.LOG.read_text().splitlines()) if warm_up.LOG.exists() else 0
    cold = run_stack("start")
    warm = run_stack("start")
    began = time.monotonic()
    _wait_for_warm_up(lines_before)
    return {"start_from_stopped_s": cold, "start_when_running_s": warm, "warm_up_after_start_s": round(time.monotonic() - began + warm, 1)}


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


def roll_dice(sides: int) -> int:
    """Roll one die.

    Args:
        sides: How many sides the die has.

    Returns:
        The number rolled.
    """
    import random

    return random.randint(1, sides)


FIRST_MESSAGE = "Hello! What can you do?"
# The tool sets the lessons' first agents have: Letta's defaults (memory tools and conversation_search, what the
# warm-up reads), those with the archival tools (lessons 02, 08), with a custom tool (03, 10), and none.
TOOL_SETS = {
    "default": {},
    "default+archival": {"tools": ["archival_memory_insert", "archival_memory_search"]},
    "default+custom": {"tools": ["roll_dice"]},
    "none": {"include_base_tools": False},
}


def _wait_for_warm_up(lines_before: int, timeout: float = 300) -> None:
    """A learner's first turn right after `make start` waits for the warm-up anyway; measuring after it ends
    keeps the figures about the turn."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if warm_up.LOG.exists() and len(warm_up.LOG.read_text().splitlines()) > lines_before:
            return
        time.sleep(1)


def bench_first_turns(letta, cfg) -> dict:
    """Per tool set, the first turn of two fresh agents made one after the other (a lesson's first and second
    agent), with the blocks the warm-up's agent has: seconds, model calls, and how much of the prompt the model's
    cache already held."""
    tool = letta.tools.upsert_from_function(func=roll_dice)
    result = {}
    for name, tools in TOOL_SETS.items():
        result[name] = []
        for _ in range(2):
            agent = letta.agents.create(
                name=f"bench-first-{uuid.uuid4().hex[:6]}", model=cfg.model, embedding=cfg.embedding, memory_blocks=warm_up.BLOCKS, **tools
            )
            try:
                began = time.monotonic()
                response = letta.agents.messages.create(agent_id=agent.id, messages=[{"role": "user", "content": FIRST_MESSAGE}])
                seconds = time.monotonic() - began
            finally:
                letta.agents.delete(agent.id)
            usage = response.usage
            result[name].append(
                {
                    "seconds": round(seconds, 1),
                    "model_calls": usage.step_count,
                    "prompt_tokens": usage.prompt_tokens,
                    "cached_prompt_tokens": usage.cached_input_tokens or 0,
                    "cache_hit_ratio": round((usage.cached_input_tokens or 0) / usage.prompt_tokens, 2) if usage.prompt_tokens else None,
                }
            )
        print(f"first turn, {name}: {json.dumps(result[name])}", flush=True)
    letta.tools.delete(tool.id)
    return result


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 2)
    return round(statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1], 2)


# One attendee's lesson, as lesson 02 runs it: an introduction, a fact to keep, and a question on what was kept.
ATTENDEE_TURNS = (
    "Hi, I'm {name}. I teach chemistry in {city}.",
    "Please remember that my workshop project is a lab-booking assistant.",
    "What do you know about me so far? One sentence.",
)
CITIES = ("Porto", "Leeds", "Lyon", "Graz", "Turku", "Cork", "Bari", "Brno")
WORKSHOP_PASSWORD = "benchmark-room"


def _attendee(lesson, agent_id: str, name: str, city: str, start: threading.Barrier) -> dict:
    """One attendee's turns, from the moment the whole room starts, then what their own listing shows. A failed
    turn is a figure here, not a crash."""
    seconds, failures = [], []
    start.wait(timeout=600)
    for text in ATTENDEE_TURNS:
        message = {"role": "user", "content": text.format(name=name, city=city)}
        began = time.monotonic()
        try:
            lesson.letta.agents.messages.create(agent_id=agent_id, messages=[message])
            seconds.append(time.monotonic() - began)
        except Exception as err:
            failures.append(f"{type(err).__name__}: {str(err)[:200]}")
    seen = {a.id for a in lesson.agents()}
    return {"seconds": seconds, "failures": failures, "saw_others": sorted(seen - {agent_id}), "saw_own": agent_id in seen}


def bench_capacity(cfg, sizes: list[int]) -> dict:
    """A workshop room: a second Letta server on the stack, with a password, and N attendees (each their own
    COURSE_ATTENDEE: tag, identity and name prefix, helpers/lesson.py) running a lesson's three turns at the same
    moment. The local model serves one agent prompt at a time, so the room's turns queue; the figures say how long
    each attendee waits, and whether anyone's listing showed another attendee's agent."""
    from helpers import Lesson, Settings

    env = parts.letta_env(Config.load())
    env.update({"LETTA_SERVER_SECURE": "true", "LETTA_SERVER_PASSWORD": WORKSHOP_PASSWORD})
    blocks = [{"label": "human", "value": "Nothing known yet."}, {"label": "persona", "value": "I am a friendly tutor."}]
    result, run = {}, uuid.uuid4().hex[:4]
    with second_server(env, "the workshop room's Letta server") as url:
        for size in sizes:
            room = []
            for n in range(size):
                name = f"room{run}-{size}-{n}"
                mine = Settings(base_url=url, password=WORKSHOP_PASSWORD, model=cfg.model, embedding=cfg.embedding, attendee=name)
                lesson = Lesson("bench-room", cfg=mine)
                room.append((lesson, lesson.create_agent("tutor", memory_blocks=blocks).id, name, CITIES[n % len(CITIES)]))
            start, began = threading.Barrier(size), time.monotonic()
            try:
                with concurrent.futures.ThreadPoolExecutor(size) as pool:
                    attendees = list(pool.map(lambda seat, start=start: _attendee(*seat, start), room))
            finally:
                for lesson, *_ in room:
                    lesson.cleanup()
            seconds = [t for a in attendees for t in a["seconds"]]
            failures = [f for a in attendees for f in a["failures"]]
            result[str(size)] = {
                "turns_completed": len(seconds),
                "turns_asked": size * len(ATTENDEE_TURNS),
                "turn_p50_s": _percentile(seconds, 50),
                "turn_p95_s": _percentile(seconds, 95),
                "turn_max_s": round(max(seconds), 1) if seconds else None,
                "room_wall_s": round(time.monotonic() - began, 1),
                "failed_turns": len(failures),
                "failures": failures,
                "attendees_who_saw_another_attendees_agents": sum(1 for a in attendees if a["saw_others"]),
                "attendees_who_missed_their_own_agent": sum(1 for a in attendees if not a["saw_own"]),
            }
            print(f"capacity {size}: {json.dumps(result[str(size)])}", flush=True)
    return result


def bench_lessons(names: list[str] | None) -> dict:
    """Each lesson run by the course runner (papermill), with its agent turns' latency from the turn log."""
    out_dir = OUT / "benchmark"
    lessons, every_turn = {}, []
    log_start = len(prompt_accounting.log_lines())
    # The TypeScript lessons too (on their own kernel), when the whole course is asked for.
    typescript = [] if names else [(nb, tk.NAME) for nb in sorted(tk.LESSONS.glob("ts[0-9][0-9]_*.ipynb"))]
    for notebook, kernel in [*((nb, "python3") for nb in runner_lessons(names)), *typescript]:
        result = run_lesson(notebook, out_dir / notebook.parent.relative_to(NOTEBOOKS), kernel=kernel)
        logged = turn_log.read(turn_log_of(out_dir / notebook.relative_to(NOTEBOOKS)))
        every_turn += logged
        turns = [t["seconds"] for t in logged]
        lessons[notebook.stem] = {
            "passed": result.passed,
            "wall_s": result.wall_s,
            "agent_turns": result.turns,
            "prompt_tokens": result.prompt_tokens,
            "completion_tokens": result.completion_tokens,
            "turn_p50_s": _percentile(turns, 50),
            "turn_p95_s": _percentile(turns, 95),
        }
    all_turns = [t["seconds"] for t in every_turn]
    return {
        "lessons": lessons,
        "lessons_wall_s": round(sum(lesson["wall_s"] for lesson in lessons.values()), 1),
        "all_turns": {"count": len(all_turns), "p50_s": _percentile(all_turns, 50), "p95_s": _percentile(all_turns, 95)},
        "turns_by_kind": turn_log.by_kind(every_turn),  # a fresh agent's first turn, the same agent again, or back
        # the lessons' generations: new prompt tokens by prompt part and by purpose (what the cache missed)
        "model_reading": prompt_accounting.account(prompt_accounting.generations(prompt_accounting.log_lines()[log_start:])),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark the course stack and lessons.")
    parser.add_argument("--skip-start", action="store_true", help="do not stop and restart the stack")
    parser.add_argument("--skip-lessons", action="store_true")
    parser.add_argument("--lessons", nargs="*", help="notebook stems, e.g. 00_setup (default: all)")
    parser.add_argument("--skip-eval", action="store_true", help="skip the agent behaviour evaluation (~15 min)")
    parser.add_argument("--capacity", nargs="*", type=int, default=[1, 2, 4, 8], help="room sizes (none: skip)")
    args = parser.parse_args()
    # Stopped with SIGTERM (kill, a CI timeout), leave through the `finally`s: the workshop room's second Letta
    # server is stopped with the benchmark instead of being left running on its port.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    figures: dict = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "cores": os.cpu_count()}
    if not args.skip_start:
        figures["stack"] = bench_start()
    stack_cfg = Config.load()
    cfg = settings()
    from helpers import wait_for_server

    letta = wait_for_server(cfg)
    figures["first_turns"] = bench_first_turns(letta, cfg)  # first: the model's cache holds only the warm-up
    if stack_cfg.local_model:
        model_url = stack_cfg.model_url + "/v1"
        figures["model"] = bench_model(model_url)
        figures["prompt_cache"] = bench_prompt_cache(model_url, letta, cfg)
    if args.capacity:
        figures["capacity"] = bench_capacity(cfg, args.capacity)
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
