"""The staff websocket: WS /ws/console (session cookie, or `Authorization: Bearer <token>`).

Carries queue updates and the messages of every conversation the operator holds, is offered, or
watches (supervisors), with the visitor socket's rules per conversation (see chat/protocol.py):
stored with the next seq before ack or delivery; repeated client_id -> original ack; resume per
conversation = subscribe, replay from the store after after_seq, then live with seq <= sent dropped.
Cookie sign-in requires an allowed Origin (no cross-site websocket hijacking); bearer does not.

Connecting and resuming (what a console holds decides what is replayed)
    1. The handshake signs the console in (cookie or bearer); the server sends `hello` at once,
       listing the chats the operator holds or is offered (each with its `last_seq`).
    2. The console's FIRST frame says what it already holds, one last seq per chat:
           {"type": "resume", "held": {"<conversation_id>": <last seq held>, ...}}
       (`{}` for a fresh page). The server then subscribes to each chat `hello` listed and replays
       only its messages after the seq given (0 for a chat not in `held`), then streams live
       events with seq <= the last sent dropped. Chats in `held` that `hello` did not list (watched,
       or ended or moved while away) are resumed the same way, each answered with its
       `conversation` summary (or an error frame if the console may no longer open it).
    3. A console whose first frame is anything else, or that sends nothing within
       RESUME_WAIT_SECONDS, holds nothing: every listed chat is replayed from the start (the first
       frame is then served as usual).
    So a console that reconnects (say after close 1012, below) receives no message twice.
    A later `{"type": "resume", "conversation_id", "after_seq"}` replays that chat after the seq
    given, as asked (`watch` follows a chat not held).

Restarts
    A worker that stops (SIGTERM) closes every socket with 1012 (service restart). Clients reconnect
    at once (on 1012 without backoff; nginx sends them to a worker still up) and resume as above;
    unacked messages are resent with their client_id and acked once.

Client frames
    {"type": "status", "status": "available"|"busy"|"away"}
    {"type": "accept", "conversation_id"}          accept an offer or pick from the queue
    {"type": "decline", "conversation_id"}
    {"type": "watch", "conversation_id"}           supervisors (or the holder) follow a chat
    {"type": "resume", "held": {"<conversation_id>": last_seq, ...}}   the first frame (above)
    {"type": "resume", "conversation_id", "after_seq"}
    {"type": "message", "conversation_id", "client_id", "body", "internal"?: bool}
    {"type": "typing", "conversation_id"}  {"type": "end", "conversation_id"}  {"type": "ping"}
Server frames
    {"type": "hello", "operator": {"id", "display_name", "status", "capacity"}, "conversations": [...]}
    {"type": "queue", "items": [...]}  (the waiting chats, in order; sent on every change)
    {"type": "offer", "conversation_id", "expires_at"}  {"type": "offer_withdrawn", "conversation_id"}
    {"type": "conversation", ...summary}  (after accept/watch/resume: status, visitor, last_seq)
    {"type": "message", "conversation_id", "seq", "client_id", "sender", "body", "sent_at", "internal"}
    {"type": "ack", "conversation_id", "client_id", "seq"}
    {"type": "typing", "conversation_id", "sender": "visitor"}  {"type": "ended", "conversation_id"}
    {"type": "released", "conversation_id"}  (requeued after a disconnect past the grace period)
    {"type": "transferred", "conversation_id", "to_operator_id"|"to_team_id", "by"}  (moved away
        from this console by POST /console/workspace/chats/<id>/transfer; it is no longer followed)
    {"type": "status", "status"}  {"type": "error", "code", "message", ...}  {"type": "ping"|"pong"}
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from fastapi import APIRouter, WebSocket
from sqlmodel import Session, col, select

from chat_server.chat.presence import Presence
from chat_server.chat.protocol import (
    CLIENT_GONE,
    CLOSE_FORBIDDEN_ORIGIN,
    CLOSE_NOT_AUTHORISED,
    CONSOLE_FRAMES,
    Refusal,
    TokenBucket,
    dumps,
    error_frame,
    origin_allowed,
    receive_frame,
    serve_until_closed,
)
from chat_server.routing import queue as queue_service
from chat_server.routing import service as routing
from contact_store import conversations as conv_service
from contact_store import staff, telemetry
from contact_store.access import conversation_for
from contact_store.admission import CHAT_MESSAGES, Busy, gate_for
from contact_store.clock import utcnow
from contact_store.db import Store
from contact_store.errors import AppError
from contact_store.events import channels
from contact_store.group_commit import run_db, run_sql
from contact_store.message_sql import NewMessage, store_message
from contact_store.models import Conversation, ConversationStatus, Operator, OperatorStatus, Team
from contact_store.settings import Settings
from contact_store.web import token_from_request

logger = logging.getLogger(__name__)
router = APIRouter()

# Queue snapshots are sent at most this often per console (a busy queue changes many times a second).
QUEUE_EVERY_SECONDS = 0.3
# How long after `hello` the held chats' replay waits for the console's first frame (its `resume`
# with `held`). The workspace sends it as soon as the socket opens, so it comes within a round
# trip; a client that sends nothing just gets the full replay this much later.
RESUME_WAIT_SECONDS = 2.0


def _authenticate(*, session: Session, settings: Settings, token: str) -> tuple[Operator, str]:
    staff_session, op = staff.resolve_session(session=session, settings=settings, token=token)
    return op, staff_session.kind


def summary(conv: Conversation, operator_name: str | None = None) -> dict[str, Any]:
    return {
        "type": "conversation",
        "conversation_id": conv.id,
        "status": conv.status,
        "visitor_name": conv.visitor_name,
        "topic": conv.topic,
        "area_id": conv.area_id,
        "danger": conv.danger_flag,
        "language": conv.language,
        "assignee_id": conv.assignee_id,
        "assignee_name": operator_name,
        "reference": conv_service.short_reference(conv.id),
        "person_id": conv.person_id,
        "last_seq": conv.last_seq,
        "queued_at": conv.queued_at.isoformat(),
    }


def _hello(*, session: Session, settings: Settings, operator_id: int) -> dict[str, Any]:
    op = session.get(Operator, operator_id)
    assert op is not None
    op.last_seen_at = utcnow()
    session.add(op)
    team = session.get(Team, op.team_id) if op.team_id else None
    held = session.exec(
        select(Conversation).where(
            (
                (col(Conversation.assignee_id) == operator_id)
                & (col(Conversation.status) == ConversationStatus.ACTIVE)
            )
            | (
                (col(Conversation.offered_to_id) == operator_id)
                & (col(Conversation.status) == ConversationStatus.OFFERED)
            )
        )
    ).all()
    return {
        "type": "hello",
        "operator": {
            "id": op.id,
            "display_name": op.display_name,
            "status": op.status,
            "role": op.role,
            "capacity": routing.capacity_of(operator=op, team=team, settings=settings),
        },
        "conversations": [summary(c, op.display_name if c.assignee_id == op.id else None) for c in held],
    }


def _open_conversation(*, session: Session, operator_id: int, conversation_id: str) -> dict[str, Any]:
    op = session.get(Operator, operator_id)
    assert op is not None
    conv = conversation_for(session=session, staff=op, conversation_id=conversation_id)
    name = None
    if conv.assignee_id:
        holder = session.get(Operator, conv.assignee_id)
        name = holder.display_name if holder else None
    return summary(conv, name)


def _accept(
    *, session: Session, settings: Settings, operator_id: int, conversation_id: str
) -> tuple[dict[str, Any], bool]:
    """The chat's summary, and whether it was an offer to this operator (else a pick)."""
    op = session.get(Operator, operator_id)
    assert op is not None
    offered = session.execute(
        select(col(Conversation.offered_to_id)).where(
            col(Conversation.id) == conversation_id,
            col(Conversation.status) == ConversationStatus.OFFERED,
        )
    ).scalar_one_or_none()
    conv = routing.claim(session=session, settings=settings, conversation_id=conversation_id, operator=op)
    return summary(conv, op.display_name), offered == operator_id


