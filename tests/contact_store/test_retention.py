from datetime import timedelta
from pathlib import Path

from sqlmodel import Session, select

from contact_store.clock import utcnow
from contact_store.models import (
    Conversation,
    ConversationStatus,
    Evidence,
    Message,
    Person,
    Report,
    ReportEvent,
    ReportStatus,
    SmsMessage,
)
from contact_store.retention import ERASED_TEXT, erase_expired
from contact_store.settings import Settings
from tests.builders import make_conversation, make_person, make_report


def test_erases_closed_contacts_past_retention_and_keeps_statistics(
    session: Session, settings: Settings
) -> None:
    settings.retention_days = 30
    now = utcnow()
    long_ago = now - timedelta(days=40)
    person = make_person(
        session,
        name="Sam Old",
        phone_e164="+447700900111",
        email_normalised="sam@example.org",
        last_contact_at=long_ago,
        created_at=long_ago,
    )
    report = make_report(
        session,
        person_id=person.id,
        answers={"description": "my bike"},
        summary="Bike",
        status=ReportStatus.CLOSED,
        grade=3,
        received_at=long_ago,
        closed_at=long_ago,
        thrive={"risk": "low"},
        safe_to_contact=True,
        contact_e164="+447700900111",
    )
    session.add(ReportEvent(report_id=report.id or 0, kind="note", body="called Sam"))
    settings.upload_dir.mkdir(parents=True, exist_ok=True)
    (settings.upload_dir / "abc123.jpg").write_bytes(b"x")
    session.add(
        Evidence(
            report_id=report.id,
            stored_name="abc123.jpg",
            original_name="bike.jpg",
            content_type="image/jpeg",
            size_bytes=1,
            sha256="0" * 64,
        )
    )
    session.add(
        SmsMessage(to_e164="+447700900111", body="Your ref", report_id=report.id, person_id=person.id)
    )
    conv = make_conversation(
        session,
        person_id=person.id,
        visitor_name="Sam",
        status=ConversationStatus.ENDED,
        queued_at=long_ago,
        ended_at=long_ago,
        contact_e164="+447700900111",
    )
    session.add(Message(conversation_id=conv.id, seq=1, client_id="c1", sender="visitor", body="hello"))
    session.flush()

    assert erase_expired(session=session, settings=settings, now=now) == 2
    session.expire_all()
    r = session.get(Report, report.id)
    assert r is not None and r.answers == {} and r.summary == "" and r.thrive == {"risk": ""}
    assert r.grade == 3 and r.status == ReportStatus.CLOSED and r.received_at is not None  # statistics kept
    assert r.contact_e164 is None  # the number the consent was about is personal data too
    bodies = [
        e.body for e in session.exec(select(ReportEvent).where(ReportEvent.report_id == report.id)).all()
    ]
    assert "called Sam" not in " ".join(bodies)
    assert session.exec(select(Evidence).where(Evidence.report_id == report.id)).all() == []
    assert not Path(settings.upload_dir / "abc123.jpg").exists()
    msg = session.exec(select(Message).where(Message.conversation_id == conv.id)).one()
    assert msg.body == ERASED_TEXT
    erased_chat = session.get(Conversation, conv.id)
    assert erased_chat is not None and erased_chat.contact_e164 is None
    sms = session.exec(select(SmsMessage).where(SmsMessage.report_id == report.id)).one()
    assert sms.to_e164 == "" and sms.body == ERASED_TEXT
    p = session.get(Person, person.id)
    assert p is not None and p.erased_at is not None and p.name is None and p.phone_e164 is None
    # Idempotent: a second run finds nothing.
    assert erase_expired(session=session, settings=settings, now=now) == 0


def test_open_or_recent_contacts_are_never_erased(session: Session, settings: Settings) -> None:
    settings.retention_days = 30
    now = utcnow()
    long_ago = now - timedelta(days=400)
    person = make_person(session, name="Still Open", last_contact_at=long_ago, created_at=long_ago)
    open_report = make_report(
        session, person_id=person.id, received_at=long_ago, status=ReportStatus.IN_PROGRESS
    )
    recent = make_report(session, status=ReportStatus.CLOSED, closed_at=now - timedelta(days=5))
    assert erase_expired(session=session, settings=settings, now=now) == 0
    session.expire_all()
    assert session.get(Report, open_report.id).answers  # type: ignore[union-attr]
    assert session.get(Report, recent.id).answers  # type: ignore[union-attr]
    assert session.get(Person, person.id).erased_at is None  # type: ignore[union-attr]
