"""Submission rate limits: in-process buckets, and buckets shared by every worker through Redis."""

from __future__ import annotations

import logging
import secrets

import pytest

from tests.support.databases import TEST_REDIS_URL
from web_forms.ratelimit import RedisTokenBucketLimiter, TokenBucketLimiter, retry_after_header

needs_redis = pytest.mark.skipif(not TEST_REDIS_URL, reason="needs FIRSTCONTACT_TEST_REDIS_URL")


def test_in_process_bucket_refills_with_time() -> None:
    now = [1000.0]
    limiter = TokenBucketLimiter(2, clock=lambda: now[0])
    assert [limiter.take("a"), limiter.take("a")] == [0.0, 0.0]
    wait = limiter.take("a")
    assert wait == pytest.approx(30.0)  # 2 per minute: one token every 30 s
    assert limiter.take("b") == 0.0  # other addresses have their own bucket
    now[0] += 30
    assert limiter.take("a") == 0.0
    assert retry_after_header(0.2) == "1" and retry_after_header(29.1) == "30"


@needs_redis
@pytest.mark.anyio
async def test_workers_share_one_bucket_per_address_in_redis() -> None:
    namespace = f"fctest-{secrets.token_hex(4)}:ratelimit:forms"
    worker_a = RedisTokenBucketLimiter(3, redis_url=TEST_REDIS_URL, namespace=namespace)
    worker_b = RedisTokenBucketLimiter(3, redis_url=TEST_REDIS_URL, namespace=namespace)
    assert await worker_a.take_async("198.51.100.7") == 0.0
    assert await worker_b.take_async("198.51.100.7") == 0.0
    assert await worker_a.take_async("198.51.100.7") == 0.0
    # The address has used its 3 across both workers: each worker now refuses it.
    wait_b = await worker_b.take_async("198.51.100.7")
    assert 0 < wait_b <= 20.0  # 3 per minute: a token every 20 s
    assert await worker_a.take_async("198.51.100.7") > 0
    assert await worker_a.take_async("203.0.113.9") == 0.0  # another address is untouched


@pytest.mark.anyio
async def test_redis_outage_falls_back_to_this_workers_buckets(caplog: pytest.LogCaptureFixture) -> None:
    # Nothing listens on port 1: every Redis call fails at once.
    limiter = RedisTokenBucketLimiter(2, redis_url="redis://127.0.0.1:1/0", namespace="fctest", timeout_s=0.2)
    with caplog.at_level(logging.WARNING, logger="web_forms.ratelimit"):
        waits = [await limiter.take_async("198.51.100.7") for _ in range(3)]
    assert waits[:2] == [0.0, 0.0] and waits[2] > 0  # still limited, never an exception
    assert sum("Redis unavailable" in r.getMessage() for r in caplog.records) == 1  # logged once
