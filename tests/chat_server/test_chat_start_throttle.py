"""Chat starts per client address (POST /api/v1/chats), with the production limit: 200 starts from
one address are throttled with 429, Retry-After and a JSON error; other addresses are not; with
Redis, two app instances (two workers) share one budget per address."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from chat_server.app import create_app
from chat_server.chat.routes import TOO_MANY_CHATS
from contact_store.db import Store
from contact_store.models import Conversation
from tests.conftest import REAL_THROTTLES, make_test_settings
from tests.support.databases import TEST_REDIS_URL

CHAT = {"name": "Alex Visitor", "topic": "crime"}
LIMIT = int(str(REAL_THROTTLES["chat_starts_per_address_per_hour"]))


def _app_client(
    tmp_path: Path, database_url: str, store: Store, address: str, **overrides: object
) -> TestClient:
    settings = make_test_settings(
        tmp_path, database_url, routing_loop_enabled=False, **(REAL_THROTTLES | overrides)
    )
    return TestClient(create_app(settings, store=store), client=(address, 50000))


def _conversations(session: Session) -> int:
    session.expire_all()
    return int(session.exec(select(func.count()).select_from(Conversation)).one())


def test_two_hundred_chat_starts_from_one_address_are_throttled(
    tmp_path: Path, database_url: str, store: Store, session: Session
) -> None:
    before = _conversations(session)
    with _app_client(tmp_path, database_url, store, "198.51.100.7") as c:
        codes = [c.post("/api/v1/chats", json=CHAT).status_code for _ in range(200)]
        assert codes == [201] * LIMIT + [429] * (200 - LIMIT)
        refused = c.post("/api/v1/chats", json=CHAT)
        assert refused.status_code == 429
        assert refused.json() == {"error": {"code": "rate_limited", "message": TOO_MANY_CHATS}}
        # The whole hour's budget is spent: a token comes back in 3600 / LIMIT seconds.
        assert 1 <= int(refused.headers["retry-after"]) <= 3600 // LIMIT
        assert c.get("/api/v1/chats/availability").status_code == 200  # asking is not limited
    assert _conversations(session) == before + LIMIT  # nothing was queued for a refused start
    # Another address has its own budget.
    with _app_client(tmp_path, database_url, store, "203.0.113.9") as other:
        assert other.post("/api/v1/chats", json=CHAT).status_code == 201


def test_refused_starts_are_429_even_when_the_answers_are_wrong(
    tmp_path: Path, database_url: str, store: Store
) -> None:
    with _app_client(tmp_path, database_url, store, "198.51.100.8", chat_starts_per_address_per_hour=1) as c:
        assert c.post("/api/v1/chats", json={"name": " ", "topic": "nope"}).status_code == 422
        assert c.post("/api/v1/chats", json=CHAT).status_code == 429


@pytest.mark.skipif(not TEST_REDIS_URL, reason="needs FIRSTCONTACT_TEST_REDIS_URL")
def test_two_workers_share_one_budget_per_address_through_redis(
    tmp_path: Path, database_url: str, store: Store
) -> None:
    shared = {"redis_channel_prefix": f"fctest-{secrets.token_hex(4)}"}
    with (
        _app_client(tmp_path / "a", database_url, store, "198.51.100.9", **shared) as a,
        _app_client(tmp_path / "b", database_url, store, "198.51.100.9", **shared) as b,
    ):
        codes = [(a if i % 2 else b).post("/api/v1/chats", json=CHAT).status_code for i in range(LIMIT + 4)]
        assert codes == [201] * LIMIT + [429] * 4  # not LIMIT per worker
        assert a.post("/api/v1/chats", json=CHAT).status_code == 429
        assert b.post("/api/v1/chats", json=CHAT).status_code == 429
