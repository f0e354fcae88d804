"""The skill's ten Key Gotchas (SKILL.md) each live in a lesson: a markdown cell that names it, then a code cell
that shows the failure on the server and asserts on it. The course runner executes those cells; this test keeps
the map honest when cells move or are rewritten."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"

# gotcha number -> (lesson or deep dive, relative to notebooks/; id of the markdown cell that introduces it; words it holds)
GOTCHAS = {
    1: ("03_custom_tools", "c11", "imports belong inside"),
    2: ("03_custom_tools", "c19b", "key as an argument"),
    3: ("03_custom_tools", "c33b", "`Letta()` built inside the tool"),
    4: ("02_memory", "c07", "limits are in characters"),
    5: ("06_streaming", "l06-silent-md", "include_pings=False"),
    6: ("02_memory", "375c52a4", "`.modify()`"),
    7: ("deep_dives/03_sandbox_environment", "l03-agentid-md", "LETTA_AGENT_ID"),
    8: ("02_memory", "c17", "include_base_tools=True"),
    9: ("deep_dives/02_concurrent_memory_writes", "c36b", "memory_insert"),  # a race, reported as measured; the fix after "c36f" asserted
    10: ("03_custom_tools", "c05", "`Args:` section"),
}
# where the checked cell is not the demonstration itself, the markdown cell it follows
CHECKED_AFTER = {9: "c36f"}


def _cell_after(cells, cell_id):
    index = next((i for i, c in enumerate(cells) if c.get("id") == cell_id), None)
    assert index is not None, f"no cell {cell_id}"
    return cells[index], cells[index + 1]


def test_every_gotcha_is_mapped():
    assert sorted(GOTCHAS) == list(range(1, 11))


@pytest.mark.parametrize("number", sorted(GOTCHAS))
def test_a_gotcha_is_shown_failing_on_the_server(number):
    lesson, cell_id, words = GOTCHAS[number]
    cells = nbformat.read(NOTEBOOKS / f"{lesson}.ipynb", as_version=4).cells
    intro, demo = _cell_after(cells, cell_id)
    assert intro.cell_type == "markdown" and words in intro.source, f"gotcha {number}: {cell_id} no longer introduces it"
    assert demo.cell_type == "code", f"gotcha {number}: no demonstration after {cell_id}"
    _, checked = _cell_after(cells, CHECKED_AFTER.get(number, cell_id))
    assert checked.cell_type == "code" and "assert" in checked.source.lower(), f"gotcha {number}: nothing checks it"
