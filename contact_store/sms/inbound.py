"""Inbound texts: matched to the contact they are about, STOP handled, survey replies routed.

Order of handling for one text (all in the caller's transaction):
1. The same provider message id seen before -> the first record is returned (providers retry).
2. STOP / UNSUBSCRIBE (and close variants) -> the person is opted out of surveys and non-essential
   texts; their queued non-essential texts are cancelled and open survey invitations expire.
3. A reply to a survey invitation sent to this number in the last `SURVEY_REPLY_DAYS` days ->
   the survey conversation advances (`contact_store.surveys.sms_flow`).
4. Anything else is matched to ONE contact, in this order, and `matched_by` records how:
   a. `reference`: the text quotes a report reference, and that report is this number's (its
      person has this number). A reference of someone else's report is never followed: a number
      typed by the public is a claim, not an identity.
   b. `reply_thread`: the contact (report or chat) that the last text sent to this number, within
      `SMS_REPLY_THREAD_DAYS`, was about.
   c. otherwise `unmatched`: the text waits in triage's "Texts to match" list, where a member of
      staff attaches it to a contact they may update (`staff`) or files a new report from it.
   It is never attached silently to an arbitrary open contact. A matched report gets an
   `inbound_sms` timeline event. Every inbound text is announced on `channels.SMS` for the console.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import Session, col, select

from contact_store.clock import utcnow
from contact_store.events import channels, emit
from contact_store.models import (
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
# A report reference anywhere in the text (`contact_store.references`: FC-DDMM-XXXX, 4+ characters
# from the look-alike-free alphabet; staff and the public may type it in lower case).
REFERENCE_IN_TEXT = re.compile(r"\bFC-\d{4}-[2-9A-HJKMNP-TV-Z]{4,12}\b", re.IGNORECASE)
# Texts whose status means the person received (or was being sent) them: a reply threads to these.
THREAD_STATUSES = (SmsStatus.SENT, SmsStatus.DELIVERED, SmsStatus.SENDING)


class MatchedBy:
    REFERENCE = "reference"
    REPLY_THREAD = "reply_thread"
    UNMATCHED = "unmatched"
    STAFF = "staff"


# How each way of matching reads to staff (report timeline, SMS log).
MATCH_LABELS = {
    MatchedBy.REFERENCE: "matched by the reference it quoted",
    MatchedBy.REPLY_THREAD: "a reply to the last text we sent",
    MatchedBy.STAFF: "matched by staff",
    MatchedBy.UNMATCHED: "waiting in Texts to match",
}


@dataclass(frozen=True)
class Match:
    matched_by: str
    report: Report | None = None
    conversation_id: str | None = None


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


def quoted_report(*, session: Session, body: str, number: str) -> Report | None:
    """The first report quoted in the text that belongs to this number's person, if any."""
    for found in REFERENCE_IN_TEXT.finditer(body):
        report = session.exec(select(Report).where(Report.reference == found.group(0).upper())).first()
        if report is None or report.person_id is None:
            continue
        owner = session.get(Person, report.person_id)
        if owner is not None and owner.phone_e164 == number:
            return report
    return None


def reply_thread(*, session: Session, settings: Settings, number: str) -> Match | None:
    """The contact the last text sent to this number was about (within the reply window)."""
    since = utcnow() - timedelta(days=settings.sms_reply_thread_days)
    last = session.exec(
        select(SmsMessage)
        .where(
            SmsMessage.to_e164 == number,
            col(SmsMessage.status).in_(THREAD_STATUSES),
            col(SmsMessage.created_at) >= since,
            col(SmsMessage.report_id).is_not(None) | col(SmsMessage.conversation_id).is_not(None),
        )
        .order_by(col(SmsMessage.created_at).desc(), col(SmsMessage.id).desc())
    ).first()
    if last is None:
        return None
    report = session.get(Report, last.report_id) if last.report_id is not None else None
    return Match(MatchedBy.REPLY_THREAD, report=report, conversation_id=last.conversation_id)


