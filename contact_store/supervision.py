"""What supervisors do to live work: set an operator's status and move a chat to someone else.

Both are single conditional UPDATEs in the database (never a Python-side lock), so two supervisors
or workers acting at once cannot interleave; events go out on the bus after commit.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlmodel import Session, col

from contact_store.clock import utcnow
from contact_store.errors import Conflict, NotFound, ValidationFailed
from contact_store.events import channels, emit
from contact_store.models import Conversation, ConversationEvent, ConversationStatus, Operator, OperatorStatus

SETTABLE_STATUSES = (
    OperatorStatus.AVAILABLE,
    OperatorStatus.BUSY,
    OperatorStatus.AWAY,
    OperatorStatus.OFFLINE,
)


def set_operator_status(
    *, session: Session, operator_id: int, status: str, by_operator_id: int | None
) -> Operator:
    """Set an operator's availability and tell wallboards and the operator's own console."""
    if status not in SETTABLE_STATUSES:
        raise ValidationFailed("Choose a status", fields={"status": "Choose a status"})
    operator = session.get(Operator, operator_id)
    if operator is None or not operator.is_active:
        raise NotFound("There is no such operator")
    now = utcnow()
    previous = operator.status
    operator.status = status
    operator.status_changed_at = now
    if status == OperatorStatus.AVAILABLE and previous != OperatorStatus.AVAILABLE:
        operator.idle_since = now
    session.add(operator)
    session.flush()
    event = {"type": "operator.status", "operator_id": operator_id, "status": status, "by": by_operator_id}
    emit(session, channels.WALLBOARD, event)
    emit(session, channels.operator(operator_id), event)
    return operator


def reassign_conversation(
    *, session: Session, conversation_id: str, to_operator_id: int, by_operator_id: int | None
) -> Conversation:
    """Give an active or waiting chat to another operator, atomically (a conditional UPDATE)."""
    target = session.get(Operator, to_operator_id)
    if target is None or not target.is_active:
        raise ValidationFailed("Choose an operator", fields={"operator_id": "Choose an active operator"})
    now = utcnow()
    movable = (ConversationStatus.QUEUED, ConversationStatus.OFFERED, ConversationStatus.ACTIVE)
    conv = session.get(Conversation, conversation_id)
    if conv is None:
        raise NotFound("There is no such chat")
    previous = conv.assignee_id
    result = session.execute(
        update(Conversation)
        .where(col(Conversation.id) == conversation_id, col(Conversation.status).in_(movable))
        .values(
            assignee_id=to_operator_id,
            status=ConversationStatus.ACTIVE,
            offered_to_id=None,
            assigned_at=conv.assigned_at or now,
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("This chat has already ended")
    session.refresh(conv)
    session.add(
        ConversationEvent(
            conversation_id=conversation_id,
            kind="transferred",
            operator_id=to_operator_id,
            data={"from": previous, "by": by_operator_id},
        )
    )
    session.flush()
    event = {
        "type": "conversation.reassigned",
        "conversation_id": conversation_id,
        "assignee_id": to_operator_id,
    }
    emit(session, channels.conversation(conversation_id), event)
    emit(session, channels.QUEUE, event)
    emit(session, channels.operator(to_operator_id), event)
    if previous is not None and previous != to_operator_id:
        emit(session, channels.operator(previous), event)
    return conv
