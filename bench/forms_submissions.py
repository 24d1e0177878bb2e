"""Benchmark: report submissions per second and latency through the JSON API and the HTML journey,
on SQLite and PostgreSQL.

The server runs as --workers uvicorn subprocesses (default one, the embedded defaults; with more,
each on its own port with clients spread round-robin as behind a load balancer, and the event bus
is Redis at --redis-url, as in production) against a fresh
database: a temporary SQLite file, and a new `fc_bench_<random>` PostgreSQL database created on
the server of --pg-url and dropped afterwards. Load comes from this process (asyncio + httpx) over
loopback only (a minimal keep-alive HTTP client for the API, httpx for the HTML journey), with
--concurrency virtual users for --duration seconds per scenario:

- baseline: GET /api/v1/forms (no database), measured in the same run for a ratio;
- api: POST /api/v1/forms/crime/submissions with a fresh Idempotency-Key each time (full path:
  validation, person match, reference, report, timeline event, SMS outbox row, idempotency record);
- html: the whole crime journey per report (start, 8 page POSTs, check, submit); latency is of
  every HTML POST, throughput is of completed reports.
- html-submit: the HTML form's final POST only ("Send report": one-time token, form session
  locked, report filed, session ended), over journeys prepared before the clock starts (one real
  journey to "Check your answers", its stored form session copied with fresh tokens and callers).

Figures are printed and written to bench/results/forms_submissions.json. Any 5xx or a
"database is locked" in the server log is counted and reported.

    .venv/bin/python bench/forms_submissions.py --duration 15 --concurrency 32
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, insert, select, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from contact_store.invariants import check_database  # noqa: E402
from contact_store.migrate import scratch_postgres_database, upgrade_database  # noqa: E402
from contact_store.models import FormSession  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "forms_submissions.json"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

API_ANSWERS: dict[str, Any] = {
    "crime_type": "theft",
    "incident_date": "2026-03-27",
    "incident_postcode": "PR1 2AB",
    "description": "My bike was taken from outside the library while I was inside.",
    "suspect_known": "no",
    "full_name": "Bench Person",
    "phone": "07700 900123",
    "email": "bench@example.com",
}
HTML_PAGES: list[tuple[str, dict[str, str]]] = [
    ("crime-type", {"crime_type": "theft"}),
    ("when", {"incident_date-day": "27", "incident_date-month": "3", "incident_date-year": "2026"}),
    ("where", {"incident_postcode": "PR1 2AB"}),
    ("what", {"description": "My bike was taken from outside the library while I was inside."}),
    ("suspect", {"suspect_known": "no"}),
    ("evidence", {}),
    ("contact", {"full_name": "Bench Person", "phone": "07700 900123", "email": "bench@example.com"}),
]
TOKEN = re.compile(r'name="submit_token" value="([^"]+)"')


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    completed: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def database(kind: str, pg_url: str, tmp: Path):  # type: ignore[no-untyped-def]
    if kind == "sqlite":
        url = f"sqlite:///{(tmp / 'bench.db').as_posix()}"
        upgrade_database(url)
        yield url
        return
    with scratch_postgres_database(pg_url, prefix="fc_bench") as url:
        upgrade_database(url)
        yield url


def _start_worker(env: dict[str, str], log: Any) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "chat_server.app:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return proc, f"http://127.0.0.1:{port}"


SERVER_PIDS: list[int] = []  # of the running `server()`, for the profiler


def profile(name: str, duration: float) -> list[subprocess.Popen[bytes]]:
    """With FC_BENCH_PROFILE=<dir>: py-spy samples each server process during one scenario,
    writing <dir>/forms-<scenario>-<pid>.txt (collapsed stacks)."""
    out_dir = os.environ.get("FC_BENCH_PROFILE")
    if not out_dir:
        return []
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    spy = str(Path(sys.executable).with_name("py-spy"))
    return [
        subprocess.Popen(
            [spy, "record", "--pid", str(pid), "--nonblocking", "--rate", "100", "--duration",
             str(int(duration)), "--format", "raw", "-o", str(Path(out_dir) / f"forms-{name}-{pid}.txt")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for pid in SERVER_PIDS
    ]  # fmt: skip


@contextmanager
def server(url: str, tmp: Path, workers: int = 1, redis_url: str = ""):  # type: ignore[no-untyped-def]
    """`workers` server processes, each on its own port, as behind a load balancer.

    (Not `uvicorn --workers`: its processes share one listening socket, and the bench's 16
    keep-alive connections, opened at once, all landed on one process.) Clients are spread over
    the processes round-robin. Yields the base URLs.
    """
    env = os.environ | {
        "FIRSTCONTACT_ENV": "test",
        "FIRSTCONTACT_DATABASE_URL": url,
        "FIRSTCONTACT_DATA_DIR": str(tmp),
        "FIRSTCONTACT_SECRET_KEY": secrets.token_urlsafe(40),
        # The bench sends everything from one address: lift the per-address limit for it.
        "FIRSTCONTACT_API_SUBMISSIONS_PER_MINUTE": "100000000",
    }
    env.pop("FIRSTCONTACT_REDIS_URL", None)
    if workers > 1:  # as in production: events reach every worker through Redis
        env["FIRSTCONTACT_REDIS_URL"] = redis_url
        env["FIRSTCONTACT_REDIS_CHANNEL_PREFIX"] = f"fcbench-{secrets.token_hex(4)}"
    log = (tmp / "server.log").open("w")
    started = [_start_worker(env, log) for _ in range(workers)]
    deadline = time.monotonic() + 240  # a busy machine starts slowly
    for proc, base in started:
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                for other, _ in started:
                    other.kill()
                raise RuntimeError("server did not start: " + (tmp / "server.log").read_text()[-2000:])
            time.sleep(0.1)
    SERVER_PIDS[:] = [proc.pid for proc, _ in started]
    try:
        yield [base for _, base in started]
    finally:
        for proc, _ in started:
            proc.terminate()
        for proc, _ in started:
            proc.wait(timeout=15)
        log.close()


class RawClient:
    """A minimal HTTP/1.1 keep-alive client: far less CPU per request than httpx, so the load
    generator (on the same 2 cores) takes less from the server it measures."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Length: {len(body)}\r\n"
        for name, value in (headers or {}).items():
            head += f"{name}: {value}\r\n"
        self.writer.write(head.encode() + b"\r\n" + body)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = 0
        for line in lines[1:]:
            if line.lower().startswith("content-length:"):
                length = int(line.split(":", 1)[1])
        await self.reader.readexactly(length)
        return status

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


