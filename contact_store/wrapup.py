"""Chat wrap-up: outcome, THRIVE, grade and topic recorded on the conversation, and optionally a
report raised from the chat (with its own reference, linked to the person and the transcript)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from contact_store.clock import utcnow
from contact_store.errors import Conflict, ValidationFailed
from contact_store.events import channels, emit
from contact_store.models import (
    Conversation,
    ConversationEvent,
    ConversationStatus,
    Message,
    Operator,
    Report,
    ReportEvent,
    ReportStatus,
)
from contact_store.references import unique_report_reference

OUTCOMES = (
    "advice given",
    "crime-prevention advice given",
    "report raised",
    "incident raised for attendance",
    "signposted to partner agency",
    "resolved",
    "no further action",
)
# THRIVE (Threat, Harm, Risk, Investigation, Vulnerability, Engagement): one short assessment each.
THRIVE_KEYS = ("threat", "harm", "risk", "investigation", "vulnerability", "engagement")
THRIVE_MAX_LENGTH = 500
GRADES = {
    1: "Immediate",
    2: "Priority",
    3: "Non-urgent",
    4: "Scheduled appointment",
    5: "Resolved without attendance",
}
TRANSCRIPT_MAX_MESSAGES = 200


def clean_thrive(raw: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """The six THRIVE answers as trimmed text, and errors for unknown keys or over-long answers."""
    errors = {key: "Unknown THRIVE field" for key in set(raw) - set(THRIVE_KEYS)}
    out: dict[str, str] = {}
    for key in THRIVE_KEYS:
        value = str(raw.get(key) or "").strip()
        if len(value) > THRIVE_MAX_LENGTH:
            errors[key] = f"Use {THRIVE_MAX_LENGTH} characters or fewer"
        out[key] = value
    return out, errors


@dataclass(frozen=True)
class WrapUp:
    outcome: str
    grade: int
    thrive: dict[str, Any]
    topic: str = ""
    raise_report: bool = False
    report_summary: str = ""


def wrap_up_conversation(
    *, session: Session, conversation: Conversation, operator: Operator, wrap_up: WrapUp
) -> Report | None:
    """Record the wrap-up of an ended (or active) chat; raise a report from it when asked."""
    errors: dict[str, str] = {}
    if wrap_up.outcome not in OUTCOMES:
        errors["outcome"] = "Select an outcome"
    if wrap_up.grade not in GRADES:
        errors["grade"] = "Select a grade from 1 to 5"
    if wrap_up.raise_report and not wrap_up.report_summary.strip():
        errors["report_summary"] = "Enter a summary for the report"
    thrive, thrive_errors = clean_thrive(wrap_up.thrive)
    errors.update(thrive_errors)
    if errors:
        raise ValidationFailed("The wrap-up is not complete", fields=errors)
    if conversation.wrapped_up_at is not None:
        raise Conflict("This chat has already been wrapped up")
    if conversation.status not in (ConversationStatus.ACTIVE, ConversationStatus.ENDED):
        raise Conflict("Only a chat that was answered can be wrapped up")
    now = utcnow()
    conversation.outcome = wrap_up.outcome
    conversation.grade = wrap_up.grade
    conversation.thrive = thrive
    if wrap_up.topic:
        conversation.topic = wrap_up.topic[:64]
    conversation.wrapped_up_at = now
    session.add(conversation)
    session.add(
        ConversationEvent(
            conversation_id=conversation.id,
            kind="wrapped_up",
            operator_id=operator.id,
            data={"outcome": wrap_up.outcome, "grade": wrap_up.grade},
            created_at=now,
        )
    )
    report = None
    if wrap_up.raise_report:
        report = raise_report_from_chat(
            session=session, conversation=conversation, operator=operator, summary=wrap_up.report_summary
        )
    session.flush()
    emit(session, channels.QUEUE, {"type": "conversation.wrapped_up", "conversation_id": conversation.id})
    return report


def raise_report_from_chat(
    *, session: Session, conversation: Conversation, operator: Operator, summary: str
) -> Report:
    """A report with its own reference, carrying the chat's transcript (internal notes marked)."""
    messages = session.exec(
        select(Message)
        .where(Message.conversation_id == conversation.id)
        .order_by(col(Message.seq))
        .limit(TRANSCRIPT_MAX_MESSAGES)
    ).all()
    transcript = [
        {
            "seq": m.seq,
            "sender": m.sender,
            "internal": m.internal,
            "body": m.body,
            "sent_at": m.created_at.isoformat(),
        }
        for m in messages
    ]
    now = utcnow()
    report = Report(
        reference=unique_report_reference(session=session),
        form_slug="chat",
        channel="chat",
        answers={"summary": summary.strip(), "transcript": transcript, "topic": conversation.topic},
        summary=summary.strip()[:300],
        status=ReportStatus.IN_PROGRESS,
        grade=conversation.grade,
        thrive=dict(conversation.thrive),
        person_id=conversation.person_id,
        area_id=conversation.area_id,
        team_id=conversation.team_id,
        assignee_id=operator.id,
        conversation_id=conversation.id,
        # The chat's answer to "is it safe to text you on this number?" carries over to its report.
        safe_to_contact=conversation.safe_to_contact,
        contact_e164=conversation.contact_e164,
        received_at=now,
        first_response_at=now,
        updated_at=now,
    )
    session.add(report)
    session.flush()
    session.add(
        ReportEvent(
            report_id=report.id or 0,
            kind="note",
            body=f"Raised from live chat by {operator.display_name}",
            operator_id=operator.id,
            created_at=now,
        )
    )
    emit(session, channels.REPORTS, {"type": "report.created", "reference": report.reference})
    return report
