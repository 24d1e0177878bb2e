"""Chat wrap-up: outcome, THRIVE, grade and topic recorded on the conversation, and optionally a
report raised from the chat.

A report raised from a chat is filed through the one report factory (`reports.file_report`): the
same reference allocation, person link, timeline and bus event, acknowledgement and safe-to-text
rules as a report filed online. It carries over the chat's person, POD, team, answer to "is it safe
to text you?", its topic (as the matching online form), grade and THRIVE from the wrap-up, and the
transcript as speaker, time and text. Internal notes never go into the report's answers (which the
public's subject access request can reach): each becomes a staff note on the report's timeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from contact_store.chat_topics import SENSITIVE_TOPICS, TOPICS, form_for_topic
from contact_store.clock import utcnow
from contact_store.errors import Conflict, ValidationFailed
from contact_store.events import channels, emit
from contact_store.grading import GRADES, THRIVE_KEYS, clean_thrive
from contact_store.models import (
    Conversation,
    ConversationEvent,
    ConversationStatus,
    Message,
    Operator,
    Report,
    ReportEvent,
    ReportStatus,
    SenderKind,
)
from contact_store.reports import ReportCreate, file_report, one_line
from contact_store.settings import Settings

__all__ = ["GRADES", "OUTCOMES", "THRIVE_KEYS", "WrapUp", "raise_report_from_chat", "wrap_up_conversation"]

OUTCOMES = (
    "advice given",
    "crime-prevention advice given",
    "report raised",
    "incident raised for attendance",
    "signposted to partner agency",
    "resolved",
    "no further action",
)
# A transcript longer than this is cut (the whole chat stays in the store and the console).
TRANSCRIPT_MAX_MESSAGES = 200


@dataclass(frozen=True)
class WrapUp:
    outcome: str
    grade: int
    thrive: dict[str, Any]
    topic: str = ""
    raise_report: bool = False
    report_summary: str = ""


def wrap_up_conversation(
    *, session: Session, settings: Settings, conversation: Conversation, operator: Operator, wrap_up: WrapUp
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
            session=session,
            settings=settings,
            conversation=conversation,
            operator=operator,
            summary=wrap_up.report_summary,
        )
    session.flush()
    emit(session, channels.QUEUE, {"type": "conversation.wrapped_up", "conversation_id": conversation.id})
    return report


def transcript_text(*, messages: list[Message], speakers: dict[int, str], timezone: str) -> str:
    """The chat as the public and the operator saw it, one line each: time, speaker, text.
    Internal notes are left out (they are staff notes on the report's timeline)."""
    tz = ZoneInfo(timezone)
    lines = []
    for m in messages:
        if m.internal:
            continue
        if m.sender == SenderKind.VISITOR:
            who = "Visitor"
        elif m.sender == SenderKind.OPERATOR:
            who = speakers.get(m.operator_id or 0, "Operator")
        else:
            who = "System"
        lines.append(f"{m.created_at.astimezone(tz):%H:%M} {who}: {m.body}")
    return "\n".join(lines)


def raise_report_from_chat(
    *, session: Session, settings: Settings, conversation: Conversation, operator: Operator, summary: str
) -> Report:
    """File a report from a chat through the one report factory (see this module's docstring)."""
    messages = list(
        session.exec(
            select(Message)
            .where(Message.conversation_id == conversation.id)
            .order_by(col(Message.seq))
            .limit(TRANSCRIPT_MAX_MESSAGES)
        ).all()
    )
    staff_ids = {m.operator_id for m in messages if m.operator_id is not None}
    speakers = {
        op.id or 0: op.display_name
        for op in session.exec(select(Operator).where(col(Operator.id).in_(staff_ids))).all()
    }
    topic = conversation.topic or ""
    answers: dict[str, Any] = {
        "summary": summary.strip(),
        "topic": TOPICS.get(topic, topic),
        "transcript": transcript_text(messages=messages, speakers=speakers, timezone=settings.timezone),
    }
    filed = file_report(
        session=session,
        settings=settings,
        report_in=ReportCreate(
            form_slug=form_for_topic(topic),
            answers=answers,
            summary=one_line(summary),
            channel="chat",
            language=conversation.language,
            sensitive=topic in SENSITIVE_TOPICS,
            grade=conversation.grade,
            thrive=dict(conversation.thrive),
            phone=conversation.contact_e164,
            safe_to_contact=conversation.safe_to_contact,
            response_time=f"{settings.report_target_hours} hours",
            person_id=conversation.person_id,
            conversation_id=conversation.id,
            area_id=conversation.area_id,
            team_id=conversation.team_id if conversation.team_id is not None else operator.team_id,
            assignee_id=operator.id,
            status=ReportStatus.IN_PROGRESS,
            answered=True,
            received_note=f"Raised from live chat by {operator.display_name}",
        ),
    )
    notes = [m for m in messages if m.internal]
    for note in notes:
        session.add(
            ReportEvent(
                report_id=filed.id,
                kind="note",
                body=f"Note from the chat ({_at(note.created_at, settings.timezone)}): {note.body}",
                operator_id=note.operator_id,
                created_at=utcnow(),
            )
        )
    session.flush()
    report = session.get(Report, filed.id)
    assert report is not None
    return report


def _at(when: datetime, timezone: str) -> str:
    return f"{when.astimezone(ZoneInfo(timezone)):%H:%M}"
