"""The helpers package without a server: settings, rendering, lesson naming, and the start-up errors."""

import http.server
import socket
import threading

import pytest
from letta_client import APIStatusError
from letta_client.types import ToolReturnMessage
from letta_client.types.agents import AssistantMessage, ToolCallMessage

import helpers
from helpers import render
from helpers.settings import DEFAULT_MODEL, Settings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_settings_defaults_and_environment(monkeypatch):
    for key in ("LETTA_BASE_URL", "LETTA_PORT", "LETTA_MODEL", "LETTA_SERVER_PASSWORD", "LETTA_API_KEY", "LETTA_TIMEOUT"):
        monkeypatch.setenv(key, "")
    cfg = Settings.from_env()
    assert cfg.model == DEFAULT_MODEL and cfg.timeout == 600 and cfg.token is None
    assert cfg.base_url == "http://127.0.0.1:8283"
    monkeypatch.setenv("LETTA_PORT", "8383")  # the README's fix when 8283 is taken: the notebooks follow the stack
    assert Settings.from_env().base_url == "http://127.0.0.1:8383"
    monkeypatch.setenv("LETTA_BASE_URL", "http://example.test:9000/")
    monkeypatch.setenv("LETTA_SERVER_PASSWORD", "s3cret")
    cfg = Settings.from_env()
    assert cfg.base_url == "http://example.test:9000" and cfg.token == "s3cret"


def test_use_applies_papermill_parameters(monkeypatch):
    monkeypatch.setenv("LETTA_MODEL", "")  # use() writes os.environ; monkeypatch restores it afterwards
    cfg = helpers.use(model="openai/gpt-4.1-mini")
    assert cfg.model == "openai/gpt-4.1-mini"
    assert helpers.use().model == "openai/gpt-4.1-mini"  # None leaves the setting as it is


def test_format_message_for_each_type():
    call = ToolCallMessage.model_validate(
        {
            "id": "m1",
            "date": "2026-01-01T00:00:00Z",
            "message_type": "tool_call_message",
            "tool_call": {"name": "memory_insert", "arguments": '{"label": "human"}', "tool_call_id": "c1"},
        }
    )
    ret = ToolReturnMessage.model_validate(
        {
            "id": "m2",
            "date": "2026-01-01T00:00:00Z",
            "message_type": "tool_return_message",
            "tool_return": "OK",
            "status": "success",
            "tool_call_id": "c1",
        }
    )
    answer = AssistantMessage.model_validate(
        {"id": "m3", "date": "2026-01-01T00:00:00Z", "message_type": "assistant_message", "content": "Hi Ada"}
    )
    assert helpers.format_message(call) == '[tool call] memory_insert({"label": "human"})'
    assert helpers.format_message(ret) == "[tool return] [success] OK"
    assert helpers.format_message(answer) == "[assistant] Hi Ada"


def test_show_prints_plain_text_outside_a_notebook(capsys):
    answer = AssistantMessage.model_validate(
        {"id": "m3", "date": "2026-01-01T00:00:00Z", "message_type": "assistant_message", "content": "Hello"}
    )
    helpers.show([answer])
    assert capsys.readouterr().out.strip() == "[assistant] Hello"


def test_show_stream_joins_token_chunks_and_returns_them(capsys):
    chunks = [
        AssistantMessage.model_validate({"id": "m", "date": "2026-01-01T00:00:00Z", "message_type": "assistant_message", "content": part})
        for part in ("Hel", "lo")
    ]
    assert helpers.show_stream(iter(chunks)) == chunks
    assert capsys.readouterr().out.strip() == "[assistant] Hello"
    assert render.messages_of(chunks) == chunks


def test_lesson_slugs_are_safe_names():
    with pytest.raises(ValueError):
        helpers.Lesson("01.client", letta=object())
    lesson = helpers.Lesson("l01-client", letta=object())
    assert lesson.tag == "course-lesson:l01-client" and lesson.name("a") == "l01-client-a" and lesson.tool_prefix == "l01_client_"


def test_no_server_gives_an_actionable_error():
    cfg = Settings(base_url=f"http://127.0.0.1:{_free_port()}")
    with pytest.raises(helpers.CourseSetupError, match="No Letta server is running.*make start"):
        helpers.wait_for_server(cfg)


def test_something_else_on_the_port_is_named_as_such():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        cfg = Settings(base_url=f"http://127.0.0.1:{server.server_address[1]}")
        with pytest.raises(helpers.CourseSetupError, match="not a Letta server"):
            helpers.wait_for_server(cfg)
    finally:
        server.shutdown()


def test_client_is_a_singleton_per_configuration():
    a, b = Settings(base_url="http://127.0.0.1:1"), Settings(base_url="http://127.0.0.1:2")
    assert helpers.client(a) is helpers.client(a)
    assert helpers.client(a) is not helpers.client(b)


class _Unavailable(http.server.BaseHTTPRequestHandler):
    """Answers every request with 503 (a status the SDK retries) and records (method, path, retry count)."""

    seen: list = []

    def _refuse(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.seen.append((self.command, self.path, self.headers.get("x-stainless-retry-count")))
        body = b'{"detail": "unavailable"}'
        self.send_response(503)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.send_header("retry-after-ms", "10")  # the SDK waits this long before a retry, not its backoff
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _refuse

    def log_message(self, *args) -> None:
        pass


def test_the_course_client_sends_a_turn_once_and_retries_a_read():
    """Lesson 01: a retried turn is a second turn with the same message, so the course client never retries one."""
    _Unavailable.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Unavailable)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        letta = helpers.client(Settings(base_url=f"http://127.0.0.1:{server.server_address[1]}", timeout=10))
        hello = [{"role": "user", "content": "Hello"}]
        turns = [
            lambda: letta.agents.messages.create(agent_id="agent-1", messages=hello),
            lambda: list(letta.agents.messages.create(agent_id="agent-1", messages=hello, streaming=True)),
            lambda: letta.agents.messages.create_async(agent_id="agent-1", messages=hello),
            lambda: letta.with_options(timeout=5).agents.messages.create(agent_id="agent-1", messages=hello),
            lambda: list(letta.conversations.messages.create("conv-1", messages=hello)),
        ]
        for turn in turns:
            with pytest.raises(APIStatusError):
                turn()
        assert [(method, retry) for method, _, retry in _Unavailable.seen] == [("POST", "0")] * len(turns)
        _Unavailable.seen.clear()
        with pytest.raises(APIStatusError):
            letta.agents.retrieve("agent-1")
        assert [retry for _, _, retry in _Unavailable.seen] == ["0", "1"]  # a read is retried (max_retries=1)
    finally:
        server.shutdown()


def test_user_directory_keeps_rows_in_a_sqlite_file(tmp_path):
    from helpers import UserDirectory

    path = tmp_path / "users.sqlite"
    directory = UserDirectory(path)
    directory.save("ada", "agent-1")
    directory.save("ben", "agent-2", "conv-9")
    directory.save("ada", "agent-3")  # saving again replaces the row
    reopened = UserDirectory(path)  # a new process would see the same rows
    assert reopened.get("ada").agent_id == "agent-3" and reopened.get("ben").conversation_id == "conv-9"
    assert [r.user_id for r in reopened.all()] == ["ada", "ben"]
    reopened.forget("ada")
    assert reopened.get("ada") is None and len(reopened.all()) == 1
    reopened.clear()
    assert reopened.all() == []
