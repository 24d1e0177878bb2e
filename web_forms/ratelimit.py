"""Per-client-address token buckets for submissions.

Each address gets `per_minute` tokens that refill continuously; a submission takes one, and
`take()` answers 0.0 (allowed) or the seconds to wait (refused: 429 with Retry-After).

- `TokenBucketLimiter`: in-process, thread-safe (handlers run in a threadpool). With one worker
  this is the whole limit.
- `RedisTokenBucketLimiter`: with `FIRSTCONTACT_REDIS_URL` set, every worker and process shares one
  bucket per address in Redis, so N workers still allow `per_minute`, not N times it. One Lua
  script reads, refills and takes atomically on Redis's own clock (one round trip per
  submission); the key expires once the bucket would be full again. If Redis does not answer, the
  limiter falls back to this worker's in-process bucket (logged, at most once a minute): a Redis
  outage never turns a submission into a 500 and never removes the limit altogether.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

logger = logging.getLogger(__name__)

# Forget idle addresses so a flood of distinct addresses cannot grow memory without bound.
MAX_TRACKED_ADDRESSES = 50_000


@dataclass
class _Bucket:
    tokens: float
    updated: float


class Limiter(Protocol):
    async def take_async(self, key: str) -> float: ...


def retry_after_header(wait: float) -> str:
    """Whole seconds for a Retry-After header (at least 1)."""
    return str(max(1, math.ceil(wait)))


class TokenBucketLimiter:
    def __init__(self, per_minute: int, *, clock: object = time.monotonic) -> None:
        self.capacity = max(1, per_minute)
        self.rate = self.capacity / 60.0  # tokens per second
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def _now(self) -> float:
        return float(self._clock())  # type: ignore[operator]

    def take(self, key: str) -> float:
        """Take a token for `key`: 0.0 if allowed, else the seconds to wait before retrying."""
        now = self._now()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= MAX_TRACKED_ADDRESSES:
                    self._prune(now)
                bucket = self._buckets[key] = _Bucket(tokens=float(self.capacity), updated=now)
            bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return 0.0
            return (1 - bucket.tokens) / self.rate

    async def take_async(self, key: str) -> float:
        """`take` for handlers on the event loop (in memory: it never waits)."""
        return self.take(key)

    def _prune(self, now: float) -> None:
        full_after = self.capacity / self.rate
        stale = [k for k, b in self._buckets.items() if now - b.updated >= full_after]
        for key in stale:
            del self._buckets[key]
        if len(self._buckets) >= MAX_TRACKED_ADDRESSES:
            self._buckets.clear()


# KEYS[1] = the address's bucket; ARGV = capacity, refill rate (tokens per second).
# Returns the wait in seconds as a string (Lua numbers become integers in Redis replies).
_TAKE_SCRIPT = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local b = redis.call('HMGET', KEYS[1], 'tokens', 'updated')
local tokens = tonumber(b[1]) or capacity
local updated = tonumber(b[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - updated) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'updated', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(capacity / rate) + 1)
return tostring(wait)
"""
FALLBACK_LOG_INTERVAL_S = 60.0


class RedisTokenBucketLimiter:
    """One bucket per address shared by every worker through Redis (see the module docstring).

    It uses the asyncio client (made per event loop on first use), so the event loop never waits
    on a socket.
    """

    def __init__(self, per_minute: int, *, redis_url: str, namespace: str, timeout_s: float = 0.5) -> None:

        self.capacity = max(1, per_minute)
        self.rate = self.capacity / 60.0
        self.namespace = namespace
        self._url = redis_url
        self._timeout_s = timeout_s
        self._async_script: Any = None
        self._async_loop: asyncio.AbstractEventLoop | None = None
        self._fallback = TokenBucketLimiter(per_minute)
        self._last_warning = -FALLBACK_LOG_INTERVAL_S

    async def take_async(self, key: str) -> float:
        import redis
        import redis.asyncio as aioredis

        loop = asyncio.get_running_loop()
        if self._async_script is None or self._async_loop is not loop:
            client = aioredis.Redis.from_url(
                self._url, socket_timeout=self._timeout_s, socket_connect_timeout=self._timeout_s
            )
            self._async_script, self._async_loop = client.register_script(_TAKE_SCRIPT), loop
        try:
            reply = await self._async_script(
                keys=[f"{self.namespace}:{key}"], args=[self.capacity, self.rate]
            )
            return float(reply)
        except (redis.RedisError, OSError, ValueError):
            return self._fall_back(key)

    def _fall_back(self, key: str) -> float:
        now = time.monotonic()
        if now - self._last_warning >= FALLBACK_LOG_INTERVAL_S:
            self._last_warning = now
            logger.warning("rate limit: Redis unavailable; using this worker's own buckets", exc_info=True)
        return self._fallback.take(key)
