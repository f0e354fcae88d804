"""How the model service talks to its in-process llama.cpp server (httpx only, so the tests can use it too).

llama.cpp's HTTP server closes the connection after every streamed reply, although the reply allowed keep-alive
(tests/test_local_model.py shows it on a raw socket). A pooled client that sends its next request before the close
arrives writes into a dying socket and gets "Server disconnected without sending a response": the service did
exactly that when its guards asked again right after a stream (issue 16's failed turns). A loopback connect costs
well under a millisecond, so the service keeps no connection alive.
"""

from __future__ import annotations

import httpx


def client(url: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(None, connect=10), limits=httpx.Limits(max_keepalive_connections=0))