async def timed_raw(tally: Tally, coro: Any) -> int | None:
    start = time.perf_counter()
    try:
        status = int(await coro)
    except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
        tally.error(type(exc).__name__)
        return None
    tally.latencies.append(time.perf_counter() - start)
    if status >= 500:
        tally.error(f"http_{status}")
    return status


async def timed(tally: Tally, coro: Any) -> httpx.Response | None:
    start = time.perf_counter()
    try:
        response = await coro
    except httpx.HTTPError as exc:
        tally.error(type(exc).__name__)
        return None
    tally.latencies.append(time.perf_counter() - start)
    if response.status_code >= 500:
        tally.error(f"http_{response.status_code}")
    return response


def person() -> dict[str, str]:
    """A caller from a pool of 1,000 drama-range numbers: mostly new people, some repeat contacts."""
    n = secrets.randbelow(1000)
    return {"phone": f"07700 900{n:03d}", "email": f"bench{n}@example.com"}


async def baseline_user(client: RawClient, tally: Tally, stop: float) -> None:
    while time.perf_counter() < stop:
        status = await timed_raw(tally, client.request("GET", "/api/v1/forms"))
        if status == 200:
            tally.completed += 1
    await client.close()


async def api_user(client: RawClient, tally: Tally, stop: float) -> None:
    while time.perf_counter() < stop:
        body = json.dumps({"answers": API_ANSWERS | person()}).encode()
        headers = {"Content-Type": "application/json", "Idempotency-Key": uuid.uuid4().hex}
        status = await timed_raw(
            tally, client.request("POST", "/api/v1/forms/crime/submissions", body, headers)
        )
        if status == 201:
            tally.completed += 1
        elif status is not None and status < 500:
            tally.error(f"http_{status}")
    await client.close()


async def html_user(base: str, tally: Tally, stop: float) -> None:
    while time.perf_counter() < stop:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            response = await timed(tally, client.post("/report/crime/start"))
            if response is None or response.status_code != 303:
                continue
            ok = True
            for page_id, data in HTML_PAGES:
                if page_id == "contact":
                    data = data | person()
                response = await timed(tally, client.post(f"/report/crime/{page_id}", data=data))
                if response is None or response.status_code != 303:
                    tally.error("page_not_accepted")
                    ok = False
                    break
            if not ok:
                continue
            check = await client.get("/report/crime/check")
            match = TOKEN.search(check.text)
            if not match:
                tally.error("no_token")
                continue
            response = await timed(
                tally, client.post("/report/crime/submit", data={"submit_token": match.group(1)})
            )
            if response is not None and response.status_code == 303:
                tally.completed += 1


