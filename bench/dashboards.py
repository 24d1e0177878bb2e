"""Benchmark: the performance dashboard over a store of contacts spread over two years.

Seeds a fresh SQLite file (and, with --pg-url, a fresh PostgreSQL database), migrated by Alembic and
filled by executemany: chats (45%), online reports (30%), texts (15%) and survey invitations with
answers (10%) over 730 days, 3 teams, 3 PODs, 30 operators. Then:
- builds the daily facts of every day (`rebuild_all`) and times it;
- times one incremental refresh (recent days + none dirty);
- times the whole dashboard page's data (`agent_console.dashboards.service.build`: headline with
  previous period and last year, series, heat map, waits, teams, breakdown) for random months and
  teams, REPEATS times from the facts; and the same page computed straight from the contacts
  (`RawSource`, the baseline) BASELINE_REPEATS times, in the same run.
p50/p95/max in ms and the ratio are printed with the load average and written to
bench/results/dashboards.json. Target: p95 < 300 ms from the facts.

Usage: python -m bench.dashboards [--contacts 1000000] [--pg-url postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, insert, make_url, text
from sqlmodel import Session

from agent_console.dashboards.service import Query, build
from contact_store.measures.facts import rebuild_all, refresh_facts
from contact_store.measures.query import RawSource
from contact_store.migrate import scratch_postgres_database, upgrade_database
from contact_store.models import (
    Area,
    Conversation,
    Operator,
    Report,
    SmsMessage,
    SurveyInvitation,
    SurveyResponse,
    Team,
)
from contact_store.settings import Settings

REPEATS = 40
BASELINE_REPEATS = 3
BATCH = 20_000
RESULTS = Path(__file__).parent / "results" / "dashboards.json"
TOPICS = ["theft", "asb", "fraud", "vehicle", "other", "lost-property"]


def _seed(url: str, contacts: int, now: datetime) -> None:
    engine = create_engine(url)
    rnd = random.Random(14)
    span = 730 * 86400
    with engine.begin() as conn:
        conn.execute(
            insert(Team.__table__),
            [{"id": i, "name": f"Team {i}", "default_max_chats": 3, "created_at": now} for i in (1, 2, 3)],
        )  # type: ignore[attr-defined]
        conn.execute(
            insert(Area.__table__),
            [{"id": i, "name": f"POD {i}", "postcode_prefixes": [], "created_at": now} for i in (1, 2, 3)],
        )  # type: ignore[attr-defined]
        conn.execute(
            insert(Operator.__table__),  # type: ignore[attr-defined]
            [
                {"id": i, "username": f"op{i}", "display_name": f"Operator {i}", "password_hash": "x",
                 "role": "operator", "team_id": 1 + i % 3, "skills": [], "status": "offline",
                 "is_active": True, "failed_sign_ins": 0, "created_at": now}
                for i in range(1, 31)
            ],
        )  # fmt: skip

    def at() -> datetime:
        # Busier by day than by night: most contacts between 08:00 and 22:00.
        t = now - timedelta(seconds=rnd.randrange(span))
        return t.replace(hour=rnd.choice([8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 2, 23]))

    kinds = rnd.choices(["chat", "report", "sms", "survey"], weights=[45, 30, 15, 10], k=contacts)
    tables: dict[str, list[dict[str, Any]]] = {
        "chat": [],
        "report": [],
        "sms": [],
        "survey": [],
        "answer": [],
    }
    sid = 0

    def flush(force: bool = False) -> None:
        with engine.begin() as conn:
            for key, table in (("chat", Conversation), ("report", Report), ("sms", SmsMessage),
                               ("survey", SurveyInvitation), ("answer", SurveyResponse)):  # fmt: skip
                rows = tables[key]
                # Answers go in with their invitations (PostgreSQL checks the foreign key).
                due = force or len(rows) >= BATCH or (key == "survey" and len(tables["answer"]) >= BATCH)
                if rows and due:
                    conn.execute(insert(table.__table__), rows)  # type: ignore[attr-defined]
                    rows.clear()

    for n, kind in enumerate(kinds):
        t = at()
        team, area, op = 1 + n % 3, 1 + (n // 3) % 3, 1 + rnd.randrange(30)
        if kind == "chat":
            wait = rnd.expovariate(1 / 45)
            gone = rnd.random() < 0.1
            row: dict[str, Any] = {
                "id": str(uuid.UUID(int=rnd.getrandbits(128))), "token_hash": "x", "status": "abandoned" if gone  # noqa: E501
                else "ended", "visitor_name": "", "topic": rnd.choice(TOPICS), "language": "en", "area_id": area,  # noqa: E501
                "team_id": team, "priority": 0, "danger_flag": False, "last_seq": 0, "queued_at": t,
                "thrive": {}, "safe_to_contact": False, "abandoned_at": None, "assignee_id": None,
                "assigned_at": None, "ended_at": None, "wrapped_up_at": None,
            }  # fmt: skip
            if gone:
                row["abandoned_at"] = t + timedelta(seconds=wait)
            else:
                ended = t + timedelta(seconds=wait + rnd.uniform(120, 1500))
                row.update(assignee_id=op, assigned_at=t + timedelta(seconds=wait), ended_at=ended,
                           wrapped_up_at=ended + timedelta(seconds=rnd.uniform(10, 200)))  # fmt: skip
            tables["chat"].append(row)
        elif kind == "report":
            first = t + timedelta(hours=rnd.expovariate(1 / 12)) if rnd.random() < 0.95 else None
            tables["report"].append(
                {"reference": f"B{n:09d}", "form_slug": rnd.choice(TOPICS), "answers": {}, "summary": "",
                 "status": "resolved", "thrive": {}, "sensitive": False, "language": "en", "channel": "web",
                 "area_id": area, "team_id": team, "assignee_id": op, "repeat_contact": False,
                 "safe_to_contact": False, "received_at": t, "first_response_at": first, "updated_at": t}
            )  # fmt: skip
        elif kind == "sms":
            tables["sms"].append(
                {"to_e164": "+447700900000", "body": "x", "template": "", "personalisation": {}, "kind": "update",  # noqa: E501
                 "essential": True, "status": rnd.choice(["delivered"] * 8 + ["failed", "blocked"]),
                 "attempts": 1, "next_attempt_at": t, "operator_id": op, "created_at": t}
            )  # fmt: skip
        else:
            sid += 1
            tables["survey"].append(
                {"id": sid, "channel": rnd.choice(["chat", "report"]), "team_id": team, "operator_id": op,
                 "area_id": area, "topic": rnd.choice(TOPICS), "contact_at": t, "status": "completed",
                 "next_question": 3, "due_at": t, "sent_at": t, "created_at": t}
            )  # fmt: skip
            if rnd.random() < 0.4:
                tables["answer"].append(
                    {"invitation_id": sid, "score_time": rnd.randint(1, 5), "score_resolve": rnd.randint(1, 5),  # noqa: E501
                     "score_overall": rnd.randint(1, 5), "response_channel": "sms", "channel": "chat",
                     "team_id": team, "submitted_at": t}
                )  # fmt: skip
        if n % BATCH == 0:
            flush()
    flush(force=True)
    engine.dispose()


def _time(fn: Callable[[], Any], repeats: int) -> dict[str, float]:
    times, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    times.sort()
    cpu.sort()
    return {
        # CPU time of this process (SQLite's work included, PostgreSQL's server not): steadier than
        # wall time on a shared, loaded machine.
        "cpu_p50_ms": round(statistics.median(cpu), 1),
        "cpu_p95_ms": round(cpu[min(len(cpu) - 1, int(len(cpu) * 0.95))], 1),
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[min(len(times) - 1, int(len(times) * 0.95))], 1),
        "max_ms": round(times[-1], 1),
        "n": repeats,
    }


def _seeded(url: str) -> bool:
    """A kept store from an earlier run (--keep): seeded and its facts built."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return bool(conn.execute(text("SELECT count(*) FROM fact_contact_day")).scalar_one())
    except Exception:
        return False
    finally:
        engine.dispose()


