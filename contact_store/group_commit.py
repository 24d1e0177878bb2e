"""Group commit: the one writer for the hot paths (forms submissions, chat messages, chat work on SQLite).

Many short units of work from async handlers are written in one transaction per batch. This is the
one place that commits for the paths that use it; units only flush (ORM) or execute (cursor).

Entry points (all return the unit's result, or raise its exception, once it is COMMITTED)
----------------------------------------------------------------------------------------
- `run_grouped(store, fn, **kw)`: `fn(session=<Session>, **kw)`, group-committed on every backend
  (form submissions: the API and the HTML form's final POST).
- `run_sql(store, fn, *, lock_order="", **kw)`: `fn(cur=<SqlCursor>, **kw)` on the raw DBAPI cursor
  (`contact_store.message_sql`, the chat-message hot path), group-committed on every backend. Its
  result carries `events`, published after the commit. `lock_order` names the row the unit locks
  (the conversation id).
- `run_db(store, fn, **kw)`: an ORM unit of the chat server. Group-committed on SQLite (one writer
  anyway: threads racing for its lock only sleep in the busy handler, measured p50 2.6 s at 200
  msg/s); on PostgreSQL it runs in the threadpool in its own transaction (reads, claims, the routing
  loop's maintenance: they lock rows in no fixed order, and holding those locks for a whole batch
  would stall other batches), rerun if PostgreSQL aborts it for a deadlock.

Guarantees
----------
- ONE writer per store, so on SQLite forms and chat units share one thread and one take of the
  write lock per batch (the same in-process lock as every other transaction, see `db.make_engine`:
  "database is locked" cannot come from it). On PostgreSQL a store has `DEFAULT_WRITER_THREADS`
  threads, each with its own queue and connection; units with a `lock_order` always go to the same
  thread (a shard of conversations), so one worker's batches never wait for each other's row locks
  and one conversation's units keep their order; units without one are spread round-robin.
- A batch (at most `MAX_BATCH` units, of which at most `MAX_ORM_BATCH` ORM units) first runs every
  unit straight in one transaction, WITHOUT savepoints (two statements, on PostgreSQL one round
  trip, fewer per unit). If any unit raises, that transaction is rolled back (nothing committed or
  published) and the batch is run again with each unit in its own SAVEPOINT, so a failing unit is
  rolled back alone (its writes and its events are dropped) and only its caller gets its error.
  This is valid because units have no effect outside the database (ORM units park bus events with
  `emit`; cursor units return theirs), so running a unit again is safe; failures are rare (answers
  and frames are validated before), so a batch normally pays no savepoints. On PostgreSQL the
  savepoint statements of consecutive cursor units travel together (RELEASE + SAVEPOINT in one trip).
- Lock order (PostgreSQL): each batch runs its units sorted by `lock_order` (stable: one sender's
  order is kept; units without one first), so batches on every thread of every worker take the
  conversation row locks in one order and cannot deadlock each other. Correctness needs this, not
  per-unit savepoints: a deadlock aborts the whole straight transaction, which is then simply rerun.
- Deadlock retry: a unit PostgreSQL aborts to break a deadlock (or a serialisation conflict, also at
  commit) committed and published nothing; it is run again in the thread's next batch, after this
  batch's commit released every lock it held, up to `DEADLOCK_RETRIES` times.
- The writer commits ONCE per batch, then publishes the committed units' events in order with one
  `bus.publish_many`, and only then answers the callers (one wake-up per event loop). If the commit
  fails, every caller of the batch gets the error and nothing is published. Nothing is acked or
  delivered before its commit, and the database still decides every outcome (seq, claims).
- The event loop never hops to the threadpool for group-committed units.
- Stores bound to an outer connection (tests that roll everything back) have no writer: units run in
  the threadpool in the store's own unit of work (`Store.run_db`), with the same semantics.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import queue
import random
import threading
import time
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, RootTransaction
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from contact_store import telemetry
from contact_store.db import SETTINGS_KEY, Store
from contact_store.events import PENDING_EVENTS_KEY, Event
from contact_store.message_sql import SqlCursor, store_message, store_messages
from contact_store.org_cache import CACHE_ENGINE_KEY

T = TypeVar("T")
W = TypeVar("W", bound="WithEvents")
logger = logging.getLogger(__name__)
# deadlock_detected, serialization_failure: PostgreSQL rolled the unit back; it may simply rerun.
RETRY_SQLSTATES = {"40P01", "40001"}
DEADLOCK_RETRIES = 3
# Units per transaction at most: bounds how long the first caller of a batch waits for the rest.
# A cursor unit is ~0.1 ms of work, an ORM submission ten times that, hence two limits.
MAX_BATCH = 200
MAX_ORM_BATCH = 64
# Writer threads (each with its own connection and transactions) per store. SQLite has one writer
# at a time anyway. On PostgreSQL one thread spends about half its time waiting for round trips,
# so a few run side by side.
WRITER_THREADS = {"sqlite": 1}
DEFAULT_WRITER_THREADS = 3

# A cursor unit rolls back to this savepoint when it fails (the retry pass only).
_UNIT_SAVEPOINT = "fc_unit"
Events = list[tuple[str, Event]]


class WithEvents(Protocol):
    """What a cursor unit returns: its result carries the events to publish after commit."""

    events: Events


@dataclass(slots=True)
class Job:
    """One queued unit of work and the future its caller awaits."""

    fn: Callable[..., Any]
    kwargs: dict[str, Any]
    fut: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop
    on_cursor: bool = False
    lock_order: str = ""
    attempts: int = 0


def _retryable(exc: BaseException) -> bool:
    """PostgreSQL broke a deadlock or a serialisation conflict by aborting this work."""
    sqlstate = getattr(exc, "sqlstate", None) or getattr(getattr(exc, "orig", None), "sqlstate", None)
    return sqlstate in RETRY_SQLSTATES


class _Failed(Exception):
    """A unit of the straight pass raised: roll the batch back and run it with savepoints."""


class GroupCommitWriter:
    """The store's writer threads, each running its queued units in shared transactions."""

    def __init__(self, store: Store, *, threads: int | None = None) -> None:
        self.store = store
        dialect = store.engine.dialect.name
        count = threads or WRITER_THREADS.get(dialect, DEFAULT_WRITER_THREADS)
        # SQLite has one writer (submission order); elsewhere every batch takes row locks in order.
        self.sort_batches = dialect != "sqlite"
        self.queues: list[queue.SimpleQueue[Job]] = [queue.SimpleQueue() for _ in range(count)]
        self._next = itertools.count()
        # Units submitted and not yet answered (drain() waits for none).
        self._unsettled = 0
        self._settled = threading.Condition()
        self._held = threading.local()  # each writer thread's connection between batches
        self.threads = [
            threading.Thread(target=self._run, args=(q,), name=f"group-commit-writer-{i}", daemon=True)
            for i, q in enumerate(self.queues)
        ]
        for thread in self.threads:
            thread.start()

    def submit(
        self, fn: Callable[..., T], kwargs: dict[str, Any], *, on_cursor: bool = False, lock_order: str = ""
    ) -> asyncio.Future[T]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        if len(self.queues) == 1:
            q = self.queues[0]
        elif lock_order:  # one shard per row: its units keep their order and never convoy here
            q = self.queues[zlib.crc32(lock_order.encode()) % len(self.queues)]
        else:
            q = self.queues[next(self._next) % len(self.queues)]
        with self._settled:
            self._unsettled += 1
        q.put(Job(fn, kwargs, fut, loop, on_cursor, lock_order))
        return fut

    def drain(self, timeout: float) -> bool:
        """Wait until every unit submitted so far is committed (or failed), published and answered
        (a stopping worker: its callers may have gone, their units still land). False on timeout."""
        with self._settled:
            return self._settled.wait_for(lambda: self._unsettled == 0, timeout=timeout)

    def _run(self, jobs: queue.SimpleQueue[Job]) -> None:
        carry: list[Job] = []  # rerun after a deadlock, or over this batch's ORM limit
        while True:
            batch: list[Job] = []
            orm = 0
            pending = carry
            carry = []
            while len(batch) < MAX_BATCH:
                if pending:
                    job = pending.pop(0)
                elif not batch:
                    job = jobs.get()
                else:
                    try:
                        job = jobs.get_nowait()
                    except queue.Empty:
                        break
                if not job.on_cursor:
                    if orm == MAX_ORM_BATCH:
                        carry.append(job)
                        continue
                    orm += 1
                batch.append(job)
            carry = pending + carry
            again: list[Job] = []
            try:
                again = self.run_batch(batch)
            except Exception:  # never let the writer thread die
                logger.exception("group commit writer: batch failed")
            carry = again + carry
            with self._settled:
                self._unsettled -= len(batch) - len(again)
                self._settled.notify_all()
            if not carry and jobs.empty():
                self._release()

    def run_batch(self, batch: list[Job]) -> list[Job]:
        """Run, commit, publish, answer: in that order. Returns the units to run again (deadlock)."""
        if self.sort_batches:
            batch = sorted(batch, key=lambda job: job.lock_order)  # stable: one sender's order kept
        started = time.perf_counter()
        try:
            outcomes, events = self._transaction(batch)
        except BaseException as exc:
            if not _retryable(exc):
                logger.exception("group commit failed")
            outcomes, events = [(False, exc)] * len(batch), []
        telemetry.GROUP_COMMIT_SECONDS.observe(time.perf_counter() - started)
        telemetry.GROUP_COMMIT_BATCH_SIZE.observe(len(batch))
        if events:  # published only after the commit, in order (one round trip on Redis)
            try:
                self.store.bus.publish_many(events)
            except Exception:  # committed: the callers must still hear so
                logger.exception("group commit: publishing a batch's events failed")
        again: list[Job] = []
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]] = {}
        for job, (ok, value) in zip(batch, outcomes, strict=True):
            if not ok and _retryable(value) and job.attempts < DEADLOCK_RETRIES:
                job.attempts += 1  # nothing of it was committed or published: rerun it
                again.append(job)
                continue
            by_loop.setdefault(job.loop, []).append((job.fut, ok, value))
        for loop, settlements in by_loop.items():  # one wake-up per event loop, not per unit
            # RuntimeError: the caller's event loop has closed (shutdown): no one is waiting.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle_all, settlements)
        return again

    def _connection(self) -> Connection:
        """This writer thread's connection: kept from batch to batch while work keeps coming (no
        pool checkout and pre-ping round trip per batch), given back when its queue runs dry."""
        conn: Connection | None = getattr(self._held, "conn", None)
        if conn is None or conn.closed or conn.invalidated:
            conn = self._held.conn = self.store.engine.connect()
        return conn

    def _release(self) -> None:
        conn: Connection | None = getattr(self._held, "conn", None)
        self._held.conn = None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def _transaction(self, batch: list[Job]) -> tuple[list[tuple[bool, Any]], Events]:
        """Outcomes and events of the batch, committed; units that failed are rolled back alone."""
        conn = self._connection()
        try:
            return self._transaction_on(conn, batch)
        except BaseException:
            self._release()  # the connection may be broken: the next batch takes a fresh one
            raise

    def _transaction_on(self, conn: Connection, batch: list[Job]) -> tuple[list[tuple[bool, Any]], Events]:
        cur: SqlCursor | None = None
        if any(job.on_cursor for job in batch):
            cur = SqlCursor(conn.connection.cursor(), conn.dialect)
        try:
            trans = conn.begin()
            try:
                results, events = self._run_straight(conn, trans, cur, batch)
            except _Failed:
                # A unit failed (rare). Start again, each unit in its own savepoint, so only
                # the failing one is rolled back.
                trans.rollback()
                trans = conn.begin()
                outcomes, events = self._run_isolated(conn, cur, batch)
                trans.commit()
                return outcomes, events
            trans.commit()
            return [(True, result) for result in results], events
        finally:
            if cur is not None:
                with contextlib.suppress(Exception):
                    cur.cursor.close()

    def _session(self, conn: Connection, *, savepoint: bool) -> Session:
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

    def _run_straight(
        self, conn: Connection, trans: RootTransaction, cur: SqlCursor | None, batch: list[Job]
    ) -> tuple[list[Any], Events]:
        """Every unit straight in the batch's transaction; `_Failed` as soon as one raises (the
        caller must roll the transaction back)."""
        results: list[Any] = []
        events: Events = []
        pipelined = cur is not None and cur.pipelined
        i = 0
        while i < len(batch):
            job = batch[i]
            if pipelined and job.fn is store_message:
                # A run of chat messages: two round trips for all of them (`store_messages`).
                run = [job]
                while i + len(run) < len(batch) and batch[i + len(run)].fn is store_message:
                    run.append(batch[i + len(run)])
                assert cur is not None
                try:
                    writes = store_messages(cur=cur, messages=[j.kwargs["message"] for j in run])
                except Exception as exc:
                    raise _Failed from exc
                for write in writes:
                    events.extend(write.events)
                results.extend(writes)
                i += len(run)
                continue
            i += 1
            if job.on_cursor:
                try:
                    result = job.fn(cur=cur, **job.kwargs)
                except Exception as exc:
                    raise _Failed from exc
                events.extend(result.events)
            else:
                unit = self._session(conn, savepoint=False)
                try:
                    result = job.fn(session=unit, **job.kwargs)
                    events.extend(unit.info.pop(PENDING_EVENTS_KEY, []))
                    unit.commit()
                except Exception as exc:
                    raise _Failed from exc
                finally:
                    unit.close()
                if not trans.is_active:  # a failed flush rolled the batch back and `fn` swallowed it
                    raise _Failed
            results.append(result)
        return results, events

    def _run_isolated(
        self, conn: Connection, cur: SqlCursor | None, batch: list[Job]
    ) -> tuple[list[tuple[bool, Any]], Events]:
        """Every unit in its own savepoint: a failing unit is rolled back alone."""
        outcomes: list[tuple[bool, Any]] = []
        events: Events = []
        savepoint = _UnitSavepoint(cur) if cur is not None else None
        for job in batch:
            if job.on_cursor:
                assert savepoint is not None
                outcomes.append(_run_cursor_unit(savepoint, job.fn, job.kwargs, events))
            else:
                if savepoint is not None:
                    savepoint.close()
                outcomes.append(self._run_session_unit(conn, job.fn, job.kwargs, events))
        return outcomes, events

    def _run_session_unit(
        self, conn: Connection, fn: Callable[..., Any], kwargs: dict[str, Any], events: Events
    ) -> tuple[bool, Any]:
        unit = self._session(conn, savepoint=True)  # its own identity map, in a SAVEPOINT
        try:
            result = fn(session=unit, **kwargs)
            unit_events = unit.info.pop(PENDING_EVENTS_KEY, [])
            unit.commit()  # releases the savepoint; the batch commits later
            events.extend(unit_events)
            return True, result
        except BaseException as exc:
            unit.rollback()  # this unit only; its events are dropped with it
            return False, exc
        finally:
            unit.close()


