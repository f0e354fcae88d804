"""The course in a real browser: JupyterLab in headless Chromium (Playwright), its kernel on the real stack.

A learner's clicks, not method calls: lesson 00's first cells run with Shift+Enter; in a notebook the test writes
(output/browser/widgets.ipynb) a message is typed into the chat panel and sent with its Send button, the memory
inspector highlights what the agent wrote, and an approval is granted and a second denied with the panel's
buttons. Every check on a widget is paired with one on the server. Screenshots of each step: output/browser/.
"""

from __future__ import annotations

import inspect
import json
import subprocess
from urllib.parse import unquote

import nbformat
import pytest

import helpers
from tests import browser

pytestmark = pytest.mark.stack

LESSON_00 = "notebooks/00_setup.ipynb"
NOTEBOOK = browser.SHOTS / "widgets.ipynb"


@pytest.fixture(scope="module")
def lab():
    try:
        browser.chromium()  # installs Debian's package if missing and allowed: say so now, not as a timeout later
    except browser.BrowserMissing as err:
        pytest.fail(str(err), pytrace=False)
    with browser.jupyterlab() as served:
        yield served


@pytest.fixture
def page(request):
    with browser.browser_page() as page:
        try:
            yield page
        finally:  # what the page showed when the test ended, passed or failed
            browser.shot(page, f"last-{request.node.name}")


def test_lesson_00_runs_in_jupyterlab_and_shows_the_server(lab, page, stack_config):
    base, token = lab
    before = subprocess.run(["git", "diff", "--stat", "--", LESSON_00], cwd=browser.ROOT, capture_output=True, text=True).stdout
    kinds = browser.open_notebook(page, base, token, LESSON_00)
    browser.shot(page, "01-lesson-00-opened")
    cells = json.loads((browser.ROOT / LESSON_00).read_text())["cells"]
    # The cell that builds the plain client asks the server how it is, and prints the settings it used.
    health = next(i for i, c in enumerate(cells) if "letta.health()" in "".join(c["source"]))
    browser.run_cells(page, kinds, health + 1)
    browser.shot(page, "02-lesson-00-health")

    shown = browser.cell_text(page, health)
    assert "status='ok'" in shown and helpers.settings().model in shown, shown
    page.locator(".jp-Notebook .jp-Cell").nth(health).scroll_into_view_if_needed()
    errors = ".jp-Notebook .jp-OutputArea-output.jp-mod-error, .jp-Notebook [data-mime-type='application/vnd.jupyter.stderr']"
    assert page.locator(errors).count() == 0
    after = subprocess.run(["git", "diff", "--stat", "--", LESSON_00], cwd=browser.ROOT, capture_output=True, text=True).stdout
    assert after == before, "running the lesson in the browser wrote into the committed notebook"


def t_browser_order(item: str) -> str:
    """Place an order for the customer.

    Args:
        item: What to order, for example "green tea".
    """
    return f"Ordered: {item}."


@pytest.fixture(scope="module")
def agents(letta):
    """Three agents: one with no tools, one that must write to memory first, one whose only tool waits for approval."""
    lesson = helpers.Lesson("t-browser", letta=letta)
    lesson.cleanup()
    notes = lesson.create_agent(
        "notes",
        include_base_tools=False,
        tools=["memory_insert"],
        tool_rules=[  # one edit for the inspector to show, then a reply to stream
            {"type": "run_first", "tool_name": "memory_insert"},
            {"type": "max_count_per_step", "tool_name": "memory_insert", "max_count_limit": 1},
        ],
        memory_blocks=[
            {"label": "persona", "value": "I am a friendly assistant. I save what people tell me about themselves."},
            {"label": "human", "value": "Nothing known yet."},
        ],
    )
    tool = letta.tools.upsert(source_code=inspect.getsource(t_browser_order), default_requires_approval=True)
    clerk = lesson.create_agent(
        "clerk",
        include_base_tools=False,
        tool_ids=[tool.id],
        tool_rules=[{"type": "run_first", "tool_name": tool.name}, {"type": "exit_loop", "tool_name": tool.name}],
        memory_blocks=[{"label": "persona", "value": "I place orders with my tool when asked."}],
    )
    talker = lesson.create_agent(  # no tools: its reply is plain text, streamed token by token
        "talker", include_base_tools=False, memory_blocks=[{"label": "persona", "value": "I answer in two sentences."}]
    )
    yield talker, notes, clerk, tool
    lesson.cleanup()


