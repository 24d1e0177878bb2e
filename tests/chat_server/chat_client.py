"""Test clients for the chat protocol over real sockets (websockets library + httpx)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from tests.builders import DEFAULT_PASSWORD, make_operator
from tests.conftest import LiveServer

Frame = dict[str, Any]
# Generous: a frame that never comes fails the test by timeout, it is not a timing assertion.
RECV_TIMEOUT = 15.0
# The same for HTTP calls (httpx's default of 5 s failed a chat start on a loaded CI machine).
HTTP_TIMEOUT = 30.0


async def start_chat(server: LiveServer, **answers: Any) -> Frame:
    payload = {"name": "Alex Visitor", "topic": "crime"} | answers
    async with httpx.AsyncClient(base_url=server.base_url, timeout=HTTP_TIMEOUT) as http:
        r = await http.post("/api/v1/chats", json=payload)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def operator_token(server: LiveServer, **kw: Any) -> tuple[int, str]:
    with server.store.session_scope() as s:
        op = make_operator(s, display_name=kw.pop("display_name", "Sam Operator"), **kw)
        op_id, username = op.id, op.username
    r = httpx.post(
        server.base_url + "/api/v1/auth/token",
        data={"username": username, "password": DEFAULT_PASSWORD},
        timeout=HTTP_TIMEOUT,
    )
    assert r.status_code == 200, r.text
    assert op_id is not None
    return op_id, r.json()["access_token"]


def visitor_url(server: LiveServer, chat: Frame) -> str:
    """The visitor socket's URL: the conversation id only, never the token."""
    return f"{server.ws_url}/ws/chat/{chat['conversation_id']}"


async def visitor_socket(
    server: LiveServer, chat: Frame, *, token: str | None = None, after_seq: int | None = None
) -> ClientConnection:
    """A visitor socket signed in to `chat` by its first frame (the protocol's auth frame); with
    `after_seq`, resumed by that same frame (as the widget does)."""
    ws = await connect(visitor_url(server, chat), origin=server.base_url)  # type: ignore[arg-type]
    auth: Frame = {"type": "auth", "token": token or chat["token"]}
    if after_seq is not None:
        auth["after_seq"] = after_seq
    await send(ws, auth)
    return ws


async def console_socket(server: LiveServer, token: str) -> ClientConnection:
    return await connect(
        server.ws_url + "/ws/console", additional_headers={"Authorization": f"Bearer {token}"}
    )


async def send(ws: ClientConnection, frame: Frame) -> None:
    await ws.send(json.dumps(frame))


async def recv_until(
    ws: ClientConnection, pred: Callable[[Frame], bool], seen: list[Frame] | None = None
) -> Frame:
    """Read frames until one matches (others are kept in `seen` if given)."""
    import asyncio

    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), RECV_TIMEOUT))
        if pred(frame):
            return frame  # type: ignore[no-any-return]
        if seen is not None:
            seen.append(frame)


def new_id() -> str:
    return str(uuid.uuid4())


async def operator_holding(server: LiveServer, chat: Frame, token: str) -> ClientConnection:
    """A console socket that has accepted `chat` and replayed its messages."""
    ws = await console_socket(server, token)
    await recv_until(ws, lambda f: f["type"] == "hello")
    await send(ws, {"type": "accept", "conversation_id": chat["conversation_id"]})
    await recv_until(ws, lambda f: f["type"] == "conversation" and f["status"] == "active")
    return ws
