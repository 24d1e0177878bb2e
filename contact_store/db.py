"""Engines and sessions: the one place transactions begin and commit.

Decision (measured, see README "Sync or async"): the store uses SQLAlchemy's synchronous engine.
HTTP handlers that touch the database are plain `def` functions, which FastAPI runs in its
threadpool; websocket loops call `run_db()` to do the same. SQLite has no real async driver
(aiosqlite is a thread around the sync driver anyway) and psycopg's sync driver is the fastest
path for short transactions, so the event loop never waits on the database.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from contact_store.events import BUS_KEY, EventBus
from contact_store.org_cache import CACHE_ENGINE_KEY
from contact_store.settings import Settings

# Where a session carries its worker's settings, for services reached from code that has none
# (e.g. ending a chat from the console socket schedules the survey with the service's settings).
SETTINGS_KEY = "firstcontact.settings"

T = TypeVar("T")

# How long a SQLite writer waits for the lock before "database is locked" (milliseconds).
SQLITE_BUSY_TIMEOUT_MS = 10_000
_HOLDS_WRITE_LOCK = "firstcontact.holds_sqlite_write_lock"


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    """An engine for `url`; SQLite gets WAL, foreign keys and a busy timeout on every connection."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            pool_size=pool_size,
            max_overflow=20,
            hide_parameters=True,  # an error's text never quotes the values (personal data)
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # Take over transaction control from pysqlite so we can BEGIN IMMEDIATE below.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints; safe with WAL
            cursor.close()

        # SQLite has one writer at a time. Within this process writers queue on a lock (FIFO-ish,
        # wakes at once) instead of in SQLite's busy handler, which sleeps in growing steps and
        # turns contention into long tail latency. Other processes still wait via busy_timeout.
        write_lock = threading.Lock()

        @event.listens_for(engine, "begin")
        def _sqlite_begin_immediate(conn: Any) -> None:
            # A deferred transaction that reads then writes cannot wait for the lock and fails
            # at once with "database is locked"; IMMEDIATE takes the write lock up front and waits
            # up to the busy timeout instead.
            if not write_lock.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000):
                raise TimeoutError("database is busy: gave up waiting for the write lock")
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            except BaseException:
                write_lock.release()
                raise
            conn.info[_HOLDS_WRITE_LOCK] = True

        @event.listens_for(engine, "commit")
        @event.listens_for(engine, "rollback")
        def _sqlite_release(conn: Any) -> None:
            if conn.info.pop(_HOLDS_WRITE_LOCK, False):
                write_lock.release()

        return engine
    return create_engine(url, pool_size=pool_size, max_overflow=20, pool_pre_ping=True, hide_parameters=True)


def settings_of(session: Session) -> Settings | None:
    """The settings of the store that opened this session, if it was given them."""
    found = session.info.get(SETTINGS_KEY)
    return found if isinstance(found, Settings) else None


class Store:
    """The database engine, its session factory and the event bus, for one worker process."""

    def __init__(
        self, engine: Engine, bus: EventBus, *, bind: Any = None, settings: Settings | None = None
    ) -> None:
        self.engine = engine
        self.bus = bus
        # The worker's settings; `create_app` sets them when the store was built without.
        self.settings = settings
        # None when sessions use the engine; tests give the connection of a rolled-back transaction.
        self.bind = bind
        # Tests bind sessions to one connection inside a transaction that is rolled back afterwards;
        # each session's commit then releases a savepoint instead of committing.
        extra: dict[str, Any] = {"join_transaction_mode": "create_savepoint"} if bind is not None else {}
        self._sessionmaker = sessionmaker(
            bind=bind if bind is not None else engine, class_=Session, expire_on_commit=False, **extra
        )

    def new_session(self) -> Session:
        """A session whose committed events go to this store's bus."""
        session = self._sessionmaker()
        session.info[BUS_KEY] = self.bus
        if self.bind is None:  # committed data only: per-process caches may be used (org_cache)
            session.info[CACHE_ENGINE_KEY] = self.engine
        if self.settings is not None:
            session.info[SETTINGS_KEY] = self.settings
        return session

    @contextmanager
    def session_scope(self) -> Iterator[Session]:
        """A unit of work for websockets and workers: commit on success, roll back on error."""
        session = self.new_session()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def run_in_session(self, fn: Callable[..., T], /, **kwargs: Any) -> T:
        """Call `fn(session=..., **kwargs)` in its own committed unit of work."""
        with self.session_scope() as session:
            return fn(session=session, **kwargs)

    async def run_db(self, fn: Callable[..., T], /, **kwargs: Any) -> T:
        """`run_in_session` off the event loop, in the threadpool (for websocket handlers)."""
        from anyio import to_thread

        return await to_thread.run_sync(partial(self.run_in_session, fn, **kwargs))

    def ping(self) -> bool:
        """True when the database answers."""
        try:
            with self._sessionmaker() as session:
                session.execute(text("SELECT 1"))
            return True
        except Exception:
            return False
