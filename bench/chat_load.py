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
import random
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


def tree_pids(root: int) -> list[int]:
    """`root` and every process below it (uvicorn's workers)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children.get(pid, [])
    return out


def cpu_seconds(root: int) -> float:
    """User + system CPU seconds of the server process tree so far (robust to a busy machine)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in tree_pids(root):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / tick


def profile_server(
    server: Server, rate: float, duration: float, *, name: str = ""
) -> subprocess.Popen[bytes] | None:
    """With FC_BENCH_PROFILE=<dir>: py-spy samples the server's processes during the load only
    (not the start-up), writing <dir>/<workers>w-<rate or name>.txt (collapsed stacks; see
    bench/README)."""
    out_dir = os.environ.get("FC_BENCH_PROFILE")
    if not out_dir:
        return None
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    target = Path(out_dir) / f"{WORKERS}w-{name or int(rate)}.txt"
    spy = Path(sys.executable).with_name("py-spy")
    command = [str(spy), "record", "--pid", str(server.proc.pid), "--subprocesses", "--nonblocking"]
    command += ["--rate", "100", "--duration", str(int(duration) + 1), "--format", "raw", "-o", str(target)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


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


def start_server(
    data_dir: Path,
    database_url: str | None,
    redis_url: str | None,
    *,
    port: int | None = None,
    routing_loop: bool = False,
    channel_prefix: str | None = None,
) -> Server:
    port = port or free_port()
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
        # Operators accept their own slice of chats; offers from the routing loop would race them.
        "FIRSTCONTACT_ROUTING_LOOP_ENABLED": "true" if routing_loop else "false",
    }
    if redis_url:
        env["FIRSTCONTACT_REDIS_URL"] = redis_url
        env["FIRSTCONTACT_REDIS_CHANNEL_PREFIX"] = channel_prefix or f"fcbench-{secrets.token_hex(4)}"
    command = [sys.executable, "-m", "chat_server", "serve", "--port", str(port), "--log-level", "warning"]
    proc = subprocess.Popen(
        [*command, "--workers", str(WORKERS)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 240  # a busy machine starts slowly
    while True:
        if proc.poll() is not None:
            raise RuntimeError("server exited")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return Server(proc, port, url)
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            Server(proc, port, url).stop()
            raise RuntimeError("server did not start")
        time.sleep(0.05)


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


SLO_P99_MS = 50.0  # the saturation point: the highest offered rate still meeting this, 0 lost


@dataclass
class Stats:
    intended: dict[str, float] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    accepted_latencies: list[float] = field(default_factory=list)  # from the attempt that was stored
    seen: dict[str, int] = field(default_factory=dict)
    attempt_at: dict[str, float] = field(default_factory=dict)
    frames: dict[str, tuple[ClientConnection, str]] = field(default_factory=dict)
    errors: int = 0
    busy: int = 0
    rate_limited: int = 0
    closed: int = 0
    last_at: float = 0.0

    def received(self, client_id: str, now: float) -> None:
        t0 = self.intended.get(client_id)
        if t0 is None:
            return
        count = self.seen.get(client_id, 0)
        self.seen[client_id] = count + 1
        if count == 0:
            self.latencies.append(now - t0)
            self.accepted_latencies.append(now - self.attempt_at.get(client_id, t0))
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
            "busy_refusals": self.busy,
            "rate_limited": self.rate_limited,
            "sockets_closed": self.closed,
            "offered_per_second": round(sent / duration, 1),
            "messages_per_second": round(unique / self.span(), 1),
            "p50_ms": round(percentile(self.latencies, 50) * 1000, 2),
            "p99_ms": round(percentile(self.latencies, 99) * 1000, 2),
            "p999_ms": round(percentile(self.latencies, 99.9) * 1000, 2),
            "max_ms": round(max(self.latencies, default=float("nan")) * 1000, 2),
            # From the send of the attempt the server accepted (after any busy refusals).
            "accepted_p99_ms": round(percentile(self.accepted_latencies, 99) * 1000, 2),
        }


@dataclass
class Pair:
    key: str
    visitor: ClientConnection
    operator: ClientConnection


def resend_later(stats: Stats, client_id: str, delay: float) -> None:
    """What the widget does with a `busy` or `rate_limited` refusal: the same frame, later."""
    found = stats.frames.get(client_id)
    if found is None:
        return
    ws, payload = found

    async def again() -> None:
        await asyncio.sleep(delay)
        stats.attempt_at[client_id] = time.perf_counter()
        with contextlib.suppress(Exception):
            await ws.send(payload)

    asyncio.get_running_loop().create_task(again())


@dataclass
class Current:
    """The step being measured: every socket's reader reports to it (None between steps)."""

    stats: Stats | None = None


CURRENT = Current()
READERS: list[asyncio.Task[None]] = []


def start_reader(ws: ClientConnection, want_sender: str) -> None:
    """Read `ws` from now until it closes. A socket nobody reads stops answering the server's
    pings once its buffer is full (websockets pauses reading) and the server closes it: the
    first bench lost whole consoles' chats that way while the others were being set up."""
    READERS.append(asyncio.get_running_loop().create_task(reader(ws, want_sender)))


async def reader(ws: ClientConnection, want_sender: str) -> None:
    try:
        async for raw in ws:
            now = time.perf_counter()
            frame = json.loads(raw)
            kind = frame.get("type")
            stats = CURRENT.stats
            if kind == "ping":
                await ws.send('{"type":"pong"}')
            elif stats is None:
                continue
            elif kind == "message" and frame.get("sender") == want_sender:
                stats.received(frame["client_id"], now)
            elif kind == "error":
                code, cid = frame.get("code"), frame.get("client_id")
                if code in ("busy", "rate_limited") and cid:
                    if code == "busy":
                        stats.busy += 1
                    else:
                        stats.rate_limited += 1
                    resend_later(stats, cid, float(frame.get("retry_after") or 1.0))
                else:
                    stats.errors += 1
    except asyncio.CancelledError:
        raise
    except Exception:
        if CURRENT.stats is not None:
            CURRENT.stats.closed += 1


async def run_load(
    pairs: list[Pair], rate: float, duration: float, *, relay: bool, stats: Stats | None = None
) -> dict[str, Any]:
    stats = stats or Stats()
    CURRENT.stats = stats
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
        stats.attempt_at[cid] = t
        from_visitor = k % 2 == 0
        body = f"load {k} on {p.key}"
        ws = p.visitor if from_visitor else p.operator
        if relay:
            sender = "visitor" if from_visitor else "operator"
            payload = json.dumps({"type": "message", "client_id": cid, "body": body, "sender": sender})
        elif from_visitor:
            payload = json.dumps({"type": "message", "client_id": cid, "body": body})
        else:
            payload = json.dumps(
                {"type": "message", "conversation_id": p.key, "client_id": cid, "body": body}
            )
        stats.frames[cid] = (ws, payload)
        with contextlib.suppress(Exception):  # a closed socket: counted by its reader
            await ws.send(payload)
    # Drain: wait while messages are still arriving (late is not lost; refused ones are resent);
    # stop after DRAIN_SECONDS without progress. Whatever has not arrived by then counts as lost.
    progress_at, count = time.perf_counter(), -1
    while len(stats.seen) < len(stats.intended) and time.perf_counter() - progress_at < DRAIN_SECONDS:
        if len(stats.seen) != count:
            progress_at, count = time.perf_counter(), len(stats.seen)
        await asyncio.sleep(0.1)
    CURRENT.stats = None
    return stats.summary(duration)


def meets_slo(step: dict[str, Any]) -> bool:
    return (
        step["lost"] == 0
        and step["duplicated"] == 0
        and step.get("stored_not_delivered", 0) == 0
        and step["p99_ms"] <= SLO_P99_MS
    )


async def step_up(run_step: Any, rates: list[float], *, label: str) -> tuple[list[dict[str, Any]], float]:
    """Offer each rate in turn (same connections) until one misses the SLO; the saturation point
    is the highest rate that met it (0 if none did)."""
    steps: list[dict[str, Any]] = []
    saturation = 0.0
    for rate in rates:
        step = await run_step(rate)
        step["meets_slo"] = meets_slo(step)
        steps.append(step)
        print(
            f"  {label} {rate:>6.0f} msg/s: p50 {step['p50_ms']} ms, p99 {step['p99_ms']} ms, "
            f"lost {step['lost']}, busy {step['busy_refusals']}, load {os.getloadavg()[0]:.1f}",
            flush=True,
        )
        if not step["meets_slo"]:
            break
        saturation = rate
    return steps, saturation


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
        op = await connect(
            server.ws + "/ws/console",
            additional_headers={"Authorization": f"Bearer {token}"},
            ping_interval=None,
        )
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
        start_reader(op, "visitor")
        for c in mine:
            v = await visitor_connect(server, c["conversation_id"], c["token"], ping_interval=None)
            await v.send(json.dumps({"type": "resume", "after_seq": 0}))
            start_reader(v, "operator")
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
    await asyncio.gather(*READERS, return_exceptions=True)
    READERS.clear()


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
        v = await connect(f"ws://127.0.0.1:{port}/relay/{i}/visitor", ping_interval=None)
        o = await connect(f"ws://127.0.0.1:{port}/relay/{i}/operator", ping_interval=None)
        start_reader(v, "operator")
        start_reader(o, "visitor")
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


# ----------------------------------------------------------------------------- reconnect storm

# The widget's reconnect policy (chat_server/widget/static/widget.js `connect`): after a close,
# wait min(cap, base * 2^attempt) * (0.5..1) before trying again; attempt resets once connected.
RECONNECT_BASE_S = 0.5
RECONNECT_CAP_S = 3.0
STORM_TIMEOUT_S = 120.0


def widget_backoff(attempt: int) -> float:
    return min(RECONNECT_CAP_S, RECONNECT_BASE_S * 2**attempt) * (0.5 + random.random() / 2)


async def storm_visitor(
    ws_base: str, cid: str, token: str, first: asyncio.Event, resumed: dict[str, float], stop: asyncio.Event
) -> None:
    """One waiting visitor as the widget behaves: connect, auth, resume; on a drop, reconnect with
    the widget's backoff; note when the first frame after a REconnection arrives."""
    attempt, connections, last_seq = 0, 0, 0
    while not stop.is_set():
        try:
            async with connect(f"{ws_base}/ws/chat/{cid}", ping_interval=None, open_timeout=30) as ws:
                attempt = 0
                # As the widget does: the token and the last seq held in the first frame.
                await ws.send(json.dumps({"type": "auth", "token": token, "after_seq": last_seq}))
                connections += 1
                async for raw in ws:
                    frame = json.loads(raw)
                    if frame.get("type") == "message":
                        last_seq = max(last_seq, int(frame["seq"]))
                    if frame.get("type") == "ping":
                        await ws.send('{"type":"pong"}')
                    if connections == 1:
                        first.set()
                    elif cid not in resumed:
                        resumed[cid] = time.perf_counter()
        except asyncio.CancelledError:
            raise
        except Exception:
            pass
        if stop.is_set():
            return
        await asyncio.sleep(widget_backoff(attempt))
        attempt += 1


async def reconnect_storm(
    data_dir: Path, database_url: str | None, redis_url: str | None, n: int
) -> dict[str, Any]:
    """N waiting visitors connected; the server restarted; from the new server's first healthy
    answer to each visitor's first frame after its resume."""
    prefix = f"fcbench-{secrets.token_hex(4)}"
    server = start_server(data_dir, database_url, redis_url, routing_loop=True, channel_prefix=prefix)
    port = server.port
    chats = await asyncio.to_thread(insert_idle_conversations, server.database_url, n)
    stop = asyncio.Event()
    resumed: dict[str, float] = {}
    firsts = [asyncio.Event() for _ in chats]
    tasks = []
    started = time.perf_counter()
    for i in range(0, n, 200):  # the first connections in batches (not the storm under test)
        for (cid, tok), ev in zip(chats[i : i + 200], firsts[i : i + 200], strict=True):
            tasks.append(asyncio.create_task(storm_visitor(server.ws, cid, tok, ev, resumed, stop)))
        await asyncio.gather(
            *(asyncio.wait_for(ev.wait(), 120) for ev in firsts[i : i + 200]), return_exceptions=True
        )
    connected = sum(ev.is_set() for ev in firsts)
    first_connect_s = time.perf_counter() - started
    await asyncio.sleep(2.0)

    healthy_at: list[float] = []

    def restart() -> Server:
        server.stop()
        new = start_server(
            data_dir, database_url, redis_url, port=port, routing_loop=True, channel_prefix=prefix
        )
        healthy_at.append(time.perf_counter())
        return new

    stopped_at = time.perf_counter()
    new_server = await asyncio.to_thread(restart)
    try:
        t0 = healthy_at[0]
        # Who spends the CPU while the visitors resume: the server's process tree or this client.
        server_cpu0, client_cpu0 = cpu_seconds(new_server.proc.pid), time.process_time()
        spy = profile_server(new_server, 0, 20, name=f"storm-{n}")
        deadline = t0 + STORM_TIMEOUT_S
        while len(resumed) < connected and time.perf_counter() < deadline:
            await asyncio.sleep(0.1)
        resume_window = time.perf_counter() - t0
        server_cpu = cpu_seconds(new_server.proc.pid) - server_cpu0
        client_cpu = time.process_time() - client_cpu0
        if spy is not None:
            await asyncio.to_thread(spy.wait)  # the visitors' sockets keep being read meanwhile
        waits = [max(0.0, t - t0) for t in resumed.values()]
        out = {
            "visitors": n,
            "connected_before_restart": connected,
            "first_connection_of_all_s": round(first_connect_s, 1),
            "restart_to_healthy_s": round(t0 - stopped_at, 2),
            "resumed": len(resumed),
            "resume_p50_s": round(percentile(waits, 50), 2),
            "resume_p99_s": round(percentile(waits, 99), 2),
            "resume_max_s": round(max(waits, default=float("nan")), 2),
            "reconnect_cap_s": RECONNECT_CAP_S,
            "server_cpu_s": round(server_cpu, 2),
            "server_cpu_ms_per_resume": round(1000 * server_cpu / max(len(resumed), 1), 2),
            "client_cpu_s": round(client_cpu, 2),
            "resume_window_s": round(resume_window, 2),
            "load_average": round(os.getloadavg()[0], 2),
        }
        print(f"reconnect storm: {json.dumps(out)}", flush=True)
        return out
    finally:
        stop.set()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        new_server.stop()


# ----------------------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--conversations", type=int, default=200)
    ap.add_argument("--rate", type=float, default=1000.0, help="messages per second, both directions")
    ap.add_argument("--duration", type=float, default=20.0)
    ap.add_argument(
        "--rates",
        default="",
        help="saturation mode: comma-separated offered rates to step up through (e.g. 250,500,1000,"
        "1500,2000), each for --duration seconds, full stack and relay; then the full stack at twice "
        "its saturation point (overload)",
    )
    ap.add_argument("--no-overload", action="store_true", help="skip the 2x-saturation step")
    ap.add_argument("--idle", type=int, default=10_000, help="idle visitor connections (0 to skip)")
    ap.add_argument(
        "--storm", type=int, default=0, help="waiting visitors for the reconnect storm (0 to skip)"
    )
    ap.add_argument(
        "--storm-only", action="store_true", help="only the reconnect storm (no load steps, no relay)"
    )
    ap.add_argument("--database-url")
    ap.add_argument("--redis-url")
    ap.add_argument("--workers", type=int, default=1, help="needs PostgreSQL and Redis above 1")
    args = ap.parse_args()
    global WORKERS
    WORKERS = args.workers
    raise_fd_limit()
    rates = [float(r) for r in args.rates.split(",") if r.strip()] or [args.rate]
    results: dict[str, Any] = {
        "args": vars(args),
        "machine": {"cpus": os.cpu_count(), "fd_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[0]},
        "load_average_before": os.getloadavg(),
    }

    results["invariants_broken"] = []

    async def run() -> None:
        if not args.storm_only:
            await load_steps()
        if args.storm:
            with tempfile.TemporaryDirectory() as tmp, fresh_postgres(args.database_url) as db_url:
                results["reconnect_storm"] = await reconnect_storm(
                    Path(tmp), db_url, args.redis_url, args.storm
                )

    async def load_steps() -> None:
        with tempfile.TemporaryDirectory() as tmp, fresh_postgres(args.database_url) as db_url:
            server = start_server(Path(tmp), db_url, args.redis_url)
            try:
                pairs = await full_stack_pairs(server, args.conversations)

                async def full_step(rate: float) -> dict[str, Any]:
                    stats = Stats()
                    cpu0, client0 = cpu_seconds(server.proc.pid), time.process_time()
                    wall0 = time.perf_counter()
                    spy = profile_server(server, rate, args.duration)
                    step = await run_load(pairs, rate, args.duration, relay=False, stats=stats)
                    client, wall = time.process_time() - client0, time.perf_counter() - wall0
                    if spy is not None:
                        await asyncio.to_thread(spy.wait)
                    cpu = cpu_seconds(server.proc.pid) - cpu0
                    step["server_cpu_ms_per_message"] = round(1000 * cpu / max(len(stats.seen), 1), 3)
                    # This process is the load generator: near a full core, it is the bottleneck.
                    step["client_cpu_share_of_a_core"] = round(client / wall, 2)
                    step["server_cpu_share_of_a_core"] = round(cpu / wall, 2)
                    # Undelivered is only a loss if it was stored (acked); a message the server
                    # refused (busy) and the client never got to resend was never accepted.
                    stored = await asyncio.to_thread(stored_client_ids, server.database_url)
                    sent = set(stats.intended)
                    step["stored"] = len(sent & stored)
                    step["stored_not_delivered"] = len((sent & stored) - set(stats.seen))
                    step["load_average"] = round(os.getloadavg()[0], 2)
                    return step

                print("full stack:", flush=True)
                steps, saturation = await step_up(full_step, rates, label="full stack")
                results["full_stack_steps"] = steps
                results["full_stack_saturation_per_second"] = saturation
                results["full_stack"] = next(
                    (st for st in steps if st["offered_per_second"] >= args.rate * 0.99), steps[-1]
                )
                if args.rates and not args.no_overload and saturation:
                    print("overload (2x saturation):", flush=True)
                    results["overload"] = await full_step(2 * saturation)
                    print(f"  {json.dumps(results['overload'])}", flush=True)
                results["server_rss_mb"] = round(rss_kb(server.proc.pid) / 1024, 1)
                await close_pairs(pairs)
                check = await asyncio.to_thread(check_database, server.database_url)
                results["invariants_broken"] = [r.name for r in check.failures]
            finally:
                server.stop()
        port = free_port()
        relay = subprocess.Popen([sys.executable, __file__, "--relay-server", str(port)], cwd=REPO)
        try:
            for _ in range(1200):  # up to 2 minutes on a busy machine
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
                time.sleep(0.1)
            pairs = await relay_pairs(port, args.conversations)

            async def relay_step(rate: float) -> dict[str, Any]:
                step = await run_load(pairs, rate, args.duration, relay=True)
                step["load_average"] = round(os.getloadavg()[0], 2)
                return step

            print("bare relay:", flush=True)
            steps, saturation = await step_up(relay_step, rates, label="bare relay")
            results["baseline_relay_steps"] = steps
            results["baseline_relay_saturation_per_second"] = saturation
            results["baseline_relay"] = next(
                (st for st in steps if st["offered_per_second"] >= args.rate * 0.99), steps[-1]
            )
            await close_pairs(pairs)
        finally:
            relay.terminate()
            relay.wait(timeout=10)
        fs, bl = results["full_stack"], results["baseline_relay"]
        results["ratio_full_stack_to_relay"] = {
            k: round(fs[k] / bl[k], 2) if bl[k] else None for k in ("p50_ms", "p99_ms", "p999_ms")
        }
        if results["baseline_relay_saturation_per_second"]:
            results["saturation_ratio_full_stack_to_relay"] = round(
                results["full_stack_saturation_per_second"] / results["baseline_relay_saturation_per_second"],
                2,
            )
        if args.idle:
            with tempfile.TemporaryDirectory() as tmp, fresh_postgres(args.database_url) as db_url:
                server = start_server(Path(tmp), db_url, args.redis_url)
                try:
                    results["idle"] = await idle_connections(server, args.idle)
                finally:
                    server.stop()

    asyncio.run(run())
    results["load_average_after"] = os.getloadavg()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "chat_load.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    if results["invariants_broken"]:
        print("The store's invariants are broken after the run:", results["invariants_broken"])
        return 1
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--relay-server":
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(relay_server(int(sys.argv[2])))
        sys.exit(0)
    sys.exit(main())
