"""The course site (`make site`), built from the notebooks as this session's lessons executed them, read in Chromium.

It runs after the last lesson (marker `after_lessons`): the site is built from output/course-run/, served from
loopback, and every page of its table of contents is visited. No page may ask for anything off this machine, link
to a page or anchor that is not there, or show an image that did not load; each lesson's diagrams must be drawn.
"""

from __future__ import annotations

import functools
import json
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urldefrag, urlparse

import pytest

from runner import course_site
from tests import browser


def test_the_site_needs_a_course_run(tmp_path):
    with pytest.raises(course_site.SiteError, match="run the course first"):
        course_site.executed_notebooks(tmp_path)


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site():
    index = course_site.build()
    warnings = (course_site.SOURCE / "sphinx-warnings.txt").read_text().strip()
    assert not warnings, f"Sphinx warned while building the site:\n{warnings}"
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(index.parent)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


@pytest.mark.after_lessons
def test_every_page_of_the_site_loads_offline_with_its_links_images_and_diagrams(site):
    run = json.loads((course_site.RUN / "report.json").read_text())
    lessons = [r["lesson"] for r in run["lessons"] if r["model"] == run["lessons"][0]["model"]]
    off_machine, broken = [], []
    try:
        browser.chromium()
    except browser.BrowserMissing as err:
        pytest.fail(str(err), pytrace=False)
    with browser.browser_page() as page:
        page.on("request", lambda r: urlparse(r.url).hostname not in ("127.0.0.1", None) and off_machine.append(r.url))
        page.on("response", lambda r: r.status >= 400 and broken.append(f"{r.status} {r.url}"))
        page.goto(site + "/")
        page.wait_for_url("**/README.html")
        browser.shot(page, "site-landing")
        nav = page.locator("nav.bd-docs-nav a.reference.internal")
        pages = list(dict.fromkeys(urldefrag(a)[0] for a in nav.evaluate_all("(links) => links.map((a) => a.href)")))
        shown = [urlparse(p).path.rsplit("/", 1)[-1].removesuffix(".html") for p in pages]
        assert shown == [*lessons, "report"], shown

        anchors: dict[str, set[str]] = {}
        links: set[str] = set()
        for url in [site + "/README.html", *pages]:
            page.goto(url)
            page.wait_for_load_state("networkidle")
            name = urlparse(url).path.rsplit("/", 1)[-1]
            anchors[urlparse(url).path] = set(page.evaluate("() => [...document.querySelectorAll('[id]')].map((e) => e.id)"))
            links |= set(page.evaluate("() => [...document.querySelectorAll('article a[href]')].map((a) => a.href)"))
            images = page.evaluate(
                "() => [...document.querySelectorAll('article img')].map((i) => [i.src.slice(0, 80), i.complete && i.naturalWidth > 0])"
            )
            assert all(ok for _, ok in images), f"{name}: images that did not load: {[s for s, ok in images if not ok]}"
            diagrams = page.locator("article pre.mermaid")
            if diagrams.count():
                page.wait_for_function(
                    "() => [...document.querySelectorAll('article pre.mermaid')].every((d) => d.querySelector('svg'))", timeout=30_000
                )
            if name.startswith("10_tool_rules"):  # the lesson, not its deep dive (10_conditional_returns has no diagram)
                diagrams.last.scroll_into_view_if_needed()
                browser.shot(page, "site-lesson-10-diagram")
            if name == "report.html":
                browser.shot(page, "site-report")
                table = page.locator("article table").first.inner_text()
                assert all(lesson in table for lesson in lessons) and ("pass" in table or "FAIL" in table)

    internal = [link for link in links if urlparse(link).hostname == "127.0.0.1"]
    for link in internal:
        target, anchor = urldefrag(link)
        path = urlparse(target).path
        if path not in anchors:  # a page outside the table of contents (search, index): it must at least exist
            assert (course_site.SITE / path.lstrip("/")).exists(), f"broken link: {link}"
        elif anchor:
            assert anchor in anchors[path], f"broken anchor: {link}"
    assert not off_machine, f"pages asked for things off this machine: {sorted(set(off_machine))[:10]}"
    assert not broken, f"requests that failed: {broken[:10]}"
    assert sum("/notebooks/" in link for link in internal) >= len(lessons), "the lessons are not linked"
