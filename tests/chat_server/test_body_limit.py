"""Bodies are refused by size before anything parses them: a declared length at once, a chunked body
as soon as it passes the limit, without reading the rest (ASGI level and over a real socket)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient

from chat_server.body_limit import UPLOAD_OVERHEAD_BYTES, BodyLimit, BodyTooLarge, body_limit
from contact_store.settings import Settings
from tests.conftest import LiveServer
from tests.web_forms.helpers import PNG

CHUNK = 64 * 1024
# Refused "before the whole body is sent": far less than the body, with room for socket buffers.
SOCKET_SLACK = 16 * 1024 * 1024
WHOLE_BODY = 64 * 1024 * 1024


def _scope(path: str, *, method: str = "POST", headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
    }


class Reader:
    """An inner app that reads the whole body like a parser would, then answers 200."""

    def __init__(self) -> None:
        self.calls = 0
        self.body = 0
        self.error: Exception | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.calls += 1
        try:
            while True:
                msg = await receive()
                self.body += len(msg.get("body", b""))
                if not msg.get("more_body"):
                    break
        except BodyTooLarge as exc:
            self.error = exc
            # What an error handler would do: answer. The middleware must drop it.
            await send({"type": "http.response.start", "status": 500, "headers": []})
            await send({"type": "http.response.body", "body": b"late"})
            raise
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


class Chunks:
    """A client streaming `count` chunks; counts how many the server pulled."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.pulled = 0

    async def __call__(self) -> dict[str, Any]:
        self.pulled += 1
        if self.pulled > self.count:
            raise AssertionError("read past the end of the body")
        return {"type": "http.request", "body": b"x" * CHUNK, "more_body": self.pulled < self.count}


@pytest.fixture
def limits(settings: Settings) -> Settings:
    return settings.model_copy(update={"request_body_max_bytes": 4 * CHUNK})


@pytest.mark.anyio
async def test_declared_length_over_the_limit_is_refused_before_reading(limits: Settings) -> None:
    inner, client, sent = Reader(), Chunks(1000), []

    async def send(msg: dict[str, Any]) -> None:
        sent.append(msg)

    scope = _scope("/api/v1/forms/crime/submissions", headers={"content-length": str(4 * CHUNK + 1)})
    await BodyLimit(inner, limits)(scope, client, send)
    assert inner.calls == 0 and client.pulled == 0
    assert sent[0]["status"] == 413
    assert (b"connection", b"close") in sent[0]["headers"]
    assert json.loads(sent[1]["body"])["error"]["code"] == "too_large"


@pytest.mark.anyio
async def test_chunked_body_is_refused_as_soon_as_it_passes_the_limit(limits: Settings) -> None:
    inner, client, sent = Reader(), Chunks(1000), []

    async def send(msg: dict[str, Any]) -> None:
        sent.append(msg)

    await BodyLimit(inner, limits)(_scope("/api/v1/forms/crime/submissions"), client, send)
    # Four chunks are exactly the limit; the fifth passes it and is the last one read.
    assert client.pulled == 5
    assert inner.body == 4 * CHUNK and isinstance(inner.error, BodyTooLarge)
    statuses = [m["status"] for m in sent if m["type"] == "http.response.start"]
    assert statuses == [413]  # the app's own late answer was dropped
    assert b"late" not in b"".join(m.get("body", b"") for m in sent)


@pytest.mark.anyio
async def test_a_body_within_the_limit_reaches_the_app(limits: Settings) -> None:
    inner, client, sent = Reader(), Chunks(4), []

    async def send(msg: dict[str, Any]) -> None:
        sent.append(msg)

    await BodyLimit(inner, limits)(_scope("/api/v1/forms/crime/submissions"), client, send)
    assert inner.body == 4 * CHUNK and sent[0]["status"] == 200


@pytest.mark.anyio
async def test_a_content_length_that_is_not_a_number_is_a_400(limits: Settings) -> None:
    inner, sent = Reader(), []

    async def send(msg: dict[str, Any]) -> None:
        sent.append(msg)

    for bad in ("12abc", "-1", "١٢"):
        sent.clear()
        scope = _scope("/api/v1/forms/crime/submissions", headers={"content-length": bad})
        await BodyLimit(inner, limits)(scope, Chunks(1), send)
        assert sent[0]["status"] == 400
    assert inner.calls == 0