class _UnitSavepoint:
    """The savepoint around each cursor unit of a batch's retry pass.

    On PostgreSQL each statement is a round trip, so one unit's RELEASE travels with the next unit's
    SAVEPOINT (psycopg sends text without parameters as a simple query, which may hold two
    statements) and the commit releases the last one.
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
    savepoint: _UnitSavepoint, fn: Callable[..., WithEvents], kwargs: dict[str, Any], events: Events
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
        if fut.done():  # the caller went away (cancelled)
            continue
        if ok:
            fut.set_result(value)
        else:
            fut.set_exception(value)


_writers: WeakKeyDictionary[Store, GroupCommitWriter] = WeakKeyDictionary()
_writers_lock = threading.Lock()


async def drain(store: Store, *, timeout: float = 30.0) -> bool:
    """Wait (off the event loop) for the store's writer to finish every unit submitted: a stopping
    worker's last batches are committed and published before its bus closes. True if none left."""
    writer = _writers.get(store)
    if writer is None:
        return True
    return await asyncio.to_thread(writer.drain, timeout)


def writer_for(store: Store) -> GroupCommitWriter:
    """The store's writer, started on first use."""
    writer = _writers.get(store)
    if writer is None:
        with _writers_lock:
            writer = _writers.get(store)
            if writer is None:
                writer = _writers[store] = GroupCommitWriter(store)
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


