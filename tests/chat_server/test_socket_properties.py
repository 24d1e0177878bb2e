"""Property-based tests over both chat websockets, through a real socket (issue #10, point 7).

Whatever a client sends (text or binary, junk JSON, deep nesting, huge frames, lone surrogates,
wrong types, out-of-range integers), the server answers without an error in its logs, never drops
the socket (every close has a close frame), and a good message sent afterwards on the same socket
still gets its ack.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin

from chat_server.chat.protocol import MAX_FRAME_BYTES, MAX_TRANSPORT_FRAME_BYTES
from contact_store.text import MAX_DB_INT
from tests.chat_server.chat_client import operator_token
from tests.conftest import LiveServer

# A frame that never comes fails the test by timeout; this is not a timing assertion.
RECV_TIMEOUT = 15.0
# Small enough that each test takes a few seconds; every example is a fresh connection.
EXAMPLES = 30
PROPERTY = hsettings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.sampled_from([MAX_DB_INT, MAX_DB_INT + 1, 2**63 - 1, 2**63, -1, 0])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)  # lone surrogates and NUL included (json.dumps escapes them)
    | st.text(alphabet="٠١٢٣٤٥٦٧٨٩0123", min_size=1, max_size=5),  # non-ASCII digits
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
FIELDS = ["token", "after_seq", "client_id", "body", "conversation_id", "internal", "status"]


def typed_frames(types: list[str]) -> st.SearchStrategy[str]:
    """JSON objects with a (mostly) known type and arbitrary fields."""
    kind = st.sampled_from(types) | json_values
    return st.fixed_dictionaries({"type": kind}, optional=dict.fromkeys(FIELDS, json_values)).map(json.dumps)


def nested(depth: int) -> str:
    return '{"type": "message", "client_id": "n", "body": ' + "[" * depth + "]" * depth + "}"


def junk_frames(types: list[str]) -> st.SearchStrategy[str | bytes]:
    return st.one_of(
        typed_frames(types),
        st.binary(max_size=100),
        st.text(st.characters(blacklist_categories=["Cs"]), max_size=100),  # raw text, not JSON
        st.integers(1, 20_000).map(nested),
        st.integers(1, 20_000).map(lambda n: "[" * n),
        st.integers(MAX_FRAME_BYTES - 100, MAX_TRANSPORT_FRAME_BYTES - 100).map(
            lambda n: json.dumps({"type": "message", "client_id": "big", "body": "a" * n})
        ),
        st.sampled_from(
            [
                '{"type": "message", "client_id": "\\ud800", "body": "x"}',
                '{"type": "message", "client_id": "s", "body": "\\ud800\\u0000"}',
                '{"type": "message", "client_id": "s2", "body": "ok \\udfff\\u0000 ok"}',
                '{"type": "resume", "after_seq": 1e400}',
                '{"type": "resume", "after_seq": 99999999999999999999999}',
                '{"type": "resume", "after_seq": ' + "9" * 5000 + "}",
            ]
        ),
    )


class ServerErrors(logging.Handler):
    """Collects ERROR records from the live server (same process): uvicorn's and ours."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def server_errors() -> Iterator[ServerErrors]:
    handler = ServerErrors()
    loggers = [logging.getLogger(), logging.getLogger("uvicorn"), logging.getLogger("uvicorn.error")]
    for lg in loggers:
        lg.addHandler(handler)
    try:
        yield handler
    finally:
        for lg in loggers:
            lg.removeHandler(handler)


def frames_until(ws: ClientConnection, pred: Any) -> dict[str, Any]:
    while True:
        frame = json.loads(ws.recv(timeout=RECV_TIMEOUT))
        assert isinstance(frame, dict)
        if frame.get("type") == "error":
            assert isinstance(frame.get("code"), str) and isinstance(frame.get("message"), str)
        if pred(frame):
            return frame


def send_all_then_prove_alive(ws: ClientConnection, junk: list[str | bytes], good: dict[str, Any]) -> None:
    try:
        for data in junk:
            ws.send(data)
        ws.send(json.dumps(good))
        ack = frames_until(ws, lambda f: f.get("type") == "ack" and f.get("client_id") == good["client_id"])
    except ConnectionClosed as exc:  # pragma: no cover - the failure this test exists to find
        pytest.fail(f"socket closed: received {exc.rcvd!r}, sent {exc.sent!r}")
    assert type(ack["seq"]) is int and ack["seq"] >= 1


