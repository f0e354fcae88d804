"""Run code cells in a real Jupyter kernel, as a notebook would, and return what each cell showed."""

from __future__ import annotations

import os
from contextlib import contextmanager

import nbformat
from nbclient import NotebookClient

from course import facts

ROOT = facts.ROOT


@contextmanager
def environment(env: dict | None):
    """`env` added to this process's environment for the block: a kernel started inside it inherits it."""
    saved = dict(os.environ)
    os.environ.update(env or {})
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def run_cells(*sources: str, env: dict | None = None, allow_errors: bool = False) -> list[list[dict]]:
    """Execute the cells in a fresh kernel started in the repository root (with `env` added); each cell's outputs.
    A cell that raises stops the run, unless `allow_errors` (its error is then one of its outputs)."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    with environment(env):
        where = {"metadata": {"path": str(ROOT)}}
        NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=allow_errors, resources=where).execute()
    return [cell.outputs for cell in nb.cells]


def texts(outputs: list[dict]) -> str:
    """The printed text of one cell's outputs."""
    return "".join(o.get("text", "") for o in outputs)
