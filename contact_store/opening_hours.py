"""Opening hours: "08:00-20:00" or "08:00-12:00,13:00-24:00" per weekday, and closed days.

One parser for every place that reads or saves hours: the chat's open/closed check, the next
opening, and the administrator's form (which refuses what this cannot read).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# How far ahead the next opening is looked for (a fortnight covers Christmas closures).
LOOKAHEAD_DAYS = 15


def spans(spec: str) -> list[tuple[time, time | None]]:
    """'08:00-20:00' or '08:00-12:00,13:00-24:00' -> spans; None as the end means midnight.

    Raises ValueError for anything else (a start not before its end included)."""
    out: list[tuple[time, time | None]] = []
    for part in (spec or "").split(","):
        part = part.strip()
        if not part:
            continue
        start, dash, end = part.partition("-")
        if not dash:
            raise ValueError(part)
        s = time.fromisoformat(start.strip())
        e = None if end.strip() in ("24:00", "") else time.fromisoformat(end.strip())
        if e is not None and e <= s:
            raise ValueError(part)
        out.append((s, e))
    return out


def spec_problem(spec: str) -> str | None:
    """Why an administrator's hours for one day cannot be used, or None."""
    try:
        spans(spec)
    except ValueError:
        return "Enter times like 08:00-20:00, or 08:00-12:00,13:00-24:00, or leave blank for closed"
    return None


def is_open(*, hours: Mapping[str, str], closed: Iterable[date], timezone: str, at: datetime) -> bool:
    """Whether these hours are open at `at`, in the force's time zone, closed days closed."""
    local = at.astimezone(ZoneInfo(timezone))
    if local.date() in set(closed):
        return False
    now_t = local.time()
    return any(
        s <= now_t and (e is None or now_t < e) for s, e in spans(hours.get(DAYS[local.weekday()], ""))
    )


def next_opening(
    *, hours: Mapping[str, str], closed: Iterable[date], timezone: str, at: datetime
) -> datetime | None:
    """When these hours next open (local time), within LOOKAHEAD_DAYS; None if never."""
    local = at.astimezone(ZoneInfo(timezone))
    closed_days = set(closed)
    for offset in range(LOOKAHEAD_DAYS):
        day = local.date() + timedelta(days=offset)
        if day in closed_days:
            continue
        for s, _ in sorted(spans(hours.get(DAYS[day.weekday()], "")), key=lambda x: x[0]):
            candidate = datetime.combine(day, s, tzinfo=local.tzinfo)
            if candidate > local:
                return candidate
    return None