def _run_bound_sql(store: Store, fn: Callable[..., W], kwargs: dict[str, Any]) -> W:
    """A cursor unit on a test's outer connection, in a savepoint; events after it is released."""
    conn: Connection = store.bind
    with conn.begin_nested():
        result = fn(cur=SqlCursor(conn.connection.cursor(), conn.dialect), **kwargs)
    if result.events:
        store.bus.publish_many(result.events)
    return result


async def run_grouped(store: Store, fn: Callable[..., T], /, **kwargs: Any) -> T:
    """`fn(session=..., **kwargs)`, group-committed on every backend; returns once committed."""
    if store.bind is not None:  # a test's rolled-back connection: no second connection may write
        return await store.run_db(fn, **kwargs)
    return await writer_for(store).submit(fn, kwargs)


async def run_db(store: Store, fn: Callable[..., T], /, **kwargs: Any) -> T:
    """`fn(session=..., **kwargs)` committed, off the event loop: group-committed on SQLite, its
    own transaction in the threadpool elsewhere (rerun if aborted for a deadlock)."""
    if store.bind is not None:
        return await store.run_db(fn, **kwargs)
    if store.engine.dialect.name != "sqlite":
        return await _retrying(lambda: store.run_db(fn, **kwargs))
    return await writer_for(store).submit(fn, kwargs)


async def run_sql(store: Store, fn: Callable[..., W], /, *, lock_order: str = "", **kwargs: Any) -> W:
    """`fn(cur=<SqlCursor>, **kwargs)` committed, then its `events` published, group-committed on
    every backend; `lock_order` (the row it locks, e.g. the conversation id) picks its writer
    thread and orders the units of a batch on PostgreSQL."""
    if store.bind is not None:
        from anyio import to_thread

        return await to_thread.run_sync(lambda: _run_bound_sql(store, fn, kwargs))
    return await writer_for(store).submit(fn, kwargs, on_cursor=True, lock_order=lock_order)
