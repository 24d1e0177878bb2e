"""Routing chats to operators, with all state in the store so every worker agrees.

Rules (see docs/readme/chat.md)
-------------------------------
- Capacity: `Operator.max_concurrent_chats`, else the team's `default_max_chats`, else
  `settings.chat_default_max_chats`. Active chats and open offers both count against it.
- Offers: the routing loop offers the longest-waiting eligible chat (priority first: danger-flagged
  chats jump the queue) to the available operator with the most spare capacity; ties go to the one
  idle longest. The operator accepts (or declines); an offer not accepted within
  `offer_timeout_seconds` returns the chat to the queue and sets that operator `away` (they are not
  at their desk). An operator may also pick any waiting chat from the queue (`claim`).
- Gone visitors: a chat whose visitor has not been seen for `VISITOR_PRESENT_SECONDS` (closed the
  page, quick exit, never connected) is not offered; the grace period then abandons it.
- PODs: a chat with an area waits for operators of that area (operators with no areas serve every
  area; retired PODs do not count) until `trip_over_seconds` after it queued, then any operator
  may take it. A retired POD gets no new chats (contact_store/org_cache.py leaves it out).
- Atomicity: every transition is one conditional UPDATE (`WHERE status = 'queued'` ...) and the
  capacity check is inside that same statement, after the operator's row is locked
  (`SELECT ... FOR UPDATE` on PostgreSQL; SQLite has one writer at a time). Two workers can never
  assign one chat twice nor push an operator over their limit. No Python locks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlmodel import Session, col

from chat_server.chat.presence import VISITOR_PRESENT_SECONDS
from contact_store.clock import utcnow
from contact_store.conversations import record_event, system_message
from contact_store.db import settings_of
from contact_store.errors import Conflict, ValidationFailed
from contact_store.events import channels, emit
from contact_store.models import (
    Area,
    Conversation,
    ConversationStatus,
    Operator,
    OperatorArea,
    OperatorStatus,
    Team,
)
from contact_store.settings import Settings, get_settings
from contact_store.surveys import schedule_survey

# Danger-flagged chats get this priority (normal chats 0): they are answered before anything else.
DANGER_PRIORITY = 100
# Handling time assumed until there is recent data: a typical police web chat lasts ~5 minutes.
DEFAULT_HANDLE_SECONDS = 300
# Recent handling times are averaged over this window.
HANDLE_WINDOW = timedelta(hours=2)
SETTABLE_STATUSES = (OperatorStatus.AVAILABLE, OperatorStatus.BUSY, OperatorStatus.AWAY)

_conv = Conversation.__table__  # type: ignore[attr-defined]


def capacity_of(*, operator: Operator, team: Team | None, settings: Settings) -> int:
    """Operator limit, else team default, else the service default."""
    if operator.max_concurrent_chats:
        return operator.max_concurrent_chats
    if team is not None and team.default_max_chats:
        return team.default_max_chats
    return settings.chat_default_max_chats


def _load_capacity(session: Session, operator_id: int, settings: Settings) -> tuple[Operator, int]:
    # Lock the operator row: concurrent claims for one operator queue here (PostgreSQL), so the
    # count in the UPDATE below sees every committed claim. SQLite ignores FOR UPDATE and is
    # serialised by BEGIN IMMEDIATE anyway.
    op = session.execute(
        select(Operator).where(col(Operator.id) == operator_id).with_for_update()
    ).scalar_one_or_none()
    if op is None:
        raise Conflict("No such operator")
    team = session.get(Team, op.team_id) if op.team_id else None
    return op, capacity_of(operator=op, team=team, settings=settings)


def _load_count_subquery(operator_id: int, exclude_id: str) -> Any:
    c2 = _conv.alias("c2")
    return (
        select(func.count())
        .select_from(c2)
        .where(
            or_(
                and_(c2.c.assignee_id == operator_id, c2.c.status == ConversationStatus.ACTIVE),
                and_(
                    c2.c.offered_to_id == operator_id,
                    c2.c.status == ConversationStatus.OFFERED,
                    c2.c.id != exclude_id,
                ),
            )
        )
        .scalar_subquery()
    )


def held_count(*, session: Session, operator_id: int) -> int:
    """Active chats plus open offers of an operator."""
    return int(session.execute(select(_load_count_subquery(operator_id, ""))).scalar_one())


def _queue_changed(session: Session, conversation_id: str, reason: str) -> None:
    emit(
        session,
        channels.QUEUE,
        {"type": "queue.changed", "reason": reason, "conversation_id": conversation_id},
    )


def offer(*, session: Session, settings: Settings, conversation_id: str, operator_id: int) -> bool:
    """Offer a queued chat to an available operator with room. False if anything changed meanwhile."""
    op, cap = _load_capacity(session, operator_id, settings)
    if op.status != OperatorStatus.AVAILABLE:
        return False
    now = utcnow()
    row = session.execute(
        update(Conversation)
        .where(
            col(Conversation.id) == conversation_id,
            col(Conversation.status) == ConversationStatus.QUEUED,
            _load_count_subquery(operator_id, conversation_id) < cap,
        )
        .values(status=ConversationStatus.OFFERED, offered_to_id=operator_id, offered_at=now)
        .returning(
            col(Conversation.id),
            col(Conversation.visitor_name),
            col(Conversation.topic),
            col(Conversation.language),
            col(Conversation.danger_flag),
            col(Conversation.queued_at),
        )
    ).first()
    if row is None:
        return False
    record_event(session=session, conversation_id=conversation_id, kind="offered", operator_id=operator_id)
    expires = now + timedelta(seconds=settings.offer_timeout_seconds)
    _cid, visitor_name, topic, language, danger, queued_at = row
    waited = (now - queued_at).total_seconds() if isinstance(queued_at, datetime) else 0
    # Who is waiting, so the operator knows what they accept (their console counts the wait up).
    emit(
        session,
        channels.operator(operator_id),
        {
            "type": "offer",
            "conversation_id": conversation_id,
            "expires_at": expires.isoformat(),
            "visitor_name": visitor_name,
            "topic": topic,
            "language": language,
            "danger": bool(danger),
            "waited_seconds": max(0, int(waited)),
        },
    )
    _queue_changed(session, conversation_id, "offered")
    return True


def claim(*, session: Session, settings: Settings, conversation_id: str, operator: Operator) -> Conversation:
    """Accept an offer or pick a waiting chat: atomic, within capacity. Conflict if not possible."""
    assert operator.id is not None
    op, cap = _load_capacity(session, operator.id, settings)
    now = utcnow()
    row = session.execute(
        update(Conversation)
        .where(
            col(Conversation.id) == conversation_id,
            or_(
                col(Conversation.status) == ConversationStatus.QUEUED,
                and_(
                    col(Conversation.status) == ConversationStatus.OFFERED,
                    col(Conversation.offered_to_id) == op.id,
                ),
            ),
            _load_count_subquery(op.id or 0, conversation_id) < cap,
        )
        .values(status=ConversationStatus.ACTIVE, assignee_id=op.id, offered_to_id=None, assigned_at=now)
        .returning(col(Conversation.id))
    ).first()
    if row is None:
        conv = session.get(Conversation, conversation_id)
        if conv is None or conv.status not in (ConversationStatus.QUEUED, ConversationStatus.OFFERED):
            raise Conflict("This chat has already been answered or has ended", code="taken")
        if conv.status == ConversationStatus.OFFERED and conv.offered_to_id != op.id:
            raise Conflict("This chat is being offered to someone else", code="taken")
        raise Conflict("You are at your chat limit", code="at_capacity")
    op.idle_since = now
    session.add(op)
    session.flush()
    conv = session.get(Conversation, conversation_id)
    assert conv is not None
    session.refresh(conv)
    record_event(session=session, conversation_id=conversation_id, kind="assigned", operator_id=op.id)
    system_message(session=session, conversation_id=conversation_id, key="joined", name=op.display_name)
    emit(
        session,
        channels.conversation(conversation_id),
        {"type": "assigned", "operator": {"display_name": op.display_name}},
    )
    emit(session, channels.operator(op.id or 0), {"type": "assigned", "conversation_id": conversation_id})
    _queue_changed(session, conversation_id, "assigned")
    return conv


def decline(*, session: Session, conversation_id: str, operator: Operator) -> bool:
    """Give an offer back to the queue. False when it was no longer offered to this operator."""
    row = session.execute(
        update(Conversation)
        .where(
            col(Conversation.id) == conversation_id,
            col(Conversation.status) == ConversationStatus.OFFERED,
            col(Conversation.offered_to_id) == operator.id,
        )
        .values(status=ConversationStatus.QUEUED, offered_to_id=None, offered_at=None)
        .returning(col(Conversation.id))
    ).first()
    if row is not None:
        record_event(
            session=session, conversation_id=conversation_id, kind="declined", operator_id=operator.id
        )
        _queue_changed(session, conversation_id, "declined")
    return row is not None


def end(
    *,
    session: Session,
    conversation_id: str,
    by: str,
    operator: Operator | None = None,
    settings: Settings | None = None,
) -> str | None:
    """End a chat. Before an operator answered it counts as abandoned. Returns the new status.

    An answered chat that ends (by the visitor or the operator) gets its satisfaction survey
    scheduled in the same transaction (`schedule_survey`; an abandoned chat is never surveyed), so
    the widget can offer it as soon as it sees `ended`. `settings` defaults to the settings the
    session's store carries (the console socket ends chats without passing them).
    """
    conv = session.get(Conversation, conversation_id)
    if conv is None or conv.status in (ConversationStatus.ENDED, ConversationStatus.ABANDONED):
        return None
    now = utcnow()
    answered = conv.status == ConversationStatus.ACTIVE
    new_status = ConversationStatus.ENDED if answered else ConversationStatus.ABANDONED
    values: dict[str, Any] = {"status": new_status, "ended_by": by, "offered_to_id": None}
    values["ended_at" if answered else "abandoned_at"] = now
    row = session.execute(
        update(Conversation)
        .where(col(Conversation.id) == conversation_id, col(Conversation.status) == conv.status)
        .values(**values)
        .returning(col(Conversation.id))
    ).first()
    if row is None:
        return None
    waited = (now - conv.queued_at).total_seconds()
    record_event(
        session=session,
        conversation_id=conversation_id,
        kind=new_status.value,
        operator_id=operator.id if operator else conv.assignee_id,
        by=by,
        waited_seconds=round(waited, 1),
    )
    key = {"visitor": "ended_by_visitor", "operator": "ended_by_operator"}.get(by, "ended_visitor_left")
    system_message(session=session, conversation_id=conversation_id, key=key)
    if answered:
        session.refresh(conv)
        schedule_survey(
            session=session,
            settings=settings or settings_of(session) or get_settings(),
            channel="chat",
            conversation=conv,
        )
    emit(session, channels.conversation(conversation_id), {"type": "ended", "by": by})
    for op_id in {conv.assignee_id, conv.offered_to_id} - {None}:
        emit(session, channels.operator(op_id or 0), {"type": "ended", "conversation_id": conversation_id})
    _queue_changed(session, conversation_id, new_status.value)
    return new_status.value


def set_status(*, session: Session, operator: Operator, status: str) -> Operator:
    """Change an operator's status and tell their consoles and the wallboard."""
    if status not in SETTABLE_STATUSES and status != OperatorStatus.OFFLINE:
        raise ValidationFailed("Choose available, busy or away", code="bad_status")
    op = session.get(Operator, operator.id)
    assert op is not None
    now = utcnow()
    if op.status != status:
        op.status = status
        op.status_changed_at = now
        if status == OperatorStatus.AVAILABLE and op.idle_since is None:
            op.idle_since = now
    op.last_seen_at = now
    session.add(op)
    session.flush()
    publish_status(session=session, operator=op)
    return op


