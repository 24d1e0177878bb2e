"""Two `python -m chat_server serve` processes on two ports sharing a fresh PostgreSQL database and
Redis (used by the two-worker tests; they skip without FIRSTCONTACT_TEST_DATABASE_URL/REDIS_URL)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from contact_store.db import Store, make_engine
from contact_store.events import InProcessBus
from tests.conftest import free_port
from tests.support.databases import TEST_DATABASE_URL, TEST_REDIS_URL, assert_store_invariants, fresh_database

REPO = Path(__file__).resolve().parents[2]
needs_postgres_and_redis = pytest.mark.skipif(
    not TEST_DATABASE_URL.startswith("postgresql") or not TEST_REDIS_URL,
    reason="needs FIRSTCONTACT_TEST_DATABASE_URL (PostgreSQL) and FIRSTCONTACT_TEST_REDIS_URL",
)


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
        procs: list[subprocess.Popen[bytes]] = []
        workers = []
        try:
            for name in ("a", "b"):
                port = free_port()
                env = (
                    os.environ
                    | {
                        "FIRSTCONTACT_ENV": "test",
                        "FIRSTCONTACT_DATABASE_URL": url,
                        "FIRSTCONTACT_REDIS_URL": TEST_REDIS_URL,
                        "FIRSTCONTACT_REDIS_CHANNEL_PREFIX": prefix,
                        "FIRSTCONTACT_SECRET_KEY": secrets.token_urlsafe(40),
                        "FIRSTCONTACT_DATA_DIR": str(tmp_path / name),
                        "FIRSTCONTACT_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
                    }
                    | extra_env
                )
                procs.append(
                    subprocess.Popen(
                        [
                            sys.executable,
                            "-m",
                            "chat_server",
                            "serve",
                            "--port",
                            str(port),
                            "--log-level",
                            "warning",
                        ],
                        cwd=REPO,
                        env=env,
                        stdout=subprocess.DEVNULL,
                    )
                )
                workers.append(Worker(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}", store))
            deadline = time.monotonic() + 60
            for w, p in zip(workers, procs, strict=True):
                while True:
                    assert p.poll() is None, "worker exited"
                    try:
                        if httpx.get(w.base_url + "/healthz", timeout=1).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    assert time.monotonic() < deadline, "worker did not start"
                    time.sleep(0.2)
            yield workers[0], workers[1]
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
            try:
                assert_store_invariants(engine)
            finally:
                engine.dispose()
