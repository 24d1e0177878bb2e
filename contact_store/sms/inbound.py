"""Inbound texts: matched to the person and their open contact, STOP handled, survey replies routed.

Order of handling for one text (all in the caller's transaction):
1. The same provider message id seen before -> the first record is returned (providers retry).
2. STOP / UNSUBSCRIBE (and close variants) -> the person is opted out of surveys and non-essential
   texts; their queued non-essential texts are cancelled and open survey invitations expire.
3. A reply to a survey invitation sent to this number in the last `SURVEY_REPLY_DAYS` days ->
   the survey conversation advances (`contact_store.surveys.sms_flow`).
4. Anything else -> linked to the person's latest open report or live conversation; a report gets a
   `inbound_sms` timeline event. Every inbound text is announced on `channels.SMS` for the console.
"""

from __future__ import annotations

import re

from sqlmodel import Session, col, select

from contact_store.clock import utcnow
from contact_store.events import channels, emit
from contact_store.models import (
    OPEN_REPORT_STATUSES,
    Conversation,
    ConversationStatus,
    InboundSms,
    Person,
    Report,
    ReportEvent,
    SmsMessage,
    SmsStatus,
    SurveyInvitation,
)
from contact_store.models.surveys import InvitationStatus
from contact_store.people import normalise_phone
from contact_store.settings import Settings

STOP_WORDS = {"stop", "stopall", "unsubscribe", "opt out", "optout", "cancel", "end", "quit"}
OPEN_CONVERSATION_STATUSES = (
    ConversationStatus.QUEUED,
    ConversationStatus.OFFERED,
    ConversationStatus.ACTIVE,
)
MAX_BODY = 2000


def is_stop(body: str) -> bool:
    """True for an opt-out keyword (case, spaces and punctuation forgiven)."""
    word = re.sub(r"[^a-z ]", "", body.lower()).strip()
    return word in STOP_WORDS


def person_for_number(*, session: Session, number: str | None) -> Person | None:
    """The most recently active person with this number."""
    if not number:
        return None
    return session.exec(
        select(Person)
        .where(Person.phone_e164 == number, col(Person.erased_at).is_(None))
        .order_by(col(Person.last_contact_at).desc().nulls_last(), col(Person.id).desc())
    ).first()


def open_contact(*, session: Session, person: Person) -> tuple[Report | None, Conversation | None]:
    """The person's latest open report and latest live conversation (either may be None)."""
    report = session.exec(
        select(Report)
        .where(Report.person_id == person.id, col(Report.status).in_(OPEN_REPORT_STATUSES))
        .order_by(col(Report.received_at).desc())
    ).first()
    conversation = session.exec(
        select(Conversation)
        .where(Conversation.person_id == person.id, col(Conversation.status).in_(OPEN_CONVERSATION_STATUSES))
        .order_by(col(Conversation.queued_at).desc())
    ).first()
    return report, conversation


def opt_out(*, session: Session, number: str, person: Person | None) -> Person:
    """Opt the number out: the person (made if unknown) is marked, pending non-essential texts stop."""
    now = utcnow()
    if person is None:
        person = Person(phone_e164=number)
    if person.sms_opted_out_at is None:
        person.sms_opted_out_at = now
    session.add(person)
    for others in session.exec(select(Person).where(Person.phone_e164 == number)).all():
        if others.sms_opted_out_at is None:
            others.sms_opted_out_at = now
            session.add(others)
    for message in session.exec(
        select(SmsMessage).where(
            SmsMessage.to_e164 == number,
            SmsMessage.status == SmsStatus.QUEUED,
            col(SmsMessage.essential).is_(False),
        )
    ).all():
        message.status = SmsStatus.CANCELLED
        message.last_error = "opted out"
        session.add(message)
    for invitation in session.exec(
        select(SurveyInvitation).where(
            SurveyInvitation.to_e164 == number,
            col(SurveyInvitation.status).in_(
                [InvitationStatus.SCHEDULED, InvitationStatus.SENT, InvitationStatus.IN_PROGRESS]
            ),
        )
    ).all():
        invitation.status = InvitationStatus.EXPIRED
        invitation.excluded_reason = "opted_out"
        session.add(invitation)
    session.flush()
    return person


def handle_inbound(
    *,
    session: Session,
    settings: Settings,
    from_number: str,
    body: str,
    provider: str,
    provider_message_id: str | None = None,
) -> InboundSms:
    """Store and act on one inbound text (see the module docstring for the order)."""
    from contact_store.surveys.sms_flow import active_invitation_for, handle_survey_reply

    if provider_message_id:
        seen = session.exec(
            select(InboundSms).where(InboundSms.provider_message_id == provider_message_id)
        ).first()
        if seen is not None:
            return seen
    number = normalise_phone(from_number) or from_number.strip()[:20]
    body = (body or "").strip()[:MAX_BODY]
    person = person_for_number(session=session, number=number)
    inbound = InboundSms(
        from_e164=number,
        body=body,
        provider=provider,
        provider_message_id=provider_message_id,
        person_id=person.id if person else None,
    )
    if is_stop(body):
        person = opt_out(session=session, number=number, person=person)
        inbound.person_id = person.id
        inbound.handled_as = "stop"
    else:
        invitation = active_invitation_for(session=session, settings=settings, number=number)
        if invitation is not None:
            inbound.survey_invitation_id = invitation.id
            inbound.handled_as = "survey"
            handle_survey_reply(session=session, settings=settings, invitation=invitation, body=body)
        else:
            inbound.handled_as = "contact"
            if person is not None:
                report, conversation = open_contact(session=session, person=person)
                inbound.report_id = report.id if report else None
                inbound.conversation_id = conversation.id if conversation else None
                if report is not None:
                    session.add(
                        ReportEvent(
                            report_id=report.id,  # type: ignore[arg-type]
                            kind="inbound_sms",
                            body=body,
                            data={"from": number, "provider": provider},
                        )
                    )
    session.add(inbound)
    session.flush()
    reference = None
    if inbound.report_id is not None:
        report_row = session.get(Report, inbound.report_id)
        reference = report_row.reference if report_row else None
    emit(
        session,
        channels.SMS,
        {
            "type": "sms.inbound",
            "id": inbound.id,
            "from": number,
            "body": body,
            "handled_as": inbound.handled_as,
            "person_id": inbound.person_id,
            "report_id": inbound.report_id,
            "reference": reference,
            "conversation_id": inbound.conversation_id,
        },
    )
    if inbound.conversation_id is not None and inbound.handled_as == "contact":
        emit(
            session,
            channels.conversation(inbound.conversation_id),
            {"type": "sms.inbound", "id": inbound.id, "body": body},
        )
    return inbound
