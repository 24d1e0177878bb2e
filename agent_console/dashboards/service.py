"""The performance dashboard's figures: a period against the previous period and the same period
last year, a time series, demand by hour and day, abandonment against time waited, service level
by team and a breakdown — all read from the daily facts (`contact_store.measures`).

Scope: a supervisor sees their own team only; managers and admins see every team (or one)."""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlmodel import Session, col, select

from contact_store.measures.definitions import CHANNEL_LABELS, WAIT_LABELS
from contact_store.measures.query import (
    FactSource,
    Figures,
    Source,
    breakdown,
    by_hour,
    by_weekday,
    heatmap,
    period_key,
    series,
    totals,
)
from contact_store.models import Area, Operator, Team

BREAKDOWNS = {
    "team": "Team",
    "area": "POD",
    "operator": "Operator",
    "topic": "Topic",
    "hour": "Hour of day",
    "weekday": "Day of week",
}
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# Longest period one page may cover (two years: the retention period).
MAX_DAYS = 731


@dataclass(frozen=True)
class Query:
    start: date
    end: date
    channel: str
    team_id: int | None  # None = all teams (managers only)
    by: str
    grain: str

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> tuple[date, date]:
        """The period just before: the same number of whole calendar months when the period is
        whole months (March before April), else the same number of days."""
        month_end = calendar.monthrange(self.end.year, self.end.month)[1]
        if self.start.day == 1 and self.end.day == month_end:
            months = (self.end.year - self.start.year) * 12 + self.end.month - self.start.month + 1
            index = self.start.year * 12 + self.start.month - 1 - months
            return date(index // 12, index % 12 + 1, 1), self.start - timedelta(days=1)
        return self.start - timedelta(days=self.days), self.start - timedelta(days=1)

    def last_year(self) -> tuple[date, date]:
        """The same dates a year earlier (29 February becomes the 28th)."""
        return _year_back(self.start), _year_back(self.end)


def _year_back(d: date) -> date:
    day = min(d.day, calendar.monthrange(d.year - 1, d.month)[1])
    return d.replace(year=d.year - 1, day=day)


def last_month(today: date) -> tuple[date, date]:
    """The previous calendar month: the default period."""
    end = today.replace(day=1) - timedelta(days=1)
    return end.replace(day=1), end


@dataclass
class Row:
    key: Any
    label: str
    figures: Figures


@dataclass
class Dashboard:
    query: Query
    current: Figures
    previous: Figures
    last_year: Figures
    series: list[Row] = field(default_factory=list)
    heat: dict[tuple[int, int], Figures] = field(default_factory=dict)
    waits: list[Row] = field(default_factory=list)
    teams: list[Row] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    # (label, this period, previous period) for every breakdown value in either period.
    compare: list[tuple[str, Figures, Figures]] = field(default_factory=list)


def names(session: Session) -> dict[str, dict[str, str]]:
    """Display names of teams, PODs and operators by id (as text, the breakdown values)."""
    return {
        "team": {str(i): n for i, n in session.execute(select(col(Team.id), col(Team.name))).all()},
        "area": {str(i): n for i, n in session.execute(select(col(Area.id), col(Area.name))).all()},
        "operator": {
            str(i): n for i, n in session.execute(select(col(Operator.id), col(Operator.display_name))).all()
        },
    }


def _label(by: str, key: Any, known: dict[str, dict[str, str]]) -> str:
    if by in known:
        return known[by].get(str(key), "None" if not key else f"#{key}")
    if by == "hour":
        return f"{key:02d}:00–{key:02d}:59"
    if by == "weekday":
        return WEEKDAYS[key]
    return str(key) or "None"


def _rows(
    src: Source, start: date, end: date, by: str, kw: dict[str, Any], known: dict[str, Any]
) -> list[Row]:
    """The breakdown of a period as labelled rows (hours and days in order, the rest by name)."""
    if by == "hour":
        hours = by_hour(src, start=start, end=end, **kw)
        return [Row(h, _label("hour", h, known), hours[h]) for h in sorted(hours)]
    if by == "weekday":
        days = by_weekday(src, start=start, end=end, **kw)
        return [Row(d, _label("weekday", d, known), days[d]) for d in sorted(days)]
    found = breakdown(src, start=start, end=end, by=by, **kw)
    return sorted((Row(k, _label(by, k, known), f) for k, f in found.items()), key=lambda r: r.label)


def build(*, session: Session, query: Query, source: Source | None = None) -> Dashboard:
    """Every figure of the dashboard page for `query`."""
    src = source or FactSource(session)
    kw: dict[str, Any] = {"channel": query.channel, "team_id": query.team_id}
    current = totals(src, start=query.start, end=query.end, **kw)
    p0, p1 = query.previous()
    y0, y1 = query.last_year()
    board = Dashboard(
        query,
        current,
        totals(src, start=p0, end=p1, **kw),
        totals(src, start=y0, end=y1, **kw),
    )
    known = names(session)
    fmt = {"day": "%d %b", "week": "w/c %d %b", "month": "%b %Y"}[query.grain]
    found = series(src, start=query.start, end=query.end, grain=query.grain, **kw)
    keys = sorted({period_key(query.start + timedelta(days=n), query.grain) for n in range(query.days)})
    board.series = [Row(k, k.strftime(fmt), found.get(k, Figures())) for k in keys]  # no gaps
    board.heat = heatmap(src, start=query.start, end=query.end, **kw)
    waits = breakdown(src, start=query.start, end=query.end, by="wait", **kw)
    board.waits = [Row(w, w, waits.get(w, Figures())) for w in WAIT_LABELS]
    teams = breakdown(src, start=query.start, end=query.end, by="team", **kw)
    board.teams = sorted(
        (Row(k, _label("team", k, known), f) for k, f in teams.items()), key=lambda r: r.label
    )
    board.rows = _rows(src, query.start, query.end, query.by, kw, known)
    p0, p1 = query.previous()
    before = {r.key: r for r in _rows(src, p0, p1, query.by, kw, known)}
    now = {r.key: r for r in board.rows}
    board.compare = sorted(
        (
            (
                (now.get(k) or before[k]).label,
                (now[k].figures if k in now else Figures()),
                before[k].figures if k in before else Figures(),
            )
            for k in set(now) | set(before)
        ),
        key=lambda c: c[0],
    )
    return board


# The measures compared per breakdown row with the previous period: (key, label, kind).
COMPARE: dict[str, list[tuple[str, str, str]]] = {
    "chat": [
        ("service_level", "Service level", "percent"),
        ("aht_seconds", "Average handling time", "seconds"),
        ("satisfaction", "Satisfaction", "percent"),
    ],
    "forms": [
        ("service_level", "Answered within target", "percent"),
        ("asa_seconds", "Time to first response", "seconds"),
        ("satisfaction", "Satisfaction", "percent"),
    ],
    "sms": [("texts", "Texts", "count"), ("delivered", "Delivered", "count"), ("failed", "Failed", "count")],
}

# The headline measures per channel: (key, label, kind, drill measure or None).
HEADLINES: dict[str, list[tuple[str, str, str, str | None]]] = {
    "chat": [
        ("offered", "Offered", "count", "offered"),
        ("answered", "Answered", "count", "answered"),
        ("abandoned", "Abandoned", "count", "abandoned"),
        ("short_abandoned", "Short abandons (not offered)", "count", "short_abandoned"),
        ("service_level", "Service level", "percent", "in_target"),
        ("asa_seconds", "Average speed to answer", "seconds", "answered"),
        ("aht_seconds", "Average handling time", "seconds", "handled"),
        ("concurrency", "Chats held at once", "decimal", None),
        ("transfers", "Transfers", "count", "transfers"),
        ("satisfaction", "Satisfaction (top-two-box)", "percent", "responded"),
        ("response_rate", "Survey response rate", "percent", "invited"),
    ],
    "forms": [
        ("offered", "Received", "count", "offered"),
        ("answered", "Answered", "count", "answered"),
        ("service_level", "Answered within target", "percent", "in_target"),
        ("asa_seconds", "Average time to first response", "seconds", "answered"),
        ("satisfaction", "Satisfaction (top-two-box)", "percent", "responded"),
        ("response_rate", "Survey response rate", "percent", "invited"),
    ],
    "sms": [
        ("texts", "Texts", "count", "texts"),
        ("delivered", "Delivered", "count", "delivered"),
        ("failed", "Failed", "count", "failed"),
        ("blocked", "Blocked (not safe to text)", "count", "blocked"),
    ],
}


def value(f: Figures, key: str) -> float | None:
    """A headline figure by key: a sum or a ratio."""
    if hasattr(Figures, key) and isinstance(getattr(Figures, key), property):
        v = getattr(f, key)
        return float(v) if v is not None else None
    return f[key]


def channel_label(channel: str) -> str:
    return CHANNEL_LABELS.get(channel, channel)
