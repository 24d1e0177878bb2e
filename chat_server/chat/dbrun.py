"""Running store work from websockets and the routing loop.

On SQLite every transaction takes the single write lock (BEGIN IMMEDIATE), so threads racing for it
only sleep in SQLite's busy handler (1, 2, 5 ... 100 ms naps): measured, 200 messages/s had a p50 of
2.6 s that way, and each commit costs more than the message's own statements. So on SQLite this
worker's chat work goes to ONE writer thread that GROUP-COMMITS: it takes every unit of work that
is waiting, runs each inside its own SAVEPOINT (a failing unit rolls back alone, and its events are
dropped with it), commits once, and only then publishes the events and answers the callers.

Two kinds of unit: `run_db(fn)` gives `fn` an ORM session (its own identity map); `run_sql(fn)`
gives it the raw DBAPI cursor (`contact_store.message_sql`), the chat-message hot path, about a
tenth of the CPU. On PostgreSQL, `run_db` units run in the shared threadpool, each its own
transaction; `run_sql` units are group-committed too (a thread hop, a pool checkout and a commit
per message kept the worker's threads fighting over the GIL: 470 msg/s on two workers), in
conversation-id order so batches on several workers take row locks in one order. Any unit
PostgreSQL aborts to break a deadlock (or a serialisation conflict) is rerun: it committed and
published nothing.

The guarantees do not change: nothing is acked or delivered before its commit, and the database
still decides every outcome (seq, claims).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import random
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar
from weakref import WeakKeyDictionary

from sqlalchemy import Connection
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from contact_store.db import SETTINGS_KEY, Store
from contact_store.events import PENDING_EVENTS_KEY, Event
from contact_store.message_sql import SqlCursor

T = TypeVar("T")
W = TypeVar("W", bound="WithEvents")
logger = logging.getLogger(__name__)
# deadlock_detected, serialization_failure: the database rolled the unit back; it may simply rerun.
RETRY_SQLSTATES = {"40P01", "40001"}
DEADLOCK_RETRIES = 3
# Units of work per transaction at most: bounds the latency a long batch adds to its first caller.
MAX_BATCH = 200

# A unit of work on the raw cursor (see `run_sql`) rolls back to this savepoint when it fails.
_UNIT_SAVEPOINT = "fc_unit"


class WithEvents(Protocol):
    """What a cursor unit returns: its result carries the events to publish after commit."""

    events: list[tuple[str, Event]]


@dataclass(slots=True)
class _Job:
    fn: Callable[..., Any]
    kwargs: dict[str, Any]
    fut: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop
    on_cursor: bool
    lock_order: str
    attempts: int = 0


def _retryable(exc: BaseException) -> bool:
    """PostgreSQL broke a deadlock or a serialisation conflict by aborting this work."""
    sqlstate = getattr(exc, "sqlstate", None) or getattr(getattr(exc, "orig", None), "sqlstate", None)
    return sqlstate in RETRY_SQLSTATES


class GroupCommitWriter:
    """One thread per store that runs queued units of work in shared transactions."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        # On PostgreSQL, units the database aborted to break a deadlock run again first thing.
        self.again: list[_Job] = []
        # Row locks taken in one order by every batch (conversation id), on every worker: no
        # deadlock between batches of messages. SQLite has one writer: submission order.
        self.sort_batches = store.engine.dialect.name != "sqlite"
        self.thread = threading.Thread(target=self._run, name="chat-db-writer", daemon=True)
        self.thread.start()

    def submit(
        self, fn: Callable[..., T], kwargs: dict[str, Any], *, on_cursor: bool = False, lock_order: str = ""
    ) -> asyncio.Future[T]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        self.jobs.put(_Job(fn, kwargs, fut, loop, on_cursor, lock_order))
        return fut

    def _run(self) -> None:
        while True:
            batch, self.again = self.again, []
            if not batch:
                batch.append(self.jobs.get())
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self.jobs.get_nowait())
                except queue.Empty:
                    break
            if self.sort_batches:
                batch.sort(key=lambda job: job.lock_order)  # stable: one sender's order is kept
            try:
                self._run_batch(batch)
            except Exception:  # never let the writer thread die
                logger.exception("chat writer batch failed")

    def _run_batch(self, batch: list[_Job]) -> None:
        outcomes: list[tuple[bool, Any]] = []
        events: list[tuple[str, Event]] = []
        try:
            with self.store.engine.connect() as conn:
                trans = conn.begin()
                savepoint: _UnitSavepoint | None = None
                for job in batch:
                    if job.on_cursor:
                        savepoint = savepoint or _UnitSavepoint(
                            SqlCursor(conn.connection.cursor(), conn.dialect)
                        )
                        outcomes.append(_run_cursor_unit(savepoint, job.fn, job.kwargs, events))
                    else:
                        if savepoint is not None:
                            savepoint.close()
                        outcomes.append(self._run_session_unit(conn, job.fn, job.kwargs, events))
                trans.commit()
        except BaseException as exc:
            if not _retryable(exc):
                logger.exception("group commit failed")
            outcomes = [(False, exc)] * len(batch)
            events = []
        # Published only after the commit, in order, before any caller hears its outcome.
        self.store.bus.publish_many(events)
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]] = {}
        for job, (ok, value) in zip(batch, outcomes, strict=True):
            if not ok and _retryable(value) and job.attempts < DEADLOCK_RETRIES:
                # Nothing of it was committed or published: running it again is safe.
                job.attempts += 1
                self.again.append(job)
                continue
            by_loop.setdefault(job.loop, []).append((job.fut, ok, value))
        for loop, settlements in by_loop.items():  # one wake-up per event loop, not per unit
            # RuntimeError: the caller's event loop has closed (shutdown): no one is waiting.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle_all, settlements)

    def _run_session_unit(
        self,
        conn: Connection,
        fn: Callable[..., Any],
        kwargs: dict[str, Any],
        events: list[tuple[str, Event]],
    ) -> tuple[bool, Any]:
        # Each unit has its own session (own identity map) inside a SAVEPOINT.
        unit = Session(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)
        if self.store.settings is not None:  # as Store.new_session does
            unit.info[SETTINGS_KEY] = self.store.settings
        try:
            result = fn(session=unit, **kwargs)
            unit_events = unit.info.pop(PENDING_EVENTS_KEY, [])
            unit.commit()
            events.extend(unit_events)
            return True, result
        except BaseException as exc:
            unit.rollback()  # this unit only; its events are dropped with it
            return False, exc
        finally:
            unit.close()


