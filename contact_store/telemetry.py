"""Prometheus figures of one worker process (prometheus-client), and how they are gathered.

Protocol
--------
- Every figure a code path moves is defined here, once, as a module-level metric; hot paths touch
  a pre-bound label child (`STORED_BY_VISITOR.inc()`): a counter increment or a histogram observe,
  never I/O or a query. Labels never carry ids, paths or anything a person typed: a route label is
  the route's template (`/api/v1/chats/{conversation_id}`), never the raw path.
- Multiprocess mode: when `PROMETHEUS_MULTIPROC_DIR` is set BEFORE this module is first imported
  (the CLI's `serve` sets and empties it when several workers run), every process writes its values
  to memory-mapped files in that directory and a scrape of any worker adds up all of them
  (`scrape_registry`). Gauges of live things (open sockets, pool use) use `livesum`, so a worker
  that exits stops counting once `mark_process_dead` ran for it (the app's shutdown does).
- Figures of the store as a whole (queue length and longest wait per team, SMS outbox depth and
  oldest pending age) are not kept by any process: `StoreCollector` reads them at scrape time with
  two cheap aggregate queries, in the worker answering the scrape only.
- Counters move only after the work they count was committed (the callers increment after the
  unit returned), so a unit run again after a deadlock is counted once.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from weakref import WeakSet

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, event
from sqlmodel import Session, col, func, select

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
PREFIX = "firstcontact_"

# HTTP: from 5 ms (a static file) to 10 s (an upload on a slow link).
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
HTTP_LATENCY = Histogram(
    PREFIX + "http_request_duration_seconds",
    "Time to answer an HTTP request, by method, route template and status code.",
    ["method", "route", "status"],
    buckets=HTTP_BUCKETS,
)

WEBSOCKETS_OPEN = Gauge(
    PREFIX + "websockets_open",
    "Websockets open now, by kind (visitor: the public's chat; console: an operator's console).",
    ["kind"],
    multiprocess_mode="livesum",
)
VISITOR_SOCKETS = WEBSOCKETS_OPEN.labels("visitor")
CONSOLE_SOCKETS = WEBSOCKETS_OPEN.labels("console")

MESSAGES_STORED = Counter(
    PREFIX + "chat_messages_stored_total",
    "Chat messages committed to the store, by sender (visitor, operator).",
    ["sender"],
)
STORED_BY_VISITOR = MESSAGES_STORED.labels("visitor")
STORED_BY_OPERATOR = MESSAGES_STORED.labels("operator")
MESSAGES_DELIVERED = Counter(
    PREFIX + "chat_messages_delivered_total",
    "Chat message frames written to a websocket, by socket kind (visitor, console).",
    ["socket"],
)
DELIVERED_TO_VISITOR = MESSAGES_DELIVERED.labels("visitor")
DELIVERED_TO_CONSOLE = MESSAGES_DELIVERED.labels("console")

OFFERS = Counter(PREFIX + "chat_offers_total", "Chats offered to an operator by the routing loop.")
OFFER_OUTCOMES = Counter(
    PREFIX + "chat_offer_outcomes_total",
    "What became of offers: accepted, declined, timed_out.",
    ["outcome"],
)
OFFERS_ACCEPTED = OFFER_OUTCOMES.labels("accepted")
OFFERS_DECLINED = OFFER_OUTCOMES.labels("declined")
OFFERS_TIMED_OUT = OFFER_OUTCOMES.labels("timed_out")

SMS_SENT = Counter(PREFIX + "sms_sent_total", "Texts the provider accepted, by provider.", ["provider"])
SMS_FAILURES = Counter(
    PREFIX + "sms_failures_total",
    "Failed send attempts, by provider and kind (temporary: retried later; permanent: given up).",
    ["provider", "kind"],
)

# A batch holds 1 to MAX_BATCH (200) units.
BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 200)
GROUP_COMMIT_BATCH_SIZE = Histogram(
    PREFIX + "group_commit_batch_size",
    "Units of work per group-commit transaction.",
    buckets=BATCH_SIZE_BUCKETS,
)
GROUP_COMMIT_SECONDS = Histogram(
    PREFIX + "group_commit_batch_seconds",
    "Time from a batch's BEGIN to its COMMIT (units run and committed).",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)

DB_POOL_CHECKED_OUT = Gauge(
    PREFIX + "db_pool_checked_out",
    "Database connections checked out of the pool now (all workers).",
    multiprocess_mode="livesum",
)
DB_POOL_SIZE = Gauge(
    PREFIX + "db_pool_size",
    "Database connections the pool keeps (pool_size, all workers; overflow comes on top).",
    multiprocess_mode="livesum",
)


def multiprocess_dir() -> str | None:
    """The shared directory of multiprocess mode, or None in single-process mode."""
    return os.environ.get(MULTIPROC_ENV) or None


_instrumented: WeakSet[Engine] = WeakSet()
_COUNTED = "fc_pool_counted"


def instrument_pool(engine: Engine) -> None:
    """Count the engine's checked-out connections and its pool size (once per engine)."""
    if engine in _instrumented:
        return
    _instrumented.add(engine)
    size = getattr(engine.pool, "size", None)
    if callable(size):
        DB_POOL_SIZE.inc(size())

    # Only a checkout counted here is uncounted at its checkin: a connection already out when the
    # engine was instrumented (the migrations' own) must not drive the gauge below the truth.
    @event.listens_for(engine, "checkout")
    def _checkout(_dbapi: Any, record: Any, *_: Any) -> None:
        record.info[_COUNTED] = True
        DB_POOL_CHECKED_OUT.inc()

    @event.listens_for(engine, "checkin")
    def _checkin(_dbapi: Any, record: Any) -> None:
        if record is not None and record.info.pop(_COUNTED, False):
            DB_POOL_CHECKED_OUT.dec()


