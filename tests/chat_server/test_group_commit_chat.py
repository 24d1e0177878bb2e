"""The group-commit writer: a failing unit rolls back alone, events only after commit (both backends)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from sqlmodel import Session, col, select

from contact_store import conversations as conv_service
from contact_store.db import Store
from contact_store.events import InProcessBus, channels
from contact_store.group_commit import GroupCommitWriter, run_sql
from contact_store.message_sql import MessageWrite, NewMessage, SqlCursor, store_message, store_messages
from contact_store.models import Conversation, ConversationStatus, Message
from tests.builders import make_conversation, make_operator
from tests.conftest import LiveServer
from tests.support.group_commit_units import allocate_then_break_a_constraint, hold_the_writer

pytestmark = pytest.mark.anyio


def _append_then_fail(*, session: Session, conversation_id: str) -> None:
    conv_service.append_message(
        session=session, conversation_id=conversation_id, client_id="orm", sender="visitor", body="x"
    )
    raise RuntimeError("this unit fails after writing")


async def _chat_and_bus(server: LiveServer) -> tuple[str, Store, Any]:
    with server.store.session_scope() as s:
        cid = make_conversation(s, status=ConversationStatus.ACTIVE).id
    bus = InProcessBus()
    await bus.start()
    sub = bus.subscribe()
    await sub.add(channels.conversation(cid))
    return cid, Store(server.store.engine, bus), sub


async def test_a_failing_unit_in_a_batch_rolls_back_alone(live_server: LiveServer) -> None:
    cid, store, sub = await _chat_and_bus(live_server)
    writer = GroupCommitWriter(store, threads=1)  # one thread: the next batch is exactly these four
    running, gate = threading.Event(), threading.Event()
    held = writer.submit(hold_the_writer, {"running": running, "gate": gate})
    await asyncio.to_thread(running.wait)
    # Queued while the writer is busy, so the next batch is exactly these four.
    first = writer.submit(store_message, {"message": NewMessage(cid, "a", "one")}, on_cursor=True)
    broken_sql = writer.submit(allocate_then_break_a_constraint, {"conversation_id": cid}, on_cursor=True)
    broken_orm = writer.submit(_append_then_fail, {"conversation_id": cid})
    last = writer.submit(store_message, {"message": NewMessage(cid, "b", "two")}, on_cursor=True)
    gate.set()
    await held
    outcomes = await asyncio.gather(first, broken_sql, broken_orm, last, return_exceptions=True)
    assert isinstance(outcomes[0], MessageWrite) and outcomes[0].stored.seq == 1
    assert isinstance(outcomes[1], Exception) and not isinstance(outcomes[1], AssertionError)
    assert isinstance(outcomes[2], RuntimeError)
    assert isinstance(outcomes[3], MessageWrite) and outcomes[3].stored.seq == 2, "no seq lost to a failure"
    with live_server.store.session_scope() as s:
        rows = s.exec(select(Message.client_id, Message.seq).where(Message.conversation_id == cid)).all()
        assert sorted(rows, key=lambda r: r[1]) == [("a", 1), ("b", 2)]
        assert s.get(Conversation, cid).last_seq == 2  # type: ignore[union-attr]
    # Published after the commit, in order, and nothing from the failed units.
    events = [(await sub.get())[1] for _ in range(2)]
    assert [(e["type"], e["seq"], e["client_id"]) for e in events] == [
        ("message", 1, "a"),
        ("message", 2, "b"),
    ]
    assert sub.queue.empty()


async def test_concurrent_messages_get_contiguous_seqs_and_resends_store_once(
    live_server: LiveServer,
) -> None:
    cid, store, sub = await _chat_and_bus(live_server)
    messages = [NewMessage(cid, f"m{i}", f"body {i}") for i in range(40)]
    writes = await asyncio.gather(*(run_sql(store, store_message, message=m) for m in messages))
    resent = await asyncio.gather(*(run_sql(store, store_message, message=m) for m in messages[::3]))
    assert sorted(w.stored.seq for w in writes) == list(range(1, 41))
    assert all(not r.created for r in resent)
    assert {r.stored.client_id: r.stored.seq for r in resent} == {
        w.stored.client_id: w.stored.seq for w in writes[::3]
    }
    with live_server.store.session_scope() as s:
        seqs = s.exec(
            select(Message.seq).where(Message.conversation_id == cid).order_by(col(Message.seq))
        ).all()
        assert seqs == list(range(1, 41))
    published = [(await sub.get())[1]["seq"] for _ in range(40)]
    assert sorted(published) == list(range(1, 41)) and sub.queue.empty()


class _DeadlockDetected(Exception):
    sqlstate = "40P01"  # what psycopg reports when PostgreSQL aborts a statement to break a deadlock


def _deadlocked_once(*, cur: SqlCursor, message: NewMessage, attempts: list[int]) -> MessageWrite:
    write = store_message(cur=cur, message=message)
    attempts.append(write.stored.seq)
    if len(attempts) == 1:
        raise _DeadlockDetected("deadlock detected")
    return write


async def test_a_unit_aborted_to_break_a_deadlock_is_rerun_with_nothing_left_of_the_first_try(
    live_server: LiveServer,
) -> None:
    cid, store, sub = await _chat_and_bus(live_server)
    attempts: list[int] = []
    write = await run_sql(
        store,
        _deadlocked_once,
        message=NewMessage(cid, "retried", "hello"),
        attempts=attempts,
        lock_order=cid,
    )
    assert attempts == [1, 1], "the first try's seq was rolled back with it"
    assert write.created and write.stored.seq == 1
    with live_server.store.session_scope() as s:
        rows = s.exec(select(Message.client_id).where(Message.conversation_id == cid)).all()
        assert rows == ["retried"]
    assert (await sub.get())[1]["client_id"] == "retried" and sub.queue.empty()


async def test_a_batch_of_messages_stores_like_one_at_a_time_with_resends_inside_it(
    live_server: LiveServer,
) -> None:
    """On PostgreSQL a run of messages in one batch is stored pipelined (`store_messages`): the
    same seqs, resends answered with the original (also one resent inside the same batch), the
    operator's first public message stamping the first response, events in order."""
    with live_server.store.session_scope() as s:
        operator_id = make_operator(s).id
        assert operator_id is not None
        cid = make_conversation(s, status=ConversationStatus.ACTIVE, assignee_id=operator_id).id
    bus = InProcessBus()
    await bus.start()
    sub = bus.subscribe()
    await sub.add(channels.conversation(cid))
    store = Store(live_server.store.engine, bus)
    writer = GroupCommitWriter(store, threads=1)
    running, gate = threading.Event(), threading.Event()
    held = writer.submit(hold_the_writer, {"running": running, "gate": gate})
    await asyncio.to_thread(running.wait)
    sent = [
        NewMessage(cid, "v1", "hello"),
        NewMessage(cid, "o1", "hi, how can I help?", operator_id=operator_id),
        NewMessage(cid, "v1", "hello"),  # a resend inside the same batch
        NewMessage(cid, "n1", "a note", operator_id=operator_id, internal=True),
        NewMessage(cid, "v2", "my bike was stolen"),
    ]
    futures = [writer.submit(store_message, {"message": m}, on_cursor=True, lock_order=cid) for m in sent]
    gate.set()
    await held
    writes = await asyncio.gather(*futures)
    assert [(w.stored.client_id, w.stored.seq, w.created) for w in writes] == [
        ("v1", 1, True),
        ("o1", 2, True),
        ("v1", 1, False),
        ("n1", 3, True),
        ("v2", 4, True),
    ]
    assert writes[1].stored.operator_name and writes[3].stored.internal
    with live_server.store.session_scope() as s:
        rows = s.exec(select(Message.client_id, Message.seq).where(Message.conversation_id == cid)).all()
        assert sorted(rows, key=lambda r: r[1]) == [("v1", 1), ("o1", 2), ("n1", 3), ("v2", 4)]
        conv = s.get(Conversation, cid)
        assert conv is not None and conv.first_response_at is not None and conv.last_seq == 4
    events = [(await sub.get())[1] for _ in range(4)]
    assert [(e["type"], e["seq"]) for e in events] == [
        ("message", 1),
        ("message", 2),
        ("seq", 3),
        ("message", 4),
    ]


