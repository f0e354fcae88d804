"""A real browser for the tests: Debian's Chromium driven by Playwright for Python, and a JupyterLab to point it at.

Playwright's own browser download needs the internet, so the tests use the distribution's Chromium. When it is
missing, `chromium()` installs it with apt-get where it can (root on Debian or Ubuntu) and otherwise fails with
the command to run: a browser test is never skipped quietly.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

from course import facts
from stack import lab

ROOT = facts.ROOT
SHOTS = facts.OUTPUT / "browser"  # screenshots of every step: CI keeps output/
# Chromium on a machine with no internet: without these it keeps trying Google's hosts.
FLAGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
CANDIDATES = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]


class BrowserMissing(RuntimeError):
    pass


def _found() -> str | None:
    named = os.environ.get("COURSE_CHROMIUM")
    if named:
        if not Path(named).exists():
            raise BrowserMissing(f"COURSE_CHROMIUM={named} does not exist")
        return named
    return next((c for c in CANDIDATES if Path(c).exists()), None)


def chromium() -> str:
    """The path of a Chromium to drive, installing Debian's package first if it is missing and we may."""
    found = _found()
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise BrowserMissing(
            "the browser tests need Chromium and this machine has none: install it (Debian/Ubuntu: "
            "`sudo apt-get install chromium`) or point COURSE_CHROMIUM at a Chromium or Chrome binary"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", "chromium"]
    print("installing Debian's chromium for the browser tests (about a minute)", flush=True)
    if subprocess.run(install, env=env, capture_output=True).returncode != 0:  # stale package lists: update once
        subprocess.run(["apt-get", "update"], env=env, capture_output=True)
        done = subprocess.run(install, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise BrowserMissing(f"`{' '.join(install)}` failed:\n{done.stderr[-2000:]}")
    found = _found()
    if not found:
        raise BrowserMissing("apt-get installed chromium but no chromium binary is in /usr/bin")
    return found


@contextmanager
def browser_page(viewport=(1400, 1000)):
    """A fresh headless Chromium page (its own empty profile); closed afterwards."""
    from playwright.sync_api import sync_playwright

    executable = chromium()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=FLAGS)
        try:
            page = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]}).new_page()
            yield page
        finally:
            browser.close()


def shot(page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def jupyterlab():
    """The course's JupyterLab (the command `make course` runs) on a free port: yields its base URL and token.

    Autosave is off in its own settings folder, so running a committed lesson in it never writes outputs back.
    """
    port, token = _port(), "browser-test-token"
    home = Path(tempfile.mkdtemp(prefix="lab-browser-"))
    settings = home / "settings" / "@jupyterlab" / "docmanager-extension"
    settings.mkdir(parents=True)
    (settings / "plugin.jupyterlab-settings").write_text(json.dumps({"autosave": False}))
    env = {k: v for k, v in os.environ.items() if k != "COURSE_HEADLESS"}  # widgets, as a learner sees them
    env.update(
        JUPYTERLAB_SETTINGS_DIR=str(home / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
    )
    cmd = lab.command("127.0.0.1", port, token, open_browser=False, as_root=os.geteuid() == 0)
    log = (home / "lab.log").open("w")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            if proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited at start:\n{(home / 'lab.log').read_text()[-3000:]}")
            try:
                if httpx.get(f"{base}/api/status", params={"token": token}, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        yield base, token
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        shutil.rmtree(home, ignore_errors=True)


# ------------------------------------------------------------------------------------------------ JupyterLab


def open_notebook(page, base: str, token: str, path: str) -> list[str]:
    """Open a notebook in JupyterLab, wait until every cell is on the page and the kernel is idle.

    Returns the cells' types as the file has them. JupyterLab renders a long notebook in batches, and the
    first element it puts on the page is a code-cell placeholder (measured: 1 element, then 8, then all 24 of
    lesson 00 within 2 s), so neither the count nor the types of what is on the page can be trusted earlier.
    """
    kinds = [cell["cell_type"] for cell in json.loads((ROOT / path).read_text())["cells"]]
    page.goto(f"{base}/lab/tree/{path}?token={token}&reset")
    page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=60_000)
    page.wait_for_function(
        "() => document.querySelector('.jp-Dialog') ||"
        " document.querySelector('.jp-NotebookPanel .jp-Notebook-ExecutionIndicator[data-status=\"idle\"]')",
        timeout=120_000,
    )
    dialog = page.locator(".jp-Dialog")
    if dialog.count() and "Select Kernel" in dialog.inner_text():  # JupyterLab asks at times; take its default
        dialog.locator("button", has_text="Select").click()
    page.wait_for_function(
        "(n) => document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell').length === n",
        arg=len(kinds),
        timeout=60_000,
    )
    wait_idle(page, timeout=120)
    return kinds


def wait_idle(page, timeout: float = 300) -> None:
    """Wait until the notebook's kernel says it is idle (the toolbar's execution indicator)."""
    page.wait_for_function(
        "() => { const s = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator');"
        " return s && s.getAttribute('data-status') === 'idle'; }",
        timeout=timeout * 1000,
    )


def run_cells(page, kinds: list[str], count: int, timeout: float = 300) -> None:
    """Run the first `count` cells one by one as a learner does (select, Ctrl+Enter), each to its end.

    `kinds` are the cells' types from the file (what open_notebook returns). A keypress that lands while the
    kernel is still connecting runs nothing, so each code cell is pressed again until its prompt shows it
    started ([*] or a number).
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for index in range(count):
        cell = page.locator(".jp-Notebook .jp-Cell").nth(index)
        code = kinds[index] == "code"
        for _ in range(5):
            cell.locator(".jp-InputPrompt").click()
            page.keyboard.press("Control+Enter")
            if not code:
                break
            try:
                page.wait_for_function(
                    "(el) => /\\[(\\*|\\d+)\\]/.test(el.querySelector('.jp-InputPrompt').textContent)",
                    arg=cell.element_handle(),
                    timeout=10_000,
                )
                break
            except PlaywrightTimeout:  # press again
                continue
        else:
            raise AssertionError(f"cell {index} never started running")
        if code:
            page.wait_for_function(
                "(el) => /\\[\\d+\\]/.test(el.querySelector('.jp-InputPrompt').textContent)",
                arg=cell.element_handle(),
                timeout=timeout * 1000,
            )
    wait_idle(page, timeout)


def cell_text(page, index: int) -> str:
    """What a cell shows under it (its outputs' text)."""
    return page.locator(".jp-Notebook .jp-Cell").nth(index).locator(".jp-OutputArea").inner_text()
