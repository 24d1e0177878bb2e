"""A hand-built month of contacts with known answers, for the measures and dashboard tests.

Europe/London, service-level target 60 s, short abandons under 30 s ignored, reports within 24 h.
Tuesday 10 March 2026 (GMT):
- chat1 (op1, team A, POD East, topic theft): queued 10:00:00, answered 10:00:40, ended 10:10:40,
  wrapped up 10:12:40 — wait 40 s (in target), active 600 s, wrap-up 120 s.
- chat2 (op1, team A): queued 10:05, answered 10:07 (wait 120 s, over target), ended 10:15, never
  wrapped up; transferred once.
- chat3: queued 11:00, abandoned after 10 s (a short abandon: not offered).
- chat4 (team A): queued 11:00, abandoned after 120 s.
- chat5 (op2, team B): queued 23:50:00, answered 23:50:30, ended 00:20:00 on the 11th, wrapped up
  00:21:00 — spans midnight: 570 s held on the 10th, 1200 s on the 11th.
- report1 (team A, form "crime") received 09:00, first response 15:00 (in 24 h).
- report2 (team A, form "crime") received 09:00, first response on the 12th 09:00 (48 h: late).
- report3 raised from chat1 (not an online report).
- texts: one delivered, one failed, one blocked (about report1).
- a survey invitation about chat1 answered 5, 4, 2.
Sunday 29 March 2026 (clocks go forward at 01:00 GMT; a 23-hour day): chat6 (op2, team B) queued
00:30 GMT, answered 00:31, ended 02:31 BST (01:31 UTC) — 3600 s active.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import Session

from contact_store.models import (
    ConversationEvent,
    Operator,
    SmsMessage,
    SurveyInvitation,
    SurveyResponse,
    Team,
)
from contact_store.settings import Settings
from tests.builders import make_area, make_conversation, make_operator, make_report, make_team


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def scenario_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "timezone": "Europe/London",
            "service_level_target_seconds": 60,
            "abandon_ignore_under_seconds": 30,
            "report_target_hours": 24,
        }
    )


@dataclass
class Scenario:
    team_a: Team
    team_b: Team
    op1: Operator
    op2: Operator
    chats: dict[str, Any]
    reports: dict[str, Any]


def build_scenario(session: Session, *, prefix: str = "") -> Scenario:
    team_a, team_b = make_team(session, f"{prefix}Team A"), make_team(session, f"{prefix}Team B")
    east = make_area(session, f"{prefix}East")
    op1 = make_operator(session, display_name="Op One", team_id=team_a.id)
    op2 = make_operator(session, display_name="Op Two", team_id=team_b.id)
    chats: dict[str, Any] = {}

    def chat(name: str, **kw: Any) -> None:
        chats[name] = make_conversation(session, **kw)

    chat(
        "chat1", status="ended", topic="theft", team_id=team_a.id, area_id=east.id, assignee_id=op1.id,
        queued_at=utc(2026, 3, 10, 10, 0, 0), assigned_at=utc(2026, 3, 10, 10, 0, 40),
        ended_at=utc(2026, 3, 10, 10, 10, 40), wrapped_up_at=utc(2026, 3, 10, 10, 12, 40),
    )  # fmt: skip
    chat(
        "chat2", status="ended", topic="theft", team_id=team_a.id, assignee_id=op1.id,
        queued_at=utc(2026, 3, 10, 10, 5), assigned_at=utc(2026, 3, 10, 10, 7),
        ended_at=utc(2026, 3, 10, 10, 15),
    )  # fmt: skip
    session.add(
        ConversationEvent(
            conversation_id=chats["chat2"].id, kind="transferred", created_at=utc(2026, 3, 10, 10, 10)
        )
    )
    chat(
        "chat3", status="abandoned", topic="other",
        queued_at=utc(2026, 3, 10, 11, 0), abandoned_at=utc(2026, 3, 10, 11, 0, 10),
    )  # fmt: skip
    chat(
        "chat4", status="abandoned", topic="other", team_id=team_a.id,
        queued_at=utc(2026, 3, 10, 11, 0), abandoned_at=utc(2026, 3, 10, 11, 2),
    )  # fmt: skip
    chat(
        "chat5", status="ended", topic="other", team_id=team_b.id, assignee_id=op2.id,
        queued_at=utc(2026, 3, 10, 23, 50), assigned_at=utc(2026, 3, 10, 23, 50, 30),
        ended_at=utc(2026, 3, 11, 0, 20), wrapped_up_at=utc(2026, 3, 11, 0, 21),
    )  # fmt: skip
    chat(
        "chat6", status="ended", topic="other", team_id=team_b.id, assignee_id=op2.id,
        queued_at=utc(2026, 3, 29, 0, 30), assigned_at=utc(2026, 3, 29, 0, 31),
        ended_at=utc(2026, 3, 29, 1, 31),
    )  # fmt: skip
    received = utc(2026, 3, 10, 9, 0)
    reports = {
        "report1": make_report(
            session, team_id=team_a.id, received_at=received, first_response_at=received + timedelta(hours=6)
        ),
        "report2": make_report(
            session, team_id=team_a.id, received_at=received, first_response_at=received + timedelta(hours=48)
        ),
        "report3": make_report(
            session,
            team_id=team_a.id,
            channel="chat",
            conversation_id=chats["chat1"].id,
            received_at=received,
        ),
    }
    for status in ("delivered", "failed", "blocked"):
        session.add(
            SmsMessage(
                to_e164="+447700900123", body="x", status=status, report_id=reports["report1"].id,
                created_at=utc(2026, 3, 10, 9, 1),
            )
        )  # fmt: skip
    invitation = SurveyInvitation(
        channel="chat", conversation_id=chats["chat1"].id, team_id=team_a.id, operator_id=op1.id,
        status="completed", contact_at=chats["chat1"].queued_at, sent_at=utc(2026, 3, 10, 12),
    )  # fmt: skip
    session.add(invitation)
    session.flush()
    session.add(
        SurveyResponse(
            invitation_id=invitation.id, score_time=5, score_resolve=4, score_overall=2,
            response_channel="sms", channel="chat", team_id=team_a.id, submitted_at=utc(2026, 3, 10, 13),
        )
    )  # fmt: skip
    session.flush()
    return Scenario(team_a, team_b, op1, op2, chats, reports)
