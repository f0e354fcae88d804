"""How the model service talks to its in-process llama.cpp server (httpx only, so the tests can use it too).

llama.cpp's HTTP server may close a connection right after a streamed reply without saying so. A pooled client
then sends the next request into the closed socket and gets "Server disconnected without sending a response";
the service used to do exactly that when its loop guard asked again right after a stream (issue 16's failed
turns; tests/test_local_model.py reproduces it). A loopback connect costs well under a millisecond, so the
service keeps no connection alive.
"""

from __future__ import annotations

import httpx


def client(url: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(None, connect=10), limits=httpx.Limits(max_keepalive_connections=0))
