"""The wallboard's figures as one JSON-ready snapshot (the page and its live stream share it)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from agent_console.common import duration, local_time, percent
from contact_store.clock import utcnow
from contact_store.metrics import PeriodFigures, wallboard
from contact_store.models import OPEN_REPORT_STATUSES, Conversation, ConversationStatus, Operator, Report
from contact_store.settings import Settings

# The wallboard lists the oldest open reports and live chats so a supervisor can move them;
# a screenful of each is enough (the figures above count them all).
OLDEST_REPORTS_SHOWN = 8
CHATS_SHOWN = 10
LIVE_CHAT_STATUSES = (ConversationStatus.QUEUED, ConversationStatus.OFFERED, ConversationStatus.ACTIVE)


def _period(p: PeriodFigures) -> dict[str, str]:
    return {
        "offered": str(p.offered),
        "answered": str(p.answered),
        "abandoned": str(p.abandoned),
        "service_level": percent(p.service_level),
        "asa": duration(p.asa_seconds) if p.asa_seconds is not None else "–",
    }


def snapshot(*, session: Session, settings: Settings, now: datetime | None = None) -> dict[str, Any]:
    """Every wallboard figure, formatted for display, plus the operators and oldest reports."""
    now = now or utcnow()
    wb = wallboard(session=session, settings=settings, now=now)
    names = dict(session.exec(select(Operator.id, Operator.display_name)).all())
    reports = session.exec(
        select(Report)
        .where(col(Report.status).in_(OPEN_REPORT_STATUSES))
        .order_by(col(Report.received_at))
        .limit(OLDEST_REPORTS_SHOWN)
    ).all()
    chats = session.exec(
        select(Conversation)
        .where(col(Conversation.status).in_(LIVE_CHAT_STATUSES))
        .order_by(col(Conversation.queued_at))
        .limit(CHATS_SHOWN)
    ).all()
    target_h = settings.report_target_hours
    return {
        "updated": local_time(now, "%H:%M:%S"),
        "waiting": str(wb.waiting),
        "longest_wait": duration(wb.longest_wait_seconds) if wb.longest_wait_seconds is not None else "–",
        "in_progress": str(wb.in_progress),
        "available": str(wb.status_counts.get("available", 0)),
        "busy": str(wb.status_counts.get("busy", 0)),
        "away": str(wb.status_counts.get("away", 0)),
        "reports_open": str(wb.reports_open),
        "reports_over_target": str(wb.reports_over_target),
        "oldest_report": duration(wb.oldest_open_report_hours * 3600) if wb.oldest_open_report_hours else "–",
        "today": _period(wb.today),
        "last_hour": _period(wb.last_hour),
        "sl_breach": bool(wb.today.service_level is not None and wb.today.service_level < 0.8),
        "operators": [
            {
                "id": o.id,
                "name": o.display_name,
                "status": o.status,
                "load": f"{o.load} of {o.capacity}",
                "since": duration((now - o.status_since).total_seconds()) if o.status_since else "–",
            }
            for o in wb.operators
        ],
        "chats": [
            {
                "id": c.id,
                "label": f"{c.topic or 'Chat'} ({c.id[:8]})",
                "status": c.status,
                "since": duration(now - (c.assigned_at or c.queued_at)),
                "assignee_id": c.assignee_id,
                "assignee": names.get(c.assignee_id, "Nobody") if c.assignee_id else "Nobody",
                "danger": c.danger_flag,
            }
            for c in chats
        ],
        "reports": [
            {
                "id": r.id,
                "reference": r.reference,
                "age": duration(now - r.received_at),
                "over": (now - r.received_at).total_seconds() > target_h * 3600,
                "assignee_id": r.assignee_id,
                "assignee": names.get(r.assignee_id, "Unassigned") if r.assignee_id else "Unassigned",
                "sensitive": r.sensitive,
            }
            for r in reports
        ],
    }
