"""Acknowledgement and update texts queued for reports and chats."""

import pytest
from sqlmodel import Session

from contact_store.clock import utcnow
from contact_store.errors import ValidationFailed
from contact_store.settings import Settings
from contact_store.sms.acks import queue_chat_ack, queue_report_ack, queue_report_update
from tests.builders import make_conversation, make_person, make_report


def test_report_ack_carries_reference_and_target(session: Session, settings: Settings) -> None:
    person = make_person(session, phone_e164="+447700900123")
    report = make_report(session, person_id=person.id)
    text = queue_report_ack(session=session, settings=settings, report=report)
    assert text is not None and text.kind == "ack" and text.essential and text.report_id == report.id
    assert report.reference in text.body and "24 hours" in text.body and "999" in text.body
    assert queue_report_ack(session=session, settings=settings, report=make_report(session)) is None


def test_chat_ack_and_updates_reach_opted_out_numbers(session: Session, settings: Settings) -> None:
    person = make_person(session, phone_e164="+447700900123", sms_opted_out_at=utcnow())
    chat = make_conversation(session, person_id=person.id)
    ack = queue_chat_ack(session=session, settings=settings, conversation=chat, reference="FC-2511-ABCD")
    assert ack is not None and ack.status == "queued" and "FC-2511-ABCD" in ack.body
    report = make_report(session, person_id=person.id)
    update = queue_report_update(
        session=session, settings=settings, report=report, message="We have a suspect.", operator_id=None
    )
    assert update is not None and update.status == "queued" and "We have a suspect." in update.body
    with pytest.raises(ValidationFailed):
        queue_report_update(
            session=session, settings=settings, report=report, message="x" * 1000, operator_id=None
        )
    landline = make_person(session, phone_e164="+442079460000")
    assert (
        queue_report_ack(
            session=session, settings=settings, report=make_report(session, person_id=landline.id)
        )
        is None
    )
