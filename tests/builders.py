"""Small builders for test data. Each returns a flushed row with sensible defaults."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from sqlmodel import Session

from contact_store.clock import utcnow
from contact_store.models import (
    Area,
    Conversation,
    Operator,
    Person,
    Report,
    Role,
    SurveyInvitation,
    SurveyResponse,
    Team,
)
from contact_store.staff import create_operator, token_hash

DEFAULT_PASSWORD = "correct horse battery"


def make_team(session: Session, name: str | None = None, **kw: Any) -> Team:
    team = Team(name=name or f"Team {secrets.token_hex(3)}", **kw)
    session.add(team)
    session.flush()
    return team


def make_area(session: Session, name: str | None = None, **kw: Any) -> Area:
    area = Area(name=name or f"Area {secrets.token_hex(3)}", **kw)
    session.add(area)
    session.flush()
    return area


def make_operator(
    session: Session,
    *,
    role: str = Role.OPERATOR,
    username: str | None = None,
    password: str = DEFAULT_PASSWORD,
    **kw: Any,
) -> Operator:
    op = create_operator(
        session=session, username=username or f"op-{secrets.token_hex(4)}", password=password, role=role
    )
    for key, value in kw.items():
        setattr(op, key, value)
    session.add(op)
    session.flush()
    return op


def make_person(session: Session, **kw: Any) -> Person:
    person = Person(**({"name": "Test Person"} | kw))
    session.add(person)
    session.flush()
    return person


def make_report(session: Session, **kw: Any) -> Report:
    defaults: dict[str, Any] = {
        "reference": f"FC-T-{secrets.token_hex(4).upper()}",
        "form_slug": "crime",
        "answers": {"description": "test"},
    }
    report = Report(**(defaults | kw))
    session.add(report)
    session.flush()
    return report


def make_conversation(session: Session, *, token: str | None = None, **kw: Any) -> Conversation:
    conv = Conversation(id=str(uuid.uuid4()), token_hash=token_hash(token or secrets.token_urlsafe(16)), **kw)
    session.add(conv)
    session.flush()
    return conv


def make_survey_answer(session: Session, *, channel: str = "chat", **kw: Any) -> SurveyResponse:
    """A survey answer with the invitation it belongs to (sent, completed, contact now)."""
    now = utcnow()
    context = {k: kw[k] for k in ("team_id", "operator_id", "area_id", "topic", "reference") if k in kw}
    invitation = SurveyInvitation(
        channel=channel, status="completed", contact_at=now, sent_at=now, completed_at=now, **context
    )
    session.add(invitation)
    session.flush()
    response = SurveyResponse(
        invitation_id=invitation.id, channel=channel, response_channel=kw.pop("response_channel", "web"), **kw
    )
    session.add(response)
    session.flush()
    return response
