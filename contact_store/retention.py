"""Data protection: erase the personal data of contacts closed longer than `retention_days`.

What is erased: a report's answers, summary, THRIVE notes, timeline note text and evidence files;
a chat's visitor name, origin and message text; texts' numbers and bodies; and, once every contact
of a person is erased, the person's name, phone, email and postcode (the row stays, `erased_at`
set). What is kept, so statistics stay true: every row's dates, status, channel, form, grade,
team, area, assignee and counts. Each erased contact gets an `erased` timeline event, which is
also the marker that makes the job idempotent (a second run finds nothing to do).

"Closed" means a report resolved or closed (closed_at, else resolved_at, before the cutoff) or a
chat ended or abandoned (ended_at, else abandoned_at, before the cutoff). Open contacts are never
touched, however old. The audit log is kept: it records who looked at data, not the data itself.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import exists, func, update
from sqlmodel import Session, col, select

from contact_store.clock import utcnow
from contact_store.models import (
    Conversation,
    ConversationEvent,
    ConversationStatus,
    Evidence,
    InboundSms,
    Message,
    Person,
    Report,
    ReportEvent,
    ReportStatus,
    SmsMessage,
    SurveyInvitation,
    SurveyResponse,
)
from contact_store.settings import Settings

logger = logging.getLogger(__name__)
ERASED_KIND = "erased"
ERASED_TEXT = "[erased under the retention policy]"
# Contacts erased per flush: bounds memory and lock time on a store with years of history.
BATCH_SIZE = 500


def _erase_report(*, session: Session, report: Report, upload_dir: Path, now: datetime) -> None:
    report.answers = {}
    report.summary = ""
    report.contact_e164 = None
    report.thrive = {k: "" for k in (report.thrive or {})}
    report.updated_at = now
    session.add(report)
    session.execute(
        update(ReportEvent).where(col(ReportEvent.report_id) == report.id).values(body=ERASED_TEXT, data={})
    )
    for ev in session.exec(select(Evidence).where(Evidence.report_id == report.id)).all():
        path = (upload_dir / ev.stored_name).resolve()
        if path.parent == upload_dir.resolve() and path.is_file():
            path.unlink()
        session.delete(ev)
    _erase_texts(session=session, report_id=report.id)
    session.add(
        ReportEvent(report_id=report.id or 0, kind=ERASED_KIND, body="Personal data erased", created_at=now)
    )


def _erase_texts(
    *, session: Session, report_id: int | None = None, conversation_id: str | None = None
) -> None:
    out = update(SmsMessage).values(to_e164="", body=ERASED_TEXT, personalisation={})
    inb = update(InboundSms).values(from_e164="", body=ERASED_TEXT)
    if report_id is not None:
        session.execute(out.where(col(SmsMessage.report_id) == report_id))
        session.execute(inb.where(col(InboundSms.report_id) == report_id))
    if conversation_id is not None:
        session.execute(out.where(col(SmsMessage.conversation_id) == conversation_id))
        session.execute(inb.where(col(InboundSms.conversation_id) == conversation_id))


def _erase_conversation(*, session: Session, conv: Conversation, now: datetime) -> None:
    conv.visitor_name = ""
    conv.origin = None
    conv.contact_e164 = None
    conv.thrive = {k: "" for k in (conv.thrive or {})}
    session.add(conv)
    session.execute(update(Message).where(col(Message.conversation_id) == conv.id).values(body=ERASED_TEXT))
    _erase_texts(session=session, conversation_id=conv.id)
    session.add(ConversationEvent(conversation_id=conv.id, kind=ERASED_KIND, created_at=now))


def _erase_person(*, session: Session, person: Person, now: datetime) -> None:
    person.name = None
    person.phone_e164 = None
    person.email_normalised = None
    person.postcode = None
    person.erased_at = now
    session.add(person)
    session.execute(
        update(SmsMessage)
        .where(col(SmsMessage.person_id) == person.id)
        .values(to_e164="", body=ERASED_TEXT, personalisation={})
    )
    session.execute(
        update(InboundSms)
        .where(col(InboundSms.person_id) == person.id)
        .values(from_e164="", body=ERASED_TEXT)
    )
    invitations = select(SurveyInvitation.id).where(SurveyInvitation.person_id == person.id)
    session.execute(
        update(SurveyInvitation).where(col(SurveyInvitation.person_id) == person.id).values(to_e164=None)
    )
    session.execute(
        update(SurveyResponse).where(col(SurveyResponse.invitation_id).in_(invitations)).values(comment=None)
    )


def erase_expired(*, session: Session, settings: Settings, now: datetime | None = None) -> int:
    """Erase personal data of contacts closed before now − retention_days; returns contacts erased."""
    now = now or utcnow()
    cutoff = now - timedelta(days=settings.retention_days)
    upload_dir = settings.upload_dir
    erased = 0
    report_done = exists().where(
        col(ReportEvent.report_id) == col(Report.id), col(ReportEvent.kind) == ERASED_KIND
    )
    while True:
        reports = session.exec(
            select(Report)
            .where(
                col(Report.status).in_((ReportStatus.RESOLVED, ReportStatus.CLOSED)),
                func.coalesce(Report.closed_at, Report.resolved_at) < cutoff,
                ~report_done,
            )
            .limit(BATCH_SIZE)
        ).all()
        for report in reports:
            _erase_report(session=session, report=report, upload_dir=upload_dir, now=now)
        session.flush()
        erased += len(reports)
        if len(reports) < BATCH_SIZE:
            break
    conv_done = exists().where(
        col(ConversationEvent.conversation_id) == col(Conversation.id),
        col(ConversationEvent.kind) == ERASED_KIND,
    )
    while True:
        convs = session.exec(
            select(Conversation)
            .where(
                col(Conversation.status).in_((ConversationStatus.ENDED, ConversationStatus.ABANDONED)),
                func.coalesce(Conversation.ended_at, Conversation.abandoned_at) < cutoff,
                ~conv_done,
            )
            .limit(BATCH_SIZE)
        ).all()
        for conv in convs:
            _erase_conversation(session=session, conv=conv, now=now)
        session.flush()
        erased += len(convs)
        if len(convs) < BATCH_SIZE:
            break
    # A person is erased once nothing of theirs is left unerased and they have been quiet since the cutoff.
    live_report = exists().where(col(Report.person_id) == col(Person.id), ~report_done)
    live_chat = exists().where(col(Conversation.person_id) == col(Person.id), ~conv_done)
    people = session.exec(
        select(Person).where(
            col(Person.erased_at).is_(None),
            func.coalesce(Person.last_contact_at, Person.created_at) < cutoff,
            ~live_report,
            ~live_chat,
        )
    ).all()
    for person in people:
        _erase_person(session=session, person=person, now=now)
    session.flush()
    logger.info("retention: erased %d contacts and %d people closed before %s", erased, len(people), cutoff)
    return erased
