"""Shared fixtures: a migrated database per run, a rolled-back session per test, the app, a
TestClient, and a live uvicorn server for websocket and browser tests.

Backends: SQLite and the in-process bus by default; PostgreSQL and Redis when
FIRSTCONTACT_TEST_DATABASE_URL / FIRSTCONTACT_TEST_REDIS_URL are set (CI runs both).
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine
from sqlmodel import Session

from chat_server.app import create_app
from chat_server.chat.protocol import MAX_TRANSPORT_FRAME_BYTES
from contact_store.db import Store, make_engine
from contact_store.events import EventBus, make_bus
from contact_store.settings import Settings
from tests.support.databases import TEST_REDIS_URL, assert_store_invariants, fresh_database, truncate_all

pytest_plugins = ["tests.support.browser_fixtures"]


@pytest.fixture
def anyio_backend() -> str:
    """Async tests (`@pytest.mark.anyio`) run on asyncio. Keep them out of browser-test modules."""
    return "asyncio"


# The suite signs in and starts chats from 127.0.0.1 far more often than anyone would: tests that
# are not about throttling lift those limits; the throttle tests pass `**REAL_THROTTLES`.
LIFTED_THROTTLES: dict[str, object] = {
    "chat_starts_per_address_per_hour": 1_000_000,
    "sign_in_attempts_per_address": 1_000_000,
    "sign_in_attempts_per_account": 1_000_000,
}
# Load shedding on a late event loop is off (see make_test_settings) in the worker processes tests
# start too: they inherit this environment.
os.environ.setdefault("FIRSTCONTACT_OVERLOAD_MAX_DELAY_MS", "0")
REAL_THROTTLES: dict[str, object] = {name: Settings.model_fields[name].default for name in LIFTED_THROTTLES}


def make_test_settings(data_dir: Path, database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        **LIFTED_THROTTLES,
        # Shedding load when the event loop runs late would refuse tests' messages on a busy
        # shared machine; tests/chat_server/test_overload.py turns it on where it is under test.
        "overload_max_delay_ms": 0,
        "env": "test",
        "data_dir": data_dir,
        "database_url": database_url,
        "redis_url": TEST_REDIS_URL or None,
        "redis_channel_prefix": f"fctest-{secrets.token_hex(4)}",
        "secret_key": secrets.token_urlsafe(40),
        "sms_provider": "log",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with fresh_database(tmp_path_factory.mktemp("db"), "unit") as url:
        yield url


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    eng = make_engine(database_url)
    yield eng
    eng.dispose()


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    """One connection per test inside a transaction that is always rolled back."""
    conn = engine.connect()
    trans = conn.begin()
    try:
        yield conn
    finally:
        trans.rollback()
        conn.close()


@pytest.fixture
def session(connection: Connection) -> Iterator[Session]:
    with Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False) as s:
        yield s


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    # The app under TestClient shares the test's one connection: no background routing loop there
    # (the live server, with its own database, runs it).
    return make_test_settings(tmp_path, database_url, routing_loop_enabled=False)


@pytest.fixture
def bus(settings: Settings) -> EventBus:
    return make_bus(settings.redis_url, prefix=settings.redis_channel_prefix)


@pytest.fixture
def store(engine: Engine, connection: Connection, bus: EventBus) -> Store:
    """A store whose sessions join the test's rolled-back transaction."""
    return Store(engine, bus, bind=connection)


@pytest.fixture
def app(settings: Settings, store: Store) -> FastAPI:
    return create_app(settings, store=store)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    """A real uvicorn server on a free port, with its own migrated database."""

    app: FastAPI
    base_url: str
    ws_url: str
    settings: Settings

    @property
    def store(self) -> Store:
        return self.app.state.store  # type: ignore[no-any-return]


def start_live_server(app: FastAPI) -> tuple[uvicorn.Server, threading.Thread, int]:
    port = free_port()
    # The websocket options of `firstcontact serve` (the frame cap is part of the chat protocol).
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        ws_per_message_deflate=False,
        ws_max_size=MAX_TRANSPORT_FRAME_BYTES,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"live-server-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("live server did not start")
        time.sleep(0.02)
    return server, thread, port


@pytest.fixture(scope="session")
def _live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp("live")
    with fresh_database(data_dir, "live") as url:
        settings = make_test_settings(data_dir, url, public_base_url="http://127.0.0.1")
        app = create_app(settings)
        server, thread, port = start_live_server(app)
        settings.public_base_url = f"http://127.0.0.1:{port}"
        try:
            yield LiveServer(app, f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}", settings)
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            app.state.store.engine.dispose()


@pytest.fixture
def live_server(_live_server: LiveServer) -> Iterator[LiveServer]:
    """The shared live server; its invariants are checked and its database emptied after each test."""
    yield _live_server
    try:
        assert_store_invariants(_live_server.store.engine)
    finally:
        truncate_all(_live_server.store.engine)
