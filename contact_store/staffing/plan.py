"""A day's staffing plan: forecast arrivals per interval, then seats, operators and rostered
staff by Erlang C and by Erlang A, from the history the store holds (see forecast).

History is read through the dashboards' measures (`contact_store.measures.planning`: the one rule of
offered / answered / abandoned, the one patience estimate): arrivals per (local date, "HH:MM")
half-hour from the daily facts, handling time by concurrency and patience from the chats of the
same local days. `read_history` first makes sure the facts of those days are built and current
(`measures.facts.ensure_fresh`: a no-op while the maintenance loop refreshes them), so the plan
is never fitted on missing or stale days.

Inputs a manager chooses: the day, the service level and target time, shrinkage, and the chats
each operator handles at once (c). The handling time is the one measured at c (or the nearest
concurrency measured), the patience the one measured from visitors who left; both can be
overridden for what-if questions. Without history the plan says so and uses the overrides or the
defaults below.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from contact_store.clock import utcnow
from contact_store.measures.facts import built_at, ensure_fresh
from contact_store.measures.planning import (
    Handling,
    Patience,
    arrivals_per_interval,
    handling_by_concurrency,
    patience,
)
from contact_store.settings import Settings
from contact_store.staffing.erlang import Requirement, required_erlang_a, required_erlang_c
from contact_store.staffing.forecast import (
    Model,
    WeekCheck,
    backtest,
    bank_holidays,
    day_type,
    fit,
    predict_day,
)
from contact_store.staffing.intervals import INTERVAL, Interval

# Used only when the store has no answered or abandoned chats to measure (a new installation).
DEFAULT_AHT_SECONDS = 600.0
DEFAULT_PATIENCE_SECONDS = 180.0
HISTORY_WEEKS = 8  # weeks of history each forecast is fitted on
BACKTEST_WEEKS = 4  # past weeks shown forecast against what happened
HORIZON_DAYS = 28  # days ahead the planner offers


@dataclass(frozen=True)
class Inputs:
    day: date
    service_level: float  # 0..1
    target_seconds: float
    shrinkage: float  # 0..1
    concurrency: int
    aht_seconds: float | None = None  # None: measured at the concurrency
    patience_seconds: float | None = None  # None: measured


@dataclass(frozen=True)
class PlanRow:
    interval: Interval
    forecast: float
    erlang_c: Requirement
    erlang_a: Requirement


@dataclass(frozen=True)
class History:
    """What the store says, over the local days first_day..last_day (the weeks before today)."""

    first_day: date
    last_day: date  # yesterday: today is not over
    counts: dict[tuple[date, str], int]  # offered per (local date, "HH:MM"), from the facts
    handling: Handling  # over the last HISTORY_WEEKS
    patience: Patience  # over the last HISTORY_WEEKS
    holidays: set[date]
    today: date
    facts_built_at: datetime | None  # when the facts the arrivals come from were brought up to date


@dataclass(frozen=True)
class DayPlan:
    inputs: Inputs
    day_type: str
    forecast_like: str  # the profile used ("sun" for a holiday forecast like a Sunday)
    rows: list[PlanRow]
    aht_seconds: float
    aht_source: str  # what the AHT is: measured at c, at another c, typed, or the default
    patience_seconds: float
    patience_source: str
    model: Model
    history: History
    checks: list[WeekCheck]

    @property
    def total_forecast(self) -> float:
        return sum(r.forecast for r in self.rows)

    @property
    def peak_rostered_c(self) -> int:
        return max((r.erlang_c.rostered for r in self.rows), default=0)

    @property
    def peak_rostered_a(self) -> int:
        return max((r.erlang_a.rostered for r in self.rows), default=0)


def read_history(*, session: Session, settings: Settings, now: datetime | None = None) -> History:
    """The arrivals, handling and patience of the weeks before today (backtests included)."""
    now = now or utcnow()
    tz = ZoneInfo(settings.timezone)
    today = now.astimezone(tz).date()
    this_monday = today - timedelta(days=today.weekday())
    first = this_monday - timedelta(weeks=HISTORY_WEEKS + BACKTEST_WEEKS)
    last = today - timedelta(days=1)
    recent = today - timedelta(weeks=HISTORY_WEEKS)
    ensure_fresh(session=session, settings=settings, since=first, now=now)
    years = range(first.year, (today + timedelta(days=HORIZON_DAYS)).year + 1)
    return History(
        first_day=first,
        last_day=last,
        counts=arrivals_per_interval(session=session, start=first, end=last),
        handling=handling_by_concurrency(session=session, settings=settings, start=recent, end=last),
        patience=patience(session=session, settings=settings, start=recent, end=last),
        holidays=bank_holidays(
            years, region=settings.staffing_bank_holiday_region, extra=settings.chat_holidays
        ),
        today=today,
        facts_built_at=built_at(session=session),
    )


def measured_inputs(history: History, concurrency: int) -> tuple[float, str, float, str]:
    """(AHT, where it came from, patience, where it came from) for a concurrency."""
    aht, level = history.handling.aht_at(concurrency)
    if aht is None:
        aht_source = "default: no answered chats measured yet"
        aht = DEFAULT_AHT_SECONDS
    elif level == concurrency:
        aht_source = f"measured at {concurrency} chat{'s' if concurrency > 1 else ''} at once"
    else:
        aht_source = (
            f"measured at {level} chat{'s' if level and level > 1 else ''} at once (none at {concurrency})"
        )
    mean = history.patience.mean_patience_seconds
    if mean is None:
        return aht, aht_source, DEFAULT_PATIENCE_SECONDS, "default: no visitor has left the queue yet"
    return aht, aht_source, mean, "measured from visitors who left the queue"


def day_plan(*, history: History, settings: Settings, inputs: Inputs) -> DayPlan:
    """Forecast and staffing for every interval of inputs.day (see the module docstring)."""
    tz = ZoneInfo(settings.timezone)
    this_monday = history.today - timedelta(days=history.today.weekday())
    model = fit(
        history.counts,
        first_day=history.today - timedelta(weeks=HISTORY_WEEKS),
        end_day=history.today,
        tz=tz,
        holidays=history.holidays,
    )
    aht, aht_source, pat, pat_source = measured_inputs(history, inputs.concurrency)
    if inputs.aht_seconds is not None:
        aht, aht_source = inputs.aht_seconds, "typed for this plan"
    if inputs.patience_seconds is not None:
        pat, pat_source = inputs.patience_seconds, "typed for this plan"
    period = INTERVAL.total_seconds()
    rows = []
    for iv, f in predict_day(model, inputs.day, tz=tz, holidays=history.holidays):
        common: dict[str, Any] = {
            "contacts": f,
            "period_seconds": period,
            "aht_seconds": aht,
            "target_seconds": inputs.target_seconds,
            "target_service_level": inputs.service_level,
            "shrinkage": inputs.shrinkage,
            "concurrency": inputs.concurrency,
        }
        rows.append(
            PlanRow(iv, f, required_erlang_c(**common), required_erlang_a(patience_seconds=pat, **common))
        )
    mondays = [this_monday - timedelta(weeks=k) for k in range(BACKTEST_WEEKS, 0, -1)]
    checks = backtest(
        history.counts, mondays=mondays, history_weeks=HISTORY_WEEKS, tz=tz, holidays=history.holidays
    )
    kind = day_type(inputs.day, history.holidays)
    return DayPlan(
        inputs=inputs,
        day_type=kind,
        forecast_like=model.profile_of(kind),
        rows=rows,
        aht_seconds=aht,
        aht_source=aht_source,
        patience_seconds=pat,
        patience_source=pat_source,
        model=model,
        history=history,
        checks=checks,
    )