# Prepared journeys per second of --duration for `html-submit` (more than one worker can take).
PREPARED_PER_SECOND = 1500


async def prepare_html_submissions(base: str, url: str, count: int) -> list[tuple[str, str]]:
    """`count` crime journeys waiting at "Check your answers": (cookie token, submit token) each.

    One journey goes through the real pages (so the stored answers are exactly what the journey
    keeps); its FormSession row is then copied `count` times with new tokens and a caller from
    the pool, straight into the database. Untimed: only the final POST is measured.
    """
    import hashlib

    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        await client.post("/report/crime/start")
        for page_id, data in HTML_PAGES:
            response = await client.post(f"/report/crime/{page_id}", data=data)
            assert response.status_code == 303, (page_id, response.status_code)
        cookie = client.cookies.get("fc_form")
    assert cookie
    engine = create_engine(url)
    table = FormSession.__table__  # type: ignore[attr-defined]
    with engine.begin() as conn:
        row = (
            conn.execute(select(table).where(table.c.id == hashlib.sha256(cookie.encode()).hexdigest()))
            .mappings()
            .one()
        )
        now = datetime.now(UTC)
        prepared: list[tuple[str, str]] = []
        rows = []
        for _ in range(count):
            token, submit_token = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
            values = dict(row["answers"]["values"])
            n = secrets.randbelow(1000)
            values["phone"], values["email"] = f"+447700900{n:03d}", f"bench{n}@example.com"
            rows.append(
                dict(row)
                | {
                    "id": hashlib.sha256(token.encode()).hexdigest(),
                    "answers": {"values": values, "pages": row["answers"]["pages"]},
                    "submit_token": submit_token,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            prepared.append((token, submit_token))
        conn.execute(insert(table), rows)
    engine.dispose()
    return prepared


async def html_submit_user(
    client: RawClient, tally: Tally, stop: float, prepared: list[tuple[str, str]]
) -> None:
    while time.perf_counter() < stop and prepared:
        token, submit_token = prepared.pop()
        body = f"submit_token={submit_token}".encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": f"fc_form={token}"}
        status = await timed_raw(tally, client.request("POST", "/report/crime/submit", body, headers))
        if status == 303:
            tally.completed += 1
        elif status is not None and status < 500:
            tally.error(f"http_{status}")
    if not prepared:
        tally.error("prepared_journeys_ran_out")
    await client.close()


async def run_scenario(
    name: str, bases: list[str], concurrency: int, duration: float, url: str = ""
) -> dict[str, Any]:
    tally = Tally()
    prepared: list[tuple[str, str]] = []
    if name == "html-submit":
        prepared = await prepare_html_submissions(bases[0], url, int(duration * PREPARED_PER_SECOND))
    started = time.perf_counter()
    stop = started + duration
    # Virtual user i talks to server process i mod N (round-robin, as a load balancer would).
    targets = [bases[i % len(bases)] for i in range(concurrency)]

    def raw(base: str) -> RawClient:
        host, port = base.rsplit("/", 1)[-1].split(":")
        return RawClient(host, int(port))

    if name == "baseline":
        users = [baseline_user(raw(base), tally, stop) for base in targets]
    elif name == "api":
        users = [api_user(raw(base), tally, stop) for base in targets]
    elif name == "html-submit":
        users = [html_submit_user(raw(base), tally, stop, prepared) for base in targets]
    else:
        users = [html_user(base, tally, stop) for base in targets]
    await asyncio.gather(*users)
    elapsed = time.perf_counter() - started
    lat = sorted(tally.latencies) or [0.0]

    def pct(p: float) -> float:
        return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 1)

    return {
        "completed": tally.completed,
        "per_second": round(tally.completed / elapsed, 1),
        "requests_per_second": round(len(tally.latencies) / elapsed, 1),
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "mean_ms": round(statistics.fmean(lat) * 1000, 1),
        "errors": tally.errors,
    }


def file_one_report(store: Any, settings: Any, form: Any) -> None:
    """One crime report straight through the service, in its own transaction (no HTTP)."""
    from web_forms.api import service

    with store.session_scope() as session:
        service.submit(
            session=session,
            settings=settings,
            form=form,
            answers=API_ANSWERS | person(),
            language="en",
            idempotency_key=uuid.uuid4().hex,
        )


def service_time(url: str, tmp: Path, n: int = 200) -> dict[str, float]:
    """Serial submissions straight through the service (no HTTP): the per-report cost floor."""
    from contact_store.db import Store, make_engine
    from contact_store.events import InProcessBus
    from contact_store.settings import Settings
    from web_forms.catalogue import catalogue

    settings = Settings(env="test", data_dir=tmp, database_url=url, secret_key=secrets.token_urlsafe(40))
    engine = make_engine(url)
    store = Store(engine, InProcessBus())
    form = catalogue()["crime"]
    timings = []
    for _ in range(n):
        start = time.perf_counter()
        file_one_report(store, settings, form)
        timings.append(time.perf_counter() - start)
    engine.dispose()
    timings.sort()
    return {
        "p50_ms": round(timings[n // 2] * 1000, 2),
        "p99_ms": round(timings[int(n * 0.99)] * 1000, 2),
        "per_second_one_thread": round(n / sum(timings), 1),
    }


def count_rows(url: str) -> int:
    engine = create_engine(url)
    with engine.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM report")).scalar_one()
    engine.dispose()
    return int(n)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per scenario")
    parser.add_argument("--concurrency", type=int, default=32, help="virtual users")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--scenarios", default="baseline,api,html,html-submit")
    parser.add_argument(
        "--workers", type=int, default=1, help="server processes (each on its own port, clients round-robin)"
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("FIRSTCONTACT_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"),
        help="event bus between workers (used when --workers > 1)",
    )
    parser.add_argument("--pg-url", default=os.environ.get("FIRSTCONTACT_BENCH_PG_URL", DEFAULT_PG))
    args = parser.parse_args()
    results: dict[str, Any] = {
        "duration_s": args.duration,
        "concurrency": args.concurrency,
        "workers": args.workers,
        "cpus": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),
        "backends": {},
    }
    for backend in args.backends.split(","):
        with tempfile.TemporaryDirectory(prefix="fc-bench-") as tmp_name:
            tmp = Path(tmp_name)
            with (
                database(backend, args.pg_url, tmp) as url,
                server(url, tmp, args.workers, args.redis_url) as bases,
            ):
                figures: dict[str, Any] = {}
                for scenario in args.scenarios.split(","):
                    spies = profile(f"{backend}-{scenario}", args.duration)
                    figures[scenario] = asyncio.run(
                        run_scenario(scenario, bases, args.concurrency, args.duration, url)
                    )
                    for spy in spies:
                        spy.wait()
                    f = figures[scenario]
                    print(
                        f"{backend:10} {scenario:8} {f['per_second']:8.1f}/s  "
                        f"({f['requests_per_second']:.0f} req/s)  p50 {f['p50_ms']:6.1f} ms  "
                        f"p99 {f['p99_ms']:6.1f} ms  errors {f['errors'] or 0}",
                        flush=True,
                    )
                figures["service"] = service_time(url, tmp)
                print(
                    f"{backend:10} service  {figures['service']['per_second_one_thread']:8.1f}/s  "
                    f"(one thread, no HTTP)  p50 {figures['service']['p50_ms']:6.1f} ms  "
                    f"p99 {figures['service']['p99_ms']:6.1f} ms",
                    flush=True,
                )
                log = (tmp / "server.log").read_text()
                figures["database_is_locked"] = log.count("database is locked")
                figures["server_errors_logged"] = log.count("Traceback")
                figures["reports_stored"] = count_rows(url)
                figures["invariants_broken"] = [r.name for r in check_database(url).failures]
                if "api" in figures and "baseline" in figures:
                    figures["api_vs_baseline"] = round(
                        figures["api"]["per_second"] / max(figures["baseline"]["per_second"], 0.1), 3
                    )
                print(
                    f"{backend:10} reports stored {figures['reports_stored']}, "
                    f"'database is locked' {figures['database_is_locked']}, "
                    f"tracebacks {figures['server_errors_logged']}, "
                    f"api/baseline {figures.get('api_vs_baseline')}, "
                    f"invariants broken {figures['invariants_broken'] or 'none'}",
                    flush=True,
                )
                results["backends"][backend] = figures
    results["load_average_at_end"] = os.getloadavg()
    print(f"load average start {results['load_average_at_start']}, end {results['load_average_at_end']}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    print(f"written {RESULTS.relative_to(ROOT)}")
    if any(f["invariants_broken"] for f in results["backends"].values()):
        raise SystemExit("The store's invariants are broken after the run")


if __name__ == "__main__":
    main()