def match_contact(*, session: Session, settings: Settings, body: str, number: str) -> Match:
    """Which contact an inbound text is about (the order in this module's docstring)."""
    report = quoted_report(session=session, body=body, number=number)
    if report is not None:
        return Match(MatchedBy.REFERENCE, report=report, conversation_id=report.conversation_id)
    thread = reply_thread(session=session, settings=settings, number=number)
    if thread is not None:
        return thread
    return Match(MatchedBy.UNMATCHED)


def attach(*, session: Session, inbound: InboundSms, match: Match, operator_id: int | None = None) -> None:
    """Attach the text to the matched contact: the contact's person, a timeline event on a report."""
    inbound.matched_by = match.matched_by
    inbound.report_id = match.report.id if match.report is not None else None
    inbound.conversation_id = match.conversation_id
    if match.report is not None:
        if match.report.person_id is not None:
            inbound.person_id = match.report.person_id
        session.add(
            ReportEvent(
                report_id=match.report.id,  # type: ignore[arg-type]
                kind="inbound_sms",
                body=inbound.body,
                operator_id=operator_id,
                data={
                    "from": inbound.from_e164,
                    "provider": inbound.provider,
                    "matched_by": match.matched_by,
                    "matched": MATCH_LABELS[match.matched_by],
                },
            )
        )
    elif match.conversation_id is not None:
        conversation = session.get(Conversation, match.conversation_id)
        if conversation is not None and conversation.person_id is not None:
            inbound.person_id = conversation.person_id
    if match.matched_by == MatchedBy.STAFF:
        inbound.matched_at = utcnow()
        inbound.matched_by_operator_id = operator_id
    session.add(inbound)


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
            attach(
                session=session,
                inbound=inbound,
                match=match_contact(session=session, settings=settings, body=body, number=number),
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
            "matched_by": inbound.matched_by,
        },
    )
    if inbound.conversation_id is not None and inbound.handled_as == "contact":
        emit(
            session,
            channels.conversation(inbound.conversation_id),
            {"type": "sms.inbound", "id": inbound.id, "body": body},
        )
    return inbound


# Rows on the "Texts to match" page (oldest first: the longest waiting are answered first).
TO_MATCH_LIMIT = 200


def texts_to_match(*, session: Session, limit: int = TO_MATCH_LIMIT) -> list[InboundSms]:
    """Inbound texts no rule could match, oldest first (triage's "Texts to match")."""
    return list(
        session.exec(
            select(InboundSms)
            .where(InboundSms.handled_as == "contact", InboundSms.matched_by == MatchedBy.UNMATCHED)
            .order_by(col(InboundSms.received_at), col(InboundSms.id))
            .limit(limit)
        ).all()
    )


def unmatched_text(*, session: Session, inbound_id: int) -> InboundSms:
    """An inbound text still waiting to be matched; NotFound if there is none (or it was matched)."""
    from contact_store.errors import Conflict, NotFound

    inbound = session.get(InboundSms, inbound_id)
    if inbound is None or inbound.handled_as != "contact":
        raise NotFound("There is no such text to match")
    if inbound.matched_by != MatchedBy.UNMATCHED:
        raise Conflict("This text has already been matched to a contact", code="already_matched")
    return inbound


def attach_by_staff(*, session: Session, inbound: InboundSms, report: Report, operator_id: int) -> None:
    """A member of staff attaches an unmatched text to a report they may update (checked by the caller
    through `contact_store.access.report_for`)."""
    attach(
        session=session,
        inbound=inbound,
        match=Match(MatchedBy.STAFF, report=report, conversation_id=report.conversation_id),
        operator_id=operator_id,
    )
    session.flush()
    emit(
        session, channels.REPORTS, {"type": "report.updated", "report_id": report.id, "change": "inbound_sms"}
    )
