"""The throttles: in-process buckets, buckets shared by every worker through Redis (and what
happens when Redis is down), the named throttles built from the settings, and the concurrency gate
that bounds password checks."""

from __future__ import annotations

import logging
import secrets
import threading
from pathlib import Path

import pytest

from contact_store.settings import Settings
from contact_store.throttle import (
    CHAT_MESSAGE,
    CHAT_START,
    FORMS,
    SIGN_IN_ACCOUNT,
    SIGN_IN_ADDRESS,
    ConcurrencyGate,
    LocalLimiter,
    Rate,
    RedisLimiter,
    Throttles,
    lease_of,
    rates,
    retry_after_header,
)
from tests.support.databases import TEST_REDIS_URL

needs_redis = pytest.mark.skipif(not TEST_REDIS_URL, reason="needs FIRSTCONTACT_TEST_REDIS_URL")


def test_in_process_bucket_refills_with_time() -> None:
    now = [1000.0]
    limiter = LocalLimiter(Rate(2, 60.0), clock=lambda: now[0])
    assert [limiter.take("a"), limiter.take("a")] == [0.0, 0.0]
    wait = limiter.take("a")
    assert wait == pytest.approx(30.0)  # 2 per minute: one token every 30 s
    assert limiter.take("b") == 0.0  # other keys have their own bucket
    now[0] += 30
    assert limiter.take("a") == 0.0
    assert limiter.take("a") > 0
    assert retry_after_header(0.2) == "1" and retry_after_header(29.1) == "30"


def test_a_refused_take_uses_no_token() -> None:
    now = [0.0]
    limiter = LocalLimiter(Rate(1, 10.0), clock=lambda: now[0])
    assert limiter.take("a") == 0.0
    for _ in range(5):  # hammering while refused does not push the next token further away
        assert limiter.take("a") == pytest.approx(10.0)
    now[0] += 10
    assert limiter.take("a") == 0.0


def test_rates_come_from_the_settings(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        api_submissions_per_minute=7,
        chat_starts_per_address_per_hour=20,
        sign_in_attempts_per_address=30,
        sign_in_attempts_per_account=10,
        sign_in_throttle_minutes=15,
        chat_rate_per_second=5,
        chat_rate_burst=20,
    )
    r = rates(settings)
    assert r[FORMS] == Rate(7, 60.0)
    assert r[CHAT_START] == Rate(20, 3600.0)
    assert r[SIGN_IN_ADDRESS] == Rate(30, 900.0) and r[SIGN_IN_ACCOUNT] == Rate(10, 900.0)
    assert r[CHAT_MESSAGE].capacity == 20 and r[CHAT_MESSAGE].per_second == pytest.approx(5.0)


@pytest.mark.anyio
async def test_sign_in_counts_the_address_then_the_account(tmp_path: Path) -> None:
    throttles = Throttles(
        Settings(data_dir=tmp_path, sign_in_attempts_per_address=3, sign_in_attempts_per_account=2)
    )
    # One account from several addresses: the account's budget runs out.
    assert await throttles.sign_in_wait(address="a1", username="sam") == 0.0
    assert await throttles.sign_in_wait(address="a2", username="sam") == 0.0
    assert await throttles.sign_in_wait(address="a3", username="sam") > 0
    # One address spraying several accounts: the address's budget runs out (a1 has used 1 of 3).
    assert await throttles.sign_in_wait(address="a1", username="kim") == 0.0
    assert await throttles.sign_in_wait(address="a1", username="lee") == 0.0
    assert await throttles.sign_in_wait(address="a1", username="max") > 0


@needs_redis
@pytest.mark.anyio
async def test_workers_share_one_bucket_per_key_in_redis() -> None:
    namespace = f"fctest-{secrets.token_hex(4)}:throttle:forms"
    worker_a = RedisLimiter(Rate(3, 60.0), redis_url=TEST_REDIS_URL, namespace=namespace)
    worker_b = RedisLimiter(Rate(3, 60.0), redis_url=TEST_REDIS_URL, namespace=namespace)
    assert await worker_a.take_async("198.51.100.7") == 0.0
    assert await worker_b.take_async("198.51.100.7") == 0.0
    assert await worker_a.take_async("198.51.100.7") == 0.0
    # The address has used its 3 across both workers: each worker now refuses it.
    wait_b = await worker_b.take_async("198.51.100.7")
    assert 0 < wait_b <= 20.0  # 3 per minute: a token every 20 s
    assert await worker_a.take_async("198.51.100.7") > 0
    assert await worker_a.take_async("203.0.113.9") == 0.0  # another address is untouched


