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


# A lesson is a path a learner finishes in one sitting (issue 28). Its main path's budget: about 1,800 words of
# markdown (10-12 minutes of reading beside the code) and about 35 cells; the capstone builds a whole app, so it
# may be a third longer. What is true but not needed on first reading goes to a deep dive (notebooks/deep_dives/).
MAIN_PATH_WORDS, MAIN_PATH_CELLS = 1850, 36
CAPSTONE_WORDS, CAPSTONE_CELLS = 2400, 45
FIRST_MESSAGE_CELLS, FIRST_MESSAGE_WORDS = 6, 400  # lesson 00: the first conversation comes first
TYPESCRIPT_LESSONS = sorted((ROOT / "notebooks" / "typescript").glob("ts[0-9][0-9]_*.ipynb"))
DEEP_DIVES = sorted((ROOT / "notebooks" / "deep_dives").glob("*.ipynb"))


def _words(cells) -> int:
    return sum(len(c.source.split()) for c in cells if c.cell_type == "markdown")


@pytest.mark.parametrize("path", LESSONS + TYPESCRIPT_LESSONS, ids=lambda p: p.stem)
def test_a_lessons_main_path_fits_one_sitting(path):
    cells = nbformat.read(path, as_version=4).cells
    words, cells_max = (CAPSTONE_WORDS, CAPSTONE_CELLS) if path.name == CAPSTONE else (MAIN_PATH_WORDS, MAIN_PATH_CELLS)
    assert _words(cells) <= words, f"{_words(cells)} words of markdown: move depth to a deep dive (budget {words})"
    assert len(cells) <= cells_max, f"{len(cells)} cells (budget {cells_max})"


def test_lesson_00_sends_its_first_message_within_six_cells():
    cells = nbformat.read(LESSONS[0], as_version=4).cells
    first = next(i for i, c in enumerate(cells) if c.cell_type == "code" and "agents.messages.create(" in c.source)
    assert first < FIRST_MESSAGE_CELLS, f"the first message is in cell {first + 1}"
    assert _words(cells[:first]) <= FIRST_MESSAGE_WORDS, f"{_words(cells[:first])} words of markdown before the first message"


@pytest.mark.parametrize("path", DEEP_DIVES, ids=lambda p: p.stem)
def test_a_deep_dive_is_linked_from_its_lesson_and_back(path):
    nb = nbformat.read(path, as_version=4)
    lesson = next(p for p in LESSONS if p.name[:2] == path.name[:2])
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "committed with outputs"
    assert "parameters" in code[0].metadata.get("tags", []), "the first code cell is the parameters cell"
    assert "cleanup()" in code[-1].source, "the last cell cleans up what the deep dive made"
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert f"../{lesson.name}" in markdown, f"no link back to {lesson.name}"
    lesson_text = "\n".join(c.source for c in nbformat.read(lesson, as_version=4).cells if c.cell_type == "markdown")
    assert f"deep_dives/{path.name}" in lesson_text, f"{lesson.name} does not link to this deep dive"


ALL_NOTEBOOKS = sorted((ROOT / "notebooks").rglob("*.ipynb"))


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=lambda p: p.stem)
def test_headings_go_down_one_level_at_a_time(path):
    """The site's builder (MyST) warns on a jump such as H1 to H3, and the site test fails on any warning; this
    finds it in a second instead of after the whole course has run."""
    previous = 0
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type != "markdown":
            continue
        fenced = False
        for line in cell.source.splitlines():
            fenced ^= line.startswith("```")
            heading = None if fenced else re.match(r"(#+) ", line)
            if heading:
                level = len(heading.group(1))
                assert level <= previous + 1, f"{line!r} comes after an H{previous}"
                previous = level