def _widgets_notebook(talker_id: str, notes_id: str, clerk_id: str) -> None:
    cells = [
        nbformat.v4.new_code_cell(
            "import helpers\n"
            "from helpers import ChatPanel, MemoryInspector, side_by_side\n\n"
            "letta = helpers.wait_for_server(helpers.use())\n"
            f"TALKER, NOTES, CLERK = {talker_id!r}, {notes_id!r}, {clerk_id!r}"
        ),
        nbformat.v4.new_code_cell("ChatPanel(letta, TALKER)"),
        nbformat.v4.new_code_cell(
            "inspector = MemoryInspector(letta, NOTES)\n"
            "chat = ChatPanel(letta, NOTES, on_turn=[inspector.refresh])\n"
            "side_by_side(chat, inspector)"
        ),
        nbformat.v4.new_code_cell("ChatPanel(letta, CLERK)"),
        nbformat.v4.new_markdown_cell("```mermaid\nflowchart LR\n    you -->|message| agent -->|tool call| tool\n```"),
        nbformat.v4.new_code_cell("helpers.show_rules(CLERK);"),
        nbformat.v4.new_code_cell("helpers.show_context(NOTES);"),
    ]
    NOTEBOOK.parent.mkdir(parents=True, exist_ok=True)
    kernel = {"kernelspec": {"name": "python3", "display_name": "Python 3"}}
    nbformat.write(nbformat.v4.new_notebook(cells=cells, metadata=kernel), NOTEBOOK)


def _panel(page, index: int):
    return page.locator(".jp-Notebook .jp-Cell").nth(index).locator(".jp-OutputArea")


def _send(page, panel, text: str) -> list[str]:
    """Type into a chat panel, click Send, and return each state the agent's reply showed until the turn ended.

    A MutationObserver in the page records the reply every time the DOM changes, so no state is missed between polls.
    """
    panel.element_handle().evaluate(
        """(el) => {
            window.__replies = [];
            const record = () => {
                const replies = [...el.querySelectorAll('.widget-html div')]
                    .filter((d) => d.firstElementChild && d.firstElementChild.textContent === 'agent');
                const last = replies.length ? replies[replies.length - 1].textContent : null;
                if (last && window.__replies[window.__replies.length - 1] !== last) window.__replies.push(last);
            };
            new MutationObserver(record).observe(el, { subtree: true, childList: true, characterData: true, attributes: true });
        }"""
    )
    panel.locator("input[placeholder^='Message the agent']").fill(text)
    send = panel.locator("button", has_text="Send")
    send.click()
    page.wait_for_function("(b) => b.disabled", arg=send.element_handle(), timeout=30_000)
    _wait_turn(page, panel, 0)
    return page.evaluate("() => window.__replies")


