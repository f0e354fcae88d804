"""The course runner: run lessons with papermill, write the executed notebooks and a report.

    .venv/bin/python -m runner                          # every lesson, the model from .env
    .venv/bin/python -m runner 02 05_multi_user         # some lessons
    .venv/bin/python -m runner --model ollama/qwen2.5-coder-1.5b-instruct --model openai/gpt-4.1-mini   # compare
    .venv/bin/python -m runner --sdk 1.12.1             # on another letta-client (runner/sdk_kernel.py)

Each lesson runs once per model, in course order; a failing lesson never stops the others. Executed notebooks go
to <output>/<model>/, the report to <output>/report.{json,md,html}. Exit code 0 only if every lesson passed.
The stack must be running (`make start`), or use `make run-lessons`, which starts it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from course import facts
from helpers import sdk as course_sdk
from helpers.settings import settings
from runner import report, sdk_kernel
from runner.execute import NOTEBOOKS, ROOT, lessons, model_dir, run_lesson

DEFAULT_OUTPUT = facts.COURSE_RUN


def run(
    names, models, embedding=None, base_url=None, seed=None, output=DEFAULT_OUTPUT, timeout=2400, folder=NOTEBOOKS, echo=print, sdk=None
):
    """Run the lessons for each model (on letta-client `sdk` if given); returns the results and the report's paths."""
    kernel = sdk_kernel.kernel(sdk) if sdk else "python3"
    results = []
    for model in models or [None]:
        for notebook in lessons(names, folder):
            echo(f"▶ {notebook.stem} ({model or settings().model}) …")
            parameters = {"BASE_URL": base_url, "MODEL": model, "EMBEDDING": embedding, "SEED": seed}
            result = run_lesson(notebook, Path(output) / model_dir(model), parameters, timeout, kernel)
            mark = "✓" if result.passed else "✗"
            skips = f", skipped on this SDK: {', '.join(result.sdk_skips)}" if result.sdk_skips else ""
            skips += f", the model chose otherwise {len(result.model_differed)}×" if result.model_differed else ""
            echo(
                f"  {mark} {result.wall_s:.0f} s, {result.turns} turns{skips}"
                + (f" — {report._error_line(result)}" if result.error else "")
            )
            results.append(result)
    meta = {
        "models": models or [settings().model],
        "seed": seed,
        "base_url": base_url,
        "executor": "papermill",
        "sdk": f"letta-client {sdk or course_sdk.installed()}",
    }
    return results, report.write(results, Path(output), meta)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runner", description="Run course lessons and write a report.")
    parser.add_argument("lessons", nargs="*", help="lesson stems or numbers (default: all, in order)")
    parser.add_argument("--model", action="append", help="a model handle; repeat it to compare models side by side")
    parser.add_argument("--embedding", help="an embedding handle (default: LETTA_EMBEDDING from .env)")
    parser.add_argument("--base-url", help="the Letta server (default: LETTA_BASE_URL from .env)")
    parser.add_argument("--seed", type=int, help="passed to every lesson as the SEED parameter and recorded in the report")
    parser.add_argument("--sdk", help="run on this letta-client release instead of the course's, e.g. 1.12.1")
    parser.add_argument(
        "--output", type=Path, help=f"default: {DEFAULT_OUTPUT.relative_to(ROOT)} (with --sdk V: {DEFAULT_OUTPUT.name}-sdk-V)"
    )
    parser.add_argument("--timeout", type=float, default=2400, help="seconds one cell may run (default 2400)")
    parser.add_argument("--notebooks", type=Path, default=NOTEBOOKS, help="the folder of lesson notebooks (default: notebooks/)")
    args = parser.parse_args(argv)
    start = time.monotonic()
    output = args.output or (DEFAULT_OUTPUT.with_name(f"{DEFAULT_OUTPUT.name}-sdk-{args.sdk}") if args.sdk else DEFAULT_OUTPUT)
    results, paths = run(
        args.lessons, args.model, args.embedding, args.base_url, args.seed, output, args.timeout, args.notebooks, sdk=args.sdk
    )
    s = report.summary(results)
    print(f"\n{s['passed']}/{s['lessons_run']} lessons passed in {time.monotonic() - start:.0f} s. Report: {paths['md']}")
    for failed in s["failed"]:
        print(f"  failed: {failed}")
    return 0 if s["passed"] == s["lessons_run"] else 1


if __name__ == "__main__":
    sys.exit(main())
