"""The visitor protocol over a real socket against the live server (see chat/protocol.py)."""

from __future__ import annotations

import pytest
from sqlmodel import col, select

from contact_store.models import Conversation, ConversationEvent, Message, SmsMessage
from tests.chat_server.chat_client import (
    console_socket,
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


def is_msg(f: dict) -> bool:  # type: ignore[type-arg]
    return f["type"] == "message"


async def test_acks_in_seq_order_and_duplicate_client_id_stores_once(live_server: LiveServer) -> None:
    chat = await start_chat(live_server, mobile="07700 900123")
    assert chat["queue_position"] == 1
    ws = await visitor_socket(live_server, chat)
    await send(ws, {"type": "resume", "after_seq": 0})
    await recv_until(ws, lambda f: f["type"] == "queue")
    ids = [new_id() for _ in range(5)]
    for i, cid in enumerate(ids):
        await send(ws, {"type": "message", "client_id": cid, "body": f"hello {i}"})
    acks = []
    while len(acks) < 5:
        acks.append(await recv_until(ws, lambda f: f["type"] == "ack"))
    assert [a["client_id"] for a in acks] == ids
    seqs = [a["seq"] for a in acks]
    assert seqs == sorted(seqs) and len(set(seqs)) == 5
    # The same client_id again: the original ack, nothing new stored.
    await send(ws, {"type": "message", "client_id": ids[2], "body": "hello 2"})
    again = await recv_until(ws, lambda f: f["type"] == "ack")
    assert again == acks[2]
    await ws.close()
    with live_server.store.session_scope() as s:
        bodies = s.exec(
            select(Message.body)
            .where(Message.conversation_id == chat["conversation_id"])
            .order_by(col(Message.seq))
        ).all()
        assert bodies == [f"hello {i}" for i in range(5)]
        sms = s.exec(select(SmsMessage).where(SmsMessage.conversation_id == chat["conversation_id"])).one()
        assert chat["reference"] in sms.body and sms.kind == "ack"
        conv = s.get(Conversation, chat["conversation_id"])
        assert conv is not None and conv.person_id is not None and conv.last_seq == 5
        kinds = s.exec(
            select(ConversationEvent.kind).where(ConversationEvent.conversation_id == conv.id)
        ).all()
        assert "queued" in kinds


@pytest.mark.parametrize("resume_in_auth", [False, True], ids=["resume-frame", "after_seq-in-auth"])
async def test_resume_after_dropped_socket_replays_operator_messages_once(
    live_server: LiveServer, resume_in_auth: bool
) -> None:
    chat = await start_chat(live_server)
    _, token = operator_token(live_server)
    visitor = await visitor_socket(live_server, chat)
    await send(visitor, {"type": "resume", "after_seq": 0})
    await send(visitor, {"type": "message", "client_id": new_id(), "body": "is anyone there?"})
    await recv_until(visitor, lambda f: f["type"] == "ack")
    seen: list[dict] = []  # type: ignore[type-arg]
    operator = await operator_holding(live_server, chat, token)
    assigned = await recv_until(visitor, lambda f: f["type"] == "assigned", seen)
    assert assigned["operator"]["display_name"] == "Sam Operator"
    # The "has joined" system message was stored (and so sent) before the assigned event.
    joined = [f for f in seen if is_msg(f) and f["sender"] == "system"]
    assert joined and "Sam Operator" in joined[0]["body"]
    # What the visitor holds so far; then the socket drops.
    held = {f["seq"] for f in seen if is_msg(f)}
    await visitor.close()
    sent = []
    for i in range(3):
        cid = new_id()
        await send(
            operator,
            {
                "type": "message",
                "conversation_id": chat["conversation_id"],
                "client_id": cid,
                "body": f"op {i}",
            },
        )
        ack = await recv_until(operator, lambda f: f["type"] == "ack")
        sent.append(ack["seq"])
    # Reconnect and resume from the last seq held: every missed message once, in order, then live.
    last = max(held | {0})
    if resume_in_auth:  # the widget's way: one frame, one read of the store
        visitor = await visitor_socket(live_server, chat, after_seq=last)
    else:
        visitor = await visitor_socket(live_server, chat)
        await send(visitor, {"type": "resume", "after_seq": last})
    await send(
        operator,
        {
            "type": "message",
            "conversation_id": chat["conversation_id"],
            "client_id": new_id(),
            "body": "live",
        },
    )
    got: list[dict] = []  # type: ignore[type-arg]
    while not got or got[-1]["body"] != "live":
        got.append(await recv_until(visitor, is_msg))
    seqs = [f["seq"] for f in got]
    assert seqs == sorted(set(seqs)), "no duplicate, in order"
    assert all(s > last for s in seqs)
    assert [f["body"] for f in got if f["sender"] == "operator"] == ["op 0", "op 1", "op 2", "live"]
    assert set(sent) <= set(seqs)
    await visitor.close()
    await operator.close()


async def test_internal_notes_never_reach_the_visitor(live_server: LiveServer) -> None:
    chat = await start_chat(live_server)
    _, token = operator_token(live_server)
    operator = await operator_holding(live_server, chat, token)
    visitor = await visitor_socket(live_server, chat)
    await send(visitor, {"type": "resume", "after_seq": 0})
    cid = chat["conversation_id"]
    await send(
        operator,
        {
            "type": "message",
            "conversation_id": cid,
            "client_id": new_id(),
            "body": "SECRET note",
            "internal": True,
        },
    )
    note = await recv_until(operator, lambda f: is_msg(f) and f["internal"])
    assert note["body"] == "SECRET note"
    await send(
        operator, {"type": "message", "conversation_id": cid, "client_id": new_id(), "body": "public reply"}
    )
    frames: list[dict] = []  # type: ignore[type-arg]
    await recv_until(visitor, lambda f: is_msg(f) and f["body"] == "public reply", frames)
    assert all("SECRET" not in str(f) for f in frames)
    await visitor.close()
    # Nor in a replay from the start.
    visitor = await visitor_socket(live_server, chat)
    await send(visitor, {"type": "resume", "after_seq": 0})
    frames = []
    await recv_until(visitor, lambda f: is_msg(f) and f["body"] == "public reply", frames)
    assert all("SECRET" not in str(f) for f in frames)
    await visitor.close()
    await operator.close()


async def test_token_of_another_conversation_is_refused(live_server: LiveServer) -> None:
    from websockets.exceptions import ConnectionClosed

    mine = await start_chat(live_server)
    theirs = await start_chat(live_server)
    ws = await visitor_socket(live_server, theirs, token=mine["token"])
    await send(ws, {"type": "resume", "after_seq": 0})
    with pytest.raises(ConnectionClosed) as exc:
        await recv_until(ws, lambda f: True)
    assert exc.value.rcvd is not None and exc.value.rcvd.code == 4401


async def test_foreign_origin_is_refused(live_server: LiveServer) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus

    chat = await start_chat(live_server)
    with pytest.raises(InvalidStatus) as exc:
        await connect(visitor_url(live_server, chat), origin="https://evil.example")  # type: ignore[arg-type]
    assert exc.value.response.status_code == 403


async def test_markup_is_stored_and_sent_as_text(live_server: LiveServer) -> None:
    chat = await start_chat(live_server)
    ws = await visitor_socket(live_server, chat)
    await send(ws, {"type": "resume", "after_seq": 0})
    body = '<img src=x onerror="alert(1)"><b>bold</b>'
    await send(ws, {"type": "message", "client_id": new_id(), "body": body})
    echo = await recv_until(ws, lambda f: is_msg(f) and f["sender"] == "visitor")
    assert echo["body"] == body  # unchanged text; clients render with textContent
    await send(ws, {"type": "message", "client_id": new_id(), "body": "x" * 5000})
    err = await recv_until(ws, lambda f: f["type"] == "error")
    assert err["code"] == "too_long"
    await ws.close()


async def test_danger_phrase_flags_and_shows_999_at_once(live_server: LiveServer) -> None:
    calm = await start_chat(live_server)
    chat = await start_chat(live_server)
    ws = await visitor_socket(live_server, chat)
    await send(ws, {"type": "resume", "after_seq": 0})
    await send(ws, {"type": "message", "client_id": new_id(), "body": "He's got a KNIFE and he's here now"})
    advice = await recv_until(ws, lambda f: is_msg(f) and f["sender"] == "system")
    assert "999" in advice["body"]
    queue = await recv_until(ws, lambda f: f["type"] == "queue" and f["position"] == 1)
    assert queue["position"] == 1
    with live_server.store.session_scope() as s:
        conv = s.get(Conversation, chat["conversation_id"])
        assert conv is not None and conv.danger_flag and conv.priority > 0
        other = s.get(Conversation, calm["conversation_id"])
        assert other is not None and not other.danger_flag
    await ws.close()


async def test_visitor_end_before_answer_is_abandoned(live_server: LiveServer) -> None:
    chat = await start_chat(live_server)
    ws = await visitor_socket(live_server, chat)
    await send(ws, {"type": "resume", "after_seq": 0})
    await send(ws, {"type": "end"})
    await recv_until(ws, lambda f: f["type"] == "ended")
    with live_server.store.session_scope() as s:
        conv = s.get(Conversation, chat["conversation_id"])
        assert conv is not None and conv.status == "abandoned" and conv.abandoned_at is not None
    await ws.close()


async def test_console_requires_sign_in(live_server: LiveServer) -> None:
    from websockets.exceptions import InvalidStatus

    with pytest.raises(InvalidStatus):
        await console_socket(live_server, "not-a-token")


async def test_rate_limit_refuses_and_stores_nothing_extra(live_server: LiveServer) -> None:
    chat = await start_chat(live_server)
    ws = await visitor_socket(live_server, chat)
    await send(ws, {"type": "resume", "after_seq": 0})
    n = live_server.settings.chat_rate_burst + 10
    for i in range(n):
        await send(ws, {"type": "message", "client_id": f"burst-{i}", "body": f"burst {i}"})
    acked, limited = set(), set()
    while len(acked) + len(limited) < n:
        f = await recv_until(ws, lambda f: f["type"] in ("ack", "error"))
        (acked if f["type"] == "ack" else limited).add(f["client_id"])
        if f["type"] == "error":
            assert f["code"] == "rate_limited"
    assert limited, "a burst past the bucket is refused"
    await ws.close()
    with live_server.store.session_scope() as s:
        stored = set(
            s.exec(select(Message.client_id).where(Message.conversation_id == chat["conversation_id"])).all()
        )
    assert stored == acked


async def test_missed_event_is_recovered_from_the_store_on_resync(live_server: LiveServer) -> None:
    from contact_store.conversations import append_message
    from contact_store.events import PENDING_EVENTS_KEY, channels

    chat = await start_chat(live_server)
    ws = await visitor_socket(live_server, chat)
    await send(ws, {"type": "resume", "after_seq": 0})
    await recv_until(ws, lambda f: f["type"] == "queue")
    # A message stored whose event never reaches the bus (as if Redis dropped it)...
    with live_server.store.session_scope() as s:
        append_message(
            session=s,
            conversation_id=chat["conversation_id"],
            client_id=new_id(),
            sender="system",
            body="lost event",
        )
        s.info.pop(PENDING_EVENTS_KEY, None)
    # ...comes through when the bus says "resync" (published from a thread, as services do).
    import anyio

    bus = live_server.store.bus
    await anyio.to_thread.run_sync(
        bus.publish, channels.conversation(chat["conversation_id"]), {"type": "bus.resync"}
    )
    got = await recv_until(ws, is_msg)
    assert got["body"] == "lost event" and got["seq"] == 1
    await ws.close()


async def test_burst_dropped_mid_flight_then_resent_is_stored_and_delivered_once(
    live_server: LiveServer,
) -> None:
    """Both sides send without waiting for acks and their connections drop at once (what reached
    the server is stored in shared batches); after reconnecting they resend everything with the
    same client_ids."""
    chat = await start_chat(live_server)
    cid = chat["conversation_id"]
    _, token = operator_token(live_server)
    operator = await operator_holding(live_server, chat, token)
    visitor = await visitor_socket(live_server, chat)
    await send(visitor, {"type": "resume", "after_seq": 0})
    await recv_until(visitor, lambda f: f["type"] == "assigned")
    from_visitor = {new_id(): f"visitor {i}" for i in range(15)}
    from_operator = {new_id(): f"operator {i}" for i in range(30)}
    for client_id, body in from_visitor.items():
        await send(visitor, {"type": "message", "client_id": client_id, "body": body})
    for client_id, body in from_operator.items():
        await send(
            operator, {"type": "message", "conversation_id": cid, "client_id": client_id, "body": body}
        )
    visitor.transport.abort()  # the network drops: no close handshake, unread frames lost
    operator.transport.abort()

    operator = await console_socket(live_server, token)
    await recv_until(operator, lambda f: f["type"] == "hello")
    visitor = await visitor_socket(live_server, chat)
    await send(visitor, {"type": "resume", "after_seq": 0})
    for client_id, body in from_visitor.items():
        await send(visitor, {"type": "message", "client_id": client_id, "body": body})
    for client_id, body in from_operator.items():
        await send(
            operator, {"type": "message", "conversation_id": cid, "client_id": client_id, "body": body}
        )
    visitor_seen: list[dict] = []  # type: ignore[type-arg]
    operator_seen: list[dict] = []  # type: ignore[type-arg]
    visitor_acks = {
        (await recv_until(visitor, lambda f: f["type"] == "ack", visitor_seen))["client_id"]
        for _ in from_visitor
    }
    operator_acks = {
        (await recv_until(operator, lambda f: f["type"] == "ack", operator_seen))["client_id"]
        for _ in from_operator
    }
    assert visitor_acks == set(from_visitor) and operator_acks == set(from_operator)
    with live_server.store.session_scope() as s:
        rows = s.exec(select(Message.client_id, Message.seq).where(Message.conversation_id == cid)).all()
        last_seq = s.get(Conversation, cid).last_seq  # type: ignore[union-attr]
    stored = [client_id for client_id, _ in rows]
    assert set(from_visitor) | set(from_operator) <= set(stored)
    assert len(stored) == len(set(stored)), "nothing stored twice"
    # (A resend racing its original on another connection may leave a seq unused on PostgreSQL: a
    # gap that clients skip, never a duplicate.)
    assert len({seq for _, seq in rows}) == len(rows) and max(seq for _, seq in rows) <= last_seq
    # Each side ends up holding every message exactly once (replay, then live).
    want_visitor = {client_id for client_id, _ in rows}
    while {f["client_id"] for f in visitor_seen if is_msg(f)} != want_visitor:
        visitor_seen.append(await recv_until(visitor, is_msg))
    delivered = [f["seq"] for f in visitor_seen if is_msg(f)]
    assert len(delivered) == len(set(delivered)) == len(rows)
    await send(operator, {"type": "resume", "conversation_id": cid, "after_seq": 0})
    while {f["client_id"] for f in operator_seen if is_msg(f)} != want_visitor:
        operator_seen.append(await recv_until(operator, is_msg))
    await visitor.close()
    await operator.close()