def test_widgets_in_jupyterlab(lab, page, agents, letta):
    talker, notes, clerk, tool = agents
    base, token = lab
    _widgets_notebook(talker.id, notes.id, clerk.id)
    kinds = browser.open_notebook(page, base, token, NOTEBOOK.relative_to(browser.ROOT).as_posix())
    browser.run_cells(page, kinds, 7)
    talk = _panel(page, 1)
    talk.scroll_into_view_if_needed()
    browser.shot(page, "03-widgets-ready")
    assert talk.locator("button", has_text="Send").count() == 1, "the chat panel did not render as a widget"

    # The chat panel: type, click Send, watch the reply stream in.
    growing = _send(page, talk, "What is green tea?")
    browser.shot(page, "04-chat-reply-streamed")
    assert len(growing) >= 3 and len(growing[-1]) > len(growing[0]), f"the reply did not stream in: {growing}"
    stored = [m for m in letta.agents.messages.list(talker.id, limit=20).items if m.message_type == "assistant_message"]
    assert stored and " ".join(stored[-1].content.split())[:30] in " ".join(growing[-1].split()), (stored[-1].content, growing[-1])

    # A tool call shows folded under the reply.
    chat = _panel(page, 2)
    chat.scroll_into_view_if_needed()
    _send(page, chat, "My name is Ada and I love green tea.")
    browser.shot(page, "05-tool-call-folded-and-memory-diff")
    folded = chat.locator("details")
    assert folded.count() >= 1 and "memory_insert" in folded.first.locator("summary").inner_text()
    assert folded.first.get_attribute("open") is None

    # The memory inspector: what the agent wrote is highlighted, and it is what the server holds.
    stored = letta.agents.blocks.retrieve("human", agent_id=notes.id).value
    assert stored != "Nothing known yet.", "the agent did not write to memory"
    added = " ".join(chat.locator("ins").all_inner_texts()).split()
    assert added and all(word in stored for word in added), (added, stored)
    assert "changed" in chat.inner_text()

    # The approval panel: Approve the first request, Deny the second, with a reason.
    clerk_panel = _panel(page, 3)
    clerk_panel.scroll_into_view_if_needed()
    _send(page, clerk_panel, "Please order one green tea.")
    browser.shot(page, "06-approval-asked")
    clerk_panel.locator("button", has_text="Approve").last.click()
    _wait_turn(page, clerk_panel, 2)
    browser.shot(page, "07-approved")
    _send(page, clerk_panel, "Now order a coffee too.")
    clerk_panel.locator("input[placeholder^='reason']").last.fill("We are out of coffee.")
    clerk_panel.locator("button", has_text="Deny").last.click()
    _wait_turn(page, clerk_panel, 4)
    browser.shot(page, "08-denied")
    assert "(denied: We are out of coffee.)" in clerk_panel.inner_text()  # the panel shows the reason it sent

    history = letta.agents.messages.list(clerk.id, limit=100).items
    decisions = [a.approve for m in history if m.message_type == "approval_response_message" for a in m.approvals]
    returns = [m for m in history if m.message_type == "tool_return_message"]
    ran = [r for r in returns if r.status == "success"]
    assert decisions[:2] == [True, False], decisions
    assert len(ran) == 1 and "Ordered:" in str(ran[0].tool_return), returns
    denied = [r for r in returns if r.status == "error"]
    assert denied and "We are out of coffee." in str(denied[0].tool_return), denied

    # A Mermaid diagram (markdown, and the rules the server holds) renders as SVG; the context picture as an image.
    # JupyterLab draws Mermaid into an <img> whose source is the SVG.
    page.locator(".jp-Notebook .jp-Cell").nth(5).scroll_into_view_if_needed()
    diagrams = page.locator(".jp-Notebook .jp-RenderedMermaid img[src^='data:image/svg+xml']")
    page.wait_for_function("() => document.querySelectorAll('.jp-RenderedMermaid img').length >= 2", timeout=30_000)
    assert diagrams.count() == 2, "both diagrams should render as SVG"
    rules = _panel(page, 5).locator(".jp-RenderedMermaid img")
    assert tool.name in unquote(rules.get_attribute("src")) and rules.evaluate("(img) => img.complete && img.naturalWidth > 0")
    image = _panel(page, 6).locator("img")
    image.scroll_into_view_if_needed()
    assert image.evaluate("(img) => img.complete && img.naturalWidth > 0")
    browser.shot(page, "09-diagram-and-context-picture")


def _wait_turn(page, panel, turns: int) -> None:
    """Wait until the panel shows `turns` user lines and its turn is over: Send is back, or the turn stopped for
    an approval (Send stays off until it is decided, and the new request's Deny is live)."""
    page.wait_for_function(
        "([el, n]) => [...el.querySelectorAll('b')].filter((b) => b.textContent === 'you').length >= n && ("
        "![...el.querySelectorAll('button')].find((b) => b.textContent.includes('Send')).disabled ||"
        " [...el.querySelectorAll('button')].some((b) => b.textContent.includes('Deny') && !b.disabled))",
        arg=[panel.element_handle(), turns],
        timeout=300_000,
    )
