"""Acknowledgement and update texts queued for reports and chats."""

import pytest
from sqlmodel import Session, select

from contact_store.clock import utcnow
from contact_store.errors import ValidationFailed
from contact_store.models import Report, SmsMessage
from contact_store.reports import ReportCreate, file_report
from contact_store.settings import Settings
from contact_store.sms.acks import queue_chat_ack, queue_report_update
from tests.builders import make_conversation, make_person, make_report


def file_report_and_ack(*, session: Session, settings: Settings, phone: str | None) -> SmsMessage | None:
    """File a report from `phone` and return its acknowledgement text, if one was queued."""
    filed = file_report(
        session=session,
        settings=settings,
        report_in=ReportCreate(
            form_slug="crime", answers={}, summary="Bike", phone=phone, safe_to_contact=True
        ),
    )
    return session.exec(select(SmsMessage).where(SmsMessage.report_id == filed.id)).first()


def test_report_ack_carries_reference_and_target(session: Session, settings: Settings) -> None:
    text = file_report_and_ack(session=session, settings=settings, phone="07700 900123")
    assert text is not None and text.kind == "ack" and text.essential and text.report_id is not None
    assert text.status == "queued" and text.blocked_reason is None
    report = session.get(Report, text.report_id)
    assert report is not None and report.person_id is not None
    assert report.reference in text.body and "24 hours" in text.body and "999" in text.body
    assert file_report_and_ack(session=session, settings=settings, phone=None) is None


def test_chat_ack_and_updates_reach_opted_out_numbers(session: Session, settings: Settings) -> None:
    person = make_person(session, phone_e164="+447700900123", sms_opted_out_at=utcnow())
    chat = make_conversation(session, person_id=person.id, safe_to_contact=True, contact_e164="+447700900123")
    ack = queue_chat_ack(session=session, settings=settings, conversation=chat, reference="FC-2511-ABCD")
    assert ack is not None and ack.status == "queued" and "FC-2511-ABCD" in ack.body
    report = make_report(session, person_id=person.id, safe_to_contact=True, contact_e164="+447700900123")
    update = queue_report_update(
        session=session, settings=settings, report=report, message="We have a suspect.", operator_id=None
    )
    assert update is not None and update.status == "queued" and "We have a suspect." in update.body
    with pytest.raises(ValidationFailed):
        queue_report_update(
            session=session, settings=settings, report=report, message="x" * 1000, operator_id=None
        )
    assert file_report_and_ack(session=session, settings=settings, phone="020 7946 0000") is None  # landline
