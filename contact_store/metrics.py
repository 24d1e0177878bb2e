"""Contact-centre measures for the wallboard (now, today, last hour).

Definitions (shown beside every figure in the console; the one rule classifying a chat is
`contact_store.measures.definitions.classify_chat`, shared with the dashboards):
- Offered: chats that joined the queue in the period, minus those abandoned in under
  `abandon_ignore_under_seconds` (a visitor who leaves at once never really waited).
- Answered: offered chats an operator took (assigned_at set).
- Abandoned: offered chats the visitor left before an operator answered (same short-abandon rule).
- Average speed to answer (ASA): total queue time of answered chats ÷ answered.
- Service level: chats answered within `service_level_target_seconds` ÷ offered.
- Reports over target: open reports (received, in progress, awaiting information) received more
  than `report_target_hours` ago.

Erlang C and Erlang A staffing live in `contact_store.staffing` (re-exported below for callers).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, func, select

from contact_store.clock import utcnow
from contact_store.measures.definitions import classify_chat
from contact_store.models import (
    OPEN_REPORT_STATUSES,
    WAITING_STATUSES,
    Conversation,
    ConversationStatus,
    Operator,
    OperatorStatus,
    Report,
    Team,
)
from contact_store.settings import Settings


@dataclass(frozen=True)
class PeriodFigures:
    label: str
    since: datetime
    offered: int
    answered: int
    abandoned: int
    answered_within_target: int
    total_answer_seconds: float

    @property
    def asa_seconds(self) -> float | None:
        return self.total_answer_seconds / self.answered if self.answered else None

    @property
    def service_level(self) -> float | None:
        return self.answered_within_target / self.offered if self.offered else None


@dataclass(frozen=True)
class OperatorLoad:
    id: int
    display_name: str
    status: str
    load: int
    capacity: int
    status_since: datetime | None


@dataclass(frozen=True)
class Wallboard:
    at: datetime
    waiting: int
    longest_wait_seconds: float | None
    in_progress: int
    operators: list[OperatorLoad]
    today: PeriodFigures
    last_hour: PeriodFigures
    reports_open: int
    reports_over_target: int
    oldest_open_report_hours: float | None
    service_level_target_seconds: int
    report_target_hours: int
    status_counts: dict[str, int] = field(default_factory=dict)


def start_of_local_day(now: datetime, tz_name: str) -> datetime:
    """Midnight today in the force's time zone, as an aware datetime."""
    local = now.astimezone(ZoneInfo(tz_name))
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def counts_as_offered(
    *,
    status: str,
    queued_at: datetime,
    assigned_at: datetime | None,
    abandoned_at: datetime | None,
    ignore_under_seconds: float,
) -> bool:
    """Offered, unless abandoned unanswered in under the short-abandon threshold: the one rule,
    `contact_store.measures.definitions.classify_chat`, asked only whether the chat was offered."""
    counts = classify_chat(
        status=status,
        queued_at=queued_at,
        assigned_at=assigned_at,
        abandoned_at=abandoned_at,
        ignore_under=ignore_under_seconds,
        target=0.0,
    )
    return bool(counts.get("offered", 0))


def period_figures(*, session: Session, settings: Settings, since: datetime, label: str) -> PeriodFigures:
    """Offered, answered, abandoned, service level and ASA for chats queued since `since`."""
    rows = session.exec(
        select(
            Conversation.status, Conversation.queued_at, Conversation.assigned_at, Conversation.abandoned_at
        ).where(col(Conversation.queued_at) >= since)
    ).all()
    offered = answered = abandoned = within = 0
    total = 0.0
    for status, queued_at, assigned_at, abandoned_at in rows:
        counts = classify_chat(
            status=status,
            queued_at=queued_at,
            assigned_at=assigned_at,
            abandoned_at=abandoned_at,
            ignore_under=settings.abandon_ignore_under_seconds,
            target=settings.service_level_target_seconds,
        )
        offered += int(counts.get("offered", 0))
        answered += int(counts.get("answered", 0))
        abandoned += int(counts.get("abandoned", 0))
        within += int(counts.get("in_target", 0))
        total += counts.get("answer_seconds", 0.0)
    return PeriodFigures(label, since, offered, answered, abandoned, within, total)


def wallboard(*, session: Session, settings: Settings, now: datetime | None = None) -> Wallboard:
    """Every figure the supervisor's wallboard shows, read from the store now."""
    now = now or utcnow()
    waiting_rows = session.exec(
        select(func.count(), func.min(Conversation.queued_at)).where(
            col(Conversation.status).in_(WAITING_STATUSES)
        )
    ).one()
    waiting, oldest = int(waiting_rows[0]), waiting_rows[1]
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=now.tzinfo)
    loads = dict(
        session.exec(
            select(Conversation.assignee_id, func.count())
            .where(Conversation.status == ConversationStatus.ACTIVE)
            .group_by(col(Conversation.assignee_id))
        ).all()
    )
    in_progress = sum(loads.values())
    team_caps = {t.id: t.default_max_chats for t in session.exec(select(Team)).all()}
    ops = session.exec(
        select(Operator)
        .where(Operator.is_active == True, Operator.status != OperatorStatus.OFFLINE)  # noqa: E712
        .order_by(Operator.display_name)
    ).all()
    operators = [
        OperatorLoad(
            id=op.id or 0,
            display_name=op.display_name,
            status=op.status,
            load=int(loads.get(op.id, 0)),
            capacity=op.max_concurrent_chats or team_caps.get(op.team_id, 3),
            status_since=op.status_changed_at,
        )
        for op in ops
    ]
    counts = {s.value: 0 for s in (OperatorStatus.AVAILABLE, OperatorStatus.BUSY, OperatorStatus.AWAY)}
    for op in operators:
        counts[op.status] = counts.get(op.status, 0) + 1
    cutoff = now - timedelta(hours=settings.report_target_hours)
    open_reports = session.exec(
        select(func.count(), func.min(Report.received_at)).where(col(Report.status).in_(OPEN_REPORT_STATUSES))
    ).one()
    over = session.exec(
        select(func.count()).where(
            col(Report.status).in_(OPEN_REPORT_STATUSES), col(Report.received_at) < cutoff
        )
    ).one()
    oldest_report = open_reports[1]
    return Wallboard(
        at=now,
        waiting=waiting,
        longest_wait_seconds=(now - oldest).total_seconds() if oldest is not None else None,
        in_progress=in_progress,
        operators=operators,
        today=period_figures(
            session=session,
            settings=settings,
            since=start_of_local_day(now, settings.timezone),
            label="Today",
        ),
        last_hour=period_figures(
            session=session, settings=settings, since=now - timedelta(hours=1), label="Last hour"
        ),
        reports_open=int(open_reports[0]),
        reports_over_target=int(over),
        oldest_open_report_hours=(now - oldest_report).total_seconds() / 3600 if oldest_report else None,
        service_level_target_seconds=settings.service_level_target_seconds,
        report_target_hours=settings.report_target_hours,
        status_counts=counts,
    )


# ---------------------------------------------------------------- Erlang C staffing
# The queueing formulas live in contact_store.staffing.erlang; these names stay importable here.
from contact_store.staffing.erlang import MAX_AGENTS, StaffingPlan, erlang_b, erlang_c, staffing  # noqa: E402

__all__ = [
    "MAX_AGENTS",
    "OperatorLoad",
    "PeriodFigures",
    "StaffingPlan",
    "Wallboard",
    "counts_as_offered",
    "erlang_b",
    "erlang_c",
    "period_figures",
    "staffing",
    "start_of_local_day",
    "wallboard",
]
