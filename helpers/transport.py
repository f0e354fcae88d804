"""The course client's HTTP transport: what it adds to every request the SDK sends, without changing the lessons.

* In a notebook, a call that can take long (an agent turn, a compaction, a tool run in the sandbox) shows a
  live clock while it runs and leaves one line with its time (helpers/progress.py). A streamed turn keeps its
  clock until the stream has been read.
* When COURSE_TURN_LOG names a file, every agent turn appends its time and tokens to it (helpers/turn_log.py).
"""

from __future__ import annotations

import os
import re
import time

import httpx

from helpers import render, turn_log
from helpers.progress import Waiting

SLOW_CALLS = (  # (path pattern of a POST, what the clock says)
    (turn_log.TURN_PATH, "agent turn"),
    (re.compile(r"/v1/(conversations/[^/]+/compact|agents/[^/]+/summarize)/?$"), "compaction: the model summarises older messages"),
    (re.compile(r"/tools/[^/]+/run/?$"), "tool run in the server's sandbox"),
)


def slow_call(request: httpx.Request) -> str | None:
    if request.method != "POST":
        return None
    return next((what for pattern, what in SLOW_CALLS if pattern.search(request.url.path)), None)


class _ReadToTheEnd(httpx.SyncByteStream):
    """Passes the body through unchanged and calls `on_done(body)` once: when the body has been read to its end
    (a stream's reader need not close it promptly) or when it is closed early."""

    def __init__(self, stream: httpx.SyncByteStream, on_done) -> None:
        self._stream, self._on_done, self._chunks = stream, on_done, []

    def __iter__(self):
        for chunk in self._stream:
            self._chunks.append(chunk)
            yield chunk
        self._done()

    def _done(self) -> None:
        if self._on_done:
            on_done, self._on_done = self._on_done, None
            on_done(b"".join(self._chunks))

    def close(self) -> None:
        try:
            self._stream.close()
        finally:
            self._done()


class CourseTransport(httpx.HTTPTransport):
    def handle_request(self, request: httpx.Request) -> httpx.Response:
        started = time.monotonic()
        what = slow_call(request)
        clock = Waiting(what).start() if what and render.in_notebook() else None
        try:
            response = super().handle_request(request)
        except BaseException as err:
            if clock:
                clock.finish(err)
            raise
        log = os.environ.get(turn_log.ENV) if what == "agent turn" else None
        if not clock and not log:
            return response

        def done(body: bytes) -> None:
            if clock:
                clock.finish()
            if log:
                content_type = response.headers.get("content-type", "")
                turn_log.write(log, request.url.path, response.status_code, time.monotonic() - started, body, content_type)

        response.stream = _ReadToTheEnd(response.stream, done)
        return response
