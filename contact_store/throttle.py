"""Throttles: token buckets per client address, per account and per conversation, and a bound on
how many costly operations run at once. One implementation for every limit of the platform.

Protocol of a throttle
    A named throttle has a `Rate`: a bucket holds `capacity` tokens and refills evenly, from empty
    to full, over `period_s` seconds. Each key (an address, a username, a conversation id) has its
    own bucket. `take_async(key)` answers 0.0 (allowed: one token taken) or the seconds to wait
    before a token is there (refused: nothing taken); the caller refuses the request with 429 and
    `Retry-After: retry_after_header(wait)` (HTTP), or an `error` frame (websocket).

Backends
    - `LocalLimiter`: this process's own buckets, thread-safe. With one worker it is the whole limit.
    - `RedisLimiter` (when `redis_url` is set): one bucket per key shared by every worker and host,
      so N workers still allow the rate once, not N times. One Lua script reads, refills and takes
      atomically on Redis's clock: one round trip per take, on the asyncio client (the event loop
      never waits on a socket) over at most `REDIS_CONNECTIONS` connections per worker (measured
      by bench/throttle_hot_path.py). Keys are hashed (Redis holds no address or username in clear)
      and expire once the bucket would be full again. If Redis does not answer, the limiter uses this
      worker's own buckets for `REDIS_RETRY_S` (logged at most once a minute): an outage never turns
      a request into a 500 and never removes the limit.

The named throttles (`Throttles`, one per app, built from the settings on first use)
    forms              report submissions (API and the HTML "Send report") per client address
    chat-start         chat starts per client address
    sign-in-address    sign-in attempts per client address (spraying from one place)
    sign-in-account    sign-in attempts per username, known or not (a flood against one account;
                       an unknown username is throttled exactly like a real one)
    chat-message       visitor messages per conversation (every connection of a chat shares it)

`ConcurrencyGate` bounds how many of something run at once in this process (password hashing),
with a bounded, short wait for a slot: past that the caller answers "busy" instead of queueing.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from contact_store.errors import RateLimited
from contact_store.settings import Settings

logger = logging.getLogger(__name__)

FORMS = "forms"
CHAT_START = "chat-start"
SIGN_IN_ADDRESS = "sign-in-address"
SIGN_IN_ACCOUNT = "sign-in-account"
CHAT_MESSAGE = "chat-message"

# Forget idle keys so a flood of distinct addresses cannot grow memory without bound.
MAX_TRACKED_KEYS = 50_000
# After Redis fails, use this worker's buckets this long before trying Redis again (so a dead Redis
# costs one timeout per interval, not one per request or chat message).
REDIS_RETRY_S = 5.0
FALLBACK_LOG_INTERVAL_S = 60.0
# Connections to Redis per limiter and event loop: concurrent takes beyond this wait (up to the
# timeout) for one, rather than opening a connection per socket (bench/throttle_hot_path.py).
REDIS_CONNECTIONS = 16
# A refill rate of 0 would never refill (and divide by zero): one token an hour is the floor.
MIN_RATE_PER_SECOND = 1 / 3600


@dataclass(frozen=True)
class Rate:
    """A bucket of `capacity` tokens that refills from empty to full in `period_s` seconds."""

    capacity: int
    period_s: float

    @property
    def per_second(self) -> float:
        return self.capacity / self.period_s


def rates(settings: Settings) -> dict[str, Rate]:
    """Each named throttle's rate, from the settings."""
    sign_in_period = max(1, settings.sign_in_throttle_minutes) * 60.0
    burst = max(1, settings.chat_rate_burst)
    return {
        FORMS: Rate(max(1, settings.api_submissions_per_minute), 60.0),
        CHAT_START: Rate(max(1, settings.chat_starts_per_address_per_hour), 3600.0),
        SIGN_IN_ADDRESS: Rate(max(1, settings.sign_in_attempts_per_address), sign_in_period),
        SIGN_IN_ACCOUNT: Rate(max(1, settings.sign_in_attempts_per_account), sign_in_period),
        CHAT_MESSAGE: Rate(burst, burst / max(settings.chat_rate_per_second, MIN_RATE_PER_SECOND)),
    }


def retry_after_header(wait: float) -> str:
    """Whole seconds for a Retry-After header (at least 1)."""
    return str(max(1, math.ceil(wait)))


class Bucket:
    """One token bucket (not thread-safe: its owner locks). Starts full."""

    __slots__ = ("tokens", "updated")

    def __init__(self, rate: Rate, now: float) -> None:
        self.tokens = float(rate.capacity)
        self.updated = now

    def take(self, rate: Rate, now: float) -> float:
        """Refill to `now`, then take a token: 0.0, or the seconds until one is there."""
        per_second = rate.per_second
        self.tokens = min(float(rate.capacity), self.tokens + max(0.0, now - self.updated) * per_second)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / per_second


