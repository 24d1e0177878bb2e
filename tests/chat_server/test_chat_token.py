"""The visitor's chat token (issue #10, point 5): in the socket's first frame or an Authorization
header, never a URL; it stops working `chat_token_ttl_after_end_minutes` after the chat ended."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from chat_server.chat import visitor_ws
from contact_store.clock import travel
from tests.chat_server.chat_client import (
    new_id,
    operator_holding,
    operator_token,
    recv_until,
    send,
    start_chat,
    visitor_socket,
    visitor_url,
)
from tests.conftest import LiveServer

pytestmark = pytest.mark.anyio


async def close_code(ws: ClientConnection) -> int:
    """The code of the close frame the server sends (fails if it drops the socket without one)."""
    with pytest.raises(ConnectionClosed) as exc:
        await recv_until(ws, lambda f: False)
    assert exc.value.rcvd is not None, "closed without a close frame"
    return exc.value.rcvd.code


def api(server: LiveServer, method: str, path: str, token: str | None, **kw: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return httpx.request(method, server.base_url + path, headers=headers, **kw)


SCORES = {"score_time": 5, "score_resolve": 4, "score_overall": 5, "comment": "Thanks"}


async def test_the_token_in_the_first_frame_opens_the_chat(live_server: LiveServer) -> None:
    chat = await start_chat(live_server)
    ws = await connect(visitor_url(live_server, chat), origin=live_server.base_url)  # type: ignore[arg-type]
    await send(ws, {"type": "auth", "token": chat["token"]})
    await send(ws, {"type": "resume", "after_seq": 0})
    assert (await recv_until(ws, lambda f: f["type"] == "queue"))["position"] == 1
    await send(ws, {"type": "auth", "token": chat["token"]})  # once is enough
    assert (await recv_until(ws, lambda f: f["type"] == "error"))["code"] == "bad_frame"
    await ws.close()


async def test_a_token_in_the_url_opens_nothing(live_server: LiveServer) -> None:
    chat = await start_chat(live_server)
    url = f"{visitor_url(live_server, chat)}?token={chat['token']}"
    ws = await connect(url, origin=live_server.base_url)  # type: ignore[arg-type]
    await send(ws, {"type": "resume", "after_seq": 0})
    assert await close_code(ws) == 4401


@pytest.mark.parametrize(
    "first",
    [
        {"type": "auth", "token": "not-this-chats-token"},
        {"type": "auth", "token": "a b\u0000"},
        {"type": "auth"},
        {"type": "message", "client_id": "c", "body": "hello"},
    ],
)
async def test_a_first_frame_without_the_token_closes_4401(live_server: LiveServer, first: Any) -> None:
    chat = await start_chat(live_server)
    ws = await connect(visitor_url(live_server, chat), origin=live_server.base_url)  # type: ignore[arg-type]
    await send(ws, first)
    assert await close_code(ws) == 4401


@pytest.mark.parametrize("cid", ["%00", "%ED%A0%80", "x" * 40, "no-such-chat"])
async def test_a_bad_conversation_id_closes_4401(live_server: LiveServer, cid: str) -> None:
    chat = await start_chat(live_server)
    ws = await connect(f"{live_server.ws_url}/ws/chat/{cid}", origin=live_server.base_url)  # type: ignore[arg-type]
    await send(ws, {"type": "auth", "token": chat["token"]})
    assert await close_code(ws) == 4401


async def test_no_auth_frame_in_time_closes_4401(
    live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(visitor_ws, "AUTH_DEADLINE_SECONDS", 0.2)
    chat = await start_chat(live_server)
    ws = await connect(visitor_url(live_server, chat), origin=live_server.base_url)  # type: ignore[arg-type]
    assert await close_code(ws) == 4401


async def test_transcript_needs_this_chats_token_and_leaves_out_internal_notes(
    live_server: LiveServer,
) -> None:
    chat = await start_chat(live_server, language="cy")
    path = f"/api/v1/chats/{chat['conversation_id']}/transcript"
    _, staff_token = operator_token(live_server)
    operator = await operator_holding(live_server, chat, staff_token)
    visitor = await visitor_socket(live_server, chat)
    await send(visitor, {"type": "resume", "after_seq": 0})
    await send(visitor, {"type": "message", "client_id": new_id(), "body": "My bike was taken"})
    await recv_until(visitor, lambda f: f["type"] == "ack")
    cid = chat["conversation_id"]
    note = {
        "type": "message",
        "conversation_id": cid,
        "client_id": new_id(),
        "body": "NOTE",
        "internal": True,
    }
    await send(operator, note)
    await recv_until(operator, lambda f: f["type"] == "ack")

    assert api(live_server, "GET", path, None).status_code == 401
    other = await start_chat(live_server)
    refused = api(live_server, "GET", path, other["token"])
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    r = api(live_server, "GET", path, chat["token"])
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert r.headers["cache-control"] == "no-store"
    assert f'filename="chat-{chat["reference"]}.txt"' in r.headers["content-disposition"]
    assert "Chi: My bike was taken" in r.text and chat["reference"] in r.text  # Welsh labels
    assert " GMT\n" in r.text or " BST\n" in r.text  # the force's local time (Europe/London)
    assert "NOTE" not in r.text
    await visitor.close()
    await operator.close()


async def test_the_token_expires_a_set_time_after_the_chat_ended(live_server: LiveServer) -> None:
    ttl = live_server.settings.chat_token_ttl_after_end_minutes
    chat = await start_chat(live_server)
    cid = chat["conversation_id"]
    _, staff_token = operator_token(live_server)
    operator = await operator_holding(live_server, chat, staff_token)
    visitor = await visitor_socket(live_server, chat)
    await send(visitor, {"type": "resume", "after_seq": 0})
    await send(visitor, {"type": "message", "client_id": new_id(), "body": "Thank you"})
    await recv_until(visitor, lambda f: f["type"] == "ack")
    await send(operator, {"type": "end", "conversation_id": cid})
    await recv_until(visitor, lambda f: f["type"] == "ended")
    await visitor.close()
    await operator.close()
    transcript = f"/api/v1/chats/{cid}/transcript"
    survey = f"/api/v1/chats/{cid}/survey"

    with travel(timedelta(minutes=ttl) - timedelta(seconds=30)):  # within the time: all still works
        ws = await visitor_socket(live_server, chat)
        await send(ws, {"type": "resume", "after_seq": 0})
        replayed = await recv_until(ws, lambda f: f["type"] == "message" and f["body"] == "Thank you")
        assert replayed["sender"] == "visitor"
        await recv_until(ws, lambda f: f["type"] == "ended")
        await ws.close()
        assert "Thank you" in api(live_server, "GET", transcript, chat["token"]).text
        assert api(live_server, "GET", survey, chat["token"]).status_code == 200

    with travel(timedelta(minutes=ttl) + timedelta(seconds=30)):  # after it: refused, clearly
        ws = await visitor_socket(live_server, chat)
        await send(ws, {"type": "resume", "after_seq": 0})
        assert await close_code(ws) == 4410
        for method, path, body in [
            ("GET", transcript, None),
            ("GET", survey, None),
            ("POST", survey, SCORES),
        ]:
            r = api(live_server, method, path, chat["token"], json=body)
            assert r.status_code == 410, (method, path, r.text)
            assert r.json()["error"]["code"] == "chat_expired"

    # Back in the present the survey can still be answered: nothing was spent by the refusals.
    assert api(live_server, "POST", survey, chat["token"], json=SCORES).status_code == 201


async def test_an_abandoned_chat_expires_from_when_it_was_abandoned(live_server: LiveServer) -> None:
    ttl = live_server.settings.chat_token_ttl_after_end_minutes
    chat = await start_chat(live_server)
    ws = await visitor_socket(live_server, chat)
    await send(ws, {"type": "resume", "after_seq": 0})
    await send(ws, {"type": "end"})
    await recv_until(ws, lambda f: f["type"] == "ended")
    await ws.close()
    with travel(timedelta(minutes=ttl, seconds=30)):
        ws = await visitor_socket(live_server, chat)
        assert await close_code(ws) == 4410
