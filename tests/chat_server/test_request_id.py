"""Request ids (X-Request-ID in and out, on every log line of the request and of the work it
starts) and the JSON log format."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import sys
from collections.abc import Iterator

import pytest
from anyio import to_thread
from fastapi import FastAPI, WebSocket
from fastapi.testclient import TestClient
from websockets.asyncio.client import connect

from chat_server.app import create_app
from chat_server.log_format import JsonFormatter, RequestIdFilter, logging_config
from chat_server.log_redaction import REDACTED, RedactSecrets
from contact_store.db import Store
from contact_store.settings import Settings
from tests.conftest import LiveServer

log = logging.getLogger("tests.request_id")
GENERATED = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """Root log lines in the JSON format, through the production filters."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(RedactSecrets())
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO)
    try:
        yield out
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def lines(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]


@pytest.fixture
def app_with_background_work(settings: Settings, store: Store) -> FastAPI:
    app = create_app(settings, store=store)
    done = asyncio.Event()

    @app.get("/_test/work")
    async def work() -> dict[str, str]:
        log.info("in the handler")

        async def later() -> None:
            await asyncio.sleep(0)
            log.info("in a task the request started")
            done.set()

        asyncio.get_running_loop().create_task(later())
        await to_thread.run_sync(lambda: log.info("in the threadpool"))
        await done.wait()
        return {"ok": "yes"}

    @app.websocket("/_test/ws")
    async def socket(ws: WebSocket) -> None:
        await ws.accept()
        log.info("socket line one")
        await ws.receive_text()
        log.info("socket line two")
        await ws.close()

    return app


def test_incoming_id_is_kept_and_returned(client: TestClient) -> None:
    r = client.get("/health/live", headers={"X-Request-ID": "req-1234abcd"})
    assert r.headers["x-request-id"] == "req-1234abcd"


@pytest.mark.parametrize(
    "bad", ["short", "has space inside", "a" * 129, "line\\nbreak-injected", "<script>x"]
)
def test_malformed_incoming_id_is_replaced(client: TestClient, bad: str) -> None:
    r = client.get("/health/live", headers={"X-Request-ID": bad})
    assert GENERATED.fullmatch(r.headers["x-request-id"])


def test_an_id_is_generated_for_every_response(client: TestClient) -> None:
    ids = {client.get(path).headers["x-request-id"] for path in ("/health/live", "/", "/no-such-page")}
    assert len(ids) == 3 and all(GENERATED.fullmatch(i) for i in ids)


def test_every_line_of_a_request_and_its_work_carries_its_id(
    app_with_background_work: FastAPI, json_lines: io.StringIO
) -> None:
    with TestClient(app_with_background_work) as c:
        first = c.get("/_test/work", headers={"X-Request-ID": "first-request-id"})
        second = c.get("/_test/work")
    assert first.status_code == second.status_code == 200
    mine = [line for line in lines(json_lines) if line["logger"] == "tests.request_id"]
    by_message: dict[object, list[object]] = {}
    for line in mine:
        by_message.setdefault(line["message"], []).append(line["request_id"])
    expected = ["first-request-id", second.headers["x-request-id"]]
    for message in ("in the handler", "in a task the request started", "in the threadpool"):
        assert by_message[message] == expected, message


def test_a_websocket_session_logs_under_one_id(
    app_with_background_work: FastAPI, json_lines: io.StringIO
) -> None:
    headers = {"X-Request-ID": "socket-session-1"}
    with TestClient(app_with_background_work) as c, c.websocket_connect("/_test/ws", headers=headers) as ws:
        ws.send_text("go")
    ids = [line["request_id"] for line in lines(json_lines) if str(line["message"]).startswith("socket line")]
    assert ids == ["socket-session-1", "socket-session-1"]


@pytest.mark.anyio
async def test_the_websocket_handshake_returns_the_id(live_server: LiveServer) -> None:
    async with connect(
        live_server.ws_url + "/ws/chat/00000000-0000-0000-0000-000000000000",
        origin=live_server.base_url,  # type: ignore[arg-type]
        additional_headers={"X-Request-ID": "handshake-id-1"},
    ) as ws:
        assert ws.response is not None
        assert ws.response.headers["X-Request-ID"] == "handshake-id-1"


def test_json_formatter_fields_and_redaction() -> None:
    record = logging.LogRecord(
        "contact_store.sms", logging.WARNING, __file__, 1, "text to %s failed", ("+447700900461",), None
    )
    try:
        raise ValueError("bad address someone@example.org")
    except ValueError:
        record.exc_info = sys.exc_info()
    RequestIdFilter().filter(record)
    line = json.loads(JsonFormatter().format(record))
    assert line["level"] == "WARNING" and line["logger"] == "contact_store.sms"
    assert line["message"] == f"text to {REDACTED} failed"
    assert line["request_id"] is None  # outside any request
    assert "someone@example.org" not in line["exception"] and "ValueError" in line["exception"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", str(line["time"]))


def test_json_access_lines_carry_method_path_and_status() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/survey/secret-token", "1.1", 200),
        None,
    )
    line = json.loads(JsonFormatter().format(record))
    assert line["method"] == "GET" and line["status"] == 200
    assert line["path"] == f"/survey/{REDACTED}" and "secret-token" not in json.dumps(line)


def test_logging_config_formats() -> None:
    text = logging_config("text")
    as_json = logging_config("json")
    assert text["root"]["handlers"] == ["app"]
    for config in (text, as_json):
        for handler in config["handlers"].values():
            assert {"redact_secrets", "request_id"} <= set(handler["filters"])
    assert all(f == {"()": "chat_server.log_format.JsonFormatter"} for f in as_json["formatters"].values())
    assert "()" not in text["formatters"]["app"]


def test_twilio_request_logging_stays_below_the_configured_level() -> None:
    """Twilio's client logs each request (number and body in the form data) at INFO."""
    for fmt in ("text", "json"):
        assert logging_config(fmt)["loggers"]["twilio"]["level"] == "WARNING"  # type: ignore[arg-type]