def publish_status(*, session: Session, operator: Operator) -> None:
    event = {
        "type": "operator.status",
        "operator_id": operator.id,
        "display_name": operator.display_name,
        "status": operator.status,
        "at": utcnow().isoformat(),
    }
    emit(session, channels.WALLBOARD, event)
    emit(session, channels.operator(operator.id or 0), {"type": "status", "status": operator.status})
    emit(session, channels.QUEUE, {"type": "queue.changed", "reason": "operator.status"})


def mentions_danger(*, settings: Settings, text_: str) -> bool:
    """Whether a message contains one of the danger phrases (case, apostrophes and spacing aside)."""
    lowered = " ".join(text_.lower().replace("’", "'").split())
    return any(p.lower() in lowered for p in settings.danger_phrases if p.strip())


def check_danger(*, session: Session, settings: Settings, conversation_id: str, text_: str) -> bool:
    """Flag a chat whose words suggest immediate danger: priority up, 999 advice at once."""
    if not mentions_danger(settings=settings, text_=text_):
        return False
    row = session.execute(
        update(Conversation)
        .where(col(Conversation.id) == conversation_id, col(Conversation.danger_flag).is_(False))
        .values(danger_flag=True, priority=DANGER_PRIORITY)
        .returning(col(Conversation.id))
    ).first()
    if row is None:
        return False
    record_event(session=session, conversation_id=conversation_id, kind="danger")
    system_message(session=session, conversation_id=conversation_id, key="danger")
    emit(session, channels.conversation(conversation_id), {"type": "danger"})
    _queue_changed(session, conversation_id, "danger")
    return True


