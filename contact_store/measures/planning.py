"""What the staffing planner needs from history: arrivals per interval, handling time by the
concurrency it was handled at, and the patience of visitors who left.

- `arrivals_per_interval`: offered contacts (the dashboards' definition) per local half-hour of each
  local day, from the fact table (build it first); on the day the clocks go back the two 01:00
  half-hours of local time fall in the same slot.
- `handling_by_concurrency`: for each handled chat, the number of chats its operator held at once,
  time-weighted over the chat's active time, rounded to a whole number c; the mean handling time
  (active + wrap-up) of the chats at each c. A chat handled alongside two others takes longer than one
  handled alone: staff as seats with the AHT measured at the concurrency operators sustain.
- `patience`: how long visitors waited before giving up. With the exponential model of Erlang A the
  estimate of mean patience is total time waited by everyone (answered and abandoned, short abandons
  included) ÷ number who abandoned (time-to-answer censors patience).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlmodel import Session, col

from contact_store.measures.contacts import local_bounds
from contact_store.measures.query import FactSource
from contact_store.models import Conversation, ConversationStatus
from contact_store.settings import Settings


def arrivals_per_interval(
    *, session: Session, start: date, end: date, channel: str = "chat", team_id: int | None = None
) -> dict[tuple[date, str], int]:
    """{(local date, "HH:MM" half-hour): offered} for local days start..end, from the facts."""
    rows = FactSource(session).rows(
        start=start,
        end=end,
        dim="halfhour",
        channel=channel,
        team_id=team_id,
        group=("local_date", "dim_value"),
    )
    return {(k[0], k[1]): int(f["offered"]) for k, f in rows if f["offered"]}


@dataclass(frozen=True)
class HandlingAtConcurrency:
    concurrency: int  # chats held at once (time-weighted over the chat, rounded)
    chats: int
    aht_seconds: float


def _chats(session: Session, settings: Settings, start: date, end: date) -> list[tuple[object, ...]]:
    lo, hi = local_bounds(start, end, ZoneInfo(settings.timezone))
    c = Conversation
    return list(
        session.execute(
            select(col(c.assignee_id), col(c.assigned_at), col(c.ended_at), col(c.wrapped_up_at)).where(
                col(c.queued_at) >= lo,
                col(c.queued_at) < hi,
                col(c.assigned_at).is_not(None),
                col(c.ended_at).is_not(None),
                col(c.assignee_id).is_not(None),
            )
        ).all()
    )


def handling_by_concurrency(
    *, session: Session, settings: Settings, start: date, end: date
) -> list[HandlingAtConcurrency]:
    """Mean handling time of the chats of local days start..end at each concurrency (see above)."""
    per_op: dict[object, list[tuple[datetime, datetime, datetime | None]]] = defaultdict(list)
    for op, assigned, ended, wrapped in _chats(session, settings, start, end):
        per_op[op].append((assigned, ended, wrapped))  # type: ignore[arg-type]
    buckets: dict[int, list[float]] = defaultdict(list)
    for chats in per_op.values():
        chats.sort()
        for i, (a, b, wrapped) in enumerate(chats):
            length = (b - a).total_seconds()
            if length <= 0:
                continue
            overlap = 0.0
            for j in range(max(0, i - 50), min(len(chats), i + 50)):  # neighbours in time only
                a2, b2, _ = chats[j]
                overlap += max(0.0, (min(b, b2) - max(a, a2)).total_seconds())
            c = max(1, round(overlap / length))
            wrap = (wrapped - b).total_seconds() if wrapped is not None and wrapped > b else 0.0
            buckets[c].append(length + wrap)
    return [HandlingAtConcurrency(c, len(v), sum(v) / len(v)) for c, v in sorted(buckets.items())]


@dataclass(frozen=True)
class Patience:
    abandoned: int
    waits_of_abandoned: list[float]  # seconds each visitor who left had waited
    mean_patience_seconds: float | None  # exponential estimate (see the module docstring)


def patience(*, session: Session, settings: Settings, start: date, end: date) -> Patience:
    """Patience of the chat visitors of local days start..end."""
    lo, hi = local_bounds(start, end, ZoneInfo(settings.timezone))
    c = Conversation
    rows = session.execute(
        select(col(c.status), col(c.queued_at), col(c.assigned_at), col(c.abandoned_at)).where(
            col(c.queued_at) >= lo, col(c.queued_at) < hi
        )
    ).all()
    waits: list[float] = []
    exposure = 0.0
    for status, queued, assigned, abandoned in rows:
        if assigned is not None:
            exposure += (assigned - queued).total_seconds()
        elif status == ConversationStatus.ABANDONED:
            w = ((abandoned or queued) - queued).total_seconds()
            waits.append(w)
            exposure += w
    return Patience(len(waits), waits, exposure / len(waits) if waits else None)
