"""Group commit: many short units of work from async handlers written in one transaction.

Protocol and guarantees
-----------------------
- `await run_grouped(store, fn, **kwargs)` runs `fn(session=..., **kwargs)` and returns its result
  (or raises its exception) once the unit is COMMITTED. For the paths that use it (the forms API
  submission) this is the one place that commits; `fn` only flushes, like every service.
- Each store has writer threads (one on SQLite, `DEFAULT_WRITER_THREADS` elsewhere) sharing one
  queue. A writer takes every unit waiting (up to `MAX_BATCH`), opens one transaction and runs
  each unit in its own Session straight in that transaction. If a unit raises, the whole
  transaction is rolled back (nothing was committed or published) and the batch is run again with
  each unit in its own SAVEPOINT, so the failing unit is rolled back alone (its writes and its
  parked bus events are dropped) and only its caller gets the error. Units must therefore have no
  effect outside the database (bus events are parked with `emit`), so running one again is safe.
  Failures are rare (answers are validated before), so a batch normally pays no savepoints.
- Then the writer commits ONCE, publishes the committed units' events in order, and only then
  answers the callers. If the commit fails, every caller of the batch gets the error and nothing
  is published.
- One BEGIN/COMMIT (one fsync on PostgreSQL, one take of the SQLite write lock) is shared by the
  whole batch, and the event loop never hops to the threadpool for these units. On SQLite the
  writer takes the same in-process write lock as every other transaction (see `db.make_engine`),
  so "database is locked" cannot come from it.
- PostgreSQL: a unit that the server aborts to break a deadlock (or a serialisation conflict) is
  rolled back to its savepoint and rerun, up to `DEADLOCK_RETRIES` times.
- Stores bound to an outer connection (tests that roll everything back) have no writer: units run
  in the threadpool in the store's own unit of work (`Store.run_db`), with the same semantics.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar
from weakref import WeakKeyDictionary

from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from contact_store.db import SETTINGS_KEY, Store
from contact_store.events import PENDING_EVENTS_KEY
from contact_store.org_cache import CACHE_ENGINE_KEY

T = TypeVar("T")
logger = logging.getLogger(__name__)
# deadlock_detected, serialization_failure: PostgreSQL rolled the unit back; it may simply rerun.
RETRY_SQLSTATES = {"40P01", "40001"}
DEADLOCK_RETRIES = 3
# Units per transaction at most: bounds how long the first caller of a batch waits for the rest.
MAX_BATCH = 64
# Writer threads (each with its own connection and transactions) per store. SQLite has one writer
# at a time anyway. On PostgreSQL one thread spends about half its time waiting for round trips,
# so a few run side by side (row locks and the unique constraints keep them correct).
WRITER_THREADS = {"sqlite": 1}
DEFAULT_WRITER_THREADS = 3

_Job = tuple[Callable[..., Any], dict[str, Any], asyncio.Future[Any], asyncio.AbstractEventLoop]


class GroupCommitWriter:
    """One thread per store that runs queued units of work in shared transactions."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        count = WRITER_THREADS.get(store.engine.dialect.name, DEFAULT_WRITER_THREADS)
        self.threads = [
            threading.Thread(target=self._run, name=f"group-commit-writer-{i}", daemon=True)
            for i in range(count)
        ]
        for thread in self.threads:
            thread.start()

    def submit(self, fn: Callable[..., T], kwargs: dict[str, Any]) -> asyncio.Future[T]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        self.jobs.put((fn, kwargs, fut, loop))
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
                self.run_batch(batch)
            except Exception:  # never let the writer thread die
                logger.exception("group commit writer: batch failed")

    def _unit_session(self, conn: Any, *, savepoint: bool) -> Session:
        # Without a savepoint the unit's commit() only flushes: the batch's transaction is ours.
        unit = Session(
            bind=conn,
            join_transaction_mode="create_savepoint" if savepoint else "rollback_only",
            expire_on_commit=False,
        )
        if self.store.settings is not None:  # as Store.new_session does
            unit.info[SETTINGS_KEY] = self.store.settings
        unit.info[CACHE_ENGINE_KEY] = self.store.engine
        return unit

    def _run_unit(
        self, conn: Any, fn: Callable[..., Any], kwargs: dict[str, Any]
    ) -> tuple[bool, Any, list[Any]]:
        """(ok, result or exception, events) of one unit, run inside its own savepoint."""
        for attempt in range(DEADLOCK_RETRIES + 1):
            unit = self._unit_session(conn, savepoint=True)
            try:
                result = fn(session=unit, **kwargs)
                events = unit.info.pop(PENDING_EVENTS_KEY, [])
                unit.commit()  # releases the savepoint; the batch commits later
                return True, result, events
            except OperationalError as exc:
                unit.rollback()
                if attempt < DEADLOCK_RETRIES and getattr(exc.orig, "sqlstate", None) in RETRY_SQLSTATES:
                    continue
                return False, exc, []
            except Exception as exc:
                unit.rollback()  # this unit only; its events are dropped with it
                return False, exc, []
            finally:
                unit.close()
        raise AssertionError("unreachable")

    def _run_all_or_nothing(self, conn: Any, batch: list[_Job]) -> list[tuple[Any, list[Any]]] | None:
        """Every unit straight in the batch's transaction (no savepoints: two round trips fewer
        per unit); None as soon as one raises, and the caller must roll the transaction back."""
        done: list[tuple[Any, list[Any]]] = []
        for fn, kwargs, _, _ in batch:
            unit = self._unit_session(conn, savepoint=False)
            try:
                result = fn(session=unit, **kwargs)
                events = unit.info.pop(PENDING_EVENTS_KEY, [])
                unit.commit()
            except Exception:
                return None
            finally:
                unit.close()
            done.append((result, events))
        return done

    def _transaction(self, batch: list[_Job]) -> tuple[list[tuple[bool, Any]], list[Any]]:
        """Outcomes and events of the batch, committed; units that failed are rolled back alone."""
        with self.store.engine.connect() as conn:
            trans = conn.begin()
            done = self._run_all_or_nothing(conn, batch)
            if done is not None:
                trans.commit()
                return [(True, result) for result, _ in done], [e for _, events in done for e in events]
            # A unit failed (rare: answers are validated before they get here). Start again, each
            # unit in its own savepoint, so only the failing one is rolled back.
            trans.rollback()
            trans = conn.begin()
            outcomes: list[tuple[bool, Any]] = []
            events: list[Any] = []
            for fn, kwargs, _, _ in batch:
                ok, value, unit_events = self._run_unit(conn, fn, kwargs)
                outcomes.append((ok, value))
                events.extend(unit_events)
            trans.commit()
            return outcomes, events

    def run_batch(self, batch: list[_Job]) -> None:
        """Run, commit, publish, answer: in that order."""
        try:
            outcomes, events = self._transaction(batch)
        except Exception as exc:
            logger.exception("group commit failed")
            outcomes, events = [(False, exc)] * len(batch), []
        if events:  # published only after the commit, in order (one round trip on Redis)
            self.store.bus.publish_many(events)
        for (_, _, fut, loop), (ok, value) in zip(batch, outcomes, strict=True):
            # RuntimeError: the caller's event loop has closed (shutdown): no one is waiting.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, fut, ok, value)


def _settle(fut: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if fut.done():  # the caller went away (cancelled)
        return
    if ok:
        fut.set_result(value)
    else:
        fut.set_exception(value)


_writers: WeakKeyDictionary[Store, GroupCommitWriter] = WeakKeyDictionary()
_writers_lock = threading.Lock()


def writer_for(store: Store) -> GroupCommitWriter:
    """The store's writer, started on first use."""
    writer = _writers.get(store)
    if writer is None:
        with _writers_lock:
            writer = _writers.get(store)
            if writer is None:
                writer = _writers[store] = GroupCommitWriter(store)
    return writer


async def run_grouped(store: Store, fn: Callable[..., T], /, **kwargs: Any) -> T:
    """`fn(session=..., **kwargs)`, group-committed; returns once it is committed."""
    if store.bind is not None:  # a test's rolled-back connection: no second connection may write
        return await store.run_db(fn, **kwargs)
    return await writer_for(store).submit(fn, kwargs)
