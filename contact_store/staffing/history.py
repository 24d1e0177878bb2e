"""What the staffing planner reads from the store's history of chats.

Three measures, each a function of a UTC period [start, end) of queue times, so they can later be
pointed at stored aggregates instead of raw conversations without changing their callers:

- `arrivals_by_interval`: offered chats per 30-minute interval (the UTC start of the interval in
  the force's zone). Offered follows the wallboard's rule (`contact_store.metrics.counts_as_offered`):
  a visitor who left in under `abandon_ignore_under_seconds` never really waited and is not counted.
- `handling_by_concurrency`: average handling time (active time from assignment to end, plus
  wrap-up from end to the wrap-up being saved) of answered, ended chats, grouped by the
  concurrency the operator held while handling each one: the time-weighted mean number of that
  operator's chats open during its active time, itself included, rounded to a whole number.
  Also the concurrency operators sustain: Σ chat-seconds held ÷ seconds holding at least one chat
  (the store keeps no history of signed-in time, so idle signed-in time is not in the denominator).
- `patience`: the mean patience of visitors for Erlang A. Patience is exponential with rate θ;
  its maximum-likelihood estimate from the store is θ = abandoned ÷ total time waited by all offered
  chats (those answered waited without giving up: their patience was at least their wait).
  The mean wait of those who left is given beside it.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from contact_store.metrics import counts_as_offered
from contact_store.models import Conversation, ConversationStatus
from contact_store.settings import Settings
from contact_store.staffing.intervals import interval_of


def arrivals_by_interval(
    *, session: Session, settings: Settings, start: datetime, end: datetime
) -> dict[datetime, int]:
    """Offered chats per interval (keyed by the interval's UTC start); empty intervals are absent."""
    tz = ZoneInfo(settings.timezone)
    rows = session.exec(
        select(
            Conversation.status, Conversation.queued_at, Conversation.assigned_at, Conversation.abandoned_at
        ).where(col(Conversation.queued_at) >= start, col(Conversation.queued_at) < end)
    ).all()
    counts: dict[datetime, int] = defaultdict(int)
    for status, queued_at, assigned_at, abandoned_at in rows:
        if counts_as_offered(
            status=status,
            queued_at=queued_at,
            assigned_at=assigned_at,
            abandoned_at=abandoned_at,
            ignore_under_seconds=settings.abandon_ignore_under_seconds,
        ):
            counts[interval_of(queued_at, tz)[1]] += 1
    return dict(counts)


@dataclass(frozen=True)
class HandlingAtConcurrency:
    concurrency: int  # chats held at once (rounded time-weighted mean over the chat's active time)
    chats: int
    aht_seconds: float  # (active + wrap-up) ÷ chats


@dataclass(frozen=True)
class Handling:
    levels: list[HandlingAtConcurrency]  # by concurrency, ascending
    sustained_concurrency: float | None  # Σ chat-seconds ÷ seconds holding ≥ 1 chat
    chats: int
    aht_seconds: float | None  # over every chat, whatever its concurrency

    def aht_at(self, concurrency: int) -> tuple[float | None, int | None]:
        """AHT measured at this concurrency, or at the nearest level measured (and which level)."""
        if not self.levels:
            return None, None
        best = min(self.levels, key=lambda lv: (abs(lv.concurrency - concurrency), -lv.concurrency))
        return best.aht_seconds, best.concurrency


def _held_at_once(spans: list[tuple[datetime, datetime]], span: tuple[datetime, datetime]) -> float:
    """Time-weighted mean number of spans open during `span` (one of them), itself included."""
    start, end = span
    length = (end - start).total_seconds()
    if length <= 0:
        return 1.0
    overlap = 0.0
    for s, e in spans:
        lo, hi = max(s, start), min(e, end)
        if hi > lo:
            overlap += (hi - lo).total_seconds()
    return overlap / length


def handling_by_concurrency(*, session: Session, start: datetime, end: datetime) -> Handling:
    """AHT by the concurrency each chat was handled at, and the concurrency operators sustain."""
    rows = session.exec(
        select(
            Conversation.assignee_id,
            Conversation.assigned_at,
            Conversation.ended_at,
            Conversation.wrapped_up_at,
        ).where(
            col(Conversation.queued_at) >= start,
            col(Conversation.queued_at) < end,
            col(Conversation.assigned_at).is_not(None),
            col(Conversation.ended_at).is_not(None),
            col(Conversation.assignee_id).is_not(None),
        )
    ).all()
    by_operator: dict[int, list[tuple[datetime, datetime, float]]] = defaultdict(list)
    for assignee_id, assigned_at, ended_at, wrapped_up_at in rows:
        if assignee_id is None or assigned_at is None or ended_at is None or ended_at < assigned_at:
            continue
        wrap = (
            (wrapped_up_at - ended_at).total_seconds() if wrapped_up_at and wrapped_up_at >= ended_at else 0.0
        )
        by_operator[assignee_id].append((assigned_at, ended_at, wrap))
    totals: dict[int, list[float]] = defaultdict(lambda: [0, 0.0])
    held = busy = 0.0
    every = 0.0
    count = 0
    for chats in by_operator.values():
        chats.sort()
        spans = [(s, e) for s, e, _ in chats]
        longest = max(e - s for s, e in spans)
        starts = [s for s, _ in spans]
        for s, e, wrap in chats:
            # Only chats starting within the longest chat's length before this one can overlap it.
            lo = bisect_left(starts, s - longest)
            hi = bisect_left(starts, e)
            level = max(1, round(_held_at_once(spans[lo:hi], (s, e))))
            handled = (e - s).total_seconds() + wrap
            totals[level][0] += 1
            totals[level][1] += handled
            every += handled
            count += 1
        held += sum((e - s).total_seconds() for s, e in spans)
        busy += _union_seconds(spans)
    levels = [HandlingAtConcurrency(c, int(n), total / n) for c, (n, total) in sorted(totals.items())]
    return Handling(
        levels=levels,
        sustained_concurrency=held / busy if busy > 0 else None,
        chats=count,
        aht_seconds=every / count if count else None,
    )


def _union_seconds(spans: list[tuple[datetime, datetime]]) -> float:
    """Seconds covered by at least one span (spans sorted by start)."""
    total = 0.0
    current: tuple[datetime, datetime] | None = None
    for s, e in spans:
        if current is None or s > current[1]:
            if current is not None:
                total += (current[1] - current[0]).total_seconds()
            current = (s, e)
        else:
            current = (current[0], max(current[1], e))
    if current is not None:
        total += (current[1] - current[0]).total_seconds()
    return total


@dataclass(frozen=True)
class Patience:
    abandoned: int  # offered chats the visitor left before an answer
    offered: int
    mean_wait_abandoned_seconds: float | None  # how long those who left had waited
    mean_patience_seconds: float | None  # 1/θ, θ = abandoned ÷ total time waited by all offered


def patience(*, session: Session, settings: Settings, start: datetime, end: datetime) -> Patience:
    """The patience of visitors (see the module docstring); None when nobody has left yet."""
    rows = session.exec(
        select(
            Conversation.status, Conversation.queued_at, Conversation.assigned_at, Conversation.abandoned_at
        ).where(
            col(Conversation.queued_at) >= start,
            col(Conversation.queued_at) < end,
            col(Conversation.status).not_in([ConversationStatus.QUEUED]),
        )
    ).all()
    ignore = settings.abandon_ignore_under_seconds
    abandoned = offered = 0
    waited_abandoned = waited_all = 0.0
    for status, queued_at, assigned_at, abandoned_at in rows:
        if not counts_as_offered(
            status=status,
            queued_at=queued_at,
            assigned_at=assigned_at,
            abandoned_at=abandoned_at,
            ignore_under_seconds=ignore,
        ):
            continue
        if assigned_at is not None:
            offered += 1
            waited_all += max((assigned_at - queued_at).total_seconds(), 0.0)
        elif status == ConversationStatus.ABANDONED:
            offered += 1
            abandoned += 1
            wait = max(((abandoned_at or queued_at) - queued_at).total_seconds(), 0.0)
            waited_abandoned += wait
            waited_all += wait
    return Patience(
        abandoned=abandoned,
        offered=offered,
        mean_wait_abandoned_seconds=waited_abandoned / abandoned if abandoned else None,
        mean_patience_seconds=waited_all / abandoned if abandoned and waited_all > 0 else None,
    )
