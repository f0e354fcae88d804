"""Every lesson keeps the course's shape: parameters, an exercise (and a stretch exercise), a recap with where to go
next, troubleshooting, clean-up, and no outputs in the committed file."""

from __future__ import annotations

import re

import nbformat
import pytest

from course import facts

ROOT = facts.ROOT
LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
CAPSTONE = LESSONS[-1].name


def _section(nb, heading: str) -> str | None:
    """The markdown from `heading` (at the start of a line) to the end of its cell."""
    for cell in nb.cells:
        found = re.search(rf"^{re.escape(heading)}", cell.source, re.MULTILINE) if cell.cell_type == "markdown" else None
        if found:
            return cell.source[found.start() :]
    return None


def test_there_are_twelve_lessons():
    assert [p.name[:2] for p in LESSONS] == [f"{n:02d}" for n in range(12)]


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_a_lesson_has_the_course_shape(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "committed with outputs"
    assert [c for c in code if "parameters" in c.metadata.get("tags", [])] == [code[0]], "the first code cell is the parameters cell"
    assert _section(nb, "## Exercise"), "no exercise"
    recap = _section(nb, "## Recap")
    assert recap, "no recap"
    takeaways = re.findall(r"^- ", recap, flags=re.MULTILINE)
    assert 3 <= len(takeaways) <= 5, f"a recap has 3-5 takeaways, not {len(takeaways)}"
    assert _section(nb, "## Stretch exercise"), "no stretch exercise"
    if path.name == CAPSTONE:
        assert _section(nb, "## Where to go from here")
    else:
        assert "**Where next:** lesson" in recap
    troubleshooting = _section(nb, "## Troubleshooting") or ""
    assert re.search(r"^## Troubleshooting\n\n\| you see \|", troubleshooting, re.MULTILINE), "no troubleshooting table"
    assert "lesson.cleanup()" in code[-1].source, "the last cell cleans up what the lesson made"
