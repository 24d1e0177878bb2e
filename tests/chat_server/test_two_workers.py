"""Two uvicorn processes on two ports sharing a fresh PostgreSQL database and Redis: a visitor on
one worker and an operator on the other chat normally, and the visitor resumes on the other worker.

Skipped unless FIRSTCONTACT_TEST_DATABASE_URL (PostgreSQL) and FIRSTCONTACT_TEST_REDIS_URL are set.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from contact_store.db import Store, make_engine
from contact_store.events import InProcessBus
from tests.chat_server.chat_client import (
    new_id,
    operator_holding,
    operator_token,
    recv_until,
    send,
    start_chat,
    visitor_socket,
)
from tests.conftest import free_port
from tests.support.databases import TEST_DATABASE_URL, TEST_REDIS_URL, fresh_database

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(
        not TEST_DATABASE_URL.startswith("postgresql") or not TEST_REDIS_URL,
        reason="needs FIRSTCONTACT_TEST_DATABASE_URL (PostgreSQL) and FIRSTCONTACT_TEST_REDIS_URL",
    ),
]
REPO = Path(__file__).resolve().parents[2]


@dataclass
class Worker:
    base_url: str
    ws_url: str
    store: Store


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[tuple[Worker, Worker]]:
    with fresh_database(tmp_path, "workers") as url:  # migrated once here: no race between workers
        engine = make_engine(url)
        store = Store(engine, InProcessBus())
        prefix = f"fctest-{secrets.token_hex(4)}"
        procs: list[subprocess.Popen[bytes]] = []
        workers = []
        try:
            for name in ("a", "b"):
                port = free_port()
                env = os.environ | {
                    "FIRSTCONTACT_ENV": "test",
                    "FIRSTCONTACT_DATABASE_URL": url,
                    "FIRSTCONTACT_REDIS_URL": TEST_REDIS_URL,
                    "FIRSTCONTACT_REDIS_CHANNEL_PREFIX": prefix,
                    "FIRSTCONTACT_SECRET_KEY": secrets.token_urlsafe(40),
                    "FIRSTCONTACT_DATA_DIR": str(tmp_path / name),
                    "FIRSTCONTACT_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
                }
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
            engine.dispose()


async def test_visitor_and_operator_on_different_workers(two_workers: tuple[Worker, Worker]) -> None:
    a, b = (cast(Any, w) for w in two_workers)
    chat = await start_chat(a)
    _, token = operator_token(b)
    visitor = await visitor_socket(a, chat)
    await send(visitor, {"type": "resume", "after_seq": 0})
    await send(visitor, {"type": "message", "client_id": new_id(), "body": "hello from worker A"})
    await recv_until(visitor, lambda f: f["type"] == "ack")
    operator = await operator_holding(b, chat, token)
    got = await recv_until(operator, lambda f: f["type"] == "message" and f["sender"] == "visitor")
    assert got["body"] == "hello from worker A"
    await recv_until(visitor, lambda f: f["type"] == "assigned")
    cid = chat["conversation_id"]
    await send(
        operator, {"type": "message", "conversation_id": cid, "client_id": new_id(), "body": "reply from B"}
    )
    reply = await recv_until(visitor, lambda f: f["type"] == "message" and f["sender"] == "operator")
    assert reply["body"] == "reply from B"
    last = reply["seq"]
    # The visitor's socket drops; the operator writes; the visitor comes back on worker B.
    await visitor.close()
    for i in range(3):
        await send(
            operator,
            {"type": "message", "conversation_id": cid, "client_id": new_id(), "body": f"missed {i}"},
        )
        await recv_until(operator, lambda f: f["type"] == "ack")
    visitor = await visitor_socket(b, chat)
    await send(visitor, {"type": "resume", "after_seq": last})
    await send(operator, {"type": "message", "conversation_id": cid, "client_id": new_id(), "body": "live"})
    bodies: list[str] = []
    seqs: list[int] = []
    while not bodies or bodies[-1] != "live":
        f = await recv_until(visitor, lambda f: f["type"] == "message")
        bodies.append(f["body"])
        seqs.append(f["seq"])
    assert bodies == ["missed 0", "missed 1", "missed 2", "live"]
    assert seqs == sorted(set(seqs))
    # And the visitor on B reaches the operator, who is also on B now; then back on A.
    await send(visitor, {"type": "message", "client_id": new_id(), "body": "thanks"})
    got = await recv_until(operator, lambda f: f["type"] == "message" and f["sender"] == "visitor")
    assert got["body"] == "thanks"
    await visitor.close()
    await operator.close()
