"""The visitor's websocket: WS /ws/chat/{conversation_id}?token=... (protocol in `protocol.py`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from sqlalchemy import text
from sqlmodel import Session

from chat_server.chat.message_rate import ConversationRate
from chat_server.chat.presence import Presence
from chat_server.chat.protocol import dumps, error_frame, origin_allowed, parse_frame
from chat_server.routing import queue as queue_service
from chat_server.routing import service as routing
from contact_store import conversations as conv_service
from contact_store.db import Store
from contact_store.errors import AppError
from contact_store.events import channels
from contact_store.group_commit import run_db, run_sql
from contact_store.message_sql import NewMessage, store_message
from contact_store.models import Conversation, ConversationStatus, Operator, SenderKind
from contact_store.settings import Settings

logger = logging.getLogger(__name__)
router = APIRouter()

# Typing events are relayed at most this often per connection.
TYPING_EVERY_SECONDS = 2.0
# Event types from the conversation channel a visitor may see, besides messages.
_STATUS = text("SELECT status FROM conversation WHERE id = :id")
VISITOR_EVENTS = {"queue", "assigned", "delivered", "ended", "requeued"}


def _open(*, session: Session, conversation_id: str, token: str) -> int:
    conv = conv_service.authorise_visitor(session=session, conversation_id=conversation_id, token=token)
    return conv.last_seq


def status_frames(*, session: Session, settings: Settings, conversation_id: str) -> list[dict[str, Any]]:
    """What a (re)connecting visitor needs to know about their chat right now."""
    conv = session.get(Conversation, conversation_id)
    if conv is None or conv.status in (ConversationStatus.ENDED, ConversationStatus.ABANDONED):
        return [{"type": "ended"}]
    if conv.status == ConversationStatus.ACTIVE:
        op = session.get(Operator, conv.assignee_id) if conv.assignee_id else None
        return [{"type": "assigned", "operator": {"display_name": op.display_name if op else ""}}]
    position = queue_service.position_of(session=session, conversation=conv)
    model = queue_service.wait_model(session=session, settings=settings)
    return [queue_service.queue_frame(position, model.estimate(position))]


def _store_visitor_message(
    *, session: Session, settings: Settings, conversation_id: str, client_id: str, body: str
) -> conv_service.StoredMessage:
    """The ORM path, for messages that mention danger (flag, 999 advice, requeue in the same
    transaction); every other message takes `message_sql.store_message` (same rules, less CPU)."""
    status = session.execute(_STATUS, {"id": conversation_id}).scalar()
    if status is None or status in (ConversationStatus.ENDED, ConversationStatus.ABANDONED):
        # A resend of a message stored before the end still gets its original ack.
        for m in conv_service.messages_after(session=session, conversation_id=conversation_id, after_seq=0):
            if m.client_id == client_id:
                return m
        raise AppError("This chat has ended", code="ended", status_code=409)
    stored, created = conv_service.append_message(
        session=session,
        conversation_id=conversation_id,
        client_id=client_id,
        sender=SenderKind.VISITOR,
        body=body,
    )
    if created:
        routing.check_danger(session=session, settings=settings, conversation_id=conversation_id, text_=body)
    return stored


class VisitorConnection:
    """One visitor socket: a receive loop and a forwarder sharing `last_sent`."""

    def __init__(
        self, ws: WebSocket, store: Store, settings: Settings, conversation_id: str, last_seq: int
    ) -> None:
        self.ws = ws
        self.store = store
        self.settings = settings
        self.cid = conversation_id
        self.last_sent = last_seq  # until the client resumes, only new messages are forwarded
        self.started = asyncio.Event()
        self.lock = asyncio.Lock()  # one writer of last_sent / the socket at a time
        self.rate = ConversationRate.of(ws.app)  # one budget per conversation, not per socket
        self.typing_at = 0.0
        self.sub = store.bus.subscribe()

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send_text(dumps(frame))

    async def run(self) -> None:
        await self.sub.add(channels.conversation(self.cid))
        forwarder = asyncio.create_task(self.forward())
        try:
            while True:
                raw = await self.ws.receive_text()
                await self.handle(raw)
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            forwarder.cancel()
            with contextlib.suppress(BaseException):
                await forwarder
            await self.sub.close()

    async def handle(self, raw: str) -> None:
        frame = parse_frame(raw)
        if frame is None:
            await self.send(error_frame("bad_frame", "Frames are JSON objects with a type"))
            return
        kind = frame["type"]
        if kind == "resume":
            after = frame.get("after_seq", 0)
            await self.resume(after if isinstance(after, int) and after >= 0 else 0)
        elif kind == "message":
            await self.on_message(frame)
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
        elif kind != "pong":
            await self.send(error_frame("bad_frame", f"Unknown frame type {kind!r}"))

    async def on_message(self, frame: dict[str, Any]) -> None:
        try:
            client_id = conv_service.clean_client_id(frame.get("client_id"))
            body = conv_service.clean_body(frame.get("body"), max_length=self.settings.message_max_length)
        except AppError as exc:
            await self.send(error_frame(exc.code, exc.message, client_id=frame.get("client_id")))
            return
        if not await self.rate.allow(self.cid):
            await self.send(
                error_frame("rate_limited", "Too many messages: wait a moment", client_id=client_id)
            )
            return
        try:
            stored = await self.store_message(client_id, body)
        except AppError as exc:
            await self.send(error_frame(exc.code, exc.message, client_id=client_id))
            return
        if not self.started.is_set():
            self.started.set()
        await self.send({"type": "ack", "client_id": client_id, "seq": stored.seq})

    async def store_message(self, client_id: str, body: str) -> conv_service.StoredMessage:
        if routing.mentions_danger(settings=self.settings, text_=body):
            return await run_db(
                self.store,
                _store_visitor_message,
                settings=self.settings,
                conversation_id=self.cid,
                client_id=client_id,
                body=body,
            )
        message = NewMessage(conversation_id=self.cid, client_id=client_id, body=body)
        return (await run_sql(self.store, store_message, message=message, lock_order=self.cid)).stored

    async def resume(self, after_seq: int) -> None:
        async with self.lock:
            msgs = await run_db(
                self.store, conv_service.messages_after, conversation_id=self.cid, after_seq=after_seq
            )
            for m in msgs:
                await self.send(m.frame())
            self.last_sent = max(after_seq, msgs[-1].seq if msgs else after_seq)
            if self.started.is_set():
                self.last_sent = max(self.last_sent, after_seq)
            for f in await run_db(
                self.store, status_frames, settings=self.settings, conversation_id=self.cid
            ):
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


@router.websocket("/ws/chat/{conversation_id}")
async def visitor_socket(ws: WebSocket, conversation_id: str, token: str = "") -> None:
    settings: Settings = ws.app.state.settings
    store: Store = ws.app.state.store
    presence: Presence = ws.app.state.presence
    if not origin_allowed(ws, settings):
        await ws.close(code=4403)
        return
    try:
        last_seq = await run_db(store, _open, conversation_id=conversation_id, token=token)
    except AppError:
        await ws.close(code=4403)
        return
    await ws.accept()
    presence.join_visitor(conversation_id)
    try:
        await VisitorConnection(ws, store, settings, conversation_id, last_seq).run()
    finally:
        presence.leave_visitor(conversation_id)
