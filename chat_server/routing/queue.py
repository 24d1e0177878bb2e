"""The queue as visitors and staff see it, and the timers that keep it honest.

Estimated wait (from live data, recomputed on every queue change):
    handle  = mean (ended_at - assigned_at) of chats ended in the last 2 hours (300 s if none)
    staffed = total capacity of operators signed in and not away (available or busy)
    free    = spare capacity of available operators right now
    wait(position) = 0 if position <= free, else ceil((position - free) / staffed * handle)
i.e. each slot frees up on average once per handling time; the chats ahead of you must drain first.
With nobody staffing the queue (staffed = 0) there is no estimate at all (None): the visitor is told
that nobody is available now and offered to stay or to report online, never a made-up time.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlmodel import Session, col

from chat_server.routing import service
from contact_store.clock import utcnow
from contact_store.conversations import record_event
from contact_store.events import channels, emit
from contact_store.models import Conversation, ConversationStatus, Operator, OperatorStatus, Team
from contact_store.settings import Settings


@dataclass(frozen=True)
class WaitModel:
    handle_seconds: float
    staffed: int
    free: int

    def estimate(self, position: int) -> int | None:
        """Seconds until this place in the queue is answered; None when nobody is staffing it."""
        if self.staffed == 0:
            return None
        if position <= self.free:
            return 0
        return math.ceil((position - self.free) / self.staffed * self.handle_seconds)


def wait_model(*, session: Session, settings: Settings) -> WaitModel:
    now = utcnow()
    rows = session.execute(
        select(col(Conversation.assigned_at), col(Conversation.ended_at)).where(
            col(Conversation.ended_at) >= now - service.HANDLE_WINDOW,
            col(Conversation.assigned_at).is_not(None),
        )
    ).all()
    durations = [(e - a).total_seconds() for a, e in rows if a and e and e > a]
    handle = sum(durations) / len(durations) if durations else service.DEFAULT_HANDLE_SECONDS
    staffed = 0
    for op, team in session.execute(
        select(Operator, Team)
        .join(Team, col(Operator.team_id) == col(Team.id), isouter=True)
        .where(col(Operator.status).in_([OperatorStatus.AVAILABLE, OperatorStatus.BUSY]))
    ).all():
        staffed += service.capacity_of(operator=op, team=team, settings=settings)
    free = sum(s.spare for s in service.available_slots(session=session, settings=settings))
    return WaitModel(handle, staffed, free)


def position_of(*, session: Session, conversation: Conversation) -> int:
    """1-based place in the queue (0 if not waiting)."""
    if conversation.status not in (ConversationStatus.QUEUED, ConversationStatus.OFFERED):
        return 0
    ahead = session.execute(
        select(func.count())
        .select_from(Conversation)
        .where(
            col(Conversation.status).in_([ConversationStatus.QUEUED, ConversationStatus.OFFERED]),
            (col(Conversation.priority) > conversation.priority)
            | (
                (col(Conversation.priority) == conversation.priority)
                & (col(Conversation.queued_at) < conversation.queued_at)
            ),
        )
    ).scalar_one()
    return int(ahead) + 1


def positions(*, session: Session, settings: Settings) -> dict[str, tuple[int, int | None]]:
    """Every waiting chat's (position, estimated wait seconds or None when nobody is staffing)."""
    model = wait_model(session=session, settings=settings)
    return {c.id: (i, model.estimate(i)) for i, c in enumerate(service.waiting(session=session), start=1)}


# A waiting visitor's (re)connection reads its place and wait from a snapshot at most this old: a
# reconnect storm of N waiting visitors costs one read of the queue's ids and one wait model per
# interval and worker, not N counts over the queue (O(N^2) rows) and N wait models (4 queries
# each). A visitor queued after the snapshot still gets its exact place (one count). Changes reach
# connected visitors from the routing loop anyway.
QUEUE_VIEW_MAX_AGE_SECONDS = 1.0


class QueueView:
    """A worker's recent snapshot of queue positions and the wait model (thread-safe)."""

    def __init__(self, max_age_seconds: float = QUEUE_VIEW_MAX_AGE_SECONDS) -> None:
        self.max_age_seconds = max_age_seconds
        self._lock = threading.Lock()
        self._taken_at = -math.inf
        self._positions: dict[str, int] = {}
        self._model: WaitModel | None = None

    def frame_for(
        self, *, session: Session, settings: Settings, conversation: Conversation
    ) -> dict[str, Any]:
        """The queue frame of a waiting conversation (see `queue_frame`)."""
        model, position = self.model_and_position(
            session=session, settings=settings, conversation=conversation
        )
        return queue_frame(position, model.estimate(position))

    def model_and_position(
        self, *, session: Session, settings: Settings, conversation: Conversation
    ) -> tuple[WaitModel, int]:
        with self._lock:  # one refresh at a time; the others then read the fresh snapshot
            now = time.monotonic()
            if self._model is None or now - self._taken_at > self.max_age_seconds:
                ids = session.execute(
                    select(col(Conversation.id))
                    .where(
                        col(Conversation.status).in_([ConversationStatus.QUEUED, ConversationStatus.OFFERED])
                    )
                    .order_by(
                        col(Conversation.priority).desc(), col(Conversation.queued_at), col(Conversation.id)
                    )
                ).scalars()
                self._positions = {cid: i for i, cid in enumerate(ids, start=1)}
                self._model = wait_model(session=session, settings=settings)
                self._taken_at = now
            model = self._model
            position = self._positions.get(conversation.id)
        if position is None:  # queued since the snapshot (or no longer waiting): exact
            position = position_of(session=session, conversation=conversation)
        return model, position


