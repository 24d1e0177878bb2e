"""Half-hour intervals of a local day in the force's time zone.

A local day runs from local midnight to the next local midnight, cut every 30 minutes of real
(UTC) time: 48 intervals on most days, 46 on the day the clocks go forward and 50 on the day they
go back (01:00–01:30 and 01:30–02:00 happen twice in Europe/London). Each interval is known by its
UTC start; its local clock slot (0..47, hour·2 + minute ÷ 30) is what demand follows, so the
repeated hour maps to the same slots twice and the skipped hour's slots do not occur. Its `key`,
(local date, "HH:MM"), is how the measures count arrivals (`measures.planning.arrivals_per_interval`):
the two intervals of a repeated slot share one key, whose count is theirs together.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from contact_store.measures.contacts import halfhour

INTERVAL = timedelta(minutes=30)
SLOTS_PER_DAY = 48


@dataclass(frozen=True)
class Interval:
    start: datetime  # UTC, aware
    local_start: datetime  # aware, in the force's zone (fold set on the repeated hour)
    slot: int  # local clock slot 0..47

    @property
    def end(self) -> datetime:
        return self.start + INTERVAL

    @property
    def key(self) -> tuple[date, str]:
        """(local date, "HH:MM"): the measures' key of the half-hour (shared by a repeated slot)."""
        return self.local_start.date(), halfhour(self.local_start)

    @property
    def label(self) -> str:
        """'01:00–01:30', with 'BST'/'GMT' when the clock repeats so the two are told apart."""
        end = (self.start + INTERVAL).astimezone(self.local_start.tzinfo)
        return f"{self.local_start:%H:%M}–{end:%H:%M}"


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The UTC instant the local day begins."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def day_intervals(day: date, tz: ZoneInfo) -> list[Interval]:
    """Every half-hour of the local day (46, 48 or 50 of them)."""
    start = local_midnight(day, tz)
    end = local_midnight(day + timedelta(days=1), tz)
    out = []
    t = start
    while t < end:
        local = t.astimezone(tz)
        out.append(Interval(t, local, local.hour * 2 + local.minute // 30))
        t += INTERVAL
    return out
