"""A per-client-address token bucket for submissions (in-process: each worker counts separately).

Each address gets `per_minute` tokens that refill continuously; a submission takes one. With N
workers the effective limit is up to N times the setting: put a shared limit in the proxy (or
Redis) in front of multi-worker deployments. Thread-safe (handlers run in a threadpool).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

# Forget idle addresses so a flood of distinct addresses cannot grow memory without bound.
MAX_TRACKED_ADDRESSES = 50_000


@dataclass
class _Bucket:
    tokens: float
    updated: float


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

    def _prune(self, now: float) -> None:
        full_after = self.capacity / self.rate
        stale = [k for k, b in self._buckets.items() if now - b.updated >= full_after]
        for key in stale:
            del self._buckets[key]
        if len(self._buckets) >= MAX_TRACKED_ADDRESSES:
            self._buckets.clear()

    @staticmethod
    def retry_after_header(wait: float) -> str:
        return str(max(1, math.ceil(wait)))