def queue_view_of(app: Any) -> QueueView:
    """The worker's shared recent view of the queue (`app.state.queue_view`)."""
    view: QueueView | None = getattr(app.state, "queue_view", None)
    if view is None:
        view = app.state.queue_view = QueueView()
    return view


def queue_frame(position: int, wait: int | None) -> dict[str, Any]:
    """The visitor's queue frame: `staffed` false (and no estimate) when nobody can answer now."""
    return {
        "type": "queue",
        "position": position,
        "estimated_wait_seconds": wait,
        "staffed": wait is not None,
    }


def snapshot(*, session: Session, settings: Settings, limit: int = 50) -> list[dict[str, Any]]:
    """The queue for consoles: waiting chats, in order, with what an operator needs to choose."""
    now = utcnow()
    out = []
    for i, c in enumerate(service.waiting(session=session, limit=limit), start=1):
        out.append(
            {
                "conversation_id": c.id,
                "position": i,
                "status": c.status,
                "visitor_name": c.visitor_name,
                "topic": c.topic,
                "language": c.language,
                "area_id": c.area_id,
                "danger": c.danger_flag,
                "waited_seconds": int((now - c.queued_at).total_seconds()),
                "offered_to_id": c.offered_to_id,
                "tripped_over": (now - c.queued_at).total_seconds() >= settings.trip_over_seconds,
            }
        )
    return out


def expire_offers(*, session: Session, settings: Settings) -> int:
    """Offers not accepted in time go back to the queue; the operator is set away."""
    cutoff = utcnow() - timedelta(seconds=settings.offer_timeout_seconds)
    rows = session.execute(
        update(Conversation)
        .where(col(Conversation.status) == ConversationStatus.OFFERED, col(Conversation.offered_at) < cutoff)
        .values(status=ConversationStatus.QUEUED, offered_to_id=None, offered_at=None)
        .returning(col(Conversation.id), col(Conversation.offered_to_id))
    ).all()
    # RETURNING gives the new (NULL) offered_to_id; find who held each offer from its event.
    for cid, _ in rows:
        holder = _last_offered_to(session, cid)
        record_event(session=session, conversation_id=cid, kind="offer_timeout", operator_id=holder)
        emit(
            session,
            channels.QUEUE,
            {"type": "queue.changed", "reason": "offer_timeout", "conversation_id": cid},
        )
        if holder is not None:
            emit(session, channels.operator(holder), {"type": "offer_withdrawn", "conversation_id": cid})
            op = session.get(Operator, holder)
            if op is not None and op.status == OperatorStatus.AVAILABLE:
                service.set_status(session=session, operator=op, status=OperatorStatus.AWAY)
    return len(rows)


def _last_offered_to(session: Session, conversation_id: str) -> int | None:
    from contact_store.models import ConversationEvent

    return session.execute(
        select(col(ConversationEvent.operator_id))
        .where(
            col(ConversationEvent.conversation_id) == conversation_id,
            col(ConversationEvent.kind) == "offered",
        )
        .order_by(col(ConversationEvent.id).desc())
        .limit(1)
    ).scalar_one_or_none()


def requeue_lost_operators(*, session: Session, settings: Settings) -> int:
    """Operators silent past the grace period go offline; their chats and offers return to the queue."""
    cutoff = utcnow() - timedelta(seconds=settings.operator_grace_seconds)
    lost = (
        session.execute(
            select(Operator).where(
                col(Operator.status) != OperatorStatus.OFFLINE,
                (col(Operator.last_seen_at) < cutoff) | col(Operator.last_seen_at).is_(None),
            )
        )
        .scalars()
        .all()
    )
    moved = 0
    for op in lost:
        # Lock order everywhere: the operator's row, then conversations (as claims do).
        session.execute(select(col(Operator.id)).where(col(Operator.id) == op.id).with_for_update())
        rows = session.execute(
            update(Conversation)
            .where(
                (
                    (col(Conversation.assignee_id) == op.id)
                    & (col(Conversation.status) == ConversationStatus.ACTIVE)
                )
                | (
                    (col(Conversation.offered_to_id) == op.id)
                    & (col(Conversation.status) == ConversationStatus.OFFERED)
                )
            )
            .values(status=ConversationStatus.QUEUED, assignee_id=None, offered_to_id=None, offered_at=None)
            .returning(col(Conversation.id))
        ).all()
        for (cid,) in rows:
            moved += 1
            record_event(
                session=session, conversation_id=cid, kind="requeued", operator_id=op.id, reason="grace"
            )
            emit(session, channels.conversation(cid), {"type": "requeued"})
            emit(
                session,
                channels.QUEUE,
                {"type": "queue.changed", "reason": "requeued", "conversation_id": cid},
            )
        service.set_status(session=session, operator=op, status=OperatorStatus.OFFLINE)
    return moved


def abandon_gone_visitors(*, session: Session, settings: Settings) -> int:
    """Waiting chats whose visitor has been gone past the grace period are abandoned."""
    cutoff = utcnow() - timedelta(seconds=settings.visitor_grace_seconds)
    gone = (
        session.execute(
            select(col(Conversation.id)).where(
                col(Conversation.status).in_([ConversationStatus.QUEUED, ConversationStatus.OFFERED]),
                col(Conversation.visitor_seen_at) < cutoff,
            )
        )
        .scalars()
        .all()
    )
    for cid in gone:
        service.end(session=session, conversation_id=cid, by="timeout", settings=settings)
    return len(gone)
