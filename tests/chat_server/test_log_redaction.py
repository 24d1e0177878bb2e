"""Secrets in URLs (the visitor's chat token, survey tokens) never reach the server's logs."""

from __future__ import annotations

import logging
import secrets
import uuid
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import InvalidStatus, WebSocketException
from websockets.sync.client import connect

from chat_server.log_redaction import REDACTED, RedactSecrets, redact, uvicorn_log_config
from tests.conftest import free_port
from tests.support.serve import serve_env, served


def test_redact_replaces_secret_query_values_and_survey_tokens() -> None:
    assert redact("/ws/chat/abc?token=s3cr3t") == f"/ws/chat/abc?token={REDACTED}"
    assert redact("/x?a=1&TOKEN=s3cr3t&b=2") == f"/x?a=1&TOKEN={REDACTED}&b=2"
    assert redact('"GET /survey/eyJhbGc.abc-_ HTTP/1.1" 200') == f'"GET /survey/{REDACTED} HTTP/1.1" 200'
    assert redact("/report/crime/start?step=2") == "/report/crime/start?step=2"
    assert redact("a tokenless line") == "a tokenless line"


def test_filter_keeps_positional_arguments_for_the_access_formatter() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/ws/chat/c?token=s3cr3t", "1.1", 101),
        None,
    )
    assert RedactSecrets().filter(record)
    assert record.args == ("127.0.0.1:5000", "GET", f"/ws/chat/c?token={REDACTED}", "1.1", 101)


def test_every_uvicorn_handler_has_the_filter() -> None:
    config = uvicorn_log_config()
    assert config["handlers"]
    for handler in config["handlers"].values():
        assert "redact_secrets" in handler["filters"]


@pytest.mark.timeout(600)  # a real server: slow to start on a busy machine
def test_served_logs_never_contain_a_chat_or_survey_token(tmp_path: Path) -> None:
    port = free_port()
    chat_token = "chat-" + secrets.token_urlsafe(16)
    survey_token = "survey-" + secrets.token_urlsafe(16)
    env = serve_env(tmp_path, f"sqlite:///{(tmp_path / 'fc.db').as_posix()}")
    log_path = tmp_path / "server.log"
    with served(env, log_path, "--log-level", "info", port=port, ready="/healthz") as base:
        url = f"ws://127.0.0.1:{port}/ws/chat/{uuid.uuid4()}?token={chat_token}"
        try:
            with connect(url, open_timeout=5) as ws:
                ws.recv(timeout=5)  # the refusal (error frame or close)
        except (InvalidStatus, WebSocketException, TimeoutError):
            pass
        assert httpx.get(f"{base}/survey/{survey_token}", timeout=5).status_code < 500
    text = log_path.read_text()
    assert "/ws/chat/" in text and "/survey/" in text, text[-2000:]  # the requests were logged...
    assert chat_token not in text and survey_token not in text  # ...without their secrets
    assert REDACTED in text


def test_redact_phone_numbers_email_addresses_and_bearer_tokens() -> None:
    for phone in ("+447700900461", "+44 7700 900461", "07700 900461", "07700900461"):
        assert redact(f"text to {phone} failed") == f"text to {REDACTED} failed", phone
    assert redact("from zebedee.q@example.org:") == f"from {REDACTED}:"
    assert redact("Authorization: Bearer abc.DEF-123") == f"Authorization: Bearer {REDACTED}"
    # Times, durations, ids, addresses and references are left alone.
    for kept in (
        "2026-11-29 07:09:40",
        "took 0.0771234 s",
        "row 12345678901",
        "127.0.0.1:5000",
        "fc-sms-123",
        "FC-2611-7Q4K",
        "0c7d1a4e-5b1f-4e2a-9a4f-07700900123a",
    ):
        assert redact(kept) == kept, kept
