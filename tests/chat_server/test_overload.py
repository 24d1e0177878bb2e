"""Graceful overload (issue #13): past a worker's bound on messages in flight, a chat message is
refused at once with a `busy` error frame carrying `retry_after`, nothing is stored or queued, and
the same client_id resent once there is room is stored exactly once. Form submissions past their
bound get 429 with Retry-After. Deterministic: the bound is 1 and the test holds that one place
itself (no timing, no load)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from contact_store.admission import (
    CHAT_MESSAGES,
    FORM_SUBMISSIONS,
    Busy,
    Gate,
    LoopLag,
    gate_for,
    make_gates,
)
from contact_store.models import Message, Report
from tests.chat_server.chat_client import (
    new_id,
    operator_holding,
    operator_token,
    recv_until,
    send,
    start_chat,
    visitor_socket,
)
from tests.conftest import LiveServer
from tests.web_forms.helpers import full_answers
from web_forms.catalogue import catalogue

pytestmark = pytest.mark.anyio


def test_a_gate_admits_up_to_its_bound_and_refuses_the_rest_at_once() -> None:
    gate = Gate("test", limit=2, retry_after=1.5)
    with gate.admit(), gate.admit():
        assert gate.in_flight == 2
        with pytest.raises(Busy) as refused, gate.admit():
            pass
        assert refused.value.retry_after == 1.5
        assert refused.value.status_code == 429 and refused.value.code == "busy"
        assert refused.value.headers == {"Retry-After": "2"}
        assert gate.in_flight == 2 and gate.refused == 1
    assert gate.in_flight == 0  # places come back, also after a refusal
    with gate.admit():
        assert gate.in_flight == 1


def test_a_gate_refuses_while_the_worker_runs_later_than_its_bound() -> None:
    lag = [0.0]
    gate = Gate("test", limit=10, retry_after=1, max_delay=0.25, lag=lambda: lag[0])
    with gate.admit():
        pass
    lag[0] = 0.3  # every piece of work on the worker now waits 300 ms before it starts
    # The first is admitted (nothing accepted to protect: the lag is the worker's own); the
    # second, while late, is refused.
    with gate.admit(), pytest.raises(Busy), gate.admit():
        pass
    assert gate.refused == 1 and gate.in_flight == 0
    lag[0] = 0.1
    with gate.admit(), gate.admit():
        pass
    off = Gate("off", limit=10, retry_after=1, max_delay=0, lag=lambda: 5.0)  # 0: no delay bound
    with off.admit():
        pass


async def test_loop_lag_sees_a_blocked_event_loop_and_recovers() -> None:
    lag = LoopLag(sample_seconds=0.05)
    lag.start()
    try:
        await asyncio.sleep(0.12)
        time.sleep(0.4)  # the loop is held: everything due waits
        await asyncio.sleep(0.001)  # the overdue sample runs first
        assert lag.lag >= 0.25
        await asyncio.sleep(0.5)  # halves every sample once the loop runs on time
        assert lag.lag < 0.2
    finally:
        await lag.stop()


async def test_a_visitor_message_is_refused_busy_while_the_worker_runs_late(live_server: LiveServer) -> None:
    chat = await start_chat(live_server)
    ws = await visitor_socket(live_server, chat, after_seq=0)
    gate = gate_for(live_server.app, CHAT_MESSAGES)
    saved = gate.max_delay, gate.lag
    gate.max_delay, gate.lag = 0.25, lambda: 0.5
    cid = new_id()
    try:
        with gate.admit():  # other work accepted and waiting, as under load
            await send(ws, {"type": "message", "client_id": cid, "body": "Are you there?"})
            refused = await recv_until(ws, lambda f: f["type"] in ("ack", "error"))
        assert refused["code"] == "busy" and refused["client_id"] == cid and refused["retry_after"] > 0
        assert _stored(live_server, chat["conversation_id"]) == []
    finally:
        gate.max_delay, gate.lag = saved
    await send(ws, {"type": "message", "client_id": cid, "body": "Are you there?"})
    ack = await recv_until(ws, lambda f: f["type"] in ("ack", "error"))
    assert ack["type"] == "ack" and _stored(live_server, chat["conversation_id"]) == [cid]
    await ws.close()


def test_the_bounds_come_from_the_settings(live_server: LiveServer) -> None:
    gates = make_gates(
        live_server.settings.model_copy(
            update={
                "chat_max_pending_messages": 3,
                "forms_max_pending_submissions": 4,
                "busy_retry_after_seconds": 2,
                "overload_max_delay_ms": 300,
            }
        ),
        LoopLag(),
    )
    assert (gates[CHAT_MESSAGES].limit, gates[FORM_SUBMISSIONS].limit) == (3, 4)
    assert gates[CHAT_MESSAGES].max_delay == gates[FORM_SUBMISSIONS].max_delay == 0.3
    assert gates[CHAT_MESSAGES].retry_after == 2


@contextmanager
def _full(app: FastAPI, name: str) -> Iterator[Gate]:
    """The app's gate `name` with a bound of 1, that one place held by the test (the sockets hold
    the gate object itself, so it is changed in place; nothing is in flight while it is)."""
    gate = gate_for(app, name)
    saved = gate.limit, gate.retry_after, gate.refused
    gate.limit, gate.retry_after, gate.refused = 1, 0.25, 0
    try:
        with gate.admit():
            yield gate
    finally:
        gate.limit, gate.retry_after, gate.refused = saved


def _stored(server: LiveServer, conversation_id: str) -> list[str]:
    with server.store.session_scope() as s:
        return list(s.exec(select(Message.client_id).where(Message.conversation_id == conversation_id)).all())


async def test_a_visitor_message_past_the_bound_is_refused_busy_then_stored_once_on_resend(
    live_server: LiveServer,
) -> None:
    chat = await start_chat(live_server)
    ws = await visitor_socket(live_server, chat)
    await send(ws, {"type": "resume", "after_seq": 0})
    cid = new_id()
    with _full(live_server.app, CHAT_MESSAGES) as gate:
        await send(ws, {"type": "message", "client_id": cid, "body": "Are you there?"})
        refused = await recv_until(ws, lambda f: f["type"] in ("ack", "error"))
        assert refused["code"] == "busy" and refused["client_id"] == cid
        assert refused["retry_after"] == 0.25
        assert gate.refused == 1
        assert _stored(live_server, chat["conversation_id"]) == []  # not stored, not queued
    # Room again: the client resends the same client_id and it is stored exactly once.
    await send(ws, {"type": "message", "client_id": cid, "body": "Are you there?"})
    ack = await recv_until(ws, lambda f: f["type"] in ("ack", "error"))
    assert ack["type"] == "ack" and ack["client_id"] == cid
    await send(ws, {"type": "message", "client_id": cid, "body": "Are you there?"})  # a late resend
    again = await recv_until(ws, lambda f: f["type"] in ("ack", "error"))
    assert again == ack
    assert _stored(live_server, chat["conversation_id"]) == [cid]
    await ws.close()


async def test_an_operator_message_past_the_bound_is_refused_busy_with_its_chat(
    live_server: LiveServer,
) -> None:
    chat = await start_chat(live_server)
    _, token = operator_token(live_server)
    console = await operator_holding(live_server, chat, token)
    conv = chat["conversation_id"]
    cid = new_id()
    frame = {"type": "message", "conversation_id": conv, "client_id": cid, "body": "Hello, I'm here"}
    with _full(live_server.app, CHAT_MESSAGES):
        await send(console, frame)
        refused = await recv_until(console, lambda f: f["type"] in ("ack", "error"))
        assert (refused["code"], refused["conversation_id"], refused["client_id"]) == ("busy", conv, cid)
        assert refused["retry_after"] == 0.25
        assert cid not in _stored(live_server, conv)  # (the accept stored a system message)
    await send(console, frame)
    ack = await recv_until(console, lambda f: f["type"] in ("ack", "error"))
    assert ack["type"] == "ack" and ack["client_id"] == cid
    assert _stored(live_server, conv).count(cid) == 1
    await console.close()


def test_a_form_submission_past_the_bound_gets_429_with_retry_after(
    client: TestClient, session: Session
) -> None:
    body = {"answers": full_answers(catalogue()["feedback"])}
    app = client.app
    assert isinstance(app, FastAPI)
    before = len(session.exec(select(Report)).all())
    with _full(app, FORM_SUBMISSIONS):
        refused = client.post("/api/v1/forms/feedback/submissions", json=body)
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "busy"
        assert refused.headers["retry-after"] == "1"
        session.expire_all()
        assert len(session.exec(select(Report)).all()) == before  # nothing filed
    accepted = client.post("/api/v1/forms/feedback/submissions", json=body)
    assert accepted.status_code == 201
