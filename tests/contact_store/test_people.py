from sqlmodel import Session

from contact_store import outbox, people
from contact_store.access import visible_contacts
from contact_store.models import Role, SmsStatus
from contact_store.references import ALPHABET, new_reference
from contact_store.settings import Settings
from tests.builders import make_conversation, make_operator, make_person, make_report
from tests.support.sms_consent import texting_chat


def test_phone_normalisation() -> None:
    assert people.normalise_phone("07700 900123") == "+447700900123"
    assert people.normalise_phone("+44 (0)7700-900123") == "+447700900123"
    assert people.normalise_phone("0118 496 0000") == "+441184960000"
    assert people.normalise_phone("12345") is None
    assert people.normalise_phone("<script>") is None
    assert people.is_mobile("+447700900123") and not people.is_mobile("+441184960000")


def test_email_normalisation() -> None:
    assert people.normalise_email("  Jo.Bloggs@Example.COM ") == "jo.bloggs@example.com"
    assert people.normalise_email("not an email") is None


def test_find_or_create_matches_by_phone_then_email(session: Session) -> None:
    first, matched = people.find_or_create_person(session=session, name="Jo", phone="07700 900001")
    assert first is not None and not matched
    again, matched = people.find_or_create_person(
        session=session, phone="+447700900001", email="jo@example.com"
    )
    assert again is not None and matched and again.id == first.id
    assert again.email_normalised == "jo@example.com"
    by_email, matched = people.find_or_create_person(session=session, email="JO@example.com")
    assert matched and by_email is not None and by_email.id == first.id
    assert people.find_or_create_person(session=session, name="Anonymous") == (None, False)


def test_contact_signals(session: Session) -> None:
    person = make_person(session)
    make_report(session, person_id=person.id, status="closed")
    make_conversation(session, person_id=person.id, status="active")
    contacts = visible_contacts(staff=make_operator(session, role=Role.SUPERVISOR), person_id=person.id or 0)
    signals = people.contact_signals(session=session, contacts=contacts, window_days=30)
    assert signals.recent_contacts == 2 and signals.repeat_contact
    assert signals.open_contacts == 1 and signals.double_demand


def test_references_are_readable_and_unique(session: Session) -> None:
    ref = new_reference()
    assert ref.startswith("FC-") and len(ref) == 12
    assert all(c in ALPHABET for c in ref[-4:])
    assert new_reference(length=6)[-7] == "-" and len(new_reference(length=6)) == 14  # a clash's retry


def test_queue_sms_renders_and_respects_opt_out(session: Session, settings: Settings) -> None:
    person = make_person(session, phone_e164="+447700900002")
    chat = texting_chat(session, "+447700900002")
    msg = outbox.queue_sms(
        session=session,
        settings=settings,
        conversation_id=chat.id,
        to="07700900002",
        template="report_ack",
        kind="ack",
        person_id=person.id,
        personalisation={"force": "Northshire Police", "reference": "FC-0101-ABCD", "target": "24 hours"},
    )
    assert msg is not None and "FC-0101-ABCD" in msg.body and msg.status == SmsStatus.QUEUED
    assert (
        outbox.queue_sms(
            session=session,
            settings=settings,
            to="0118 496 0000",
            template="free_text",
            kind="update",
            personalisation={"message": "hi"},
        )
        is None
    )
    from contact_store.clock import utcnow

    person.sms_opted_out_at = utcnow()
    survey = outbox.queue_sms(
        session=session,
        settings=settings,
        conversation_id=chat.id,
        to="07700900002",
        template="free_text",
        kind="survey",
        essential=False,
        person_id=person.id,
        personalisation={"message": "Q1"},
    )
    assert survey is not None and survey.status == SmsStatus.CANCELLED
