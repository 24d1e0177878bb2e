"""Subject access: everything the store holds about one person, for an admin to export.

The export is one JSON-serialisable dict (machine-readable) which the console also renders as a
printable page. It includes internal notes and the audit trail of who viewed the person: the
admin decides what the law lets them withhold before sending it on.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, SQLModel, col, or_, select

from contact_store.clock import utcnow
from contact_store.errors import NotFound
from contact_store.models import (
    AuditEvent,
    Conversation,
    ConversationEvent,
    Evidence,
    InboundSms,
    Message,
    Person,
    Report,
    ReportEvent,
    SmsMessage,
    SurveyInvitation,
    SurveyResponse,
)


def _row(obj: SQLModel, *, drop: tuple[str, ...] = ()) -> dict[str, Any]:
    out: dict[str, Any] = {}
    dumped = obj.model_dump()
    for key in type(obj).model_fields:  # the model's own field order, as in the code
        if key in drop or key not in dumped:
            continue
        value = dumped[key]
        out[key] = value.isoformat() if isinstance(value, datetime) else value
    return out


def subject_access_export(*, session: Session, person_id: int) -> dict[str, Any]:
    """Everything held about one person: details, reports, chats, texts, surveys, audit trail."""
    person = session.get(Person, person_id)
    if person is None:
        raise NotFound("There is no such person")
    reports = session.exec(
        select(Report).where(Report.person_id == person_id).order_by(col(Report.received_at))
    ).all()
    report_out = []
    for r in reports:
        events = session.exec(
            select(ReportEvent).where(ReportEvent.report_id == r.id).order_by(col(ReportEvent.created_at))
        ).all()
        evidence = session.exec(select(Evidence).where(Evidence.report_id == r.id)).all()
        report_out.append(
            _row(r)
            | {
                "timeline": [_row(e) for e in events],
                "evidence": [_row(e, drop=("stored_name",)) for e in evidence],
            }
        )
    convs = session.exec(
        select(Conversation).where(Conversation.person_id == person_id).order_by(col(Conversation.queued_at))
    ).all()
    conv_out = []
    for c in convs:
        messages = session.exec(
            select(Message).where(Message.conversation_id == c.id).order_by(col(Message.seq))
        ).all()
        conv_events = session.exec(
            select(ConversationEvent).where(ConversationEvent.conversation_id == c.id)
        ).all()
        conv_out.append(
            _row(c, drop=("token_hash",))
            | {"messages": [_row(m) for m in messages], "events": [_row(e) for e in conv_events]}
        )
    report_ids = [r.id for r in reports]
    conv_ids = [c.id for c in convs]
    sms_out = session.exec(
        select(SmsMessage)
        .where(
            or_(
                SmsMessage.person_id == person_id,
                col(SmsMessage.report_id).in_(report_ids or [-1]),
                col(SmsMessage.conversation_id).in_(conv_ids or [""]),
            )
        )
        .order_by(col(SmsMessage.created_at))
    ).all()
    sms_in = session.exec(
        select(InboundSms).where(InboundSms.person_id == person_id).order_by(col(InboundSms.received_at))
    ).all()
    invitations = session.exec(select(SurveyInvitation).where(SurveyInvitation.person_id == person_id)).all()
    inv_ids = [i.id for i in invitations]
    responses = session.exec(
        select(SurveyResponse).where(col(SurveyResponse.invitation_id).in_(inv_ids or [-1]))
    ).all()
    audit = session.exec(
        select(AuditEvent).where(AuditEvent.person_id == person_id).order_by(col(AuditEvent.at))
    ).all()
    return {
        "generated_at": utcnow().isoformat(),
        "person": _row(person),
        "reports": report_out,
        "conversations": conv_out,
        "sms_sent": [_row(s) for s in sms_out],
        "sms_received": [_row(s) for s in sms_in],
        "survey_invitations": [_row(i) for i in invitations],
        "survey_responses": [_row(r) for r in responses],
        "audit_trail": [_row(a) for a in audit],
    }
