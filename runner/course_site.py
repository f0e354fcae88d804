"""`make site`: a static course site from the notebooks as the last course run executed them.

Sources (assembled in output/site-src/, built to output/site/):
* the README as the landing page, with the lessons and the report in its table of contents;
* every notebook the last course run executed (output/course-run/report.json lists them), with the outputs,
  pictures and diagrams the real stack produced;
* the runner's report (output/course-run/report.md), each lesson linked to its page.

Built with Sphinx and MyST-NB, offline (why not mystmd: runner/site_conf/conf.py). View it with
`python -m http.server --directory output/site` (its diagrams are ES modules, which browsers do not load from file://).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from pathlib import Path

from course import facts
from runner.execute import NOTEBOOKS

ROOT = NOTEBOOKS.parent
RUN = facts.COURSE_RUN
SOURCE = facts.OUTPUT / "site-src"
SITE = facts.OUTPUT / "site"
CONF = Path(__file__).resolve().parent / "site_conf" / "conf.py"
MERMAID = ROOT / "tests" / "mermaid" / "node_modules" / "mermaid" / "dist"


class SiteError(RuntimeError):
    pass


def executed_notebooks(run: Path = RUN, model: str | None = None) -> list[Path]:
    """The last course run's executed lessons (its report.json lists them) for one model, in course order.

    model: which model's run when several ran (default: the first the report names).
    """
    path = run / "report.json"
    if not path.exists():
        raise SiteError(f"no course run in {run}: run the course first (`make test` or `make run-lessons`)")
    lessons = json.loads(path.read_text())["lessons"]
    model = model or (lessons[0]["model"] if lessons else None)
    notebooks = [ROOT / r["executed"] for r in lessons if r["model"] == model and r.get("executed")]
    missing = [p for p in notebooks if not p.exists()]
    if not notebooks or missing:
        raise SiteError(f"the course run in {run} has no executed notebooks for {model}" + (f": {missing[0]} is gone" if missing else ""))
    # the order pytest runs them in: by path, so the TypeScript folder sits between playground and workshop_instructor
    found = [p for p in NOTEBOOKS.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts]
    order = [p.name for p in sorted(found, key=lambda p: str(p.relative_to(NOTEBOOKS)))]
    return sorted(notebooks, key=lambda p: order.index(p.name) if p.name in order else len(order))


def site_page(name: str) -> str:
    """A notebook's page on the site, without suffix: where the notebook lives under notebooks/ (the TypeScript track
    in typescript/, deep dives in deep_dives/), so the links between lessons and deep dives work on the site as they
    do in JupyterLab."""
    source = next((p for p in NOTEBOOKS.rglob(name) if ".ipynb_checkpoints" not in p.parts), NOTEBOOKS / name)
    return f"notebooks/{source.relative_to(NOTEBOOKS).with_suffix('').as_posix()}"


def _landing(pages: list[str]) -> str:
    readme = (ROOT / "README.md").read_text()
    toc = "\n".join(pages)
    return f"{readme}\n\n```{{toctree}}\n:maxdepth: 1\n:caption: The course as it ran\n\n{toc}\nreport\n```\n"


def _report(run: Path, pages: dict[str, str]) -> str:
    path = run / "report.md"
    if not path.exists():
        raise SiteError(f"{path} is missing: the course run writes it when it ends")
    text = path.read_text()
    # each lesson's row links to its page
    return re.sub(r"^\| ([0-9A-Za-z_]+) \|", lambda m: f"| [{m[1]}]({pages[m[1]]}.ipynb) |" if m[1] in pages else m[0], text, flags=re.M)


def assemble(run: Path = RUN, source: Path = SOURCE, model: str | None = None) -> list[str]:
    """Write the site's sources; return the lesson pages (without suffix) in order."""
    notebooks = executed_notebooks(run, model)
    if not (MERMAID / "mermaid.esm.min.mjs").exists():
        raise SiteError(f"Mermaid is not installed in {MERMAID}: run `npm ci --prefix tests/mermaid` (make site does)")
    shutil.rmtree(source, ignore_errors=True)
    (source / "notebooks").mkdir(parents=True)
    pages = []
    for notebook in notebooks:
        page = site_page(notebook.name)
        (source / f"{page}.ipynb").parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(notebook, source / f"{page}.ipynb")
        pages.append(page)
    (source / "README.md").write_text(_landing(pages))
    (source / "report.md").write_text(_report(run, {Path(page).name: page for page in pages}))
    shutil.copy2(CONF, source / "conf.py")
    static = source / "_static" / "mermaid"
    static.mkdir(parents=True)
    shutil.copy2(MERMAID / "mermaid.esm.min.mjs", static)
    shutil.copytree(MERMAID / "chunks" / "mermaid.esm.min", static / "chunks" / "mermaid.esm.min")
    return pages


def build(run: Path = RUN, out: Path = SITE, model: str | None = None) -> Path:
    """Assemble and build the site; return its index.html. Raises SiteError when Sphinx reports an error."""
    from sphinx.cmd.build import build_main

    assemble(run, SOURCE, model)
    shutil.rmtree(out, ignore_errors=True)
    warnings = SOURCE / "sphinx-warnings.txt"
    code = build_main(["-b", "html", "-q", "-w", str(warnings), "-d", str(SOURCE / "_doctrees"), str(SOURCE), str(out)])
    if code != 0:
        raise SiteError(f"Sphinx failed (exit {code}): {warnings.read_text()[-3000:]}")
    # a server's "/" opens the landing page
    landing = '<!doctype html><meta http-equiv="refresh" content="0; url=README.html"><a href="README.html">The course</a>\n'
    (out / "index.html").write_text(landing)
    return out / "index.html"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the course site from the last course run.")
    parser.add_argument("--run", type=Path, default=RUN, help=f"the course run's output (default: {RUN.relative_to(ROOT)})")
    parser.add_argument("--out", type=Path, default=SITE, help=f"default: {SITE.relative_to(ROOT)}")
    parser.add_argument("--model", help="which model's run, when several ran")
    args = parser.parse_args(argv)
    try:
        index = build(args.run, args.out, args.model)
    except SiteError as err:
        print(f"make site: {err}", file=sys.stderr)
        return 1
    print(f"course site: {index}\nview it: .venv/bin/python -m http.server --directory {args.out} 8000  (then http://127.0.0.1:8000)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
