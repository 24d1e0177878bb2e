"""The console says what it holds when it connects (`{"type": "resume", "held": {...}}` as its
first frame, chat_server/console_ws.py): only what it is missing is replayed, never a message it
has; a console that says nothing gets every held chat from the start."""

from __future__ import annotations

from typing import Any

import pytest

from tests.chat_server.chat_client import (
    Frame,
    console_socket,
    new_id,
    operator_holding,
    operator_token,
    recv_until,
    send,
    start_chat,
    visitor_socket,
)
from tests.conftest import LiveServer

pytestmark = pytest.mark.anyio


def is_message(f: Frame) -> bool:
    return f["type"] == "message"


async def _say(ws: Any, body: str, **extra: Any) -> Frame:
    """Send a message; its ack (frames read meanwhile are dropped)."""
    await send(ws, {"type": "message", "client_id": new_id(), "body": body, **extra})
    return await recv_until(ws, lambda f: f["type"] == "ack")


async def test_a_reconnecting_console_gets_only_what_it_misses(live_server: LiveServer) -> None:
    chat = await start_chat(live_server)
    cid = chat["conversation_id"]
    _, token = operator_token(live_server)
    visitor = await visitor_socket(live_server, chat)
    await send(visitor, {"type": "resume", "after_seq": 0})
    for i in range(3):
        await _say(visitor, f"before {i}")
    console = await operator_holding(live_server, chat, token)
    seen: list[Frame] = []
    while sum(1 for f in seen if is_message(f) and f["body"].startswith("before")) < 3:
        seen.append(await recv_until(console, is_message))
    held = (await _say(console, "operator says", conversation_id=cid))["seq"]
    await console.close()
    # Away: the visitor writes on.
    await _say(visitor, "missed 1")
    await _say(visitor, "missed 2")
    # Back, saying what it holds first: the two it missed, then live, and nothing it had.
    console = await console_socket(live_server, token)
    await send(console, {"type": "resume", "held": {cid: held}})
    hello = await recv_until(console, lambda f: f["type"] == "hello")
    assert [c["conversation_id"] for c in hello["conversations"]] == [cid]
    await _say(visitor, "live")
    got: list[Frame] = []
    while not got or got[-1]["body"] != "live":
        got.append(await recv_until(console, is_message))
    assert [f["body"] for f in got] == ["missed 1", "missed 2", "live"]
    assert all(f["seq"] > held for f in got)
    await console.close()
    # A console that says nothing else first holds nothing: the whole chat again, from seq 1.
    console = await console_socket(live_server, token)
    await send(console, {"type": "ping"})
    before_pong: list[Frame] = []
    await recv_until(console, lambda f: f["type"] == "pong", before_pong)  # served after the replay
    replay = [f for f in before_pong if is_message(f)]
    while not replay or replay[-1]["body"] != "live":
        replay.append(await recv_until(console, is_message))
    assert replay[0]["seq"] == 1 and [f["seq"] for f in replay] == sorted({f["seq"] for f in replay})
    await console.close()
    await visitor.close()


async def test_held_chats_the_console_may_not_open_are_refused_one_by_one(live_server: LiveServer) -> None:
    mine = await start_chat(live_server)
    other = await start_chat(live_server)
    _, token = operator_token(live_server)
    _, other_token = operator_token(live_server, display_name="Kim Operator")
    (await operator_holding(live_server, other, other_token))  # someone else holds it
    console = await operator_holding(live_server, mine, token)
    await console.close()
    console = await console_socket(live_server, token)
    await send(console, {"type": "resume", "held": {mine["conversation_id"]: 0, other["conversation_id"]: 0}})
    error = await recv_until(console, lambda f: f["type"] == "error")
    assert error["conversation_id"] == other["conversation_id"]
    await console.close()
