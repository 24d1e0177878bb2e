"""Daily fact tables: built by a scheduled task, rebuilt for the days whose data can still change.

Protocol (after GOV.UK Notify's `ft_notification_status`):
- `build_days` replaces the `fact_contact_day` rows of whole local days: it reads the contributions
  of the contacts of those days (`contact_store.measures.contacts`), adds them up per day, channel,
  team and breakdown value, deletes the days' old rows and inserts the new ones, in the caller's
  transaction (readers see the old day or the new day, never half).
- `refresh_facts` (the maintenance loop, every `facts_refresh_minutes`; `firstcontact facts`)
  rebuilds the last `facts_recent_days` local days (chats end, texts get receipts, surveys are
  sent) plus every older day a change was recorded for since the last run: a ConversationEvent
  (late abandonment, end, transfer, wrap-up), a ReportEvent (first response, resolution days later) or a
  SurveyResponse with a higher id than the last run saw marks its contact's day (and, for a chat,
  the days it was held) dirty. The last ids seen live in `fact_build_state`.
- History is built backwards in chunks of CHUNK_DAYS: the first refresh builds the recent days and
  records in `backfill_to` that the days before it are still to build; each `backfill_facts` call
  builds the CHUNK_DAYS before `backfill_to` and moves it back, until the oldest contact's day. The
  maintenance loop runs one chunk per transaction, so a store with years of history never holds one
  long write transaction (SQLite has one writer: chat must not wait minutes for the builder).
  `rebuild_all` builds everything at once (the CLI, tests, the benchmark).
- Runs serialise on the `fact_build_state` row (`FOR UPDATE` on PostgreSQL; SQLite has one writer).
- A change the event tables do not record (an SMS receipt, an edit straight in the database, a
  changed setting such as the service-level target) reaches the facts when its day is rebuilt:
  recent days always are; `rebuild_all` rebuilds the rest.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, insert, select, update
from sqlmodel import Session, col

from contact_store.clock import utcnow
from contact_store.measures.contacts import Contribution, contributions, local_bounds, local_day
from contact_store.models import (
    MEASURE_COLUMNS,
    Conversation,
    ConversationEvent,
    Report,
    ReportEvent,
    SmsMessage,
    SurveyInvitation,
    SurveyResponse,
    fact_build_state,
    fact_contact_day,
)
from contact_store.settings import Settings

logger = logging.getLogger(__name__)

Key = tuple[date, str, int, str, str]  # local_date, channel, team_id, dim, dim_value
INDEX = {name: i for i, name in enumerate(MEASURE_COLUMNS)}
# Days built per pass of a full build: bounds the memory of one pass (a month of a busy force).
CHUNK_DAYS = 31
# A chat's day is rebuilt with the days it was held, up to this many after it was queued.
HELD_DAYS = 2
STATE_ID = 1


def aggregate(items: Iterable[Contribution]) -> dict[Key, list[float]]:
    """The contributions added up per fact key (one "all" row and one row per breakdown)."""
    out: dict[Key, list[float]] = {}
    width = len(MEASURE_COLUMNS)
    for c in items:
        keys = [(c.local_date, c.channel, c.team_id, "all", "")]
        keys += [(c.local_date, c.channel, c.team_id, d, v[:64]) for d, v in c.dims.items()]
        pairs = [(INDEX[m], v) for m, v in c.values.items()]
        for key in keys:
            row = out.get(key)
            if row is None:
                row = out[key] = [0.0] * width
            for i, v in pairs:
                row[i] += v
    return out


def build_days(
    *, session: Session, settings: Settings, start: date, end: date, now: datetime | None = None
) -> int:
    """Replace the fact rows of local days `start`..`end` (inclusive); the number of rows written."""
    lo, hi = local_bounds(start, end, ZoneInfo(settings.timezone))
    rows = aggregate(contributions(session=session, settings=settings, lo=lo, hi=hi, now=now))
    t = fact_contact_day
    session.execute(delete(t).where(t.c.local_date >= start, t.c.local_date <= end))
    batch = [
        {"local_date": k[0], "channel": k[1], "team_id": k[2], "dim": k[3], "dim_value": k[4]}
        | dict(zip(MEASURE_COLUMNS, v, strict=True))
        for k, v in rows.items()
        if start <= k[0] <= end
    ]
    for i in range(0, len(batch), 5000):
        session.execute(insert(t), batch[i : i + 5000])
    return len(batch)


def _ranges(days: Iterable[date], chunk: int = CHUNK_DAYS) -> list[tuple[date, date]]:
    """Sorted days as contiguous (start, end) ranges of at most `chunk` days."""
    out: list[tuple[date, date]] = []
    for d in sorted(set(days)):
        if out and d == out[-1][1] + timedelta(days=1) and (d - out[-1][0]).days < chunk:
            out[-1] = (out[-1][0], d)
        else:
            out.append((d, d))
    return out


def _max_ids(session: Session) -> dict[str, int]:
    return {
        "conversation_event_id": session.execute(select(func.max(col(ConversationEvent.id)))).scalar() or 0,
        "report_event_id": session.execute(select(func.max(col(ReportEvent.id)))).scalar() or 0,
        "survey_response_id": session.execute(select(func.max(col(SurveyResponse.id)))).scalar() or 0,
    }


def _first_day(session: Session, tz: ZoneInfo) -> date | None:
    firsts = [
        session.execute(select(func.min(column))).scalar()
        for column in (
            col(Conversation.queued_at),
            col(Report.received_at),
            col(SmsMessage.created_at),
            col(SurveyInvitation.contact_at),
        )
    ]
    found = [f for f in firsts if f is not None]
    return local_day(min(found), tz) if found else None


def dirty_days(*, session: Session, settings: Settings, since: dict[str, int]) -> set[date]:
    """Local days of the contacts changed since the event ids in `since` (see the docstring)."""
    tz = ZoneInfo(settings.timezone)
    days: set[date] = set()
    chats = session.execute(
        select(col(Conversation.queued_at), col(Conversation.ended_at)).where(
            col(Conversation.id).in_(
                select(col(ConversationEvent.conversation_id)).where(
                    col(ConversationEvent.id) > since["conversation_event_id"]
                )
            )
        )
    ).all()
    for queued, ended in chats:
        first = local_day(queued, tz)
        last = min(local_day(ended, tz), first + timedelta(days=HELD_DAYS)) if ended else first
        days.update(first + timedelta(days=n) for n in range((last - first).days + 1))
    reports = session.execute(
        select(col(Report.received_at)).where(
            col(Report.id).in_(
                select(col(ReportEvent.report_id)).where(col(ReportEvent.id) > since["report_event_id"])
            )
        )
    ).scalars()
    days.update(local_day(r, tz) for r in reports)
    cohorts = session.execute(
        select(col(SurveyInvitation.contact_at)).where(
            col(SurveyInvitation.id).in_(
                select(col(SurveyResponse.invitation_id)).where(
                    col(SurveyResponse.id) > since["survey_response_id"]
                )
            ),
            col(SurveyInvitation.contact_at).is_not(None),
        )
    ).scalars()
    days.update(local_day(c, tz) for c in cohorts)
    return days


def refresh_facts(*, session: Session, settings: Settings, now: datetime | None = None) -> list[date]:
    """Bring the facts up to date (see the module docstring); the local days rebuilt."""
    now = now or utcnow()
    tz = ZoneInfo(settings.timezone)
    today = local_day(now, tz)
    s = fact_build_state
    state = session.execute(select(s).where(s.c.id == STATE_ID).with_for_update()).mappings().first()
    ids = _max_ids(session)
    days = [today - timedelta(days=n) for n in range(settings.facts_recent_days)]
    if state is None:
        first = _first_day(session, tz)
        backfill_to = days[-1] if first is not None and first < days[-1] else None
    else:
        days += [d for d in dirty_days(session=session, settings=settings, since=dict(state)) if d <= today]
    for start, end in _ranges(days):
        build_days(session=session, settings=settings, start=start, end=end, now=now)
    if state is None:
        session.execute(insert(s).values(id=STATE_ID, built_at=now, backfill_to=backfill_to, **ids))
    else:
        session.execute(update(s).where(s.c.id == STATE_ID).values(built_at=now, **ids))
    session.flush()
    logger.info("facts rebuilt for %d local days", len(set(days)))
    return sorted(set(days))


def backfill_facts(*, session: Session, settings: Settings, now: datetime | None = None) -> list[date]:
    """Build the next CHUNK_DAYS of history not built yet (see the module docstring); [] when done."""
    s = fact_build_state
    state = session.execute(select(s).where(s.c.id == STATE_ID).with_for_update()).mappings().first()
    if state is None or state["backfill_to"] is None:
        return []
    end = state["backfill_to"] - timedelta(days=1)
    first = _first_day(session, ZoneInfo(settings.timezone)) or end
    start = max(first, end - timedelta(days=CHUNK_DAYS - 1))
    build_days(session=session, settings=settings, start=start, end=end, now=now)
    session.execute(update(s).where(s.c.id == STATE_ID).values(backfill_to=start if start > first else None))
    session.flush()
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def rebuild_all(*, session: Session, settings: Settings, now: datetime | None = None) -> list[date]:
    """Forget the previous build and build every day again (after changing a measure setting)."""
    session.execute(delete(fact_build_state))
    session.execute(delete(fact_contact_day))
    days = refresh_facts(session=session, settings=settings, now=now)
    while chunk := backfill_facts(session=session, settings=settings, now=now):
        days += chunk
    return sorted(set(days))


def backfill_to(*, session: Session) -> date | None:
    """The day before which history is still being built (None: all built)."""
    s = fact_build_state
    return session.execute(select(s.c.backfill_to).where(s.c.id == STATE_ID)).scalar()


def built_at(*, session: Session) -> datetime | None:
    """When the facts were last brought up to date (None: never)."""
    s = fact_build_state
    return session.execute(select(s.c.built_at).where(s.c.id == STATE_ID)).scalar()


def ensure_fresh(
    *, session: Session, settings: Settings, since: date, now: datetime | None = None
) -> list[date]:
    """Make sure the facts of local days `since`..today are built and current, for a reader that
    plans from them (the staffing planner): the maintenance loop normally keeps them so and this
    does nothing; when the facts were never built, or not refreshed for two refresh periods (the
    loop is not running), or history back to `since` is still to be backfilled, it does that work
    now, in the caller's transaction. The local days rebuilt ([] when the facts were current)."""
    now = now or utcnow()
    last = built_at(session=session)
    days: list[date] = []
    if last is None or last < now - 2 * timedelta(minutes=settings.facts_refresh_minutes):
        days += refresh_facts(session=session, settings=settings, now=now)
    while (to := backfill_to(session=session)) is not None and to > since:
        days += backfill_facts(session=session, settings=settings, now=now)
    return sorted(set(days))
