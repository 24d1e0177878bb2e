"""The contacts behind a dashboard figure: the same contributions the figure was added up from,
kept when they count towards the measure, then shown only if the viewer may open them
(`contact_store.access`: `visible_conversations_clause`, `visible_reports_clause`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from contact_store.access import visible_conversations_clause, visible_reports_clause
from contact_store.measures.contacts import contributions, local_bounds, matches
from contact_store.models import MEASURE_COLUMNS, Conversation, Operator, Report, SmsMessage, SurveyInvitation
from contact_store.settings import Settings
from contact_store.staff import has_role

# Measures a figure can be drilled into (counts of contacts; seconds drill to the counted contacts).
DRILLABLE = frozenset(MEASURE_COLUMNS) - {"held_seconds", "busy_seconds"}
DRILL_LIMIT = 1000  # rows shown and exported; the count above the table is the full count


@dataclass(frozen=True)
class DrillRow:
    kind: str  # chat | report | text | survey
    key: str
    reference: str
    at: datetime
    team_id: int
    operator_id: str
    topic: str
    value: float  # the contact's part of the measure (1, or seconds)
    link: str | None


def contacts_behind(
    *,
    session: Session,
    settings: Settings,
    staff: Operator,
    measure: str,
    start: date,
    end: date,
    channel: str | None,
    team_id: int | None,
    dim: str = "all",
    value: str | None = None,
) -> tuple[int, list[DrillRow]]:
    """(how many contacts count towards `measure` in this slice, the first DRILL_LIMIT of them that
    `staff` may open)."""
    if measure not in DRILLABLE:
        return 0, []
    lo, hi = local_bounds(start, end, ZoneInfo(settings.timezone))
    kept = [
        c
        for c in contributions(session=session, settings=settings, lo=lo, hi=hi)
        if start <= c.local_date <= end
        and c.values.get(measure)
        and matches(c, channel=channel, team_id=team_id, dim=dim, value=value)
        and (dim != "team" or value is None or str(c.team_id) == value)
    ]
    by_kind: dict[str, dict[str, Any]] = {}
    for c in kept:
        kind, key = c.ref.split(":", 1)
        by_kind.setdefault(kind, {})[key] = c
    rows: list[DrillRow] = []
    chats = list(by_kind.get("chat", {}))[:DRILL_LIMIT]
    if chats:
        query = select(Conversation).where(col(Conversation.id).in_(chats))
        rule = visible_conversations_clause(staff)
        for conv in session.exec(query if rule is None else query.where(rule)).all():
            c = by_kind["chat"][conv.id]
            rows.append(
                DrillRow(
                    "chat",
                    conv.id,
                    conv.id[:8],
                    conv.queued_at,
                    c.team_id,
                    c.dims.get("operator", ""),
                    conv.topic,
                    c.values[measure],
                    None,
                )
            )
    reports = [int(k) for k in by_kind.get("report", {})][:DRILL_LIMIT]
    if reports:
        report_query = select(Report).where(col(Report.id).in_(reports))
        report_rule = visible_reports_clause(staff)
        for r in session.exec(report_query if report_rule is None else report_query.where(report_rule)).all():
            c = by_kind["report"][str(r.id)]
            rows.append(
                DrillRow(
                    "report",
                    str(r.id),
                    r.reference,
                    r.received_at,
                    c.team_id,
                    c.dims.get("operator", ""),
                    r.form_slug,
                    c.values[measure],
                    f"/console/reports/{r.id}",
                )
            )
    # Texts and survey invitations carry no personal data here (no number, no words): supervisors+
    # may see every text (contact_store.access), and only supervisors+ reach the dashboards.
    if has_role(staff, "supervisor"):
        texts = [int(k) for k in by_kind.get("sms", {})][:DRILL_LIMIT]
        for sid, created in session.execute(
            select(col(SmsMessage.id), col(SmsMessage.created_at)).where(col(SmsMessage.id).in_(texts))
        ).all():
            c = by_kind["sms"][str(sid)]
            rows.append(
                DrillRow(
                    "text",
                    str(sid),
                    f"Text {sid}",
                    created,
                    c.team_id,
                    c.dims.get("operator", ""),
                    c.dims.get("topic", ""),
                    c.values[measure],
                    None,
                )
            )
        surveys = [int(k) for k in by_kind.get("survey", {})][:DRILL_LIMIT]
        for iid, ref, at in session.execute(
            select(
                col(SurveyInvitation.id), col(SurveyInvitation.reference), col(SurveyInvitation.contact_at)
            ).where(col(SurveyInvitation.id).in_(surveys))
        ).all():
            c = by_kind["survey"][str(iid)]
            rows.append(
                DrillRow(
                    "survey",
                    str(iid),
                    ref or f"Survey {iid}",
                    at,
                    c.team_id,
                    c.dims.get("operator", ""),
                    c.dims.get("topic", ""),
                    c.values[measure],
                    None,
                )
            )
    rows.sort(key=lambda r: (r.at, r.key))
    return len(kept), rows[:DRILL_LIMIT]