class Limiter(Protocol):
    rate: Rate

    async def take_async(self, key: str) -> float: ...


class LocalLimiter:
    """This process's buckets, one per key (thread-safe)."""

    def __init__(self, rate: Rate, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self._clock = clock
        self._buckets: dict[str, Bucket] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """Take a token for `key`: 0.0 if allowed, else the seconds to wait before retrying."""
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= MAX_TRACKED_KEYS:
                    self._prune(now)
                bucket = self._buckets[key] = Bucket(self.rate, now)
            return bucket.take(self.rate, now)

    async def take_async(self, key: str) -> float:
        """`take` for handlers on the event loop (in memory: it never waits)."""
        return self.take(key)

    def _prune(self, now: float) -> None:
        stale = [k for k, b in self._buckets.items() if now - b.updated >= self.rate.period_s]
        for key in stale:
            del self._buckets[key]
        if len(self._buckets) >= MAX_TRACKED_KEYS:
            self._buckets.clear()


# KEYS[1] = the key's bucket; ARGV = capacity, refill rate (tokens per second), expiry (seconds).
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
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return tostring(wait)
"""


# The same, taking up to ARGV[4] tokens at once (a lease): returns {wait, tokens taken}.
_LEASE_SCRIPT = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local want = tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local b = redis.call('HMGET', KEYS[1], 'tokens', 'updated')
local tokens = tonumber(b[1]) or capacity
local updated = tonumber(b[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - updated) * rate)
local wait = 0
local got = math.min(want, math.floor(tokens))
if got >= 1 then tokens = tokens - got else got = 0; wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'updated', tostring(now))
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return {tostring(wait), got}
"""
# A lease's unspent tokens are dropped after this long (never given back: stricter, not looser;
# the shared bucket never gives out more than it holds, however long a worker keeps them).
LEASE_TTL_S = 10.0


class RedisLimiter:
    """One bucket per key shared by every worker through Redis (see the module docstring).

    With `lease` > 1 a take that finds no local token takes up to `lease` tokens from the shared
    bucket at once and spends them locally for up to `LEASE_TTL_S` (unspent ones are dropped): one
    round trip per `lease` takes on a busy key instead of one per take, and the workers together
    still never take more than the one bucket holds. Used for chat messages (issue #13: the
    per-message round trip was on the hot path)."""

    def __init__(
        self, rate: Rate, *, redis_url: str, namespace: str, timeout_s: float = 0.5, lease: int = 1
    ) -> None:
        self.rate = rate
        self.namespace = namespace
        self._url = redis_url
        self._timeout_s = timeout_s
        self._lease = max(1, lease)
        self._leases: dict[str, tuple[int, float]] = {}  # key -> (tokens left, dropped at)
        self._args = [rate.capacity, rate.per_second, math.ceil(rate.period_s) + 1]
        if self._lease > 1:
            self._args.append(self._lease)
        self._script: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._fallback = LocalLimiter(rate)
        self._down_until = 0.0
        self._last_warning = -FALLBACK_LOG_INTERVAL_S

    def _redis_key(self, key: str) -> str:
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]
        return f"{self.namespace}:{digest}"

    async def take_async(self, key: str) -> float:
        import redis
        import redis.asyncio as aioredis

        if self._down_until and time.monotonic() < self._down_until:
            return self._fallback.take(key)
        if self._lease > 1:
            left, until = self._leases.get(key, (0, 0.0))
            if left > 0 and time.monotonic() < until:
                self._leases[key] = (left - 1, until)
                return 0.0
        loop = asyncio.get_running_loop()
        if self._script is None or self._loop is not loop:
            pool = aioredis.BlockingConnectionPool.from_url(
                self._url,
                max_connections=REDIS_CONNECTIONS,
                timeout=self._timeout_s,
                socket_timeout=self._timeout_s,
                socket_connect_timeout=self._timeout_s,
            )
            script = _LEASE_SCRIPT if self._lease > 1 else _TAKE_SCRIPT
            self._script = aioredis.Redis(connection_pool=pool).register_script(script)
            self._loop = loop
        try:
            reply = await self._script(keys=[self._redis_key(key)], args=self._args)
            self._down_until = 0.0
            if self._lease > 1:
                wait, got = float(reply[0]), int(reply[1])
                if got >= 1:
                    if len(self._leases) >= MAX_TRACKED_KEYS:
                        now = time.monotonic()
                        self._leases = {k: v for k, v in self._leases.items() if v[1] > now}
                    # Concurrent takes of one key may each have leased: keep every spare token.
                    spare = self._leases.get(key, (0, 0.0))[0]
                    self._leases[key] = (spare + got - 1, time.monotonic() + LEASE_TTL_S)
                    return 0.0
                if self._leases.get(key, (0, 0.0))[0] > 0:  # another take's lease arrived meanwhile
                    left, until = self._leases[key]
                    self._leases[key] = (left - 1, until)
                    return 0.0
                return wait
            return float(reply)
        except (redis.RedisError, OSError, ValueError):
            return self._fall_back(key)

    def _fall_back(self, key: str) -> float:
        now = time.monotonic()
        self._down_until = now + REDIS_RETRY_S
        if now - self._last_warning >= FALLBACK_LOG_INTERVAL_S:
            self._last_warning = now
            logger.warning(
                "throttle %s: Redis unavailable; using this worker's own buckets",
                self.namespace,
                exc_info=True,
            )
        return self._fallback.take(key)