@dataclass(frozen=True)
class OperatorSlot:
    id: int
    spare: int
    idle_since: datetime | None
    areas: frozenset[int]
    skills: frozenset[str]
    team_id: int | None = None


def available_slots(*, session: Session, settings: Settings) -> list[OperatorSlot]:
    """Available operators with spare capacity, best first (most spare, then idle longest)."""
    ops = session.execute(
        select(Operator, Team)
        .join(Team, col(Operator.team_id) == col(Team.id), isouter=True)
        .where(col(Operator.status) == OperatorStatus.AVAILABLE, col(Operator.is_active).is_(True))
    ).all()
    if not ops:
        return []
    ids = [op.id for op, _ in ops]
    held: dict[int, int] = {}
    for cid_op, n in session.execute(
        select(_conv.c.assignee_id, func.count())
        .where(_conv.c.assignee_id.in_(ids), _conv.c.status == ConversationStatus.ACTIVE)
        .group_by(_conv.c.assignee_id)
    ).all():
        held[cid_op] = held.get(cid_op, 0) + n
    for cid_op, n in session.execute(
        select(_conv.c.offered_to_id, func.count())
        .where(_conv.c.offered_to_id.in_(ids), _conv.c.status == ConversationStatus.OFFERED)
        .group_by(_conv.c.offered_to_id)
    ).all():
        held[cid_op] = held.get(cid_op, 0) + n
    areas: dict[int, set[int]] = {}
    # A retired POD takes no chats: an operator whose PODs are all retired serves every POD.
    served = (
        select(OperatorArea)
        .join(Area, col(Area.id) == col(OperatorArea.area_id))
        .where(col(OperatorArea.operator_id).in_(ids), col(Area.retired_at).is_(None))
    )
    for oa in session.execute(served).scalars():
        areas.setdefault(oa.operator_id, set()).add(oa.area_id)
    slots = []
    for op, team in ops:
        spare = capacity_of(operator=op, team=team, settings=settings) - held.get(op.id, 0)
        if spare > 0:
            slots.append(
                OperatorSlot(
                    op.id,
                    spare,
                    op.idle_since,
                    frozenset(areas.get(op.id, ())),
                    frozenset(op.skills),
                    op.team_id,
                )
            )
    return slots


