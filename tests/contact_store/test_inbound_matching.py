"""Inbound texts reach the contact they are about: a quoted reference of this number's report, else
the contact of the last text sent to the number, else "Texts to match" — never an arbitrary open
contact. Each text records how it was matched."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, select

from contact_store.clock import utcnow
from contact_store.models import InboundSms, ReportEvent, SmsMessage, SmsStatus
from contact_store.settings import Settings
from contact_store.sms.inbound import MatchedBy, handle_inbound
from tests.builders import make_conversation, make_person, make_report

PHONE = "+447700900123"


def _text(session: Session, settings: Settings, body: str, number: str = PHONE) -> InboundSms:
    return handle_inbound(session=session, settings=settings, from_number=number, body=body, provider="log")


def _sent(
    session: Session, *, report_id: int | None = None, conversation_id: str | None = None, **kw: object
) -> None:
    session.add(
        SmsMessage(
            to_e164=PHONE,
            body="Update on your report",
            status=kw.pop("status", SmsStatus.DELIVERED),
            report_id=report_id,
            conversation_id=conversation_id,
            **kw,  # type: ignore[arg-type]
        )
    )
    session.flush()


def test_a_quoted_reference_wins_over_the_latest_open_contact(session: Session, settings: Settings) -> None:
    person = make_person(session, phone_e164=PHONE)
    bike = make_report(session, person_id=person.id, status="in_progress", reference="FC-0111-BK7Q")
    knife = make_report(session, person_id=person.id, status="new", reference="FC-2811-KN4F")
    _sent(session, report_id=knife.id)  # the latest text was about the knife report
    inbound = _text(session, settings, "I have found a receipt for the bike, ref fc-0111-bk7q")
    assert (inbound.report_id, inbound.matched_by) == (bike.id, MatchedBy.REFERENCE)
    (event,) = session.exec(select(ReportEvent).where(ReportEvent.report_id == bike.id)).all()
    assert event.kind == "inbound_sms" and event.data["matched_by"] == "reference"
    assert session.exec(select(ReportEvent).where(ReportEvent.report_id == knife.id)).first() is None


def test_a_text_without_a_reference_follows_the_last_text_sent(session: Session, settings: Settings) -> None:
    person = make_person(session, phone_e164=PHONE)
    older = make_report(session, person_id=person.id, status="in_progress")
    newer_open = make_report(session, person_id=person.id, status="new")
    _sent(session, report_id=older.id)
    inbound = _text(session, settings, "Thanks, any news?")
    assert (inbound.report_id, inbound.matched_by) == (older.id, MatchedBy.REPLY_THREAD)
    assert newer_open.id != inbound.report_id


def test_the_reply_thread_can_be_a_chat(session: Session, settings: Settings) -> None:
    person = make_person(session, phone_e164=PHONE)
    chat = make_conversation(session, person_id=person.id, status="ended")
    _sent(session, conversation_id=chat.id)
    inbound = _text(session, settings, "hello again")
    assert (inbound.conversation_id, inbound.report_id, inbound.matched_by) == (chat.id, None, "reply_thread")
    assert inbound.person_id == person.id


def test_blocked_unsent_and_old_texts_start_no_thread(session: Session, settings: Settings) -> None:
    person = make_person(session, phone_e164=PHONE)
    report = make_report(session, person_id=person.id, status="in_progress")
    _sent(session, report_id=report.id, status=SmsStatus.CANCELLED)
    _sent(session, report_id=report.id, status=SmsStatus.QUEUED)
    _sent(
        session,
        report_id=report.id,
        created_at=utcnow() - timedelta(days=settings.sms_reply_thread_days + 1),
    )
    inbound = _text(session, settings, "hello?")
    assert (inbound.report_id, inbound.conversation_id, inbound.matched_by) == (None, None, "unmatched")


def test_an_open_contact_alone_is_not_a_match(session: Session, settings: Settings) -> None:
    """The old rule (attach to the latest open report) is gone: no thread, no reference -> to match."""
    person = make_person(session, phone_e164=PHONE)
    make_report(session, person_id=person.id, status="in_progress")
    make_conversation(session, person_id=person.id, status="active")
    inbound = _text(session, settings, "<b>He came back</b>")
    assert (inbound.report_id, inbound.conversation_id, inbound.matched_by) == (None, None, "unmatched")
    assert inbound.handled_as == "contact" and inbound.person_id == person.id


def test_someone_elses_reference_is_not_followed(session: Session, settings: Settings) -> None:
    """A number typed by the public is a claim: quoting another person's reference attaches nothing."""
    victim = make_person(session, phone_e164="+447700900999")
    make_report(session, person_id=victim.id, reference="FC-0111-VC7M", sensitive=True)
    make_person(session, phone_e164=PHONE)
    inbound = _text(session, settings, "What is happening with FC-0111-VC7M?")
    assert (inbound.report_id, inbound.matched_by) == (None, "unmatched")
    assert inbound.person_id != victim.id


def test_provider_retries_are_recorded_once(session: Session, settings: Settings) -> None:
    make_person(session, phone_e164=PHONE)
    first = handle_inbound(
        session=session,
        settings=settings,
        from_number=PHONE,
        body="x",
        provider="notify",
        provider_message_id="n-1",
    )
    again = handle_inbound(
        session=session,
        settings=settings,
        from_number=PHONE,
        body="x",
        provider="notify",
        provider_message_id="n-1",
    )
    assert again.id == first.id
