"""Live-chat load benchmark: the full stack against a bare websocket relay, on this machine.

    .venv/bin/python bench/chat_load.py [--conversations 200] [--rate 1000] [--duration 20]
                                        [--idle 10000] [--database-url URL --redis-url URL]

1. Full stack: starts `python -m chat_server serve` (one worker; SQLite in a temp dir unless a
   database URL is given), creates N conversations through POST /api/v1/chats, has operators accept
   them over /ws/console, connects every visitor over /ws/chat, then runs an OPEN-LOOP load: each
   message has an intended send time (rate/N per conversation, alternating visitor -> operator and
   operator -> visitor); latency is measured from that intended time to receipt on the other side,
   so a stalled server cannot hide its queueing (no coordinated omission).
2. Baseline: the same load through a bare websocket relay (websockets library, one process, no
   storage, no bus) in the same run; the ratio full-stack/baseline is the figure to watch.
3. Idle: a fresh server, `--idle` visitor connections (conversations inserted directly), and the
   server's RSS growth per connection.

Loopback only, bounded in time. Prints the figures and writes bench/results/chat_load.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from contact_store.invariants import check_database  # noqa: E402

RESULTS = REPO / "bench" / "results"
CHATS_PER_OPERATOR = 20
DRAIN_SECONDS = 15.0  # without any message arriving


def raise_fd_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    database_url: str

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@contextlib.contextmanager
def fresh_postgres(url: str | None) -> Any:
    """A new, empty PostgreSQL database on the server of `url` (dropped afterwards); SQLite: None."""
    if not url or not url.startswith("postgresql"):
        yield url
        return
    from contact_store.migrate import scratch_postgres_database

    with scratch_postgres_database(url, prefix="fc_bench") as db_url:
        yield db_url


WORKERS = 1


def start_server(data_dir: Path, database_url: str | None, redis_url: str | None) -> Server:
    port = free_port()
    url = database_url or f"sqlite:///{data_dir / 'bench.db'}"
    env = os.environ | {
        "FIRSTCONTACT_ENV": "test",
        "FIRSTCONTACT_DATA_DIR": str(data_dir),
        "FIRSTCONTACT_DATABASE_URL": url,
        "FIRSTCONTACT_SECRET_KEY": secrets.token_urlsafe(40),
        "FIRSTCONTACT_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        # The load sends more per console than a person types; the limit itself is not under test.
        "FIRSTCONTACT_STAFF_RATE_PER_SECOND": "10000",
        "FIRSTCONTACT_CHAT_RATE_PER_SECOND": "100",
        "FIRSTCONTACT_CHAT_RATE_BURST": "200",
        # Every chat and operator sign-in of the load comes from 127.0.0.1.
        "FIRSTCONTACT_CHAT_STARTS_PER_ADDRESS_PER_HOUR": "1000000",
        "FIRSTCONTACT_SIGN_IN_ATTEMPTS_PER_ADDRESS": "1000000",
    }
    if redis_url:
        env["FIRSTCONTACT_REDIS_URL"] = redis_url
        env["FIRSTCONTACT_REDIS_CHANNEL_PREFIX"] = f"fcbench-{secrets.token_hex(4)}"
    command = [sys.executable, "-m", "chat_server", "serve", "--port", str(port), "--log-level", "warning"]
    proc = subprocess.Popen(
        [*command, "--workers", str(WORKERS)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise RuntimeError("server exited")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return Server(proc, port, url)
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("server did not start")
        time.sleep(0.2)


def add_operators(database_url: str, n: int) -> list[str]:
    from contact_store.db import Store, make_engine
    from contact_store.events import InProcessBus
    from contact_store.staff import create_operator

    store = Store(make_engine(database_url), InProcessBus())
    names = []
    with store.session_scope() as s:
        for i in range(n):
            name = f"bench-op-{i}-{secrets.token_hex(2)}"
            create_operator(
                session=s,
                username=name,
                password="bench password 1",
                role="operator",
                max_concurrent_chats=20,
            )
            names.append(name)
    store.engine.dispose()
    return names


# ----------------------------------------------------------------------------- the load model


@dataclass
class Stats:
    intended: dict[str, float] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    seen: dict[str, int] = field(default_factory=dict)
    errors: int = 0
    last_at: float = 0.0

    def received(self, client_id: str, now: float) -> None:
        t0 = self.intended.get(client_id)
        if t0 is None:
            return
        count = self.seen.get(client_id, 0)
        self.seen[client_id] = count + 1
        if count == 0:
            self.latencies.append(now - t0)
            self.last_at = max(self.last_at, now)

    def span(self) -> float:
        """Seconds from the first intended send to the last receipt."""
        if not self.intended or not self.last_at:
            return 1.0
        return max(self.last_at - min(self.intended.values()), 1e-6)

    def summary(self, duration: float) -> dict[str, Any]:
        sent = len(self.intended)
        unique = len(self.seen)
        return {
            "sent": sent,
            "delivered": unique,
            "lost": sent - unique,
            "duplicated": sum(c - 1 for c in self.seen.values()),
            "errors": self.errors,
            "offered_per_second": round(sent / duration, 1),
            "messages_per_second": round(unique / self.span(), 1),
            "p50_ms": round(percentile(self.latencies, 50) * 1000, 2),
            "p99_ms": round(percentile(self.latencies, 99) * 1000, 2),
            "p999_ms": round(percentile(self.latencies, 99.9) * 1000, 2),
            "max_ms": round(max(self.latencies, default=float("nan")) * 1000, 2),
        }


@dataclass
class Pair:
    key: str
    visitor: ClientConnection
    operator: ClientConnection


async def reader(ws: ClientConnection, stats: Stats, want_sender: str) -> None:
    with contextlib.suppress(Exception):
        async for raw in ws:
            now = time.perf_counter()
            frame = json.loads(raw)
            kind = frame.get("type")
            if kind == "message" and frame.get("sender") == want_sender:
                stats.received(frame["client_id"], now)
            elif kind == "error":
                stats.errors += 1
            elif kind == "ping":
                await ws.send('{"type":"pong"}')


async def run_load(
    pairs: list[Pair], rate: float, duration: float, *, relay: bool, stats: Stats | None = None
) -> dict[str, Any]:
    stats = stats or Stats()
    readers = []
    operators = {id(p.operator): p.operator for p in pairs}
    for p in pairs:
        readers.append(asyncio.create_task(reader(p.visitor, stats, "operator")))
    for ws in operators.values():
        readers.append(asyncio.create_task(reader(ws, stats, "visitor")))
    per_pair = rate / len(pairs)
    interval = 1.0 / per_pair
    start = time.perf_counter() + 0.5
    schedule: list[tuple[float, int, int]] = []
    for i in range(len(pairs)):
        phase = (i / len(pairs)) * interval
        k = 0
        while phase + k * interval < duration:
            schedule.append((start + phase + k * interval, i, k))
            k += 1
    schedule.sort()
    for t, i, k in schedule:
        delay = t - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        p = pairs[i]
        cid = str(uuid.uuid4())
        stats.intended[cid] = t
        from_visitor = k % 2 == 0
        body = f"load {k} on {p.key}"
        if relay:
            frame = {
                "type": "message",
                "client_id": cid,
                "body": body,
                "sender": "visitor" if from_visitor else "operator",
            }
            await (p.visitor if from_visitor else p.operator).send(json.dumps(frame))
        elif from_visitor:
            await p.visitor.send(json.dumps({"type": "message", "client_id": cid, "body": body}))
        else:
            frame = {"type": "message", "conversation_id": p.key, "client_id": cid, "body": body}
            await p.operator.send(json.dumps(frame))
    # Drain: wait while messages are still arriving (late is not lost); stop after DRAIN_SECONDS
    # without progress. Whatever has not arrived by then counts as lost.
    progress_at, count = time.perf_counter(), -1
    while len(stats.seen) < len(stats.intended) and time.perf_counter() - progress_at < DRAIN_SECONDS:
        if len(stats.seen) != count:
            progress_at, count = time.perf_counter(), len(stats.seen)
        await asyncio.sleep(0.1)
    for r in readers:
        r.cancel()
    return stats.summary(duration)


# ----------------------------------------------------------------------------- full stack


def stored_client_ids(database_url: str) -> set[str]:
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    with engine.connect() as conn:
        ids = {row[0] for row in conn.execute(text("SELECT client_id FROM message"))}
    engine.dispose()
    return ids


async def full_stack_pairs(server: Server, n: int) -> list[Pair]:
    usernames = await asyncio.to_thread(
        add_operators, server.database_url, max(1, -(-n // CHATS_PER_OPERATOR))
    )
    async with httpx.AsyncClient(base_url=server.base, timeout=30) as http:
        sem = asyncio.Semaphore(20)

        async def new_chat(i: int) -> dict[str, Any]:
            async with sem:
                r = await http.post("/api/v1/chats", json={"name": f"Visitor {i}", "topic": "other"})
                r.raise_for_status()
                return r.json()  # type: ignore[no-any-return]

        chats = await asyncio.gather(*(new_chat(i) for i in range(n)))
        tokens = []
        for u in usernames:
            r = await http.post("/api/v1/auth/token", data={"username": u, "password": "bench password 1"})
            r.raise_for_status()
            tokens.append(r.json()["access_token"])
    pairs = []
    for j, token in enumerate(tokens):
        op = await connect(server.ws + "/ws/console", additional_headers={"Authorization": f"Bearer {token}"})
        mine = chats[j * CHATS_PER_OPERATOR : (j + 1) * CHATS_PER_OPERATOR]
        for c in mine:
            await op.send(json.dumps({"type": "accept", "conversation_id": c["conversation_id"]}))
        accepted = 0
        while accepted < len(mine):
            f = json.loads(await asyncio.wait_for(op.recv(), 30))
            if f["type"] == "conversation" and f["status"] == "active":
                accepted += 1
            elif f["type"] == "error":
                raise RuntimeError(f"accept failed: {f}")
        for c in mine:
            v = await visitor_connect(server, c["conversation_id"], c["token"])
            await v.send(json.dumps({"type": "resume", "after_seq": 0}))
            pairs.append(Pair(c["conversation_id"], v, op))
    await asyncio.sleep(1.0)  # let the replays and status frames settle before the clock starts
    return pairs


async def visitor_connect(server: Server, cid: str, token: str, **kw: Any) -> ClientConnection:
    """A visitor socket signed in by its first frame (the token never goes in the URL)."""
    ws = await connect(f"{server.ws}/ws/chat/{cid}", **kw)
    await ws.send(json.dumps({"type": "auth", "token": token}))
    return ws


async def close_pairs(pairs: list[Pair]) -> None:
    socks = {id(p.visitor): p.visitor for p in pairs} | {id(p.operator): p.operator for p in pairs}
    await asyncio.gather(*(s.close() for s in socks.values()), return_exceptions=True)


# ----------------------------------------------------------------------------- bare relay baseline


async def relay_server(port: int) -> None:
    from websockets.asyncio.server import ServerConnection, serve

    peers: dict[tuple[str, str], ServerConnection] = {}

    async def handler(ws: ServerConnection) -> None:
        _, _, pair, side = ws.request.path.split("/")  # type: ignore[union-attr]
        peers[(pair, side)] = ws
        other = "operator" if side == "visitor" else "visitor"
        try:
            async for raw in ws:
                peer = peers.get((pair, other))
                if peer is not None:
                    await peer.send(raw)
        finally:
            peers.pop((pair, side), None)

    async with serve(handler, "127.0.0.1", port, max_queue=None):
        await asyncio.Future()


async def relay_pairs(port: int, n: int) -> list[Pair]:
    pairs = []
    for i in range(n):
        v = await connect(f"ws://127.0.0.1:{port}/relay/{i}/visitor")
        o = await connect(f"ws://127.0.0.1:{port}/relay/{i}/operator")
        pairs.append(Pair(str(i), v, o))
    await asyncio.sleep(0.5)
    return pairs


# ----------------------------------------------------------------------------- idle connections


def insert_idle_conversations(database_url: str, n: int) -> list[tuple[str, str]]:
    from contact_store.conversations import new_token
    from contact_store.db import Store, make_engine
    from contact_store.events import InProcessBus
    from contact_store.models import Conversation

    store = Store(make_engine(database_url), InProcessBus())
    out = []
    with store.session_scope() as s:
        for i in range(n):
            token, token_hash = new_token()
            cid = str(uuid.uuid4())
            s.add(Conversation(id=cid, token_hash=token_hash, visitor_name=f"Idle {i}", topic="other"))
            out.append((cid, token))
    store.engine.dispose()
    return out


async def idle_connections(server: Server, n: int) -> dict[str, Any]:
    chats = await asyncio.to_thread(insert_idle_conversations, server.database_url, n)
    await asyncio.sleep(2.0)
    before = rss_kb(server.proc.pid)
    socks: list[ClientConnection] = []
    started = time.perf_counter()
    batch = 200
    for i in range(0, n, batch):
        socks += await asyncio.gather(
            *(visitor_connect(server, cid, tok, ping_interval=None) for cid, tok in chats[i : i + batch])
        )
    connect_seconds = time.perf_counter() - started
    await asyncio.sleep(5.0)  # let allocations settle
    after = rss_kb(server.proc.pid)
    await asyncio.gather(*(s.close() for s in socks), return_exceptions=True)
    return {
        "connections": len(socks),
        "rss_before_mb": round(before / 1024, 1),
        "rss_after_mb": round(after / 1024, 1),
        "kb_per_connection": round((after - before) / max(len(socks), 1), 1),
        "connect_seconds": round(connect_seconds, 1),
    }


# ----------------------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--conversations", type=int, default=200)
    ap.add_argument("--rate", type=float, default=1000.0, help="messages per second, both directions")
    ap.add_argument("--duration", type=float, default=20.0)
    ap.add_argument("--idle", type=int, default=10_000, help="idle visitor connections (0 to skip)")
    ap.add_argument("--database-url")
    ap.add_argument("--redis-url")
    ap.add_argument("--workers", type=int, default=1, help="needs PostgreSQL and Redis above 1")
    args = ap.parse_args()
    global WORKERS
    WORKERS = args.workers
    raise_fd_limit()
    results: dict[str, Any] = {"args": vars(args), "machine": {"cpus": os.cpu_count()}}

    async def run() -> None:
        with tempfile.TemporaryDirectory() as tmp, fresh_postgres(args.database_url) as db_url:
            server = start_server(Path(tmp), db_url, args.redis_url)
            try:
                pairs = await full_stack_pairs(server, args.conversations)
                stats = Stats()
                results["full_stack"] = await run_load(
                    pairs, args.rate, args.duration, relay=False, stats=stats
                )
                # Undelivered is only a loss if it was stored (acked): sockets are closed at the end,
                # so a message still unread in a socket buffer then was never accepted by the server.
                stored = await asyncio.to_thread(stored_client_ids, server.database_url)
                sent = set(stats.intended)
                results["full_stack"]["stored"] = len(sent & stored)
                results["full_stack"]["stored_not_delivered"] = len((sent & stored) - set(stats.seen))
                results["full_stack"]["server_rss_mb"] = round(rss_kb(server.proc.pid) / 1024, 1)
                await close_pairs(pairs)
                check = await asyncio.to_thread(check_database, server.database_url)
                results["full_stack"]["invariants_broken"] = [r.name for r in check.failures]
            finally:
                server.stop()
        port = free_port()
        relay = subprocess.Popen([sys.executable, __file__, "--relay-server", str(port)], cwd=REPO)
        try:
            for _ in range(100):
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
                time.sleep(0.1)
            pairs = await relay_pairs(port, args.conversations)
            results["baseline_relay"] = await run_load(pairs, args.rate, args.duration, relay=True)
            await close_pairs(pairs)
        finally:
            relay.terminate()
            relay.wait(timeout=10)
        fs, bl = results["full_stack"], results["baseline_relay"]
        results["ratio_full_stack_to_relay"] = {
            k: round(fs[k] / bl[k], 2) if bl[k] else None for k in ("p50_ms", "p99_ms", "p999_ms")
        }
        if args.idle:
            with tempfile.TemporaryDirectory() as tmp, fresh_postgres(args.database_url) as db_url:
                server = start_server(Path(tmp), db_url, args.redis_url)
                try:
                    results["idle"] = await idle_connections(server, args.idle)
                finally:
                    server.stop()

    asyncio.run(run())
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "chat_load.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    if results["full_stack"]["invariants_broken"]:
        print("The store's invariants are broken after the run:", results["full_stack"]["invariants_broken"])
        return 1
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--relay-server":
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(relay_server(int(sys.argv[2])))
        sys.exit(0)
    sys.exit(main())
