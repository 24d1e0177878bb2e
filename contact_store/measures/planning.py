"""What the staffing planner (`contact_store.staffing.plan`) reads from history: arrivals per
interval, handling time by the concurrency it was handled at, and the patience of visitors. The
only implementation of these measures: the planner and anything else that needs them call these.

Every function takes local days `start`..`end` (inclusive) in `settings.timezone`, like the rest
of the measures, and follows the one rule of offered / answered / abandoned
(`contact_store.measures.definitions.classify_chat`, with `abandon_ignore_under_seconds`).

- `arrivals_per_interval`: offered contacts per local half-hour of each local day,
  `{(local date, "HH:MM"): offered}`, from the fact table (`fact_contact_day`, dim "halfhour"):
  build it first (`contact_store.measures.facts.ensure_fresh`, the maintenance loop, or
  `firstcontact facts`). On the day the clocks go back the two 01:00 and the two 01:30 half-hours
  of local time fall in the same key (their sum); the day they go forward has no 01:00 or 01:30.
- `handling_by_concurrency`: for each handled chat (answered and ended, with an operator), the
  number of chats its operator held at once, time-weighted over the chat's active time, itself
  included, rounded to a whole number c; the mean handling time (active from assignment to end +
  wrap-up from end to the wrap-up being saved) of the chats at each c. A chat handled alongside two
  others takes longer than one handled alone: staff as seats with the AHT measured at the
  concurrency operators sustain. The concurrency they sustain is the dashboards' figure (chat-seconds
  held ÷ seconds holding at least one chat, from the facts).
- `patience`: the mean patience of visitors for Erlang A. Erlang A takes patience to be
  exponential with rate θ (mean 1/θ); from a queue's history, the maximum-likelihood estimate is
  θ = abandoned ÷ total time waited by all offered chats. Those answered waited without giving up
  (their patience was at least their wait: a censored observation), so their waits count in the
  denominator but not in the numerator; the mean wait of those who left alone would understate
  patience, because the patient ones got answered. Offered and abandoned are the dashboards' (the
  wallboard's): a visitor who left within `abandon_ignore_under_seconds` is neither offered nor
  abandoned (not demand, as a force defines abandonment) and is not counted in either — the same
  population as the arrivals the plan forecasts, so the Erlang A model sees one definition.
  An offered chat that left the queue otherwise (ended unanswered) waited until it ended; one
  still waiting when read adds nothing yet.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlmodel import Session, col

from contact_store.measures.contacts import local_bounds
from contact_store.measures.definitions import classify_chat
from contact_store.measures.query import FactSource, totals
from contact_store.models import Conversation
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
    concurrency: int  # chats held at once (time-weighted over the chat's active time, rounded)
    chats: int
    aht_seconds: float  # (active + wrap-up) ÷ chats


@dataclass(frozen=True)
class Handling:
    levels: list[HandlingAtConcurrency]  # by concurrency, ascending
    sustained_concurrency: float | None  # the dashboards' concurrency: held ÷ busy seconds (facts)

    def aht_at(self, concurrency: int) -> tuple[float | None, int | None]:
        """AHT measured at this concurrency, or at the nearest level measured (the higher on a tie),
        and the level it was measured at."""
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


def handling_by_concurrency(*, session: Session, settings: Settings, start: date, end: date) -> Handling:
    """AHT of the chats of local days start..end by the concurrency each was handled at, and the
    concurrency operators sustained (see the module docstring)."""
    lo, hi = local_bounds(start, end, ZoneInfo(settings.timezone))
    c = Conversation
    rows = session.execute(
        select(col(c.assignee_id), col(c.assigned_at), col(c.ended_at), col(c.wrapped_up_at)).where(
            col(c.queued_at) >= lo,
            col(c.queued_at) < hi,
            col(c.assigned_at).is_not(None),
            col(c.ended_at).is_not(None),
            col(c.assignee_id).is_not(None),
        )
    ).all()
    by_operator: dict[int, list[tuple[datetime, datetime, float]]] = defaultdict(list)
    for operator, assigned, ended, wrapped in rows:
        ended = max(ended, assigned)  # active time is never negative (as the dashboards' AHT)
        wrap = (wrapped - ended).total_seconds() if wrapped is not None and wrapped > ended else 0.0
        by_operator[operator].append((assigned, ended, wrap))
    totals_at: dict[int, list[float]] = defaultdict(lambda: [0, 0.0])
    for chats in by_operator.values():
        chats.sort()
        spans = [(s, e) for s, e, _ in chats]
        longest = max(e - s for s, e in spans)
        starts = [s for s, _ in spans]
        for s, e, wrap in chats:
            # Only chats starting within the longest chat's length before this one can overlap it.
            first, last = bisect_left(starts, s - longest), bisect_left(starts, e)
            level = max(1, round(_held_at_once(spans[first:last], (s, e))))
            totals_at[level][0] += 1
            totals_at[level][1] += (e - s).total_seconds() + wrap
    levels = [HandlingAtConcurrency(k, int(n), total / n) for k, (n, total) in sorted(totals_at.items())]
    held = totals(FactSource(session), start=start, end=end, channel="chat", team_id=None)
    return Handling(levels=levels, sustained_concurrency=held.concurrency)


@dataclass(frozen=True)
class Patience:
    offered: int  # offered chats (classify_chat)
    abandoned: int  # offered chats the visitor left before an answer (short abandons not counted)
    waits_of_abandoned: list[float]  # seconds each visitor who left had waited
    waited_seconds: float  # total time waited by all offered chats (see the module docstring)

    @property
    def mean_wait_abandoned_seconds(self) -> float | None:
        """How long those who left had waited, on average (not their patience: see above)."""
        return sum(self.waits_of_abandoned) / self.abandoned if self.abandoned else None

    @property
    def mean_patience_seconds(self) -> float | None:
        """1/θ, θ = abandoned ÷ total time waited by all offered; None until someone has left."""
        return self.waited_seconds / self.abandoned if self.abandoned and self.waited_seconds > 0 else None


def patience(*, session: Session, settings: Settings, start: date, end: date) -> Patience:
    """Patience of the chat visitors of local days start..end (see the module docstring)."""
    lo, hi = local_bounds(start, end, ZoneInfo(settings.timezone))
    c = Conversation
    rows = session.execute(
        select(
            col(c.status), col(c.queued_at), col(c.assigned_at), col(c.abandoned_at), col(c.ended_at)
        ).where(col(c.queued_at) >= lo, col(c.queued_at) < hi)
    ).all()
    offered = 0
    waits: list[float] = []
    waited = 0.0
    for status, queued, assigned, abandoned_at, ended in rows:
        counts = classify_chat(
            status=status, queued_at=queued, assigned_at=assigned, abandoned_at=abandoned_at,
            ignore_under=settings.abandon_ignore_under_seconds, target=0.0,
        )  # fmt: skip
        if not counts.get("offered"):
            continue  # a short abandon: not demand
        offered += 1
        if assigned is not None:
            left = assigned
        elif counts.get("abandoned"):
            left = abandoned_at or queued
        else:
            left = ended  # ended unanswered; None while still waiting (nothing to add yet)
        wait = max((left - queued).total_seconds(), 0.0) if left is not None else 0.0
        if counts.get("abandoned"):
            waits.append(wait)
        waited += wait
    return Patience(offered=offered, abandoned=len(waits), waits_of_abandoned=waits, waited_seconds=waited)