def test_limits_by_path(settings: Settings) -> None:
    upload = settings.upload_max_bytes * settings.upload_max_files + UPLOAD_OVERHEAD_BYTES
    multipart = {"content-type": "multipart/form-data; boundary=x"}
    assert body_limit(_scope("/report/crime/evidence", headers=multipart), settings)[0] == upload
    small = settings.request_body_max_bytes
    assert small == 256 * 1024
    # Only a multipart POST to a question page gets the upload allowance.
    assert body_limit(_scope("/report/crime/evidence"), settings)[0] == small
    assert body_limit(_scope("/report/crime/a/b", headers=multipart), settings)[0] == small
    assert body_limit(_scope("/api/v1/forms/crime/submissions", headers=multipart), settings)[0] == small
    assert body_limit(_scope("/console/admin/operators", headers=multipart), settings)[0] == small


def test_oversized_upload_is_a_gov_uk_page_with_the_headers(client: TestClient) -> None:
    settings = client.app.state.settings  # type: ignore[attr-defined]
    settings.upload_max_bytes, settings.upload_max_files = 1024 * 1024, 1
    big = PNG + b"\x00" * (2 * 1024 * 1024 + UPLOAD_OVERHEAD_BYTES)
    r = client.post("/report/crime/evidence", data={"action": "upload"}, files={"evidence": ("big.png", big)})
    assert r.status_code == 413
    assert "Each file must be smaller than 1 MB" in r.text and "govuk-template" in r.text
    assert r.headers["connection"] == "close"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["cache-control"] == "no-store"


def test_oversized_json_is_the_api_error(client: TestClient) -> None:
    answers = {"description": "x" * (300 * 1024)}
    r = client.post("/api/v1/forms/crime/submissions", json={"answers": answers})
    assert r.status_code == 413
    assert r.json()["error"] == {"code": "too_large", "message": "The request is too large."}


@contextmanager
def _connect(live_server: LiveServer) -> Iterator[socket.socket]:
    host, port = live_server.base_url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    try:
        yield sock
    finally:
        sock.close()


def _stream_until_refused(sock: socket.socket, head: bytes, first: bytes = b"") -> tuple[int, bytes]:
    """Send the head (and a first chunk), then 64 KiB chunks until the server answers;
    (body bytes sent, answer)."""
    sock.sendall(head + (f"{len(first):x}\r\n".encode() + first + b"\r\n" if first else b""))
    sent = len(first)
    sock.setblocking(False)
    chunk = f"{CHUNK:x}\r\n".encode() + b"x" * CHUNK + b"\r\n"
    answer = b""
    while sent < WHOLE_BODY:
        try:
            answer += sock.recv(65536)
        except BlockingIOError:
            pass
        except ConnectionError:
            break
        if answer:
            break
        try:
            sock.settimeout(10)
            sock.sendall(chunk)
            sock.setblocking(False)
            sent += CHUNK
        except (ConnectionError, TimeoutError):
            break
    sock.settimeout(10)
    try:
        while b"\r\n\r\n" not in answer:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    except ConnectionError:
        pass
    return sent, answer


def test_chunked_json_over_a_real_socket_is_refused_early(live_server: LiveServer) -> None:
    head = (
        b"POST /api/v1/forms/crime/submissions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    with _connect(live_server) as sock:
        sent, answer = _stream_until_refused(sock, head)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent < SOCKET_SLACK, f"refused only after {sent} bytes"


def test_chunked_upload_over_a_real_socket_is_refused_early(live_server: LiveServer) -> None:
    settings = live_server.settings
    saved = settings.upload_max_bytes, settings.upload_max_files
    settings.upload_max_bytes, settings.upload_max_files = 1024 * 1024, 2
    head = (
        b"POST /report/crime/evidence HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: multipart/form-data; boundary=fc\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    # A real file part: the multipart parser streams the file data until the limit stops it.
    part = (
        b'--fc\r\nContent-Disposition: form-data; name="evidence"; filename="big.png"\r\n'
        b"Content-Type: image/png\r\n\r\n" + PNG
    )
    try:
        with _connect(live_server) as sock:
            sent, answer = _stream_until_refused(sock, head, part)
    finally:
        settings.upload_max_bytes, settings.upload_max_files = saved
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent >= 2 * 1024 * 1024  # within the upload allowance the body was read
    assert sent < 3 * 1024 * 1024 + SOCKET_SLACK, f"refused only after {sent} bytes"


def test_declared_oversized_upload_over_a_real_socket_is_refused_without_the_body(
    live_server: LiveServer,
) -> None:
    head = (
        b"POST /report/crime/evidence HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: multipart/form-data; boundary=fc\r\n"
        + f"Content-Length: {WHOLE_BODY}\r\n\r\n".encode()
    )
    with _connect(live_server) as sock:
        sock.sendall(head)  # not one byte of the body
        answer = b""
        while b"\r\n\r\n" not in answer:
            data = sock.recv(65536)
            assert data, "closed without an answer"
            answer += data
        assert answer.startswith(b"HTTP/1.1 413")
        assert b"connection: close" in answer.lower()
