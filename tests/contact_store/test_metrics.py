from datetime import timedelta

import pytest
from sqlmodel import Session

from contact_store.clock import utcnow
from contact_store.metrics import erlang_c, period_figures, staffing, wallboard
from contact_store.models import ConversationStatus, OperatorStatus, ReportStatus
from contact_store.settings import Settings
from tests.builders import make_conversation, make_operator, make_report, make_team

# DOMAIN.md's Erlang C check example: tests/contact_store/test_staffing.py (metrics.staffing is the same).


def test_chat_concurrency_divides_staffing() -> None:
    plan = staffing(
        contacts=100,
        period_seconds=1800,
        aht_seconds=180,
        target_seconds=20,
        target_service_level=0.8,
        shrinkage=0.3,
        concurrency=2,
    )
    assert plan.agents == 7 and plan.rostered == 10


def test_erlang_c_is_certain_wait_when_understaffed() -> None:
    assert erlang_c(10.0, 10) == 1.0
    with pytest.raises(ValueError):
        staffing(contacts=1, period_seconds=0, aht_seconds=1, target_seconds=1, target_service_level=0.8)


def test_period_figures_follow_the_definitions(session: Session, settings: Settings) -> None:
    settings.service_level_target_seconds = 60
    settings.abandon_ignore_under_seconds = 10
    now = utcnow()
    base = now - timedelta(minutes=30)
    # answered in 30 s (within target), answered in 120 s (outside), abandoned after 5 s (ignored),
    # abandoned after 40 s (counted), still waiting.
    make_conversation(
        session, status=ConversationStatus.ENDED, queued_at=base, assigned_at=base + timedelta(seconds=30)
    )
    make_conversation(
        session, status=ConversationStatus.ACTIVE, queued_at=base, assigned_at=base + timedelta(seconds=120)
    )
    make_conversation(
        session, status=ConversationStatus.ABANDONED, queued_at=base, abandoned_at=base + timedelta(seconds=5)
    )
    make_conversation(
        session,
        status=ConversationStatus.ABANDONED,
        queued_at=base,
        abandoned_at=base + timedelta(seconds=40),
    )
    make_conversation(session, status=ConversationStatus.QUEUED, queued_at=base)
    make_conversation(
        session,
        status=ConversationStatus.ENDED,
        queued_at=now - timedelta(hours=3),
        assigned_at=now - timedelta(hours=3),
    )
    p = period_figures(session=session, settings=settings, since=now - timedelta(hours=1), label="Last hour")
    assert (p.offered, p.answered, p.abandoned, p.answered_within_target) == (4, 2, 1, 1)
    assert p.service_level == pytest.approx(0.25)
    assert p.asa_seconds == pytest.approx(75.0)


def test_wallboard_counts_queue_operators_and_old_reports(session: Session, settings: Settings) -> None:
    now = utcnow()
    team = make_team(session, default_max_chats=4)
    busy = make_operator(session, status=OperatorStatus.BUSY, team_id=team.id, display_name="B")
    make_operator(session, status=OperatorStatus.AVAILABLE, display_name="A", max_concurrent_chats=2)
    make_operator(session, status=OperatorStatus.OFFLINE)
    make_conversation(session, status=ConversationStatus.QUEUED, queued_at=now - timedelta(seconds=90))
    make_conversation(
        session, status=ConversationStatus.ACTIVE, assignee_id=busy.id, queued_at=now, assigned_at=now
    )
    make_report(session, received_at=now - timedelta(hours=30))
    make_report(session, received_at=now - timedelta(hours=2))
    make_report(session, received_at=now - timedelta(hours=50), status=ReportStatus.CLOSED)
    wb = wallboard(session=session, settings=settings, now=now)
    assert wb.waiting == 1 and wb.longest_wait_seconds == pytest.approx(90, abs=1)
    assert wb.in_progress == 1
    loads = {o.display_name: (o.status, o.load, o.capacity) for o in wb.operators}
    assert loads["B"] == ("busy", 1, 4) and loads["A"] == ("available", 0, 2)
    assert wb.status_counts["available"] == 1 and wb.status_counts["busy"] == 1
    assert wb.reports_open == 2 and wb.reports_over_target == 1
