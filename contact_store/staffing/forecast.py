"""Forecast of chats offered per 30-minute interval: a seasonal profile × level model.

Each local day has a type: its weekday ("mon".."sun"), or "holiday" for the force's bank holidays
(England and Wales, or the region in `staffing_bank_holiday_region`, from the `holidays` package,
plus the days in `chat_holidays`). Holidays have their own profile once the history holds at
least `MIN_HOLIDAYS_FOR_OWN_PROFILE` of them; until then they are forecast like a Sunday.

For each day type, fitted on the history before the forecast:
- level: the expected day total, an exponentially weighted mean of that type's past day totals
  (weights halve every `half_life_weeks`, so recent weeks count more and the level follows drift);
- shape: the share of the day's demand in each local clock slot (0..47), pooled equally over all
  that type's days (the intra-day pattern changes slowly and needs more data than the level).
A forecast interval = level × shape[slot]. A day the clocks go forward has 46 intervals (the
skipped hour's demand does not happen); a day they go back has 50 and the repeated hour's slots
are forecast twice.

History is the measures' arrivals, `{(local date, "HH:MM"): offered}`
(`contact_store.measures.planning.arrivals_per_interval`), keyed as each interval's `key`. On the
day the clocks go back the two intervals of a repeated slot share a key holding their sum: such a
slot counts once, at its mean per interval (the sum ÷ 2), in the fit, and the backtest scores each of
the two intervals against that mean (the day's total is exact; the split of the repeated hour
between its two occurrences is not recorded).

This is a Holt-Winters model with level and seasonal smoothing and no trend, done in plain Python:
weekly and daily seasonality with a few thousand numbers needs no NumPy or statsmodels, and a
trend term extrapolates noise over a horizon of a few weeks.

Error: MAPE = mean of |forecast − actual| ÷ actual over intervals where something happened;
intervals with no chats are skipped (the percentage is undefined) and their number is reported.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import holidays as holidays_lib

from contact_store.staffing.intervals import SLOTS_PER_DAY, Interval, day_intervals

DAY_TYPES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun", "holiday")
# With fewer past holidays than this, a holiday is forecast like a Sunday (one day is too noisy).
MIN_HOLIDAYS_FOR_OWN_PROFILE = 2
DEFAULT_HALF_LIFE_WEEKS = 4.0


def bank_holidays(years: Iterable[int], *, region: str = "ENG", extra: Iterable[date] = ()) -> set[date]:
    """The UK bank holidays of a region (ENG and WLS share England and Wales's), plus `extra`."""
    found = holidays_lib.country_holidays("GB", subdiv=region, years=sorted(set(years)))
    return set(found) | set(extra)


def day_type(day: date, holidays: set[date]) -> str:
    return "holiday" if day in holidays else DAY_TYPES[day.weekday()]


Counts = Mapping[tuple[date, str], float]  # (local date, "HH:MM") → arrivals, as the measures


def _actuals(counts: Counts, day: date, tz: ZoneInfo) -> list[tuple[Interval, float]]:
    """Each interval of the day with its arrivals (a repeated slot's count shared by its two)."""
    intervals = day_intervals(day, tz)
    times = Counter(iv.slot for iv in intervals)
    return [(iv, counts.get(iv.key, 0) / times[iv.slot]) for iv in intervals]


def _slot_values(counts: Counts, day: date, tz: ZoneInfo) -> list[float | None]:
    """The day's arrivals by clock slot: None where the slot did not occur, mean where it repeated."""
    values: list[float | None] = [None] * SLOTS_PER_DAY
    for iv, value in _actuals(counts, day, tz):
        values[iv.slot] = value
    return values


@dataclass(frozen=True)
class Model:
    levels: dict[str, float]  # day type → expected day total (48 half-hours' worth)
    shapes: dict[str, list[float]]  # day type → slot shares, summing to 1 (or all 0)
    days: dict[str, int]  # history days of each type
    holiday_profile: str  # "holiday" (its own) or "sun"
    first_day: date
    end_day: date  # exclusive

    def profile_of(self, kind: str) -> str:
        return self.holiday_profile if kind == "holiday" else kind


def fit(
    counts: Counts,
    *,
    first_day: date,
    end_day: date,
    tz: ZoneInfo,
    holidays: set[date],
    half_life_weeks: float = DEFAULT_HALF_LIFE_WEEKS,
) -> Model:
    """Fit levels and shapes on the local days first_day..end_day (exclusive)."""
    slot_sum = {k: [0.0] * SLOTS_PER_DAY for k in DAY_TYPES}
    slot_n = {k: [0] * SLOTS_PER_DAY for k in DAY_TYPES}
    days = dict.fromkeys(DAY_TYPES, 0)
    history: list[tuple[str, float, list[float | None]]] = []
    day = first_day
    while day < end_day:
        kind = day_type(day, holidays)
        values = _slot_values(counts, day, tz)
        history.append((kind, 0.5 ** ((end_day - day).days / 7 / half_life_weeks), values))
        days[kind] += 1
        for s, v in enumerate(values):
            if v is not None:
                slot_sum[kind][s] += v
                slot_n[kind][s] += 1
        day += timedelta(days=1)
    shapes = {}
    for k in DAY_TYPES:
        means = [slot_sum[k][s] / slot_n[k][s] if slot_n[k][s] else 0.0 for s in range(SLOTS_PER_DAY)]
        whole = sum(means)
        shapes[k] = [m / whole for m in means] if whole else [0.0] * SLOTS_PER_DAY
    # Levels: each day's total scaled to a whole 48-slot day (a 23-hour day lacks the skipped slots).
    weighted: dict[str, float] = dict.fromkeys(DAY_TYPES, 0.0)
    weights: dict[str, float] = dict.fromkeys(DAY_TYPES, 0.0)
    for kind, w, values in history:
        total = sum(v for v in values if v is not None)
        covered = sum(shapes[kind][s] for s, v in enumerate(values) if v is not None)
        weighted[kind] += w * (total / covered if covered > 0 else total)
        weights[kind] += w
    levels = {k: weighted[k] / weights[k] if weights[k] else 0.0 for k in DAY_TYPES}
    own = days["holiday"] >= MIN_HOLIDAYS_FOR_OWN_PROFILE
    return Model(levels, shapes, days, "holiday" if own else "sun", first_day, end_day)


def predict_day(
    model: Model, day: date, *, tz: ZoneInfo, holidays: set[date]
) -> list[tuple[Interval, float]]:
    """Expected chats offered in each interval of the local day."""
    kind = model.profile_of(day_type(day, holidays))
    level, shape = model.levels[kind], model.shapes[kind]
    return [(iv, level * shape[iv.slot]) for iv in day_intervals(day, tz)]


@dataclass(frozen=True)
class DayCheck:
    day: date
    forecast: float
    actual: float


@dataclass(frozen=True)
class WeekCheck:
    """One past week forecast from the weeks before it, against what happened."""

    monday: date
    forecast: float
    actual: float
    mape: float | None  # over intervals with chats; None when none had any
    intervals_scored: int
    intervals_skipped: int  # intervals with no chats (MAPE undefined there)
    days: list[DayCheck]


def backtest(
    counts: Counts,
    *,
    mondays: Iterable[date],
    history_weeks: int,
    tz: ZoneInfo,
    holidays: set[date],
    half_life_weeks: float = DEFAULT_HALF_LIFE_WEEKS,
) -> list[WeekCheck]:
    """Each week forecast as the planner would have the Monday before, scored against the actuals."""
    out = []
    for monday in mondays:
        model = fit(
            counts,
            first_day=monday - timedelta(weeks=history_weeks),
            end_day=monday,
            tz=tz,
            holidays=holidays,
            half_life_weeks=half_life_weeks,
        )
        errors: list[float] = []
        skipped = 0
        days = []
        total_f = 0.0
        total_a = 0.0
        for offset in range(7):
            day = monday + timedelta(days=offset)
            day_f = 0.0
            day_a = 0.0
            forecast = predict_day(model, day, tz=tz, holidays=holidays)
            for (_, f), (_, a) in zip(forecast, _actuals(counts, day, tz), strict=True):
                day_f += f
                day_a += a
                if a > 0:
                    errors.append(abs(f - a) / a)
                else:
                    skipped += 1
            days.append(DayCheck(day, day_f, day_a))
            total_f += day_f
            total_a += day_a
        out.append(
            WeekCheck(
                monday=monday,
                forecast=total_f,
                actual=total_a,
                mape=sum(errors) / len(errors) if errors else None,
                intervals_scored=len(errors),
                intervals_skipped=skipped,
                days=days,
            )
        )
    return out
