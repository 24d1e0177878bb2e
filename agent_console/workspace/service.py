"""What the workspace's side panels show: canned responses, the person panel, transfer targets."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from contact_store import audit
from contact_store.access import visible_canned_clause
from contact_store.canned import render_canned, search_canned_responses, text_for
from contact_store.models import Area, Conversation, Operator, Team
from contact_store.person_history import person_history
from contact_store.settings import Settings
from contact_store.sms import gate


def canned_payload(
    *, session: Session, operator: Operator, query: str, language: str
) -> list[dict[str, Any]]:
    """Canned answers matching `query` (contact_store.canned), in the chat's language where there
    is a version in it, with the operator's name filled in."""
    rows = search_canned_responses(
        session=session, query=query, language=language, visible=visible_canned_clause(operator)
    )
    return [
        {
            "id": r.id,
            "title": text_for(canned=r, language=language)[0],
            "category": r.category,
            "tags": [*r.tags, *(r.keywords or [])],
            "language": "cy" if language == "cy" and r.body_cy else "en",
            "text": render_canned(canned=r, operator_name=operator.display_name, language=language),
        }
        for r in rows
    ]


def person_payload(
    *,
    session: Session,
    operator: Operator,
    conversation: Conversation,
    repeat_contact_days: int,
    ip: str | None,
) -> dict[str, Any]:
    """The person panel for a chat (audited as a view of the person's details)."""
    if conversation.person_id is None:
        return {"person": None, "items": [], "repeat_contact": False, "double_demand": False}
    history = person_history(
        session=session,
        staff=operator,
        person_id=conversation.person_id,
        repeat_contact_days=repeat_contact_days,
        exclude_conversation_id=conversation.id,
    )
    if history is None:
        return {"person": None, "items": [], "repeat_contact": False, "double_demand": False}
    audit.record(
        session=session,
        operator_id=operator.id,
        action="person.view",
        object_type="conversation",
        object_id=conversation.id,
        person_id=conversation.person_id,
        ip=ip,
        detail={"where": "workspace person panel"},
    )
    p = history.person
    return {
        "person": {
            "id": p.id,
            "name": p.name or conversation.visitor_name,
            "phone": p.phone_e164,
            "email": p.email_normalised,
        },
        "repeat_contact": history.repeat_contact,
        "double_demand": history.double_demand,
        "repeat_contact_days": repeat_contact_days,
        "items": [
            {
                "kind": i.kind,
                "at": i.at.isoformat(),
                "label": i.label,
                "status": i.status,
                "summary": i.summary,
                "report_id": i.report_id,
            }
            for i in history.items
        ],
    }


def transfer_targets(*, session: Session, operator: Operator) -> dict[str, Any]:
    """Active operators other than `operator` (with status) and every team in use (not retired)."""
    ops = session.exec(
        select(Operator)
        .where(col(Operator.is_active).is_(True), col(Operator.id) != operator.id)
        .order_by(col(Operator.display_name))
    ).all()
    teams = session.exec(select(Team).where(col(Team.retired_at).is_(None)).order_by(col(Team.name))).all()
    return {
        "operators": [{"id": o.id, "name": o.display_name, "status": o.status} for o in ops],
        "teams": [{"id": t.id, "name": t.name} for t in teams],
    }


def areas(*, session: Session) -> list[Area]:
    """The PODs, for the queue filter (retired ones too: chats queued before it still wait)."""
    return list(session.exec(select(Area).order_by(col(Area.name))).all())


def texting_number(*, settings: Settings, conversation: Conversation) -> str | None:
    """The number this chat said it is safe to text, or None ("Not safe to text"; the gate's rule)."""
    consent = gate.Consent(conversation.safe_to_contact, conversation.contact_e164)
    return gate.contact_number(settings=settings, consent=consent)
