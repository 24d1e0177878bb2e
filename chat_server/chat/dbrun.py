"""Running store work from websockets and the routing loop.

On SQLite every transaction takes the single write lock (BEGIN IMMEDIATE), so threads racing for it
only sleep in SQLite's busy handler (1, 2, 5 ... 100 ms naps): measured, 200 messages/s had a p50 of
2.6 s that way, and each commit costs more than the message's own statements. So on SQLite this
worker's chat work goes to ONE writer thread that GROUP-COMMITS: it takes every unit of work that
is waiting, runs each in its own session inside its own SAVEPOINT (a failing unit rolls back alone,
and its events are dropped with it), commits once, and only then publishes the events and answers
the callers. The
guarantees do not change: nothing is acked or delivered before its commit, and the database still
decides every outcome (seq, claims). PostgreSQL uses the shared threadpool (row locks, many writers);
a unit PostgreSQL aborts to break a deadlock is rerun (it committed and published nothing).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import random
import threading
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, Protocol, TypeVar
from weakref import WeakKeyDictionary

from anyio import to_thread
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

_Job = tuple[Callable[..., Any], dict[str, Any], asyncio.Future[Any], asyncio.AbstractEventLoop, bool]
# A unit of work on the raw cursor (see `run_sql`) rolls back to this savepoint when it fails.
_UNIT_SAVEPOINT = "fc_unit"


class WithEvents(Protocol):
    """What a cursor unit returns: its result carries the events to publish after commit."""

    events: list[tuple[str, Event]]


class GroupCommitWriter:
    """One thread per store that runs queued units of work in shared transactions."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name="chat-db-writer", daemon=True)
        self.thread.start()

    def submit(
        self, fn: Callable[..., T], kwargs: dict[str, Any], *, on_cursor: bool = False
    ) -> asyncio.Future[T]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        self.jobs.put((fn, kwargs, fut, loop, on_cursor))
        return fut

    def _run(self) -> None:
        while True:
            batch = [self.jobs.get()]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self.jobs.get_nowait())
                except queue.Empty:
                    break
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
                cur: SqlCursor | None = None
                for fn, kwargs, _, _, on_cursor in batch:
                    if on_cursor:
                        cur = cur or SqlCursor(conn.connection.cursor(), conn.dialect)
                        outcomes.append(_run_cursor_unit(cur, fn, kwargs, events))
                    else:
                        outcomes.append(self._run_session_unit(conn, fn, kwargs, events))
                trans.commit()
        except BaseException as exc:
            logger.exception("group commit failed")
            outcomes = [(False, exc)] * len(batch)
            events = []
        # Published only after the commit, in order, before any caller hears its outcome.
        self.store.bus.publish_many(events)
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]] = {}
        for (_, _, fut, loop, _), (ok, value) in zip(batch, outcomes, strict=True):
            by_loop.setdefault(loop, []).append((fut, ok, value))
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


def _run_cursor_unit(
    cur: SqlCursor, fn: Callable[..., WithEvents], kwargs: dict[str, Any], events: list[tuple[str, Event]]
) -> tuple[bool, Any]:
    cur.run(f"SAVEPOINT {_UNIT_SAVEPOINT}")
    try:
        result = fn(cur=cur, **kwargs)
    except BaseException as exc:
        cur.run(f"ROLLBACK TO SAVEPOINT {_UNIT_SAVEPOINT}")  # this unit only
        cur.run(f"RELEASE SAVEPOINT {_UNIT_SAVEPOINT}")
        return False, exc
    cur.run(f"RELEASE SAVEPOINT {_UNIT_SAVEPOINT}")
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


async def run_sql(store: Store, fn: Callable[..., W], /, **kwargs: Any) -> W:
    """`fn(cur=<SqlCursor>, **kwargs)` committed, then its `events` published: the hot path for
    units written against the raw cursor (`contact_store.message_sql`). Same transaction rules as
    `run_db`: group-committed in a savepoint on SQLite, its own transaction on PostgreSQL."""
    if store.engine.dialect.name != "sqlite":
        return await _retrying(lambda: to_thread.run_sync(partial(_sql_transaction, store, fn, kwargs)))
    return await _writer(store).submit(fn, kwargs, on_cursor=True)


def _sql_transaction(store: Store, fn: Callable[..., W], kwargs: dict[str, Any]) -> W:
    with store.engine.connect() as conn, conn.begin():
        result = fn(cur=SqlCursor(conn.connection.cursor(), conn.dialect), **kwargs)
    store.bus.publish_many(result.events)
    return result
