"""Opening visitor sockets: the token check and the resume read, batched across sockets.

Protocol
--------
- A visitor socket's first frame is `auth` (with `after_seq` when the client resumes in the same
  frame, as the widget does). `Opener.open` answers it with an `Opening`: the chat's last seq and,
  with `after_seq`, the replay after it and the status frames, all read in one transaction.
- Sockets that open while a read is in flight wait for the next one, which serves them all
  (`open_many`, up to MAX_BATCH): one transaction, one query for the conversations (plus the
  replays of those that missed messages, and a queue position the worker's recent view of the queue
  does not have). A reconnect storm of N waiting visitors is then about N / MAX_BATCH reads, not N
  pool checkouts and 2N queries: the profile of 5,000 resuming visitors on PostgreSQL spent 30 % of
  its samples in one ORM transaction per socket and waiting for a pooled connection.
- Each request gets its own answer: an `Opening`, or the `AppError` of the token rule
  (`conversations.check_visitor_token`, the same rule as every other use of a visitor token), raised
  to that socket alone. A failure of the read itself fails every socket of that batch (their
  clients reconnect).
- The caller subscribes to the conversation's channel BEFORE asking, so a message committed after
  the read arrives on the bus and one committed before it is in the read.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from chat_server.routing import queue as queue_service
from contact_store import conversations as conv_service
from contact_store.db import Store
from contact_store.errors import AppError
from contact_store.group_commit import run_db
from contact_store.models import Conversation, ConversationStatus, Operator
from contact_store.settings import Settings

# Conversations read in one query (well under SQLite's limit on bound variables).
MAX_BATCH = 200


@dataclass(frozen=True)
class OpenRequest:
    conversation_id: str
    token: str
    after_seq: int | None = None


@dataclass(frozen=True)
class Opening:
    """An authorised visitor socket: the chat's last seq and, when the auth frame carried
    `after_seq`, the resume read in the same transaction (`resume` None otherwise)."""

    last_seq: int
    resume: tuple[int, list[conv_service.StoredMessage], list[dict[str, Any]]] | None = None


def status_frames(
    *, session: Session, settings: Settings, conversation_id: str, view: queue_service.QueueView | None = None
) -> list[dict[str, Any]]:
    """What a (re)connecting visitor needs to know about their chat right now (a waiting chat's
    place from the worker's recent `view` of the queue when given)."""
    conv = session.get(Conversation, conversation_id)
    if conv is None or conv.status in (ConversationStatus.ENDED, ConversationStatus.ABANDONED):
        return [{"type": "ended"}]
    if conv.status == ConversationStatus.ACTIVE:
        op = session.get(Operator, conv.assignee_id) if conv.assignee_id else None
        return [{"type": "assigned", "operator": {"display_name": op.display_name if op else ""}}]
    if view is not None:
        return [view.frame_for(session=session, settings=settings, conversation=conv)]
    position = queue_service.position_of(session=session, conversation=conv)
    model = queue_service.wait_model(session=session, settings=settings)
    return [queue_service.queue_frame(position, model.estimate(position))]


def resume_state(
    *,
    session: Session,
    settings: Settings,
    conversation_id: str,
    after_seq: int,
    view: queue_service.QueueView | None,
) -> tuple[list[conv_service.StoredMessage], list[dict[str, Any]]]:
    """The replay after `after_seq` and the status frames, read in ONE transaction (no message
    query when the chat has nothing after `after_seq`; the conversation is read once)."""
    conv = session.get(Conversation, conversation_id)
    msgs: list[conv_service.StoredMessage] = []
    if conv is not None and conv.last_seq > after_seq:
        msgs = conv_service.messages_after(
            session=session, conversation_id=conversation_id, after_seq=after_seq
        )
    return msgs, status_frames(session=session, settings=settings, conversation_id=conversation_id, view=view)


def open_many(
    *,
    session: Session,
    settings: Settings,
    requests: list[OpenRequest],
    view: queue_service.QueueView | None = None,
) -> list[Opening | AppError]:
    """Each request's Opening, or the AppError refusing it, in order (one transaction)."""
    ids = {r.conversation_id for r in requests if conv_service.may_look_up(r.conversation_id, r.token)}
    # Loaded into the session's identity map: status_frames' session.get finds them there.
    found = (
        {c.id: c for c in session.exec(select(Conversation).where(col(Conversation.id).in_(ids)))}
        if ids
        else {}
    )
    out: list[Opening | AppError] = []
    for request in requests:
        try:
            conv = conv_service.check_visitor_token(
                conversation=found.get(request.conversation_id),
                token=request.token,
                ttl_minutes=settings.chat_token_ttl_after_end_minutes,
            )
        except AppError as refused:
            out.append(refused)
            continue
        if request.after_seq is None:
            out.append(Opening(conv.last_seq))
            continue
        msgs, frames = resume_state(
            session=session,
            settings=settings,
            conversation_id=conv.id,
            after_seq=request.after_seq,
            view=view,
        )
        out.append(Opening(conv.last_seq, (request.after_seq, msgs, frames)))
    return out


class Opener:
    """One per worker (`opener_of(app)`): batches the opens of concurrent sockets (event loop only)."""

    def __init__(self, store: Store, settings: Settings, view: queue_service.QueueView) -> None:
        self.store = store
        self.settings = settings
        self.view = view
        self._waiting: list[tuple[OpenRequest, asyncio.Future[Opening | AppError]]] = []
        self._reader: asyncio.Task[None] | None = None

    async def open(self, request: OpenRequest) -> Opening:
        """This socket's Opening; raises the AppError that refuses it."""
        future: asyncio.Future[Opening | AppError] = asyncio.get_running_loop().create_future()
        self._waiting.append((request, future))
        if self._reader is None:
            self._reader = asyncio.create_task(self._read_while_waiting(), name="visitor-opener")
        result = await future
        if isinstance(result, AppError):
            raise result
        return result

    async def _read_while_waiting(self) -> None:
        batch: list[tuple[OpenRequest, asyncio.Future[Opening | AppError]]] = []
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
                batch = [(r, f) for r, f in batch if not f.done()]  # sockets gone while waiting
                if batch:
                    await self._read(batch)
        finally:
            self._reader = None
            # Only on an abnormal end (cancelled at shutdown): nobody is left waiting for ever.
            for _, future in batch + self._waiting:
                if not future.done():
                    future.set_exception(ConnectionAbortedError("the worker is stopping"))
            self._waiting = []

    async def _read(self, batch: list[tuple[OpenRequest, asyncio.Future[Opening | AppError]]]) -> None:
        try:
            results = await run_db(
                self.store,
                open_many,
                settings=self.settings,
                requests=[request for request, _ in batch],
                view=self.view,
            )
            answers: list[tuple[asyncio.Future[Opening | AppError], Opening | AppError]] = list(
                zip((future for _, future in batch), results, strict=True)
            )
        except Exception as exc:  # the read failed: every socket of the batch fails
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for future, result in answers:
            if not future.done():
                future.set_result(result)


def opener_of(app: Any) -> Opener:
    """The worker's Opener (`app.state.visitor_opener`), made on first use."""
    opener: Opener | None = getattr(app.state, "visitor_opener", None)
    if opener is None:
        opener = app.state.visitor_opener = Opener(
            app.state.store, app.state.settings, queue_service.queue_view_of(app)
        )
    return opener