@needs_redis
@pytest.mark.anyio
async def test_leased_tokens_are_spent_without_a_round_trip_and_never_exceed_the_bucket() -> None:
    import redis.asyncio as aioredis

    namespace = f"fctest-{secrets.token_hex(4)}:throttle:chat-message"
    rate = Rate(12, 3600.0)  # no refill worth counting during the test
    worker_a = RedisLimiter(rate, redis_url=TEST_REDIS_URL, namespace=namespace, lease=5)
    worker_b = RedisLimiter(rate, redis_url=TEST_REDIS_URL, namespace=namespace, lease=5)
    assert await worker_a.take_async("chat-1") == 0.0  # leases 5 (7 left in Redis)
    client = aioredis.Redis.from_url(TEST_REDIS_URL)
    try:
        keys = [k async for k in client.scan_iter(match=f"{namespace}:*")]
        assert len(keys) == 1
        assert float(await client.hget(keys[0], "tokens")) == pytest.approx(7, abs=0.01)  # type: ignore[arg-type]
        # The lease's other 4 are spent here: Redis is not asked (its count does not move).
        assert [await worker_a.take_async("chat-1") for _ in range(4)] == [0.0] * 4
        assert float(await client.hget(keys[0], "tokens")) == pytest.approx(7, abs=0.01)  # type: ignore[arg-type]
    finally:
        await client.aclose()
    # Both workers together never get more than the one bucket held.
    allowed = 5
    for _ in range(20):
        allowed += await worker_b.take_async("chat-1") == 0.0
        allowed += await worker_a.take_async("chat-1") == 0.0
    assert allowed == 12
    assert lease_of(CHAT_MESSAGE, Rate(20, 4.0)) == 5 and lease_of(FORMS, Rate(30, 60.0)) == 1


@needs_redis
@pytest.mark.anyio
async def test_redis_holds_no_address_or_username_and_forgets_idle_keys() -> None:
    import redis.asyncio as aioredis

    namespace = f"fctest-{secrets.token_hex(4)}:throttle:sign-in-account"
    limiter = RedisLimiter(Rate(10, 900.0), redis_url=TEST_REDIS_URL, namespace=namespace)
    await limiter.take_async("sam.operator")
    client = aioredis.Redis.from_url(TEST_REDIS_URL)
    try:
        keys = [k.decode() async for k in client.scan_iter(match=f"{namespace}:*")]
        assert len(keys) == 1 and "sam.operator" not in keys[0]
        assert 0 < await client.ttl(keys[0]) <= 901  # gone once the bucket would be full again
    finally:
        await client.aclose()


@pytest.mark.anyio
async def test_redis_outage_falls_back_to_this_workers_buckets(caplog: pytest.LogCaptureFixture) -> None:
    # Nothing listens on port 1: every Redis call fails at once.
    limiter = RedisLimiter(
        Rate(2, 60.0), redis_url="redis://127.0.0.1:1/0", namespace="fctest", timeout_s=0.2
    )
    with caplog.at_level(logging.WARNING, logger="contact_store.throttle"):
        waits = [await limiter.take_async("198.51.100.7") for _ in range(3)]
    assert waits[:2] == [0.0, 0.0] and waits[2] > 0  # still limited, never an exception
    assert sum("Redis unavailable" in r.getMessage() for r in caplog.records) == 1  # logged once


@pytest.mark.anyio
async def test_a_dead_redis_is_not_asked_again_for_a_while(monkeypatch: pytest.MonkeyPatch) -> None:
    limiter = RedisLimiter(
        Rate(100, 60.0), redis_url="redis://127.0.0.1:1/0", namespace="fctest", timeout_s=0.2
    )
    await limiter.take_async("k")  # fails, and opens the circuit
    calls = []
    monkeypatch.setattr(limiter, "_script", lambda **kw: calls.append(kw))
    for _ in range(20):
        assert await limiter.take_async("k") == 0.0
    assert calls == []  # the hot path does not wait on a dead Redis for every message


def test_gate_never_runs_more_than_its_slots_and_refuses_past_its_queue() -> None:
    gate = ConcurrencyGate(2, max_waiting=3, wait_s=30.0)
    release = threading.Event()
    lock = threading.Lock()
    running = [0, 0]  # now, most at once
    outcomes: list[bool] = []

    def work() -> None:
        with gate.slot() as admitted:
            if admitted:
                with lock:
                    running[0] += 1
                    running[1] = max(running[1], running[0])
                release.wait(30)
                with lock:
                    running[0] -= 1
        with lock:
            outcomes.append(admitted)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    # 2 hold a slot, 3 wait: the other 3 are told "no" without waiting for anyone.
    deadline = threading.Event()
    for _ in range(3000):
        with lock:
            if outcomes.count(False) == 3:
                break
        deadline.wait(0.01)
    with lock:
        assert outcomes == [False, False, False] and running[0] == 2
    release.set()
    for t in threads:
        t.join(30)
    assert running[1] == 2 and outcomes.count(True) == 5


def test_gate_gives_up_after_its_wait() -> None:
    gate = ConcurrencyGate(1, max_waiting=1, wait_s=0.05)
    with gate.slot() as first:
        outcome: list[bool] = []

        def second() -> None:
            with gate.slot() as admitted:
                outcome.append(admitted)

        t = threading.Thread(target=second)
        t.start()
        t.join(10)
        assert first and outcome == [False]
    with gate.slot() as again:
        assert again  # the slot was given back


@needs_redis
@pytest.mark.anyio
async def test_many_sockets_at_once_share_a_few_redis_connections(caplog: pytest.LogCaptureFixture) -> None:
    import asyncio

    # 250 an hour: a token comes back every 14 s, so none does during the test.
    limiter = RedisLimiter(
        Rate(250, 3600.0), redis_url=TEST_REDIS_URL, namespace=f"fctest-{secrets.token_hex(4)}:throttle"
    )
    with caplog.at_level(logging.WARNING, logger="contact_store.throttle"):
        waits = await asyncio.gather(*(limiter.take_async("one-conversation") for _ in range(300)))
    assert not caplog.records  # no fallback: more takes than connections wait for one
    assert waits.count(0.0) == 250 and all(w > 0 for w in waits if w)  # exactly one budget