class _UnitSavepoint:
    """The savepoint around each cursor unit of a batch.

    On PostgreSQL each statement is a round trip, so one unit's RELEASE travels with the next unit's
    SAVEPOINT (psycopg sends text without parameters as a simple query, which may hold two
    statements) and the commit releases the last one: four round trips per message instead of five.
    """

    def __init__(self, cur: SqlCursor) -> None:
        self.cur = cur
        self.chained = cur.dialect.name == "postgresql"
        self.open = False

    def begin(self) -> None:
        if self.open:
            self.cur.run(f"RELEASE SAVEPOINT {_UNIT_SAVEPOINT}; SAVEPOINT {_UNIT_SAVEPOINT}")
        else:
            self.cur.run(f"SAVEPOINT {_UNIT_SAVEPOINT}")
        self.open = True

    def end(self, *, ok: bool) -> None:
        if not ok:
            self.cur.run(f"ROLLBACK TO SAVEPOINT {_UNIT_SAVEPOINT}")  # this unit only
        if not self.chained:
            self.close()

    def close(self) -> None:
        if self.open:
            self.cur.run(f"RELEASE SAVEPOINT {_UNIT_SAVEPOINT}")
            self.open = False


def _run_cursor_unit(
    savepoint: _UnitSavepoint,
    fn: Callable[..., WithEvents],
    kwargs: dict[str, Any],
    events: list[tuple[str, Event]],
) -> tuple[bool, Any]:
    savepoint.begin()
    try:
        result = fn(cur=savepoint.cur, **kwargs)
    except BaseException as exc:
        savepoint.end(ok=False)
        return False, exc
    savepoint.end(ok=True)
    events.extend(result.events)
    return True, result


def _settle_all(settlements: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    for fut, ok, value in settlements:
        if fut.done():
            continue
        if ok:
            fut.set_result(value)
        else:
            fut.set_exception(value)


_writers: WeakKeyDictionary[Store, GroupCommitWriter] = WeakKeyDictionary()
_writers_lock = threading.Lock()


def _writer(store: Store) -> GroupCommitWriter:
    writer = _writers.get(store)
    if writer is None:
        with _writers_lock:
            writer = _writers.get(store) or GroupCommitWriter(store)
            _writers[store] = writer
    return writer


async def _retrying(call: Callable[[], Awaitable[T]]) -> T:
    """Run `call`, again if PostgreSQL aborted it to break a deadlock or a serialisation conflict:
    nothing of it was committed or published, so running it again is safe."""
    for attempt in range(DEADLOCK_RETRIES):
        try:
            return await call()
        except OperationalError as exc:
            if getattr(exc.orig, "sqlstate", None) not in RETRY_SQLSTATES:
                raise
            await asyncio.sleep(random.uniform(0.005, 0.05) * (attempt + 1))
    return await call()


async def run_db(store: Store, fn: Callable[..., T], /, **kwargs: Any) -> T:
    """`fn(session=..., **kwargs)` committed (group-committed on SQLite), off the event loop."""
    if store.engine.dialect.name != "sqlite":
        return await _retrying(lambda: store.run_db(fn, **kwargs))
    return await _writer(store).submit(fn, kwargs)


async def run_sql(store: Store, fn: Callable[..., W], /, *, lock_order: str = "", **kwargs: Any) -> W:
    """`fn(cur=<SqlCursor>, **kwargs)` committed, then its `events` published: the hot path for
    units written against the raw cursor (`contact_store.message_sql`). Group-committed on every
    backend, each unit in its own savepoint; `lock_order` (the row it locks, e.g. the conversation
    id) orders the units of a batch on PostgreSQL so that batches of several workers never
    deadlock, and a unit aborted to break one (with another kind of transaction) is rerun."""
    return await _writer(store).submit(fn, kwargs, on_cursor=True, lock_order=lock_order)
