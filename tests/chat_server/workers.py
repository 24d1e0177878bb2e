"""Two `python -m chat_server serve` processes on two ports sharing a fresh PostgreSQL database and
Redis (used by the two-worker tests; they skip without FIRSTCONTACT_TEST_DATABASE_URL/REDIS_URL).
The processes are tests/support/serve.py's `WorkerProcess`: logs in `tmp_path/worker-{a,b}.log`."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from contact_store.db import Store, make_engine
from contact_store.events import InProcessBus
from tests.support.databases import TEST_DATABASE_URL, TEST_REDIS_URL, assert_store_invariants, fresh_database
from tests.support.serve import WorkerProcess, close_all, serve_env

needs_postgres_and_redis = pytest.mark.skipif(
    not TEST_DATABASE_URL.startswith("postgresql") or not TEST_REDIS_URL,
    reason="needs FIRSTCONTACT_TEST_DATABASE_URL (PostgreSQL) and FIRSTCONTACT_TEST_REDIS_URL",
)
# A test that starts workers: each may take up to serve.START_TIMEOUT on a busy machine, longer than
# pytest's default timeout (a slow start should fail with the worker's log, not be cut short).
slow_start = pytest.mark.timeout(600)


@dataclass
class Worker:
    base_url: str
    ws_url: str
    store: Store


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[tuple[Worker, Worker]]:
    with spawn_two_workers(tmp_path) as workers:
        yield workers


@contextmanager
def spawn_two_workers(tmp_path: Path, **extra_env: str) -> Iterator[tuple[Worker, Worker]]:
    """Two worker processes (with these extra FIRSTCONTACT_* variables) on one fresh database."""
    with fresh_database(tmp_path, "workers") as url:  # migrated once here: no race between workers
        engine = make_engine(url)
        store = Store(engine, InProcessBus())
        prefix = f"fctest-{secrets.token_hex(4)}"
        procs = [
            WorkerProcess(name, {}, tmp_path / f"worker-{name}.log", "--log-level", "warning")
            for name in ("a", "b")
        ]
        try:
            for p in procs:
                p.env = (
                    serve_env(
                        tmp_path / p.name,
                        url,
                        redis_url=TEST_REDIS_URL,
                        redis_channel_prefix=prefix,
                        public_base_url=p.base_url,
                    )
                    | extra_env
                )
                p.launch()
            for p in procs:
                p.wait_up()
            a, b = (Worker(p.base_url, p.ws_url, store) for p in procs)
            yield a, b
        finally:
            close_all(procs, timeout=10)
            try:
                assert_store_invariants(engine)
            finally:
                engine.dispose()
