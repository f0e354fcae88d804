"""Checks on what the model chose to do, kept apart from the checks on the API.

A lesson's `assert` checks the server: what the API stored, what a rule enforced, what a tool returned. What
the *model* chose (to call a tool, which block to write, which arguments to pass) is checked with `expect_model`:
when it differs, the cell says what the model did instead and the lesson goes on, so the course runs to its
end under any model. Where the cells below cannot run without the model's step (an approval request they
answer), `expect_model(..., needed=True)` stops the lesson with the same explanation.

Each difference is recorded for the runner's report when COURSE_MODEL_LOG names a file (the runner sets it),
so a model that often chooses otherwise shows up in the report rather than hiding behind a green run.
"""

from __future__ import annotations

import json
import os

from helpers import turn_log

MODEL_LOG = "COURSE_MODEL_LOG"
ELSEWHERE = "A hosted model (LETTA_MODEL=openai/gpt-4.1-mini with an OpenAI key: lesson 00's Troubleshooting) does this reliably."


class ModelChoseOtherwise(AssertionError):
    """The model did not take a step the next cells need. Re-running the cell asks it again."""


def expect_model(ok: object, what: str, instead: str = "", *, needed: bool = False) -> bool:
    """True if the model did `what` ("call archival_memory_search"); otherwise say what it did and record it."""
    if ok:
        return True
    said = f"The model did not {what}" + (f": {instead}" if instead else ".")
    if os.environ.get(MODEL_LOG):
        with open(os.environ[MODEL_LOG], "a") as log:
            log.write(json.dumps({"expected": what, "needed": needed}) + "\n")
    if needed:
        raise ModelChoseOtherwise(f"{said}\nThe cells below need that step: run this cell again. {ELSEWHERE}")
    print(f"◇ {said}\n  That is the model's choice, not the API's: the lesson goes on. {ELSEWHERE}")
    return False


def differences(path) -> list[str]:
    """What the model did not do in a run, from its log (missing file: nothing). JSON lines, as the turn log."""
    return [record["expected"] for record in turn_log.read(path)]