@pytest.mark.parametrize("path", ["pipelined", "one-at-a-time"])
def test_a_resend_stored_meanwhile_by_another_worker_leaves_no_gap_in_the_seqs(
    live_server: LiveServer, path: str
) -> None:
    """Two workers racing with one client_id (a resend during a rolling restart): the one that
    waits for the conversation's row lock gets the original back and takes no seq, so the chat's
    messages stay numbered 1..n (chat.seq_contiguous). Only PostgreSQL has concurrent writers."""
    engine = live_server.store.engine
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: the race cannot happen")
    with live_server.store.session_scope() as s:
        cid = make_conversation(s, status=ConversationStatus.ACTIVE).id
    first, second = engine.raw_connection(), engine.raw_connection()
    try:
        won = store_message(cur=SqlCursor(first.cursor(), engine.dialect), message=NewMessage(cid, "r", "hi"))
        assert won.stored.seq == 1  # not committed yet: the other worker's read does not see it

        def other_worker() -> list[MessageWrite]:
            cur = SqlCursor(second.cursor(), engine.dialect)
            resend, after = NewMessage(cid, "r", "hi"), NewMessage(cid, "s", "still there?")
            if path == "pipelined":
                writes = store_messages(cur=cur, messages=[resend, after])
            else:
                writes = [store_message(cur=cur, message=resend), store_message(cur=cur, message=after)]
            second.commit()
            return writes

        result: list[list[MessageWrite]] = []
        racing = threading.Thread(target=lambda: result.append(other_worker()))
        racing.start()
        racing.join(0.5)
        assert racing.is_alive(), "the other worker waits for the conversation's row lock"
        first.commit()
        racing.join(10)
        resent, after = result[0]
        assert (resent.stored.seq, resent.created) == (1, False)
        assert (after.stored.seq, after.created) == (2, True)
    finally:
        first.close()
        second.close()
    with live_server.store.session_scope() as s:
        rows = s.exec(select(Message.client_id, Message.seq).where(Message.conversation_id == cid)).all()
        assert sorted(rows, key=lambda r: r[1]) == [("r", 1), ("s", 2)]
        conv = s.get(Conversation, cid)
        assert conv is not None and conv.last_seq == 2
