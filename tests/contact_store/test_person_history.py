from datetime import timedelta

from sqlmodel import Session

from contact_store.clock import utcnow
from contact_store.models import ConversationStatus, InboundSms, ReportStatus, Role, SmsMessage
from contact_store.person_history import person_history
from tests.builders import make_conversation, make_operator, make_person, make_report


def test_history_spans_channels_newest_first_with_badges(session: Session) -> None:
    now = utcnow()
    person = make_person(session, phone_e164="+447700900123")
    old = make_report(
        session, person_id=person.id, received_at=now - timedelta(days=3), status=ReportStatus.CLOSED
    )
    make_conversation(
        session, person_id=person.id, queued_at=now - timedelta(days=2), status=ConversationStatus.ACTIVE
    )
    session.add(
        InboundSms(
            from_e164="+447700900123",
            body="any news?",
            provider="log",
            person_id=person.id,
            received_at=now - timedelta(days=1),
        )
    )
    session.add(
        SmsMessage(
            to_e164="+447700900123", body="Thanks", person_id=person.id, created_at=now - timedelta(hours=1)
        )
    )
    current = make_report(session, person_id=person.id, received_at=now)
    session.flush()
    h = person_history(
        session=session,
        staff=make_operator(session, role=Role.SUPERVISOR),
        person_id=person.id or 0,
        repeat_contact_days=30,
        exclude_report_id=current.id,
    )
    assert h is not None
    assert [i.kind for i in h.items] == ["sms_out", "sms_in", "chat", "report"]
    assert h.items[-1].label == old.reference
    assert h.repeat_contact and h.double_demand  # the chat is still open


def test_no_badges_for_a_first_contact(session: Session) -> None:
    person = make_person(session)
    current = make_report(session, person_id=person.id)
    h = person_history(
        session=session,
        staff=make_operator(session, role=Role.SUPERVISOR),
        person_id=person.id or 0,
        repeat_contact_days=30,
        exclude_report_id=current.id,
    )
    assert h is not None and h.items == [] and not h.repeat_contact and not h.double_demand
    sup = make_operator(session, role=Role.SUPERVISOR)
    assert person_history(session=session, staff=sup, person_id=987654, repeat_contact_days=30) is None
