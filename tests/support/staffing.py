"""Builders for the staffing planner's tests: a known weekly × daily demand pattern, and chats
stored in the past that follow it."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session

from contact_store.models import ConversationStatus
from contact_store.staffing.intervals import day_intervals
from tests.builders import make_conversation, make_operator

# Chats per day by weekday (Monday first), and bank holidays like a Sunday.
DAY_TOTALS = {0: 96.0, 1: 80.0, 2: 80.0, 3: 80.0, 4: 112.0, 5: 144.0, 6: 48.0, "holiday": 48.0}


def day_shape(kind: int | str) -> list[float]:
    """Share of the day's chats in each clock slot: a daytime hump; weekends peak in the evening."""
    weights = []
    for slot in range(48):
        hour = slot / 2
        base = 1.0 if 8 <= hour < 22 else 0.25
        if kind == 5 and 18 <= hour < 22:  # Saturday evening is busy
            base = 3.0
        if kind in (6, "holiday") and hour < 10:
            base = 0.125
        weights.append(base)
    total = sum(weights)
    return [w / total for w in weights]


def expected(day: date, slot: int, holidays: set[date]) -> float:
    kind: int | str = "holiday" if day in holidays else day.weekday()
    return DAY_TOTALS[kind] * day_shape(kind)[slot]


def synthetic_counts(
    first: date, end: date, tz: ZoneInfo, holidays: set[date]
) -> dict[tuple[date, str], float]:
    """Arrivals exactly following the pattern, keyed as the measures key them: (local date, "HH:MM"),
    the two intervals of a repeated slot (the day the clocks go back) together."""
    counts: dict[tuple[date, str], float] = {}
    day = first
    while day < end:
        for iv in day_intervals(day, tz):
            counts[iv.key] = counts.get(iv.key, 0.0) + expected(day, iv.slot, holidays)
        day += timedelta(days=1)
    return counts


def store_chats(
    session: Session,
    *,
    tz: ZoneInfo,
    first: date,
    end: date,
    per_day: dict[int, int],
    evening_extra: int = 0,
) -> int:
    """Stored chats: `per_day[weekday]` a day spread over 10:00–18:00, plus `evening_extra` on
    Saturdays at 19:00. Every fourth one is abandoned after 90 s; the others are answered after 30 s,
    handled for 600 s and wrapped up 60 s later. Returns how many were stored."""
    op = make_operator(session, username=f"hist-{first.isoformat()}")
    made = 0
    day = first
    while day < end:
        count = per_day.get(day.weekday(), 0)
        ten = datetime(day.year, day.month, day.day, 10, tzinfo=tz)
        starts = [ten + timedelta(minutes=480 * i / max(count, 1)) for i in range(count)]
        if day.weekday() == 5:
            starts += [datetime(day.year, day.month, day.day, 19, tzinfo=tz)] * evening_extra
        for i, start in enumerate(starts):
            queued = start.astimezone(ZoneInfo("UTC")) + timedelta(seconds=i)
            if made % 4 == 3:
                make_conversation(
                    session,
                    status=ConversationStatus.ABANDONED,
                    queued_at=queued,
                    abandoned_at=queued + timedelta(seconds=90),
                )
            else:
                assigned = queued + timedelta(seconds=30)
                ended = assigned + timedelta(seconds=600)
                make_conversation(
                    session,
                    status=ConversationStatus.ENDED,
                    queued_at=queued,
                    assigned_at=assigned,
                    ended_at=ended,
                    wrapped_up_at=ended + timedelta(seconds=60),
                    assignee_id=op.id,
                )
            made += 1
        day += timedelta(days=1)
    return made
