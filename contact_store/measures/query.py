"""Figures for a period, from the fact table (fast) or straight from the contacts (the baseline).

Both sources answer the same question — the summed measures of the contacts of local days
`start`..`end`, for a channel and team, in one breakdown (`dim`), grouped by some of local date,
team and breakdown value — so the dashboards, the benchmark and the "facts equal raw" tests call
the same functions with either source. Ratios (service level, ASA, AHT...) are worked out from the
sums only at the end, never averaged from averages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlmodel import Session

from contact_store.measures.contacts import contributions, local_bounds, matches
from contact_store.models import MEASURE_COLUMNS, fact_contact_day
from contact_store.settings import Settings

GROUPS = ("local_date", "team_id", "dim_value", "channel")


@dataclass(frozen=True)
class Figures:
    """The summed measures of some contacts, and every ratio the dashboards show."""

    sums: dict[str, float] = field(default_factory=dict)

    def __getitem__(self, name: str) -> float:
        return self.sums.get(name, 0.0)

    def _ratio(self, top: float, bottom: float) -> float | None:
        return top / bottom if bottom else None

    @property
    def service_level(self) -> float | None:
        return self._ratio(self["in_target"], self["offered"])

    @property
    def abandon_rate(self) -> float | None:
        return self._ratio(self["abandoned"], self["offered"])

    @property
    def asa_seconds(self) -> float | None:
        return self._ratio(self["answer_seconds"], self["answered"])

    @property
    def aht_seconds(self) -> float | None:
        return self._ratio(self["active_seconds"] + self["wrap_seconds"], self["handled"])

    @property
    def wrap_seconds(self) -> float | None:
        return self._ratio(self["wrap_seconds"], self["handled"])

    @property
    def concurrency(self) -> float | None:
        return self._ratio(self["held_seconds"], self["busy_seconds"])

    @property
    def response_rate(self) -> float | None:
        return self._ratio(self["responded"], self["invited"])

    @property
    def satisfaction_n(self) -> int:
        return int(self["time_n"] + self["resolve_n"] + self["overall_n"])

    @property
    def satisfaction(self) -> float | None:
        """Top-two-box of the three score questions pooled (0-1)."""
        top = self["time_top"] + self["resolve_top"] + self["overall_top"]
        return self._ratio(top, self.satisfaction_n)

    def question(self, prefix: str) -> tuple[float | None, int, float | None]:
        """(top-two-box, n, mean) of one score question: time, resolve or overall."""
        n = self[f"{prefix}_n"]
        return self._ratio(self[f"{prefix}_top"], n), int(n), self._ratio(self[f"{prefix}_sum"], n)


def add(a: Figures, b: Figures) -> Figures:
    """Two sets of figures together."""
    keys = set(a.sums) | set(b.sums)
    return Figures({k: a[k] + b[k] for k in keys})


class Source(Protocol):
    def rows(
        self,
        *,
        start: date,
        end: date,
        dim: str,
        channel: str | None,
        team_id: int | None,
        group: Sequence[str],
    ) -> list[tuple[tuple[Any, ...], Figures]]:
        """Summed measures of local days start..end in breakdown `dim`, grouped by `group`."""
        ...


@dataclass
class FactSource:
    """Reads `fact_contact_day` (what the dashboards use)."""

    session: Session

    def rows(
        self,
        *,
        start: date,
        end: date,
        dim: str,
        channel: str | None,
        team_id: int | None,
        group: Sequence[str],
    ) -> list[tuple[tuple[Any, ...], Figures]]:
        t = fact_contact_day
        keys = [t.c[g] for g in group]
        query = (
            select(*keys, *(func.sum(t.c[m]) for m in MEASURE_COLUMNS))
            .where(t.c.dim == dim, t.c.local_date >= start, t.c.local_date <= end)
            .group_by(*keys)
        )
        if channel is not None:
            query = query.where(t.c.channel == channel)
        if team_id is not None:
            query = query.where(t.c.team_id == team_id)
        out = []
        for row in self.session.execute(query).all():
            n = len(keys)
            sums = {m: float(v) for m, v in zip(MEASURE_COLUMNS, row[n:], strict=True) if v}
            out.append((tuple(row[:n]), Figures(sums)))
        return out


@dataclass
class RawSource:
    """Works every figure out from the contacts themselves (the baseline; the drill-down's rule)."""

    session: Session
    settings: Settings

    def rows(
        self,
        *,
        start: date,
        end: date,
        dim: str,
        channel: str | None,
        team_id: int | None,
        group: Sequence[str],
    ) -> list[tuple[tuple[Any, ...], Figures]]:
        lo, hi = local_bounds(start, end, ZoneInfo(self.settings.timezone))
        sums: dict[tuple[Any, ...], dict[str, float]] = {}
        for c in contributions(session=self.session, settings=self.settings, lo=lo, hi=hi):
            if not start <= c.local_date <= end:
                continue
            if not matches(c, channel=channel, team_id=team_id, dim=dim, value=None):
                continue
            parts = {"local_date": c.local_date, "team_id": c.team_id, "channel": c.channel}
            parts["dim_value"] = "" if dim == "all" else c.dims[dim][:64]
            key = tuple(parts[g] for g in group)
            bucket = sums.setdefault(key, {})
            for m, v in c.values.items():
                bucket[m] = bucket.get(m, 0.0) + v
        return [(k, Figures({m: v for m, v in s.items() if v})) for k, s in sums.items()]


def totals(source: Source, *, start: date, end: date, channel: str | None, team_id: int | None) -> Figures:
    """All the figures of a period."""
    rows = source.rows(start=start, end=end, dim="all", channel=channel, team_id=team_id, group=())
    return rows[0][1] if rows else Figures()


def breakdown(
    source: Source, *, start: date, end: date, channel: str | None, team_id: int | None, by: str
) -> dict[Any, Figures]:
    """The figures of a period by team ("team") or by a breakdown (area, operator, topic, halfhour,
    wait)."""
    if by == "team":
        rows = source.rows(
            start=start, end=end, dim="all", channel=channel, team_id=team_id, group=("team_id",)
        )
    else:
        rows = source.rows(
            start=start, end=end, dim=by, channel=channel, team_id=team_id, group=("dim_value",)
        )
    return {k[0]: f for k, f in rows}


def by_day(
    source: Source, *, start: date, end: date, channel: str | None, team_id: int | None, dim: str = "all"
) -> dict[tuple[Any, ...], Figures]:
    """The figures per local day (and breakdown value, unless dim is "all")."""
    group: tuple[str, ...] = ("local_date",) if dim == "all" else ("local_date", "dim_value")
    rows = source.rows(start=start, end=end, dim=dim, channel=channel, team_id=team_id, group=group)
    return {k: f for k, f in rows}


GRAINS = ("day", "week", "month")


def period_key(day: date, grain: str) -> date:
    """The first local day of the day, week (Monday) or month `day` falls in."""
    if grain == "week":
        return date.fromordinal(day.toordinal() - day.weekday())
    if grain == "month":
        return day.replace(day=1)
    return day


def series(
    source: Source, *, start: date, end: date, channel: str | None, team_id: int | None, grain: str
) -> dict[date, Figures]:
    """The figures per day, week or month of the period, in order."""
    out: dict[date, Figures] = {}
    for (day,), f in sorted(by_day(source, start=start, end=end, channel=channel, team_id=team_id).items()):
        k = period_key(day, grain)
        out[k] = add(out[k], f) if k in out else f
    return out


def by_weekday(
    source: Source, *, start: date, end: date, channel: str | None, team_id: int | None
) -> dict[int, Figures]:
    """The figures per day of the week (0 = Monday)."""
    out: dict[int, Figures] = {}
    for (day,), f in by_day(source, start=start, end=end, channel=channel, team_id=team_id).items():
        w = day.weekday()
        out[w] = add(out[w], f) if w in out else f
    return out


def heatmap(
    source: Source, *, start: date, end: date, channel: str | None, team_id: int | None
) -> dict[tuple[int, int], Figures]:
    """The figures per (day of week 0 = Monday, local hour 0-23): demand by hour and day."""
    out: dict[tuple[int, int], Figures] = {}
    rows = by_day(source, start=start, end=end, channel=channel, team_id=team_id, dim="halfhour")
    for (day, slot), f in rows.items():
        k = (day.weekday(), int(slot[:2]))
        out[k] = add(out[k], f) if k in out else f
    return out


def by_hour(
    source: Source, *, start: date, end: date, channel: str | None, team_id: int | None
) -> dict[int, Figures]:
    """The figures per local hour of the day (0-23)."""
    out: dict[int, Figures] = {}
    for slot, f in breakdown(
        source, start=start, end=end, channel=channel, team_id=team_id, by="halfhour"
    ).items():
        h = int(slot[:2])
        out[h] = add(out[h], f) if h in out else f
    return out
