"""Benchmark: the console's hot queries on a store of 1,000,000 contacts and 100,000 people.

Seeds a fresh SQLite file and a fresh PostgreSQL database (migrated by Alembic, then filled with
executemany / COPY), then times, with the real service code:
- workspace: the chat queue (waiting chats by priority then age, first 50) and one operator's
  active chats;
- triage: the first page of the report list (count + 25 rows, oldest first) as an operator (team
  visibility rule) and as a supervisor, with a random mix of filters (form, POD, grade, sensitive);
- person panel: every earlier contact of a random person across reports, chats and texts, plus
  the repeat-contact / double-demand signals.
Each is run REPEATS times after a warm-up; p50/p95/max in milliseconds are printed and written to
bench/results/console_queries.json, with a baseline (a primary-key lookup) measured in the same
run so the figures can be compared across machines as ratios. Target: p95 < 50 ms.

Usage: python -m bench.console_queries [--contacts 1000000] [--people 100000] [--sqlite-only]
       [--pg-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine
from sqlmodel import Session, col, select

from agent_console.triage.service import TriageFilters, list_reports
from contact_store.migrate import scratch_postgres_database, upgrade_database
from contact_store.models import WAITING_STATUSES, Conversation, Operator, Report
from contact_store.person_history import person_history
from contact_store.settings import Settings

REPEATS = 300
WARMUP = 20
FORMS = ["crime", "asb", "vehicle", "fraud", "lost-property", "information", "rtc", "domestic-abuse"]
RESULTS = Path(__file__).parent / "results" / "console_queries.json"
SQLITE_TS = "%Y-%m-%d %H:%M:%S.%f"
BATCH = 50_000


def _rows(
    contacts: int, people: int, now: datetime, seed: int = 7
) -> tuple[list[tuple], list[tuple], list[tuple]]:
    """People, reports and conversations as tuples (datetimes aware, JSON as text)."""
    rnd = random.Random(seed)
    two_years = 730 * 86400
    people_rows = []
    for pid in range(1, people + 1):
        created = now - timedelta(seconds=rnd.randrange(two_years))
        people_rows.append(
            (pid, f"Person {pid}", f"+4477009{pid:05d}"[:13], f"p{pid}@example.org", None, created, now)
        )
    reports = []
    n_reports = contacts * 6 // 10
    for rid in range(1, n_reports + 1):
        received = now - timedelta(seconds=int(two_years * (1 - rid / n_reports)) + rnd.randrange(60))
        age_days = (now - received).days
        status = (
            "closed"
            if age_days > 3
            else rnd.choice(["received", "in_progress", "awaiting_information", "resolved"])
        )
        reports.append(
            (
                rid,
                f"FC-B-{rid:07d}",
                rnd.choice(FORMS),
                json.dumps({"description": "Benchmark report"}),
                "Benchmark",
                status,
                rnd.choice([None, 2, 3, 4, 5]),
                "{}",
                rnd.random() < 0.05,
                "en",
                "web",
                rnd.randrange(1, people + 1) if rnd.random() < 0.8 else None,
                rnd.randrange(1, 4),
                rnd.randrange(1, 4),
                None,
                False,
                received,
                received if status == "closed" else None,
                received,
            )
        )
    convs = []
    n_convs = contacts - n_reports
    for i in range(n_convs):
        queued = now - timedelta(seconds=int(two_years * (1 - (i + 1) / n_convs)) + rnd.randrange(60))
        recent = (now - queued).total_seconds() < 600
        status = rnd.choice(["queued", "active"]) if recent else rnd.choice(["ended"] * 9 + ["abandoned"])
        assigned = (
            queued + timedelta(seconds=rnd.randrange(5, 300)) if status in ("active", "ended") else None
        )
        convs.append(
            (
                str(uuid.UUID(int=i + 1)),
                "0" * 64,
                status,
                rnd.randrange(1, people + 1) if rnd.random() < 0.7 else None,
                "",
                rnd.choice(FORMS),
                "en",
                rnd.randrange(1, 4),
                rnd.randrange(1, 4),
                rnd.randrange(1, 40) if assigned else None,
                rnd.choice([0, 0, 0, 5]),
                False,
                0,
                queued,
                assigned,
                queued + timedelta(minutes=20) if status == "ended" else None,
                "{}",
            )
        )
    return people_rows, reports, convs


PEOPLE_COLS = "id, name, phone_e164, email_normalised, postcode, created_at, last_contact_at"
REPORT_COLS = (
    "id, reference, form_slug, answers, summary, status, grade, thrive, sensitive, language, channel, "
    "person_id, area_id, team_id, assignee_id, repeat_contact, received_at, closed_at, updated_at"
)
CONV_COLS = (
    "id, token_hash, status, person_id, visitor_name, topic, language, area_id, team_id, assignee_id, "
    "priority, danger_flag, last_seq, queued_at, assigned_at, ended_at, thrive"
)


EPOCH = "'2026-01-01 00:00:00'"


def _org_sql() -> list[str]:
    stmts = [
        f"INSERT INTO team (id, name, default_max_chats, created_at) VALUES ({i}, 'Team {i}', 3, {EPOCH})"
        for i in (1, 2, 3)
    ]
    stmts += [
        f"INSERT INTO area (id, name, postcode_prefixes, created_at) VALUES ({i}, 'Area {i}', '[]', {EPOCH})"
        for i in (1, 2, 3)
    ]
    stmts += [
        "INSERT INTO operator (id, username, display_name, password_hash, role, team_id, skills, status, "
        f"is_active, failed_sign_ins, created_at) VALUES ({i}, 'op{i}', 'Operator {i}', 'x', "
        f"'{'supervisor' if i == 1 else 'operator'}', {1 + i % 3}, '[]', 'available', true, 0, {EPOCH})"
        for i in range(1, 41)
    ]
    return stmts


def _sqlite_value(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.astimezone(UTC).replace(tzinfo=None).strftime(SQLITE_TS)
    return v


def load_sqlite(path: Path, data: tuple[list[tuple], list[tuple], list[tuple]]) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    with conn:
        for stmt in _org_sql():
            conn.execute(stmt.replace("true", "1"))
        for table, cols, rows in (
            ("person", PEOPLE_COLS, data[0]),
            ("report", REPORT_COLS, data[1]),
            ("conversation", CONV_COLS, data[2]),
        ):
            marks = ", ".join("?" * len(cols.split(",")))
            for start in range(0, len(rows), BATCH):
                conn.executemany(
                    f"INSERT INTO {table} ({cols}) VALUES ({marks})",
                    ([_sqlite_value(v) for v in row] for row in rows[start : start + BATCH]),
                )
    conn.execute("ANALYZE")
    conn.close()


def load_postgres(url: str, data: tuple[list[tuple], list[tuple], list[tuple]]) -> None:
    engine = create_engine(url)
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        for stmt in _org_sql():
            cur.execute(stmt)
        for table, cols, rows in (
            ("person", PEOPLE_COLS, data[0]),
            ("report", REPORT_COLS, data[1]),
            ("conversation", CONV_COLS, data[2]),
        ):
            with cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for row in rows:
                    copy.write_row(row)
        for table in ("person", "report", "conversation", "operator"):
            cur.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
                if table != "conversation"
                else "SELECT 1"
            )
        raw.commit()
        cur.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()
        engine.dispose()


def timed(fn: Callable[[], Any], repeats: int = REPEATS) -> dict[str, float]:
    for _ in range(WARMUP):
        fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return {
        "p50_ms": round(statistics.median(samples), 3),
        "p95_ms": round(samples[int(len(samples) * 0.95) - 1], 3),
        "max_ms": round(samples[-1], 3),
    }


def run_queries(url: str, people: int, settings: Settings) -> dict[str, dict[str, float]]:
    engine = create_engine(url)
    rnd = random.Random(11)
    results: dict[str, dict[str, float]] = {}
    with Session(engine) as session:
        operator = session.get(Operator, 2)
        supervisor = session.get(Operator, 1)
        assert operator is not None and supervisor is not None
        max_report = session.exec(select(Report.id).order_by(col(Report.id).desc()).limit(1)).one()

        def baseline() -> None:
            session.get(Report, rnd.randrange(1, max_report))
            session.expunge_all()

        def workspace() -> None:
            session.exec(
                select(Conversation)
                .where(col(Conversation.status).in_(WAITING_STATUSES))
                .order_by(col(Conversation.priority).desc(), col(Conversation.queued_at))
                .limit(50)
            ).all()
            session.exec(
                select(Conversation).where(
                    Conversation.assignee_id == rnd.randrange(1, 41), Conversation.status == "active"
                )
            ).all()
            session.expunge_all()

        def random_filters() -> TriageFilters:
            return TriageFilters(
                form=rnd.choice(["", "", *FORMS]),
                area_id=rnd.choice([None, None, 1, 2, 3]),
                grade=rnd.choice([None, None, 3, 4]),
                sensitive=rnd.choice(["", "", "yes", "no"]),
            )

        def triage_operator() -> None:
            list_reports(session=session, staff=operator, filters=random_filters(), settings=settings)
            session.expunge_all()

        def triage_supervisor() -> None:
            list_reports(session=session, staff=supervisor, filters=random_filters(), settings=settings)
            session.expunge_all()

        def triage_closed_by_form() -> None:
            list_reports(
                session=session,
                staff=supervisor,
                filters=TriageFilters(status="closed", form=rnd.choice(FORMS)),
                settings=settings,
            )
            session.expunge_all()

        def person_panel() -> None:
            person_history(  # an operator's view: every contact filtered by the access rules
                session=session,
                staff=operator,
                person_id=rnd.randrange(1, people + 1),
                repeat_contact_days=30,
            )
            session.expunge_all()

        for name, fn in (
            ("baseline_pk_lookup", baseline),
            ("workspace_queue", workspace),
            ("triage_first_page_operator", triage_operator),
            ("triage_first_page_supervisor", triage_supervisor),
            ("triage_closed_by_form", triage_closed_by_form),
            ("person_panel", person_panel),
        ):
            results[name] = timed(fn)
            base = results.get("baseline_pk_lookup", {}).get("p95_ms") or 1
            results[name]["p95_vs_baseline"] = round(results[name]["p95_ms"] / base, 1)
            print(
                f"  {name:<30} p50 {results[name]['p50_ms']:>8.2f} ms"
                f"   p95 {results[name]['p95_ms']:>8.2f} ms   max {results[name]['max_ms']:>8.2f} ms",
                flush=True,
            )
    engine.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--sqlite-only", action="store_true")
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--keep-sqlite", type=Path, help="build the SQLite store at this path and keep it")
    args = parser.parse_args()
    now = datetime.now(UTC)
    settings = Settings(env="test", data_dir=Path(tempfile.gettempdir()))
    start = time.perf_counter()
    data = _rows(args.contacts, args.people, now)
    print(
        f"generated {args.contacts:,} contacts and {args.people:,} people"
        f" in {time.perf_counter() - start:.1f} s"
    )
    out: dict[str, Any] = {
        "contacts": args.contacts,
        "people": args.people,
        "repeats": REPEATS,
        "backends": {},
        "cpus": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep_sqlite or Path(tmp) / "bench.db"
        url = f"sqlite:///{path}"
        upgrade_database(url)
        start = time.perf_counter()
        load_sqlite(path, data)
        load_s = time.perf_counter() - start
        print(f"SQLite: loaded in {load_s:.1f} s")
        out["backends"]["sqlite"] = {
            "load_seconds": round(load_s, 1),
            "queries": run_queries(url, args.people, settings),
        }
    if not args.sqlite_only:
        with scratch_postgres_database(args.pg_url, prefix="fc_bench") as url:
            upgrade_database(url)
            start = time.perf_counter()
            load_postgres(url, data)
            load_s = time.perf_counter() - start
            print(f"PostgreSQL: loaded in {load_s:.1f} s")
            out["backends"]["postgresql"] = {
                "load_seconds": round(load_s, 1),
                "queries": run_queries(url, args.people, settings),
            }
    worst = max(q["p95_ms"] for b in out["backends"].values() for k, q in b["queries"].items())
    out["target_p95_ms"] = 50
    out["worst_p95_ms"] = worst
    out["meets_target"] = worst < 50
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    out["load_average_at_end"] = os.getloadavg()
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(
        f"worst p95 {worst:.2f} ms (target < 50 ms): {'met' if worst < 50 else 'NOT met'};"
        f" written to {RESULTS}"
    )


if __name__ == "__main__":
    main()
