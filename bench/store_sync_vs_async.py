"""Sync driver in the threadpool vs async driver on the event loop, for the store's hot path.

The workload is the chat hot path: allocate the next `seq` of a conversation (an atomic UPDATE ...
RETURNING), insert the message, commit; then read the last 20 messages back. N concurrent tasks
on one event loop run it; a ticker measures how late the loop wakes up (event-loop lag), which is
what every other websocket on the worker would feel.

Usage: .venv/bin/python bench/store_sync_vs_async.py [--ops 4000] [--concurrency 50] [--postgres URL]
Writes bench/results/store_sync_vs_async.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from anyio import CapacityLimiter, to_thread
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from contact_store.db import make_engine
from contact_store.migrate import scratch_postgres_database, upgrade_database

APPEND = text("UPDATE conversation SET last_seq = last_seq + 1 WHERE id = :cid RETURNING last_seq")
INSERT = text(
    "INSERT INTO message (conversation_id, seq, client_id, sender, body, internal, created_at) "
    "VALUES (:cid, :seq, :client_id, 'visitor', :body, false, CURRENT_TIMESTAMP)"
)
READ = text("SELECT seq, body FROM message WHERE conversation_id = :cid ORDER BY seq DESC LIMIT 20")


def seed(url: str, conversations: int) -> list[str]:
    upgrade_database(url)
    engine = create_engine(url)
    ids = [str(uuid.uuid4()) for _ in range(conversations)]
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO conversation (id, token_hash, status, visitor_name, topic, language, "
                "priority, danger_flag, last_seq, queued_at, thrive) "
                "VALUES (:id, 'x', 'active', '', '', 'en', 0, false, 0, "
                "CURRENT_TIMESTAMP, '{}')"
            ),
            [{"id": i} for i in ids],
        )
    engine.dispose()
    return ids


async def measure(
    op: Callable[[str], Awaitable[None]], ids: list[str], ops: int, concurrency: int
) -> dict[str, Any]:
    latencies: list[float] = []
    lag: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        while not stop.is_set():
            t = time.perf_counter()
            await asyncio.sleep(0.001)
            lag.append(time.perf_counter() - t - 0.001)

    counter = iter(range(ops))

    async def worker(n: int) -> None:
        for i in counter:
            t = time.perf_counter()
            await op(ids[(i * 7 + n) % len(ids)])
            latencies.append(time.perf_counter() - t)

    tick = asyncio.create_task(ticker())
    start = time.perf_counter()
    await asyncio.gather(*(worker(n) for n in range(concurrency)))
    elapsed = time.perf_counter() - start
    stop.set()
    await tick
    latencies.sort()
    lag.sort()
    return {
        "ops_per_s": round(ops / elapsed, 1),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 2),
        "loop_lag_p99_ms": round(lag[int(len(lag) * 0.99)] * 1000, 2) if lag else None,
        "loop_lag_max_ms": round(max(lag) * 1000, 2) if lag else None,
        "loop_lag_mean_ms": round(statistics.fmean(lag) * 1000, 3) if lag else None,
    }


async def run_sync(url: str, ids: list[str], ops: int, concurrency: int) -> dict[str, Any]:
    engine = make_engine(url, pool_size=concurrency)
    limiter = CapacityLimiter(concurrency)

    def work(cid: str) -> None:
        with engine.begin() as conn:
            seq = conn.execute(APPEND, {"cid": cid}).scalar_one()
            conn.execute(INSERT, {"cid": cid, "seq": seq, "client_id": secrets.token_hex(8), "body": "hello"})
        with engine.connect() as conn:
            conn.execute(READ, {"cid": cid}).all()

    async def op(cid: str) -> None:
        await to_thread.run_sync(work, cid, limiter=limiter)

    result = await measure(op, ids, ops, concurrency)
    engine.dispose()
    return result


async def run_async(url: str, ids: list[str], ops: int, concurrency: int) -> dict[str, Any]:
    async_url = make_url(url)
    if async_url.get_backend_name() == "sqlite":
        async_url = async_url.set(drivername="sqlite+aiosqlite")
        engine = create_async_engine(async_url, connect_args={"timeout": 10})
    else:
        async_url = async_url.set(drivername="postgresql+psycopg_async")
        engine = create_async_engine(async_url, pool_size=concurrency, max_overflow=0)

    async def op(cid: str) -> None:
        async with engine.begin() as conn:
            if engine.dialect.name == "sqlite":
                await conn.exec_driver_sql("PRAGMA busy_timeout=10000")
            seq = (await conn.execute(APPEND, {"cid": cid})).scalar_one()
            await conn.execute(
                INSERT, {"cid": cid, "seq": seq, "client_id": secrets.token_hex(8), "body": "hello"}
            )
        async with engine.connect() as conn:
            (await conn.execute(READ, {"cid": cid})).all()

    try:
        return await measure(op, ids, ops, concurrency)
    except Exception as exc:  # a failure under load is a result worth printing
        return {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"}
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    results: dict[str, Any] = {"ops": args.ops, "concurrency": args.concurrency}
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        targets = [("sqlite", f"sqlite:///{Path(tmp) / 'bench.db'}")]
        if args.postgres:
            pg_url = stack.enter_context(scratch_postgres_database(args.postgres, prefix="fc_bench"))
            targets.append(("postgresql", pg_url))
        for name, url in targets:
            ids = seed(url, 200)
            sync = asyncio.run(run_sync(url, ids, args.ops, args.concurrency))
            asyn = asyncio.run(run_async(url, ids, args.ops, args.concurrency))
            results[name] = {"sync_threadpool": sync, "async_driver": asyn}
            if "ops_per_s" in asyn:
                results[name]["sync_over_async_throughput"] = round(sync["ops_per_s"] / asyn["ops_per_s"], 2)
            print(f"{name}: sync-in-threadpool {sync}")
            print(f"{name}: async driver       {asyn}")
    out = Path(__file__).parent / "results" / "store_sync_vs_async.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