def make_limiter(
    rate: Rate,
    *,
    redis_url: str | None,
    namespace: str,
    clock: Callable[[], float] = time.monotonic,
    lease: int = 1,
) -> Limiter:
    """A limiter shared through Redis when `redis_url` is set (taking `lease` tokens per round
    trip), else this process's own (on `clock`; Redis keeps its own time)."""
    if redis_url:
        return RedisLimiter(rate, redis_url=redis_url, namespace=namespace, lease=lease)
    return LocalLimiter(rate, clock=clock)


def lease_of(name: str, rate: Rate) -> int:
    """Tokens taken per Redis round trip: chat messages lease up to a second's refill (at most a
    quarter of the bucket); every other throttle takes one at a time (sign-in, starts: exact)."""
    if name != CHAT_MESSAGE:
        return 1
    return max(1, min(rate.capacity // 4, math.ceil(rate.per_second)))


class Throttles:
    """The named throttles of one app (see the module docstring), built from its settings."""

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._limiters = {
            name: make_limiter(
                rate,
                redis_url=settings.redis_url,
                namespace=f"{settings.redis_channel_prefix}:throttle:{name}",
                clock=clock,
                lease=lease_of(name, rate),
            )
            for name, rate in rates(settings).items()
        }

    def limiter(self, name: str) -> Limiter:
        return self._limiters[name]

    async def wait(self, name: str, key: str) -> float:
        """Take a token of throttle `name` for `key`: 0.0, or the seconds to wait."""
        return await self._limiters[name].take_async(key)

    async def check(self, name: str, key: str, message: str) -> None:
        """Take a token, or raise RateLimited (429) with Retry-After."""
        wait = await self.wait(name, key)
        if wait > 0:
            raise RateLimited(message, headers={"Retry-After": retry_after_header(wait)})

    async def sign_in_wait(self, *, address: str, username: str) -> float:
        """Take a sign-in attempt for the address, then for the account: 0.0, or the seconds to wait.
        `username` must be normalised (`staff.normalise_username`); it need not exist."""
        wait = await self.wait(SIGN_IN_ADDRESS, address)
        if wait > 0:
            return wait
        return await self.wait(SIGN_IN_ACCOUNT, username)


_APP_LOCK = threading.Lock()


def throttles_for(app: Any) -> Throttles:
    """The app's throttles (`app.state.throttles`), made from `app.state.settings` on first use."""
    state = app.state
    existing: Throttles | None = getattr(state, "throttles", None)
    if existing is None:
        with _APP_LOCK:
            existing = getattr(state, "throttles", None)
            if existing is None:
                existing = state.throttles = Throttles(state.settings)
    return existing


class ConcurrencyGate:
    """At most `slots` holders at once in this process; at most `max_waiting` more wait, each for at
    most `wait_s`. Everyone else is told "no" at once, so a flood cannot pile up threads or memory."""

    def __init__(self, slots: int, *, max_waiting: int, wait_s: float) -> None:
        self.slots = max(1, slots)
        self.max_waiting = max(0, max_waiting)
        self.wait_s = wait_s
        self._semaphore = threading.BoundedSemaphore(self.slots)
        self._lock = threading.Lock()
        self._waiting = 0

    @contextmanager
    def slot(self) -> Iterator[bool]:
        """Hold a slot for the block: yields True, or False when none came free in time."""
        got = self._semaphore.acquire(blocking=False)
        if not got:
            with self._lock:
                queued = self._waiting < self.max_waiting
                if queued:
                    self._waiting += 1
            if queued:
                try:
                    got = self._semaphore.acquire(timeout=self.wait_s)
                finally:
                    with self._lock:
                        self._waiting -= 1
        try:
            yield got
        finally:
            if got:
                self._semaphore.release()
