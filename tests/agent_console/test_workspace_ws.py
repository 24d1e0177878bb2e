"""Transfer over real sockets: both consoles update, the handover note never reaches the visitor,
and /ws/console actions on a chat go through access.conversation_for (async; no browser here)."""

from __future__ import annotations

import httpx
import pytest

from tests.chat_server.chat_client import (
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


def is_msg(f: dict) -> bool:  # type: ignore[type-arg]
    return f["type"] == "message"


async def test_transfer_moves_the_chat_between_consoles_and_the_note_stays_internal(
    live_server: LiveServer,
) -> None:
    chat = await start_chat(live_server)
    cid = chat["conversation_id"]
    _, token_a = operator_token(live_server, display_name="Ann")
    b_id, token_b = operator_token(live_server, display_name="Ben")
    ann = await operator_holding(live_server, chat, token_a)
    ben = await console_socket(live_server, token_b)
    await recv_until(ben, lambda f: f["type"] == "hello")
    await send(ben, {"type": "status", "status": "away"})  # signed in, taking no new offers
    await recv_until(ben, lambda f: f["type"] == "status")
    visitor = await visitor_socket(live_server, chat)
    await send(visitor, {"type": "resume", "after_seq": 0})
    async with httpx.AsyncClient(base_url=live_server.base_url) as http:
        r = await http.post(
            f"/console/workspace/chats/{cid}/transfer",
            json={"to_operator_id": b_id, "note": "SECRET handover"},
            headers={"Authorization": f"Bearer {token_a}"},
        )
    assert r.status_code == 200, r.text
    moved = await recv_until(ann, lambda f: f["type"] == "transferred")
    assert moved["conversation_id"] == cid and moved["to_operator_id"] == b_id
    opened = await recv_until(ben, lambda f: f["type"] == "conversation")
    assert opened["conversation_id"] == cid and opened["assignee_name"] == "Ben"
    note = await recv_until(ben, lambda f: is_msg(f) and f["internal"])
    assert "SECRET handover" in note["body"]
    # Ben carries on; the visitor sees the join and Ben's reply, never the note.
    await send(ben, {"type": "message", "conversation_id": cid, "client_id": new_id(), "body": "Ben here"})
    frames: list[dict] = []  # type: ignore[type-arg]
    await recv_until(visitor, lambda f: is_msg(f) and f["body"] == "Ben here", frames)
    assert any(is_msg(f) and f["body"] == "Ben has joined the chat." for f in frames)
    assert all("SECRET" not in str(f) for f in frames)
    # Ann no longer holds it: her messages are refused by conversation_for.
    await send(ann, {"type": "message", "conversation_id": cid, "client_id": new_id(), "body": "late"})
    refused = await recv_until(ann, lambda f: f["type"] == "error")
    assert refused["code"] == "forbidden" or "not yours" in refused["message"]
    for ws in (visitor, ann, ben):
        await ws.close()


async def test_a_console_cannot_watch_or_end_a_chat_it_does_not_hold(live_server: LiveServer) -> None:
    chat = await start_chat(live_server)
    cid = chat["conversation_id"]
    _, token_a = operator_token(live_server, display_name="Ann")
    _, token_b = operator_token(live_server, display_name="Ben")
    ann = await operator_holding(live_server, chat, token_a)
    ben = await console_socket(live_server, token_b)
    await recv_until(ben, lambda f: f["type"] == "hello")
    for frame in ({"type": "watch"}, {"type": "end"}, {"type": "resume", "after_seq": 0}):
        await send(ben, {**frame, "conversation_id": cid})
        err = await recv_until(ben, lambda f: f["type"] == "error")
        assert err["conversation_id"] == cid
    async with httpx.AsyncClient(base_url=live_server.base_url) as http:
        r = await http.post(
            f"/console/workspace/chats/{cid}/transfer",
            json={"to_team_id": 1},
            headers={"Authorization": f"Bearer {token_b}"},
        )
    assert r.status_code == 403
    for ws in (ann, ben):
        await ws.close()