def run(url: str, contacts: int, label: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    settings = Settings(env="test", database_url=url)
    upgrade_database(url)
    result: dict[str, Any] = {"backend": label, "contacts": contacts}
    kept = _seeded(url)
    if not kept:
        t0 = time.perf_counter()
        _seed(url, contacts, now)
        result["seed_s"] = round(time.perf_counter() - t0, 1)
    engine = create_engine(url)
    with Session(engine) as session:
        if not kept:
            t0 = time.perf_counter()
            days = rebuild_all(session=session, settings=settings, now=now)
            session.commit()
            result["first_build_s"] = round(time.perf_counter() - t0, 1)
            result["days_built"] = len(days)
        result["load_average_before_timing"] = os.getloadavg()
        t0 = time.perf_counter()
        refresh_facts(session=session, settings=settings, now=now)
        session.commit()
        result["refresh_s"] = round(time.perf_counter() - t0, 2)
        rnd = random.Random(3)
        today = now.date()

        def query() -> Query:
            start = (today - timedelta(days=rnd.randrange(60, 700))).replace(day=1)
            end = (start + timedelta(days=32)).replace(day=1) - timedelta(days=1)
            team = rnd.choice([None, 1, 2, 3])
            return Query(start=start, end=end, channel=rnd.choice(["chat", "forms", "sms"]), team_id=team,
                         by=rnd.choice(["team", "operator", "topic", "hour"]), grain="day")  # fmt: skip

        build(session=session, query=query())  # warm-up
        result["dashboard_facts"] = _time(lambda: build(session=session, query=query()), REPEATS)
        raw = RawSource(session, settings)
        result["dashboard_raw_baseline"] = _time(
            lambda: build(session=session, query=query(), source=raw), BASELINE_REPEATS
        )
        result["ratio_p50"] = round(
            result["dashboard_raw_baseline"]["p50_ms"] / max(result["dashboard_facts"]["p50_ms"], 0.1), 1
        )
    engine.dispose()
    return result


def _kept_postgres(server_url: str, contacts: int) -> str:
    """The kept PostgreSQL database for --keep (created when missing, never dropped)."""
    server = make_url(server_url)
    name = f"fc_bench_dash_kept_{contacts}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first():
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return server.set(database=name).render_as_string(hide_password=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--pg-url", default="")
    parser.add_argument("--sqlite-only", action="store_true")
    parser.add_argument(
        "--keep",
        default="",
        help="keep the seeded stores (SQLite file in this directory, PostgreSQL database "
        "fc_bench_dash_kept) and reuse them on the next run: seed once, time on a quiet machine",
    )
    args = parser.parse_args()
    out = {
        "load_average": os.getloadavg(),
        "started": datetime.now(UTC).isoformat(),
        "date": str(date.today()),
    }
    runs = []
    if args.keep:
        Path(args.keep).mkdir(parents=True, exist_ok=True)
        runs.append(
            run(f"sqlite:///{Path(args.keep).resolve()}/bench-{args.contacts}.db", args.contacts, "sqlite")
        )
        print(json.dumps(runs[-1], indent=2))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            runs.append(run(f"sqlite:///{tmp}/bench.db", args.contacts, "sqlite"))
            print(json.dumps(runs[-1], indent=2))
    if args.pg_url and not args.sqlite_only:
        if args.keep:
            runs.append(run(_kept_postgres(args.pg_url, args.contacts), args.contacts, "postgresql"))
            print(json.dumps(runs[-1], indent=2))
        else:
            with scratch_postgres_database(args.pg_url, prefix="fc_bench_dash") as url:
                runs.append(run(url, args.contacts, "postgresql"))
                print(json.dumps(runs[-1], indent=2))
    out["runs"] = runs
    out["load_average_after"] = os.getloadavg()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2, default=str))
    print("load average before/after:", out["load_average"], out["load_average_after"])


if __name__ == "__main__":
    main()
