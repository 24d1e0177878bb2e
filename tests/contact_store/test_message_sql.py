"""The DBAPI hot path for chat messages keeps every rule of `append_message` (both backends)."""

from __future__ import annotations

import pytest
from sqlalchemy import Connection
from sqlmodel import Session, col, select

from contact_store.conversations import messages_after, staff_channel
from contact_store.errors import AppError, Forbidden, NotFound
from contact_store.events import channels
from contact_store.message_sql import NewMessage, SqlCursor, store_message
from contact_store.models import Conversation, ConversationStatus, Message, Role
from tests.builders import make_conversation, make_operator


@pytest.fixture
def cur(connection: Connection) -> SqlCursor:
    """The raw cursor of the test's connection (inside its rolled-back transaction)."""
    return SqlCursor(connection.connection.cursor(), connection.dialect)


def _active_chat(session: Session) -> tuple[Conversation, int]:
    op = make_operator(session, display_name="Sam Operator")
    assert op.id is not None
    conv = make_conversation(session, status=ConversationStatus.ACTIVE, assignee_id=op.id)
    session.commit()
    return conv, op.id


def test_visitor_messages_take_the_next_seq_and_a_resend_stores_nothing(
    session: Session, cur: SqlCursor
) -> None:
    conv, _ = _active_chat(session)
    first = store_message(cur=cur, message=NewMessage(conv.id, "c1", "hello"))
    second = store_message(cur=cur, message=NewMessage(conv.id, "c2", "again"))
    resend = store_message(cur=cur, message=NewMessage(conv.id, "c1", "hello"))
    assert (first.stored.seq, second.stored.seq) == (1, 2)
    assert first.created and not resend.created and resend.events == []
    assert resend.stored.seq == 1 and resend.stored.sent_at == first.stored.sent_at
    assert first.events == [(channels.conversation(conv.id), first.stored.frame(conv.id))]
    # What the ORM reads back is exactly what was written (timestamps included).
    replay = messages_after(session=session, conversation_id=conv.id, after_seq=0)
    assert [(m.seq, m.client_id, m.sender, m.body, m.sent_at) for m in replay] == [
        (1, "c1", "visitor", "hello", first.stored.sent_at),
        (2, "c2", "visitor", "again", second.stored.sent_at),
    ]
    session.expire_all()
    assert session.get(Conversation, conv.id).last_seq == 2  # type: ignore[union-attr]


def test_ended_chat_refuses_new_messages_but_acks_a_resend(session: Session, cur: SqlCursor) -> None:
    conv, _ = _active_chat(session)
    stored = store_message(cur=cur, message=NewMessage(conv.id, "before", "hi")).stored
    conv.status = ConversationStatus.ENDED
    session.add(conv)
    session.commit()
    assert store_message(cur=cur, message=NewMessage(conv.id, "before", "hi")).stored.seq == stored.seq
    with pytest.raises(AppError) as refused:
        store_message(cur=cur, message=NewMessage(conv.id, "after", "still there?"))
    assert refused.value.code == "ended"
    assert session.exec(select(Message.client_id).where(Message.conversation_id == conv.id)).all() == [
        "before"
    ]


def test_staff_rules_holder_supervisor_and_strangers(session: Session, cur: SqlCursor) -> None:
    conv, holder_id = _active_chat(session)
    stranger = make_operator(session)
    supervisor = make_operator(session, role=Role.SUPERVISOR, display_name="Sue Supervisor")
    session.commit()
    with pytest.raises(Forbidden):
        store_message(cur=cur, message=NewMessage(conv.id, "x", "mine now", operator_id=stranger.id))
    with pytest.raises(NotFound):
        store_message(cur=cur, message=NewMessage("no-such-chat", "y", "hello", operator_id=holder_id))
    with pytest.raises(NotFound):
        store_message(cur=cur, message=NewMessage(conv.id, "z", "hello", operator_id=10**9))
    reply = store_message(
        cur=cur, message=NewMessage(conv.id, "op1", "how can I help?", operator_id=holder_id)
    )
    assert reply.stored.sender == "operator" and reply.stored.operator_name == "Sam Operator"
    assert reply.events[0][1]["operator"] == {"display_name": "Sam Operator"}
    watched = store_message(cur=cur, message=NewMessage(conv.id, "sup1", "hello", operator_id=supervisor.id))
    assert watched.stored.seq == 2
    session.expire_all()
    first_response = session.get(Conversation, conv.id).first_response_at  # type: ignore[union-attr]
    assert first_response == reply.stored.sent_at, "stamped by the first reply, not moved by the next"


def test_internal_notes_go_to_staff_only_even_when_the_chat_is_not_active(
    session: Session, cur: SqlCursor
) -> None:
    conv, holder_id = _active_chat(session)
    conv.status = ConversationStatus.ENDED
    session.add(conv)
    session.commit()
    with pytest.raises(AppError) as refused:
        store_message(cur=cur, message=NewMessage(conv.id, "pub", "bye", operator_id=holder_id))
    assert refused.value.code == "not_active"
    note = store_message(
        cur=cur, message=NewMessage(conv.id, "note", "risk: low", operator_id=holder_id, internal=True)
    )
    assert note.stored.internal and note.stored.seq == 1
    assert note.events == [
        (staff_channel(conv.id), note.stored.frame(conv.id)),
        (channels.conversation(conv.id), {"type": "seq", "seq": 1}),
    ]
    assert messages_after(session=session, conversation_id=conv.id, after_seq=0) == []
    notes = session.exec(select(Message).where(col(Message.internal).is_(True))).all()
    assert [n.body for n in notes] == ["risk: low"]