def _best(
    slots: list[OperatorSlot], conv: Conversation, now: datetime, settings: Settings
) -> OperatorSlot | None:
    tripped = now - conv.queued_at >= timedelta(seconds=settings.trip_over_seconds)
    eligible = [
        s
        for s in slots
        if s.spare > 0
        and (conv.area_id is None or tripped or not s.areas or conv.area_id in s.areas)
        # A chat transferred to a team (contact_store/transfer.py) is offered to that team only;
        # anyone may still pick it from the queue by hand.
        and (conv.team_id is None or s.team_id == conv.team_id)
    ]
    if not eligible:
        return None
    far_past = datetime.min.replace(tzinfo=now.tzinfo)
    return min(eligible, key=lambda s: (-s.spare, s.idle_since or far_past, s.id))


def waiting(*, session: Session, limit: int | None = None) -> list[Conversation]:
    """Waiting chats in queue order: priority, then longest waiting."""
    query = (
        select(Conversation)
        .where(col(Conversation.status).in_([ConversationStatus.QUEUED, ConversationStatus.OFFERED]))
        .order_by(col(Conversation.priority).desc(), col(Conversation.queued_at), col(Conversation.id))
    )
    if limit:
        query = query.limit(limit)
    return list(session.execute(query).scalars().all())


def assign_waiting(*, session: Session, settings: Settings, batch: int = 200) -> int:
    """Offer waiting chats to operators; returns how many offers were made."""
    slots = available_slots(session=session, settings=settings)
    if not slots:
        return 0
    now = utcnow()
    present_since = now - timedelta(seconds=VISITOR_PRESENT_SECONDS)
    made = 0
    for conv in waiting(session=session, limit=batch):
        if conv.status != ConversationStatus.QUEUED:
            continue
        if conv.visitor_seen_at is not None and conv.visitor_seen_at < present_since:
            continue  # the visitor has gone (quick exit, closed the page, never connected): no offer
        slot = _best(slots, conv, now, settings)
        if slot is None:
            continue
        if offer(session=session, settings=settings, conversation_id=conv.id, operator_id=slot.id):
            made += 1
            slots = [
                OperatorSlot(s.id, s.spare - 1, now, s.areas, s.skills, s.team_id) if s.id == slot.id else s
                for s in slots
            ]
        else:
            slots = [s for s in slots if s.id != slot.id]
        if not any(s.spare > 0 for s in slots):
            break
    return made
