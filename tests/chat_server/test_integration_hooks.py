"""Hooks between the areas: the chat's SMS acknowledgement and the survey when a chat ends."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from chat_server.routing import service as routing
from contact_store.clock import utcnow
from contact_store.db import Store
from contact_store.models import (
    Conversation,
    ConversationStatus,
    OperatorStatus,
    SmsMessage,
    SurveyInvitation,
)
from contact_store.settings import Settings
from tests.builders import make_conversation, make_operator, make_person


def _active_chat(session: Session, phone: str = "+447700900123") -> Conversation:
    op = make_operator(session, status=OperatorStatus.AVAILABLE, last_seen_at=utcnow())
    person = make_person(session, phone_e164=phone)
    return make_conversation(
        session,
        status=ConversationStatus.ACTIVE,
        person_id=person.id,
        assignee_id=op.id,
        topic="asb",
        assigned_at=utcnow(),
        safe_to_contact=True,
        contact_e164=phone,
    )


def _invitations(session: Session, conversation_id: str) -> list[SurveyInvitation]:
    stmt = select(SurveyInvitation).where(SurveyInvitation.conversation_id == conversation_id)
    return list(session.exec(stmt).all())


def test_chat_with_a_mobile_queues_its_acknowledgement_in_the_same_transaction(
    client: TestClient, session: Session
) -> None:
    r = client.post("/api/v1/chats", json={"name": "Jo", "topic": "asb", "mobile": "07700 900456"})
    assert r.status_code == 201, r.text
    body = r.json()
    sms = session.exec(select(SmsMessage).where(SmsMessage.conversation_id == body["conversation_id"])).all()
    assert [(m.template, m.kind, m.to_e164) for m in sms] == [("chat_ack", "ack", "+447700900456")]
    assert body["reference"] in sms[0].body
    r = client.post("/api/v1/chats", json={"name": "Al", "topic": "asb"})
    assert r.status_code == 201
    none = session.exec(select(SmsMessage).where(SmsMessage.conversation_id == r.json()["conversation_id"]))
    assert none.all() == []


def test_visitor_and_operator_ending_an_answered_chat_schedule_one_survey(
    session: Session, settings: Settings
) -> None:
    for by, phone in (("visitor", "+447700900123"), ("operator", "+447700900125")):
        conv = _active_chat(session, phone)
        assert routing.end(session=session, conversation_id=conv.id, by=by, settings=settings) == "ended"
        invites = _invitations(session, conv.id)
        assert len(invites) == 1, by
        assert invites[0].channel == "chat" and invites[0].status == "scheduled"
        assert invites[0].to_e164 == phone and invites[0].operator_id == conv.assignee_id
        # Ending again changes nothing and schedules nothing more.
        assert routing.end(session=session, conversation_id=conv.id, by=by, settings=settings) is None
        assert len(_invitations(session, conv.id)) == 1


def test_an_abandoned_chat_is_not_surveyed(session: Session, settings: Settings) -> None:
    person = make_person(session, phone_e164="+447700900124")
    conv = make_conversation(session, status=ConversationStatus.QUEUED, person_id=person.id, topic="asb")
    status = routing.end(session=session, conversation_id=conv.id, by="visitor", settings=settings)
    assert status == "abandoned"
    assert _invitations(session, conv.id) == []


def test_ending_without_settings_uses_the_stores_settings(store: Store, settings: Settings) -> None:
    """The console socket ends chats without passing settings: the session carries the store's."""
    store.settings = settings.model_copy(update={"survey_delay_minutes": 77})
    with store.session_scope() as s:
        conv = _active_chat(s)
        routing.end(session=s, conversation_id=conv.id, by="operator")
        (invite,) = _invitations(s, conv.id)
        assert invite.due_at - invite.created_at == timedelta(minutes=77)
