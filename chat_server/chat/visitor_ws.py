"""The visitor's websocket: WS /ws/chat/{conversation_id}, token in the first frame (protocol in
`protocol.py`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from fastapi import APIRouter, WebSocket
from sqlmodel import Session

from chat_server.chat.message_rate import ConversationRate
from chat_server.chat.opening import Opening, OpenRequest, opener_of, resume_state, status_frames
from chat_server.chat.presence import Presence
from chat_server.chat.protocol import (
    AUTH_DEADLINE_SECONDS,
    CLIENT_GONE,
    CLOSE_EXPIRED,
    CLOSE_FORBIDDEN_ORIGIN,
    CLOSE_NOT_AUTHORISED,
    VISITOR_FRAMES,
    Refusal,
    dumps,
    error_frame,
    origin_allowed,
    receive_frame,
    serve_until_closed,
)
from chat_server.routing import queue as queue_service
from chat_server.routing import service as routing
from contact_store import conversations as conv_service
from contact_store import telemetry
from contact_store.admission import CHAT_MESSAGES, Busy, gate_for
from contact_store.db import Store
from contact_store.errors import AppError, Gone
from contact_store.events import channels
from contact_store.group_commit import run_db, run_sql
from contact_store.message_sql import NewMessage, store_message, store_message_in_session
from contact_store.settings import Settings

logger = logging.getLogger(__name__)
router = APIRouter()

# Typing events are relayed at most this often per connection.
TYPING_EVERY_SECONDS = 2.0
# Event types from the conversation channel a visitor may see, besides messages.
VISITOR_EVENTS = {"queue", "assigned", "delivered", "ended", "requeued"}


def _store_visitor_message(
    *, session: Session, settings: Settings, conversation_id: str, client_id: str, body: str
) -> conv_service.StoredMessage:
    """A message that mentions danger: stored by the one message path (`message_sql`, same rules),
    then flagged, answered with the 999 advice and moved up the queue in the same transaction."""
    message = NewMessage(conversation_id=conversation_id, client_id=client_id, body=body)
    write = store_message_in_session(session=session, message=message)
    if write.created:
        routing.check_danger(session=session, settings=settings, conversation_id=conversation_id, text_=body)
    return write.stored


class VisitorConnection:
    """One visitor socket: a receive loop and a forwarder sharing `last_sent`."""

    def __init__(self, ws: WebSocket, store: Store, settings: Settings, conversation_id: str) -> None:
        self.ws = ws
        self.store = store
        self.settings = settings
        self.cid = conversation_id
        self.last_sent = 0  # the chat's last seq once authorised: only new messages until a resume
        self.started = asyncio.Event()
        self.lock = asyncio.Lock()  # one writer of last_sent / the socket at a time
        self.rate = ConversationRate.of(ws.app)  # one budget per conversation, not per socket
        self.gate = gate_for(ws.app, CHAT_MESSAGES)  # the worker's bound on messages in flight
        self.typing_at = 0.0
        self.sub = store.bus.subscribe()

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send_text(dumps(frame))
        if frame.get("type") == "message":
            telemetry.DELIVERED_TO_VISITOR.inc()

    async def run(self, opening: Opening) -> None:
        """Serve the socket; the subscription is live already (`_visit` adds it before the
        store is read, so nothing committed after that read can be missed)."""
        if opening.resume is not None:
            await self.resumed(*opening.resume)
        forwarder = asyncio.create_task(self.forward())
        try:
            while True:
                frame = await receive_frame(
                    self.ws, rules=VISITOR_FRAMES, max_body=self.settings.message_max_length
                )
                if isinstance(frame, Refusal):
                    await self.send(frame.frame())
                else:
                    await self.handle(frame)
        except CLIENT_GONE:
            pass
        finally:
            forwarder.cancel()
            with contextlib.suppress(BaseException):
                await forwarder

    async def handle(self, frame: dict[str, Any]) -> None:
        """A frame `parse_frame` has checked against VISITOR_FRAMES."""
        kind = frame["type"]
        if kind == "resume":
            await self.resume(frame["after_seq"])
        elif kind == "message":
            await self.on_message(frame["client_id"], frame["body"])
        elif kind == "typing":
            now = time.monotonic()
            if now - self.typing_at >= TYPING_EVERY_SECONDS:
                self.typing_at = now
                self.store.bus.publish(
                    channels.conversation(self.cid), {"type": "typing", "sender": "visitor"}
                )
        elif kind == "end":
            await run_db(
                self.store, routing.end, conversation_id=self.cid, by="visitor", settings=self.settings
            )
        elif kind == "ping":
            await self.send({"type": "pong"})
        elif kind == "auth":
            await self.send(error_frame("bad_frame", "This socket is already signed in to the chat"))

    async def on_message(self, client_id: str, body: str) -> None:
        try:
            with self.gate.admit():  # Busy at once past the worker's bound: nothing queued
                wait = await self.rate.wait(self.cid)
                if wait > 0:
                    frame = error_frame(
                        "rate_limited", "Too many messages: wait a moment", client_id=client_id
                    )
                    await self.send({**frame, "retry_after": round(wait, 3)})
                    return
                stored = await self.store_message(client_id, body)
        except Busy as exc:
            await self.send(
                error_frame(exc.code, exc.message, client_id=client_id, retry_after=exc.retry_after)
            )
            return
        except AppError as exc:
            await self.send(error_frame(exc.code, exc.message, client_id=client_id))
            return
        if not self.started.is_set():
            self.started.set()
        await self.send({"type": "ack", "client_id": client_id, "seq": stored.seq})

    async def store_message(self, client_id: str, body: str) -> conv_service.StoredMessage:
        if routing.mentions_danger(settings=self.settings, text_=body):
            flagged = await run_db(
                self.store,
                _store_visitor_message,
                settings=self.settings,
                conversation_id=self.cid,
                client_id=client_id,
                body=body,
            )
            telemetry.STORED_BY_VISITOR.inc()
            return flagged
        message = NewMessage(conversation_id=self.cid, client_id=client_id, body=body)
        write = await run_sql(self.store, store_message, message=message, lock_order=self.cid)
        if write.created:  # not a resend of a message already stored
            telemetry.STORED_BY_VISITOR.inc()
        return write.stored

    async def resume(self, after_seq: int) -> None:
        async with self.lock:  # read and sent with no live event forwarded in between
            msgs, frames = await run_db(
                self.store,
                resume_state,
                settings=self.settings,
                conversation_id=self.cid,
                after_seq=after_seq,
                view=queue_service.queue_view_of(self.ws.app),
            )
            await self.resumed(after_seq, msgs, frames)

    async def resumed(
        self, after_seq: int, msgs: list[conv_service.StoredMessage], frames: list[dict[str, Any]]
    ) -> None:
        """Send the replay and status read for a resume after `after_seq`, then forward live
        (holding `lock`, or before the forwarder starts)."""
        for m in msgs:
            await self.send(m.frame())
        self.last_sent = max(after_seq, msgs[-1].seq if msgs else after_seq)
        if self.started.is_set():
            self.last_sent = max(self.last_sent, after_seq)
        for f in frames:
            await self.send(f)
        self.started.set()

    async def catch_up(self) -> None:
        """Re-read the store after the last seq sent (a gap or a bus resync)."""
        msgs = await run_db(
            self.store, conv_service.messages_after, conversation_id=self.cid, after_seq=self.last_sent
        )
        for m in msgs:
            await self.send(m.frame())
            self.last_sent = m.seq

    async def forward(self) -> None:
        await self.started.wait()
        beat = self.settings.chat_heartbeat_seconds
        while True:
            try:
                async with asyncio.timeout(beat):  # no extra task per wait, unlike wait_for
                    _, event = await self.sub.get()
            except TimeoutError:
                await self.send({"type": "ping"})
                continue
            async with self.lock:
                await self.on_event(event)

    async def on_event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind in ("message", "seq"):
            seq = int(event["seq"])
            if seq <= self.last_sent:
                return
            if seq > self.last_sent + 1:
                await self.catch_up()
                if seq <= self.last_sent:
                    return
            if kind == "message" and not event.get("internal"):
                frame = {k: v for k, v in event.items() if k not in ("conversation_id", "internal")}
                await self.send(frame)
            self.last_sent = seq
        elif kind == "bus.resync":
            await self.catch_up()
            for f in await run_db(
                self.store, status_frames, settings=self.settings, conversation_id=self.cid
            ):
                await self.send(f)
        elif kind == "typing":
            if event.get("sender") == "operator":
                await self.send({"type": "typing", "sender": "operator"})
        elif kind == "requeued":
            for f in await run_db(
                self.store, status_frames, settings=self.settings, conversation_id=self.cid
            ):
                await self.send(f)
        elif kind in VISITOR_EVENTS:
            await self.send(event)


async def _authenticate(ws: WebSocket, settings: Settings, conversation_id: str) -> Opening | None:
    """The Opening once the first frame carries the chat's token; None once the socket is closed
    (4401 for no or a wrong token, 4410 for one past its expiry)."""
    try:
        async with asyncio.timeout(AUTH_DEADLINE_SECONDS):
            frame = await receive_frame(ws, rules=VISITOR_FRAMES, max_body=settings.message_max_length)
    except TimeoutError:
        await ws.close(code=CLOSE_NOT_AUTHORISED, reason="No auth frame in time")
        return None
    if isinstance(frame, Refusal) or frame["type"] != "auth":
        await ws.close(code=CLOSE_NOT_AUTHORISED, reason="The first frame must be auth with the token")
        return None
    try:
        request = OpenRequest(conversation_id, frame["token"], frame["after_seq"])
        return await opener_of(ws.app).open(request)
    except Gone:
        await ws.close(code=CLOSE_EXPIRED, reason="This chat has ended and is no longer available")
    except AppError:
        await ws.close(code=CLOSE_NOT_AUTHORISED, reason="This chat link is not valid")
    return None


async def _visit(
    ws: WebSocket, store: Store, settings: Settings, presence: Presence, conversation_id: str
) -> None:
    connection = VisitorConnection(ws, store, settings, conversation_id)
    # Subscribed before the store is read (the token check may carry the resume): a message
    # committed after that read arrives on the bus; one before it is in the read.
    await connection.sub.add(channels.conversation(conversation_id))
    try:
        opening = await _authenticate(ws, settings, conversation_id)
        if opening is None:
            return
        connection.last_sent = opening.last_seq  # until the client resumes, only new messages
        presence.join_visitor(conversation_id)
        try:
            await connection.run(opening)
        finally:
            presence.leave_visitor(conversation_id)
    finally:
        await connection.sub.close()


@router.websocket("/ws/chat/{conversation_id}")
async def visitor_socket(ws: WebSocket, conversation_id: str) -> None:
    settings: Settings = ws.app.state.settings
    store: Store = ws.app.state.store
    presence: Presence = ws.app.state.presence
    if not origin_allowed(ws, settings):
        await ws.close(code=CLOSE_FORBIDDEN_ORIGIN)
        return
    await ws.accept()
    await serve_until_closed(ws, _visit(ws, store, settings, presence, conversation_id), name="visitor")