def _end(*, session: Session, operator_id: int, conversation_id: str) -> None:
    op = session.get(Operator, operator_id)
    assert op is not None
    conv = conversation_for(session=session, staff=op, conversation_id=conversation_id)
    routing.end(session=session, conversation_id=conv.id, by="operator", operator=op)


class ConsoleConnection:
    def __init__(self, ws: WebSocket, store: Store, settings: Settings, operator_id: int) -> None:
        self.ws = ws
        self.store = store
        self.settings = settings
        self.op_id = operator_id
        self.last_sent: dict[str, int] = {}
        self.lock = asyncio.Lock()
        self.sub = store.bus.subscribe()
        self.bucket = TokenBucket(settings.staff_rate_per_second, int(settings.staff_rate_per_second * 2))
        self.queue_due = asyncio.Event()
        self.chains: dict[str, asyncio.Task[None]] = {}
        # Messages being stored at once per console; past this the socket is read no faster.
        self.in_flight = asyncio.Semaphore(256)
        self.gate = gate_for(ws.app, CHAT_MESSAGES)  # the worker's bound on messages in flight
        self.delivered_due: set[str] = set()  # chats whose visitor messages were just forwarded

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send_text(dumps(frame))
        if frame.get("type") == "message":
            telemetry.DELIVERED_TO_CONSOLE.inc()

    async def first_frame(self) -> dict[str, Any] | Refusal | None:
        """The client's first frame, if it comes within RESUME_WAIT_SECONDS (None otherwise)."""
        try:
            async with asyncio.timeout(RESUME_WAIT_SECONDS):
                return await receive_frame(
                    self.ws, rules=CONSOLE_FRAMES, max_body=self.settings.message_max_length
                )
        except TimeoutError:
            return None

    async def run(self) -> None:
        await self.sub.add(channels.QUEUE, channels.operator(self.op_id))
        hello = await run_db(self.store, _hello, settings=self.settings, operator_id=self.op_id)
        async with self.lock:
            await self.send(hello)
        # What the console already holds decides what is replayed: a `resume` frame with `held`
        # first (a reconnecting console) -> only what is missing; anything else -> from the start.
        try:
            first = await self.first_frame()
        except CLIENT_GONE:
            await self.sub.close()
            return
        held: dict[str, int] = {}
        if isinstance(first, dict) and "held" in first:
            held = first["held"]
        async with self.lock:
            for conv in hello["conversations"]:
                await self.follow(conv["conversation_id"], held.get(conv["conversation_id"], 0))
        self.queue_due.set()
        tasks = [asyncio.create_task(self.forward()), asyncio.create_task(self.queue_sender())]
        try:
            if isinstance(first, Refusal):
                await self.send(first.frame())
            elif first is not None:
                await self.handle(first)
            while True:
                frame = await receive_frame(
                    self.ws, rules=CONSOLE_FRAMES, max_body=self.settings.message_max_length
                )
                if isinstance(frame, Refusal):
                    await self.send(frame.frame())
                else:
                    await self.handle(frame)
        except CLIENT_GONE:
            pass
        finally:
            for t in [*tasks, *self.chains.values()]:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(BaseException):
                    await t
            await self.sub.close()

    async def follow(self, cid: str, after_seq: int) -> None:
        """Subscribe to a conversation, then replay after `after_seq` (caller holds the lock)."""
        await self.sub.add(channels.conversation(cid), conv_service.staff_channel(cid))
        msgs = await run_db(
            self.store,
            conv_service.messages_after,
            conversation_id=cid,
            after_seq=after_seq,
            include_internal=True,
        )
        for m in msgs:
            await self.send(m.frame(cid))
        self.last_sent[cid] = max(after_seq, msgs[-1].seq if msgs else after_seq)
        await self.mark_delivered(cid)

    async def mark_delivered(self, cid: str) -> None:
        self.store.bus.publish(
            channels.conversation(cid), {"type": "delivered", "seq": self.last_sent.get(cid, 0)}
        )

    async def handle(self, frame: dict[str, Any]) -> None:
        """A frame `parse_frame` has checked against CONSOLE_FRAMES."""
        kind = frame["type"]
        cid = frame.get("conversation_id")
        try:
            if kind == "ping":
                await self.send({"type": "pong"})
            elif kind == "pong":
                return
            elif kind == "status":
                status = frame["status"]
                if status not in routing.SETTABLE_STATUSES:
                    raise AppError("Choose available, busy or away", code="bad_status")
                await run_db(self.store, self._set_status, status=status)
            elif kind == "resume" and "held" in frame:
                await self.resume_held(frame["held"])
            elif cid is None:  # never, past parse_frame: every other type carries a checked id
                raise AppError("conversation_id is required", code="bad_frame")
            elif kind == "accept":
                conv, was_offer = await run_db(
                    self.store, _accept, settings=self.settings, operator_id=self.op_id, conversation_id=cid
                )
                if was_offer:
                    telemetry.OFFERS_ACCEPTED.inc()
                async with self.lock:
                    await self.send(conv)
                    if cid not in self.last_sent:
                        await self.follow(cid, 0)
            elif kind == "decline":
                if await run_db(self.store, self._decline, conversation_id=cid):
                    telemetry.OFFERS_DECLINED.inc()
            elif kind in ("watch", "resume"):
                conv = await run_db(
                    self.store, _open_conversation, operator_id=self.op_id, conversation_id=cid
                )
                async with self.lock:
                    await self.send(conv)
                    await self.follow(cid, frame.get("after_seq", 0))
            elif kind == "message":
                await self.pipeline(cid, frame)
            elif kind == "typing":
                if cid in self.last_sent:
                    self.store.bus.publish(
                        channels.conversation(cid), {"type": "typing", "sender": "operator"}
                    )
            elif kind == "end":
                await run_db(self.store, _end, operator_id=self.op_id, conversation_id=cid)
        except AppError as exc:
            await self.send(
                error_frame(exc.code, exc.message, conversation_id=cid, client_id=frame.get("client_id"))
            )

    async def resume_held(self, held: dict[str, int]) -> None:
        """The chats of a `held` frame not followed yet (watched, or ended or moved while the
        console was away): each resumed after its seq, as a per-chat `resume` would."""
        for cid, after_seq in held.items():
            if cid not in self.last_sent:
                await self.handle({"type": "resume", "conversation_id": cid, "after_seq": after_seq})

    def _set_status(self, *, session: Session, status: str) -> None:
        op = session.get(Operator, self.op_id)
        assert op is not None
        routing.set_status(session=session, operator=op, status=status)

    def _decline(self, *, session: Session, conversation_id: str) -> bool:
        op = session.get(Operator, self.op_id)
        assert op is not None
        return routing.decline(session=session, conversation_id=conversation_id, operator=op)

    async def pipeline(self, cid: str, frame: dict[str, Any]) -> None:
        """Store messages of different chats concurrently, each chat's in the order sent.

        An operator holding many chats must not wait for one chat's commit before the next chat's
        message is even read; within one chat the order (and so the seq order) is kept by chaining.
        """
        await self.in_flight.acquire()
        previous = self.chains.get(cid)

        async def run() -> None:
            try:
                if previous is not None:
                    with contextlib.suppress(BaseException):
                        await previous
                try:
                    await self.on_message(cid, frame)
                except AppError as exc:
                    await self.send(
                        error_frame(
                            exc.code, exc.message, conversation_id=cid, client_id=frame.get("client_id")
                        )
                    )
                except Exception:
                    logger.exception("console message failed")
            finally:
                self.in_flight.release()

        task = asyncio.create_task(run())
        self.chains[cid] = task
        task.add_done_callback(lambda t: self.chains.pop(cid, None) if self.chains.get(cid) is t else None)

    async def on_message(self, cid: str, frame: dict[str, Any]) -> None:
        client_id: str = frame["client_id"]
        if not self.bucket.take():
            raise AppError("Too many messages: wait a moment", code="rate_limited")
        message = NewMessage(
            conversation_id=cid,
            client_id=client_id,
            body=frame["body"],
            operator_id=self.op_id,
            internal=frame["internal"],
        )
        try:
            with self.gate.admit():  # Busy at once past the worker's bound: nothing queued
                write = await run_sql(self.store, store_message, message=message, lock_order=cid)
        except Busy as exc:
            await self.send(
                error_frame(
                    exc.code,
                    exc.message,
                    conversation_id=cid,
                    client_id=client_id,
                    retry_after=exc.retry_after,
                )
            )
            return
        if write.created:  # not a resend of a message already stored
            telemetry.STORED_BY_OPERATOR.inc()
        stored = write.stored
        await self.send({"type": "ack", "conversation_id": cid, "client_id": client_id, "seq": stored.seq})

    async def queue_sender(self) -> None:
        while True:
            await self.queue_due.wait()
            self.queue_due.clear()
            items = await run_db(self.store, queue_service.snapshot, settings=self.settings)
            await self.send({"type": "queue", "items": items})
            await asyncio.sleep(QUEUE_EVERY_SECONDS)

    async def forward(self) -> None:
        beat = self.settings.chat_heartbeat_seconds
        while True:
            try:
                async with asyncio.timeout(beat):
                    channel, event = await self.sub.get()
            except TimeoutError:
                await self.send({"type": "ping"})
                continue
            async with self.lock:
                await self.on_event(channel, event)
                if self.delivered_due and self.sub.queue.empty():
                    await self.flush_delivered()

    async def flush_delivered(self) -> None:
        """One `delivered` per chat for a burst of visitor messages (the seq covers all before it):
        at most one bus event per chat per burst, not one per message."""
        due, self.delivered_due = self.delivered_due, set()
        for cid in due:
            if cid in self.last_sent:
                await self.mark_delivered(cid)

    async def on_event(self, channel: str, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "bus.resync":
            self.queue_due.set()
            for cid in list(self.last_sent):
                await self.catch_up(cid)
            return
        if channel == channels.QUEUE:
            self.queue_due.set()
            return
        if channel == channels.operator(self.op_id):
            if kind in ("offer", "offer_withdrawn", "status"):
                await self.send(event)
            elif kind == "assigned":
                cid = event["conversation_id"]
                if cid not in self.last_sent:
                    conv = await run_db(
                        self.store, _open_conversation, operator_id=self.op_id, conversation_id=cid
                    )
                    await self.send(conv)
                    await self.follow(cid, 0)
            return
        cid = channel.split(":")[1]
        if cid not in self.last_sent:
            return
        if kind in ("message", "seq"):
            seq = int(event["seq"])
            if seq <= self.last_sent[cid]:
                return
            if kind == "seq":
                return  # the note itself comes on the staff channel with the same seq
            if seq > self.last_sent[cid] + 1:
                await self.catch_up(cid)
                if seq <= self.last_sent[cid]:
                    return
            await self.send(event)
            self.last_sent[cid] = seq
            if event.get("sender") == "visitor":
                self.delivered_due.add(cid)  # published once the burst is forwarded
        elif kind == "typing" and event.get("sender") == "visitor":
            await self.send({"type": "typing", "conversation_id": cid, "sender": "visitor"})
        elif kind == "transferred":
            if event.get("to_operator_id") != self.op_id:
                # The chat moved on: this console stops following it (the new holder opens it).
                del self.last_sent[cid]
                await self.send({**event, "conversation_id": cid})
        elif kind in ("ended", "assigned", "danger", "requeued"):
            await self.send(
                {**event, "type": "released" if kind == "requeued" else kind, "conversation_id": cid}
            )

    async def catch_up(self, cid: str) -> None:
        msgs = await run_db(
            self.store,
            conv_service.messages_after,
            conversation_id=cid,
            after_seq=self.last_sent[cid],
            include_internal=True,
        )
        for m in msgs:
            await self.send(m.frame(cid))
            self.last_sent[cid] = m.seq


@router.websocket("/ws/console")
async def console_socket(ws: WebSocket) -> None:
    settings: Settings = ws.app.state.settings
    store: Store = ws.app.state.store
    presence: Presence = ws.app.state.presence
    try:
        operator, kind = await run_db(store, _authenticate, settings=settings, token=token_from_request(ws))
    except AppError:
        await ws.close(code=CLOSE_NOT_AUTHORISED)
        return
    if kind != "bearer" and not origin_allowed(ws, settings):
        await ws.close(code=CLOSE_FORBIDDEN_ORIGIN)
        return
    await ws.accept()
    assert operator.id is not None
    presence.join_operator(operator.id)
    try:
        await serve_until_closed(
            ws, ConsoleConnection(ws, store, settings, operator.id).run(), name="console"
        )
    finally:
        presence.leave_operator(operator.id)


__all__ = ["OperatorStatus", "router"]
