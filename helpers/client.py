"""The course's Letta client, and a start-up check that says exactly what is wrong when something is."""

from __future__ import annotations

import functools
import re

import httpx
from letta_client import APIConnectionError, APIStatusError, Letta

from helpers import diagnosis
from helpers.settings import Settings, settings
from helpers.transport import CourseTransport


class CourseSetupError(RuntimeError):
    """The stack is not usable as configured; the message says what to do."""


# A POST that starts an agent turn: sent twice, it is two turns with the same user message (lesson 01).
TURN_POST = re.compile(r"/v1/(agents|conversations)/[^/]+/messages(/stream|/async)?/?$")


class CourseLetta(Letta):
    """The SDK's client, following lesson 01: it retries calls as the SDK does (a read retried is harmless) but
    sends a call that starts an agent turn once, whatever `max_retries` says: a retried turn would be a second
    turn with the same message. A turn that timed out may still run on the server: look for its run instead of
    sending the message again. Copies made with `with_options(...)` keep the rule (tests/test_helpers.py)."""

    def request(self, cast_to, options, *, stream=False, stream_cls=None):
        if options.method.lower() == "post" and TURN_POST.search(options.url):
            options = options.model_copy(update={"max_retries": 0})
        return super().request(cast_to, options, stream=stream, stream_cls=stream_cls)


@functools.lru_cache(maxsize=8)
def _cached_client(cfg: Settings) -> Letta:
    # The transport shows a clock during slow calls and logs each turn when asked to (helpers/transport.py).
    http = httpx.Client(timeout=cfg.timeout, transport=CourseTransport())
    return CourseLetta(base_url=cfg.base_url, api_key=cfg.token, timeout=cfg.timeout, max_retries=1, http_client=http)


def client(cfg: Settings | None = None) -> Letta:
    """One client per configuration, reused: it holds a connection pool, so create it once (a singleton)."""
    return _cached_client(cfg or settings())


def _check_reachable(cfg: Settings) -> None:
    url = f"{cfg.base_url}/v1/health/"
    try:
        response = httpx.get(url, timeout=5)
    except httpx.ConnectError as err:
        raise CourseSetupError(
            f"No Letta server is running at {cfg.base_url} ({err.__class__.__name__}). "
            "Start the course stack with `make start` (or `python -m stack start`), "
            "or fix LETTA_BASE_URL in .env if your server runs elsewhere."
        ) from None
    except httpx.HTTPError as err:
        raise CourseSetupError(f"Could not reach {url}: {err}. Check LETTA_BASE_URL in .env.") from None
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code != 200 or not isinstance(body, dict) or "version" not in body:
        raise CourseSetupError(
            f"Something answers at {cfg.base_url}, but not a Letta server (GET /v1/health/ gave {response.status_code}). "
            "Check LETTA_BASE_URL in .env: it should be the server's root URL, e.g. http://127.0.0.1:8283."
        )


def _check_auth(letta: Letta, cfg: Settings) -> None:
    try:
        letta.agents.list(limit=1)
    except APIStatusError as err:
        if err.status_code == 401:
            hint = "is wrong" if cfg.token else "is not set"
            raise CourseSetupError(
                f"The server at {cfg.base_url} requires a password and LETTA_SERVER_PASSWORD {hint}. "
                "Set it in .env to the password the server was started with."
            ) from None
        raise


def _check_handles(letta: Letta, cfg: Settings) -> None:
    models = {m.handle for m in letta.models.list()}
    if cfg.model not in models:
        raise CourseSetupError(
            f"The server offers no model with handle {cfg.model!r} (LETTA_MODEL). Available: {', '.join(sorted(models)) or 'none'}. "
            "If the local model is missing, check `make status` and `python -m stack logs model`; "
            "for a hosted model, put its API key in .env and restart the stack."
        )
    embeddings = {m.handle for m in letta.models.embeddings.list()}
    if cfg.embedding not in embeddings:
        raise CourseSetupError(
            f"The server offers no embedding model with handle {cfg.embedding!r} (LETTA_EMBEDDING). "
            f"Available: {', '.join(sorted(embeddings)) or 'none'}."
        )


def wait_for_server(cfg: Settings | None = None, check_models: bool = True) -> Letta:
    """Check the server is up, the password right and the model handles offered; return the client."""
    cfg = cfg or settings()
    _check_reachable(cfg)
    letta = client(cfg)
    try:
        _check_auth(letta, cfg)
        if check_models:
            _check_handles(letta, cfg)
    except APIConnectionError as err:
        raise CourseSetupError(f"Lost the connection to {cfg.base_url}: {err}") from None
    diagnosis.explain_in_notebooks()  # from here on, an error from a dead part of the stack says which part
    return letta
