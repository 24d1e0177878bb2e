"""Transferring a live chat: to another operator (atomic, within their capacity) or to a team
(back to the queue for that team), with the handover note stored as an internal message.

Guarantees: the move is one conditional UPDATE (an operator at capacity, or a chat that has ended
meanwhile, changes nothing and raises Conflict); the note, the ConversationEvent "transferred" and
the bus events commit together with the move. Events after commit:
  conversation:<id>   {"type": "transferred", "to_operator_id" + "to_operator_name" | "to_team_id" +
                      "to_team_name", "by"} — the old holder's console drops the chat and says
                      "transferred to <name>"; to an operator also {"type": "assigned", "operator":
                      {"display_name"}} so the visitor's header names the new operator; to a team
                      also {"type": "requeued"} so the visitor sees their queue position again.
  operator:<new id>   {"type": "assigned", "conversation_id"} — the new holder's console opens it.
  queue               {"type": "queue.changed", "reason": "transferred"}.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlmodel import Session, col

from contact_store import conversations as conv_service
from contact_store.clock import utcnow
from contact_store.errors import Conflict, ValidationFailed
from contact_store.events import channels, emit
from contact_store.models import (
    Conversation,
    ConversationStatus,
    Operator,
    OperatorStatus,
    SenderKind,
    Team,
)
from contact_store.settings import Settings

_conv = Conversation.__table__  # type: ignore[attr-defined]
NOTE_MAX_LENGTH = 2000


def capacity(*, session: Session, operator: Operator, settings: Settings) -> int:
    """Operator limit, else team default, else the service default (as routing uses)."""
    if operator.max_concurrent_chats:
        return operator.max_concurrent_chats
    team = session.get(Team, operator.team_id) if operator.team_id else None
    if team is not None and team.default_max_chats:
        return team.default_max_chats
    return settings.chat_default_max_chats


def _held_by(operator_id: int, exclude_id: str) -> Any:
    c2 = _conv.alias("c2")
    return (
        select(func.count())
        .select_from(c2)
        .where(
            c2.c.id != exclude_id,
            or_(
                and_(c2.c.assignee_id == operator_id, c2.c.status == ConversationStatus.ACTIVE),
                and_(c2.c.offered_to_id == operator_id, c2.c.status == ConversationStatus.OFFERED),
            ),
        )
        .scalar_subquery()
    )


def _store_note(*, session: Session, conversation_id: str, by: Operator, note: str, target: str) -> None:
    body = f"Transferred to {target}." + (f" Note: {note}" if note else "")
    conv_service.append_message(
        session=session,
        conversation_id=conversation_id,
        client_id=f"transfer-{uuid.uuid4()}",
        sender=SenderKind.OPERATOR,
        body=body[: NOTE_MAX_LENGTH + 200],
        operator=by,
        internal=True,
    )


def _clean_note(note: str) -> str:
    note = note.strip()
    if len(note) > NOTE_MAX_LENGTH:
        raise ValidationFailed(
            "The note is too long", fields={"note": f"Use {NOTE_MAX_LENGTH} characters or fewer"}
        )
    return note


def transfer_to_operator(
    *,
    session: Session,
    settings: Settings,
    conversation: Conversation,
    by: Operator,
    to_operator_id: int,
    note: str = "",
) -> Conversation:
    """Give an active chat to another operator if they are active and have room; Conflict if not."""
    note = _clean_note(note)
    target = session.execute(
        select(Operator).where(col(Operator.id) == to_operator_id).with_for_update()
    ).scalar_one_or_none()
    if target is None or not target.is_active or target.id == by.id:
        raise ValidationFailed(
            "Choose another operator", fields={"to_operator_id": "Choose another operator"}
        )
    if target.status == OperatorStatus.OFFLINE:
        # An offline operator has no console to open the chat, and the grace-period requeue
        # only watches operators who are signed in: the visitor would wait for no one.
        raise ValidationFailed(
            f"{target.display_name} is offline",
            fields={"to_operator_id": f"{target.display_name} is offline"},
        )
    cap = capacity(session=session, operator=target, settings=settings)
    previous = conversation.assignee_id
    result = session.execute(
        update(Conversation)
        .where(
            col(Conversation.id) == conversation.id,
            col(Conversation.status) == ConversationStatus.ACTIVE,
            _held_by(to_operator_id, conversation.id) < cap,
        )
        .values(assignee_id=to_operator_id, offered_to_id=None, assigned_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        session.refresh(conversation)
        if conversation.status != ConversationStatus.ACTIVE:
            raise Conflict("This chat has ended", code="not_active")
        raise Conflict(f"{target.display_name} has no room for another chat", code="at_capacity")
    session.refresh(conversation)
    _store_note(
        session=session, conversation_id=conversation.id, by=by, note=note, target=target.display_name
    )
    conv_service.record_event(
        session=session,
        conversation_id=conversation.id,
        kind="transferred",
        operator_id=to_operator_id,
        **{"from": previous, "by": by.id, "note": note},
    )
    conv_service.system_message(
        session=session, conversation_id=conversation.id, key="joined", name=target.display_name
    )
    event = {
        "type": "transferred",
        "to_operator_id": to_operator_id,
        "to_operator_name": target.display_name,
        "by": by.id,
    }
    emit(session, channels.conversation(conversation.id), event)
    # The visitor now talks to someone else: their header names them (consoles ignore this frame).
    emit(
        session,
        channels.conversation(conversation.id),
        {"type": "assigned", "operator": {"display_name": target.display_name}},
    )
    emit(session, channels.operator(to_operator_id), {"type": "assigned", "conversation_id": conversation.id})
    emit(
        session,
        channels.QUEUE,
        {"type": "queue.changed", "reason": "transferred", "conversation_id": conversation.id},
    )
    return conversation


def transfer_to_team(
    *, session: Session, conversation: Conversation, by: Operator, to_team_id: int, note: str = ""
) -> Conversation:
    """Put an active chat back in the queue for a team in use (it keeps its place by waiting
    time); a retired team is not a choice."""
    note = _clean_note(note)
    # FOR SHARE: an administrator retiring this team at the same moment (who locks its row, then
    # counts its live chats) waits for this transfer to commit and counts it, or retires first.
    team = session.execute(
        select(Team)
        .where(col(Team.id) == to_team_id)
        .with_for_update(read=True)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if team is None or team.retired_at is not None:
        raise ValidationFailed("Choose a team", fields={"to_team_id": "Choose a team"})
    previous = conversation.assignee_id
    result = session.execute(
        update(Conversation)
        .where(col(Conversation.id) == conversation.id, col(Conversation.status) == ConversationStatus.ACTIVE)
        .values(status=ConversationStatus.QUEUED, assignee_id=None, offered_to_id=None, team_id=to_team_id)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("This chat has ended", code="not_active")
    session.refresh(conversation)
    _store_note(session=session, conversation_id=conversation.id, by=by, note=note, target=team.name)
    conv_service.record_event(
        session=session,
        conversation_id=conversation.id,
        kind="transferred",
        operator_id=by.id,
        **{"from": previous, "by": by.id, "team_id": to_team_id, "note": note},
    )
    conv_service.system_message(session=session, conversation_id=conversation.id, key="transferring")
    emit(
        session,
        channels.conversation(conversation.id),
        {"type": "transferred", "to_team_id": to_team_id, "to_team_name": team.name, "by": by.id},
    )
    emit(session, channels.conversation(conversation.id), {"type": "requeued"})
    emit(
        session,
        channels.QUEUE,
        {"type": "queue.changed", "reason": "transferred", "conversation_id": conversation.id},
    )
    return conversation