def start_chat(server: LiveServer) -> dict[str, Any]:
    r = httpx.post(server.base_url + "/api/v1/chats", json={"name": "Prop Visitor", "topic": "crime"})
    assert r.status_code == 201, r.text
    chat: dict[str, Any] = r.json()
    return chat


@contextmanager
def visitor(server: LiveServer, chat: dict[str, Any]) -> Iterator[ClientConnection]:
    """A visitor socket signed in by its first frame."""
    url = f"{server.ws_url}/ws/chat/{chat['conversation_id']}"
    with connect(url, origin=Origin(server.base_url)) as ws:
        ws.send(json.dumps({"type": "auth", "token": chat["token"]}))
        yield ws


@contextmanager
def console(server: LiveServer, token: str) -> Iterator[ClientConnection]:
    headers = {"Authorization": f"Bearer {token}"}
    with connect(server.ws_url + "/ws/console", additional_headers=headers) as ws:
        yield ws


VISITOR_TYPES = ["auth", "resume", "message", "typing", "ping", "pong", "accept"]  # no "end": it is valid
CONSOLE_TYPES = [
    "status",
    "accept",
    "decline",
    "watch",
    "resume",
    "message",
    "typing",
    "ping",
    "pong",
    "auth",
]


def test_visitor_socket_survives_any_frame(live_server: LiveServer, server_errors: ServerErrors) -> None:
    @PROPERTY
    @given(junk=st.lists(junk_frames(VISITOR_TYPES), min_size=1, max_size=4))
    def run(junk: list[str | bytes]) -> None:
        # A chat of its own: at most five messages each, far inside the chat's message budget.
        with visitor(live_server, start_chat(live_server)) as ws:
            good = {"type": "message", "client_id": str(uuid.uuid4()), "body": "still here"}
            send_all_then_prove_alive(ws, junk, good)

    run()
    assert server_errors.records == []


def test_console_socket_survives_any_frame(live_server: LiveServer, server_errors: ServerErrors) -> None:
    chat = start_chat(live_server)
    cid = chat["conversation_id"]
    _, token = operator_token(live_server)
    with console(live_server, token) as ws:
        ws.send(json.dumps({"type": "accept", "conversation_id": cid}))
        frames_until(ws, lambda f: f.get("type") == "conversation" and f.get("status") == "active")

    # Junk, and frames about the chat this operator holds (anything but giving it up).
    types = [t for t in CONSOLE_TYPES if t not in ("decline", "end")]
    junk = junk_frames(CONSOLE_TYPES) | st.fixed_dictionaries(
        {"type": st.sampled_from(types), "conversation_id": st.just(cid)},
        optional=dict.fromkeys(["after_seq", "client_id", "body", "internal"], json_values),
    ).map(json.dumps)

    @PROPERTY
    @given(frames=st.lists(junk, min_size=1, max_size=4))
    def run(frames: list[str | bytes]) -> None:
        with console(live_server, token) as ws:
            good = {"type": "message", "conversation_id": cid, "client_id": str(uuid.uuid4()), "body": "ok"}
            send_all_then_prove_alive(ws, frames, good)

    run()
    assert server_errors.records == []


@pytest.mark.parametrize("path", ["visitor", "console"])
def test_a_frame_over_the_transport_cap_closes_with_1009_and_a_close_frame(
    live_server: LiveServer, server_errors: ServerErrors, path: str
) -> None:
    chat = start_chat(live_server)
    if path == "visitor":
        socket = visitor(live_server, chat)
    else:
        socket = console(live_server, operator_token(live_server)[1])
    with socket as ws, pytest.raises(ConnectionClosed) as exc:
        ws.send("x" * (MAX_TRANSPORT_FRAME_BYTES + 1))
        while True:
            ws.recv(timeout=RECV_TIMEOUT)
    assert exc.value.rcvd is not None and exc.value.rcvd.code == 1009
    assert server_errors.records == []
