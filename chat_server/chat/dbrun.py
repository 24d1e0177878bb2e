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
from collections.abc import Callable
from typing import Any, TypeVar
from weakref import WeakKeyDictionary

from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from contact_store.db import SETTINGS_KEY, Store
from contact_store.events import PENDING_EVENTS_KEY

T = TypeVar("T")
logger = logging.getLogger(__name__)
# deadlock_detected, serialization_failure: the database rolled the unit back; it may simply rerun.
RETRY_SQLSTATES = {"40P01", "40001"}
DEADLOCK_RETRIES = 3
# Units of work per transaction at most: bounds the latency a long batch adds to its first caller.
MAX_BATCH = 200

_Job = tuple[Callable[..., Any], dict[str, Any], asyncio.Future[Any], asyncio.AbstractEventLoop]


class GroupCommitWriter:
    """One thread per store that runs queued units of work in shared transactions."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name="chat-db-writer", daemon=True)
        self.thread.start()

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
                self._run_batch(batch)
            except Exception:  # never let the writer thread die
                logger.exception("chat writer batch failed")

    def _run_batch(self, batch: list[_Job]) -> None:
        outcomes: list[tuple[bool, Any]] = []
        events: list[tuple[str, dict[str, Any]]] = []
        try:
            with self.store.engine.connect() as conn:
                trans = conn.begin()
                for fn, kwargs, _, _ in batch:
                    # Each unit has its own session (own identity map) inside a SAVEPOINT.
                    unit = Session(
                        bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False
                    )
                    if self.store.settings is not None:  # as Store.new_session does
                        unit.info[SETTINGS_KEY] = self.store.settings
                    try:
                        result = fn(session=unit, **kwargs)
                        unit_events = unit.info.pop(PENDING_EVENTS_KEY, [])
                        unit.commit()
                        events.extend(unit_events)
                        outcomes.append((True, result))
                    except BaseException as exc:
                        unit.rollback()  # this unit only; its events are dropped with it
                        outcomes.append((False, exc))
                    finally:
                        unit.close()
                trans.commit()
        except BaseException as exc:
            logger.exception("group commit failed")
            outcomes = [(False, exc)] * len(batch)
            events = []
        for channel, event in events:  # published only after the commit, in order
            self.store.bus.publish(channel, event)
        for (_, _, fut, loop), (ok, value) in zip(batch, outcomes, strict=True):
            # RuntimeError: the caller's event loop has closed (shutdown): no one is waiting.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, fut, ok, value)


def _settle(fut: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if fut.done():
        return
    if ok:
        fut.set_result(value)
    else:
        fut.set_exception(value)


_writers: WeakKeyDictionary[Store, GroupCommitWriter] = WeakKeyDictionary()
_writers_lock = threading.Lock()


async def run_db(store: Store, fn: Callable[..., T], /, **kwargs: Any) -> T:
    """`fn(session=..., **kwargs)` committed (group-committed on SQLite), off the event loop."""
    if store.engine.dialect.name != "sqlite":
        for attempt in range(DEADLOCK_RETRIES + 1):
            try:
                return await store.run_db(fn, **kwargs)
            except OperationalError as exc:
                # PostgreSQL aborted this unit to break a deadlock (or a serialisation conflict):
                # nothing of it was committed or published, so running it again is safe.
                if attempt == DEADLOCK_RETRIES or getattr(exc.orig, "sqlstate", None) not in RETRY_SQLSTATES:
                    raise
                await asyncio.sleep(random.uniform(0.005, 0.05) * (attempt + 1))
    writer = _writers.get(store)
    if writer is None:
        with _writers_lock:
            writer = _writers.get(store) or GroupCommitWriter(store)
            _writers[store] = writer
    return await writer.submit(fn, kwargs)
