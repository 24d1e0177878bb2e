"""What the per-conversation message limit costs on the chat hot path, on this machine.

    .venv/bin/python bench/throttle_hot_path.py [--redis-url redis://127.0.0.1:6379/0]
                                                [--takes 5000] [--conversations 200]

Each visitor message takes one token from its conversation's bucket (`contact_store.throttle`):
in process (one worker) or one Lua round trip to Redis (several workers). Measured here:

1. Sequential: one take after another (the latency a single message pays), p50/p99 in µs.
2. Concurrent: `--conversations` tasks taking at once, as many sockets do (takes per second).

Baseline in the same run: the in-process limiter; the Redis/baseline ratio and the added
microseconds per message are the figures to watch against the chat's 1,000 msg/s, p99 < 50 ms
target. Loopback only. Prints the figures and writes bench/results/throttle_hot_path.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
RESULTS = REPO / "bench" / "results"

from contact_store.throttle import Limiter, LocalLimiter, Rate, RedisLimiter  # noqa: E402

# A bucket nobody exhausts: the cost of asking is measured, not the refusals.
RATE = Rate(1_000_000, 1.0)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def sequential(limiter: Limiter, takes: int, conversations: int) -> dict[str, float]:
    for i in range(min(takes, 200)):  # warm up (connection, script load)
        await limiter.take_async(f"warm-{i}")
    times: list[float] = []
    for i in range(takes):
        started = time.perf_counter()
        await limiter.take_async(f"conversation-{i % conversations}")
        times.append((time.perf_counter() - started) * 1e6)
    return {
        "p50_us": round(statistics.median(times), 1),
        "p99_us": round(percentile(times, 0.99), 1),
        "max_us": round(max(times), 1),
    }


async def concurrent(limiter: Limiter, takes: int, conversations: int) -> dict[str, float]:
    per_task = max(1, takes // conversations)

    async def one(c: int) -> None:
        for _ in range(per_task):
            await limiter.take_async(f"conversation-{c}")

    started = time.perf_counter()
    await asyncio.gather(*(one(c) for c in range(conversations)))
    seconds = time.perf_counter() - started
    return {"takes_per_second": round(per_task * conversations / seconds)}


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    ap.add_argument("--takes", type=int, default=5000)
    ap.add_argument("--conversations", type=int, default=200)
    args = ap.parse_args()
    local = LocalLimiter(RATE)
    shared = RedisLimiter(
        RATE, redis_url=args.redis_url, namespace=f"fcbench-{secrets.token_hex(4)}:throttle"
    )
    results: dict[str, object] = {"takes": args.takes, "conversations": args.conversations}
    for name, limiter in (("in_process", local), ("redis", shared)):
        results[name] = {
            "sequential": await sequential(limiter, args.takes, args.conversations),
            "concurrent": await concurrent(limiter, args.takes, args.conversations),
        }
    base, red = results["in_process"], results["redis"]
    assert isinstance(base, dict) and isinstance(red, dict)
    results["redis_added_p50_us"] = round(red["sequential"]["p50_us"] - base["sequential"]["p50_us"], 1)
    results["redis_added_p99_us"] = round(red["sequential"]["p99_us"] - base["sequential"]["p99_us"], 1)
    results["redis_over_in_process_p50"] = round(
        red["sequential"]["p50_us"] / base["sequential"]["p50_us"], 1
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "throttle_hot_path.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