StoreFigures = tuple[list[tuple[str, int, datetime | None]], tuple[int, datetime | None], datetime]


def read_store_figures(*, session: Session) -> StoreFigures:
    """Queue per team (name, waiting, oldest queued_at), SMS outbox (pending, oldest), and now:
    two aggregate queries on indexed columns, and the (few) team names."""
    from contact_store.clock import utcnow
    from contact_store.models import WAITING_STATUSES, Conversation, SmsMessage, SmsStatus, Team

    now = utcnow()
    rows = session.exec(
        select(Conversation.team_id, func.count(), func.min(Conversation.queued_at))
        .where(col(Conversation.status).in_(WAITING_STATUSES))
        .group_by(col(Conversation.team_id))
    ).all()
    waiting = {team: (int(n), oldest) for team, n, oldest in rows}
    # Every team appears (0 when none of its chats waits); chats of no team under "none".
    teams = [(t.id, t.name) for t in session.exec(select(Team).order_by(col(Team.name))).all()]
    queues = [(name, *waiting.pop(tid, (0, None))) for tid, name in teams]
    none = [(n, oldest) for n, oldest in waiting.values()]
    queues.append(("none", sum(n for n, _ in none), min((o for _, o in none if o), default=None)))
    pending, oldest_pending = session.exec(
        select(func.count(), func.min(SmsMessage.created_at)).where(
            col(SmsMessage.status).in_((SmsStatus.QUEUED, SmsStatus.SENDING))
        )
    ).one()
    return queues, (int(pending), oldest_pending), now


class StoreCollector(Collector):
    """Figures read from the store at scrape time (see the module docstring)."""

    def __init__(self, figures: StoreFigures) -> None:
        self.figures = figures

    def collect(self) -> Iterator[GaugeMetricFamily]:
        queues, (pending, oldest_pending), now = self.figures
        length = GaugeMetricFamily(
            PREFIX + "chat_queue_length", "Chats waiting for an operator now, by team.", labels=["team"]
        )
        wait = GaugeMetricFamily(
            PREFIX + "chat_queue_longest_wait_seconds",
            "How long the longest-waiting chat has waited now, by team (0 when none waits).",
            labels=["team"],
        )
        for team, waiting, oldest in queues:
            length.add_metric([team], waiting)
            wait.add_metric([team], _age(now, oldest))
        yield length
        yield wait
        yield GaugeMetricFamily(
            PREFIX + "sms_outbox_pending", "Texts queued or being sent now.", value=pending
        )
        yield GaugeMetricFamily(
            PREFIX + "sms_outbox_oldest_pending_age_seconds",
            "Age of the oldest text queued or being sent, since it was written (0 when none).",
            value=_age(now, oldest_pending),
        )


def _age(now: datetime, then: datetime | None) -> float:
    if then is None:
        return 0.0
    if then.tzinfo is None:
        then = then.replace(tzinfo=now.tzinfo)
    return max(0.0, (now - then).total_seconds())


def process_registry() -> CollectorRegistry:
    """This process's figures, or every process's in multiprocess mode."""
    path = multiprocess_dir()
    if path is None:
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=path)
    return registry


def mark_process_dead(pid: int | None = None) -> None:
    """Multiprocess mode: this worker's live gauges stop counting (called when a worker stops)."""
    path = multiprocess_dir()
    if path is not None:
        multiprocess.mark_process_dead(pid or os.getpid(), path)
