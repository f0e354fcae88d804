"""Something on screen during every wait: a live timer in JupyterLab, a line of text everywhere else.

    with waiting("the sleeptime agent's run", expect="about a minute") as wait:
        ...                      # slow work
        wait.note("2 runs, 1 still running")   # the latest news, shown next to the clock

In JupyterLab the cell shows "⏳ the sleeptime agent's run (about a minute): 12 s · 2 runs, 1 still running",
updated every second by a background thread (an ipywidgets label: widget updates from a thread reach the
page). When the block ends, the label goes and one line stays: "✓ the sleeptime agent's run: 34.2 s", or
"✗ ... after 34.2 s: TimeoutError". Without a front end (papermill, nbmake, a terminal: `widgets.headless()`)
only the lines are printed, so an executed notebook still records how long each wait took.

The course client's transport (helpers/transport.py) uses it for every slow call, streamed or not, so a lesson's
plain `agents.messages.create(...)` shows a clock too; lessons use it directly around their polling loops.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager


class Waiting:
    def __init__(self, what: str, expect: str | None = None) -> None:
        from helpers.widgets import headless

        self.what, self.expect, self.news = what, expect, ""
        self.started = time.monotonic()
        self.live = not headless()
        self._stop = threading.Event()
        self._label = None

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started

    def note(self, news: str) -> None:
        """The latest news about the wait (a status, a count), shown next to the clock."""
        self.news = news

    def _line(self) -> str:
        expect = f" ({self.expect})" if self.expect else ""
        news = f" · {self.news}" if self.news else ""
        return f"⏳ {self.what}{expect}: {self.seconds:.0f} s{news}"

    def _tick(self) -> None:
        while not self._stop.wait(1.0):
            self._label.value = self._line()

    def start(self) -> Waiting:
        if self.live:
            import ipywidgets
            from IPython.display import display

            self._label = ipywidgets.Label(self._line())
            display(self._label)
            threading.Thread(target=self._tick, daemon=True).start()
        return self

    def finish(self, error: BaseException | None = None) -> None:
        self._stop.set()
        if self._label is not None:
            self._label.close()
        news = f" · {self.news}" if self.news else ""
        if error is None:
            print(f"✓ {self.what}: {self.seconds:.1f} s{news}")
        else:
            print(f"✗ {self.what} after {self.seconds:.1f} s: {type(error).__name__}{news}")


@contextmanager
def waiting(what: str, expect: str | None = None):
    """Show a live elapsed timer while the block runs (see the module docstring)."""
    wait = Waiting(what, expect).start()
    try:
        yield wait
    except BaseException as err:
        wait.finish(err)
        raise
    wait.finish()
