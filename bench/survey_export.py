"""Benchmark: export 1,000,000 survey responses as CSV and as XLSX (rows/s and peak RSS growth).

    .venv/bin/python bench/survey_export.py [--rows 1000000] [--database-url URL]

Also measured in the same run: a plain keyset read (the baseline), openpyxl write-only on the
first 20,000 rows (what the streaming XLSX writer replaces), and a CPU calibration loop.

Seeds a fresh migrated SQLite database (or the given empty PostgreSQL database) with N responses
using executemany, then runs each export in its own subprocess so peak memory is measured
cleanly: RSS growth = peak RSS (VmHWM) during the export - RSS just before it started. The
baseline in the same run is a plain keyset read of the same rows with no formatting, so the
ratios show what formatting costs on this machine. Figures are printed and written to
bench/results/survey_export.json. Targets (issue 6): CSV >= 100,000 rows/s, XLSX >= 20,000 rows/s,
memory growth < 100 MB.
"""

from __future__ import annotations

import argparse
import json
import random
import secrets
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CSV_TARGET = 100_000
XLSX_TARGET = 20_000
MEMORY_TARGET_MB = 100
SEED_CHUNK = 20_000
# openpyxl write-only is measured on fewer rows: at its speed a million would take many minutes.
OPENPYXL_ROWS = 20_000


def rss_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def calibrate() -> float:
    """Seconds for a fixed pure-Python loop: how loaded/fast the machine was (2 shared cores here)."""
    t0 = time.perf_counter()
    total = 0
    for i in range(10_000_000):
        total += i
    return round(time.perf_counter() - t0, 2)


def seed(url: str, rows: int) -> None:
    from sqlalchemy import insert

    from contact_store.db import make_engine
    from contact_store.models import Area, Operator, SurveyInvitation, SurveyResponse, Team

    engine = make_engine(url)
    rng = random.Random(6)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    comments = [
        "Very helpful and quick.",
        "Waited too long for an answer.",
        '=HYPERLINK("http://x","y")',
        "Officer was kind, thank you — très bien.",
        "-2 stars, nobody called back",
        None,
        None,
        None,
    ]
    with engine.begin() as conn:
        teams = [
            conn.execute(insert(Team).values(name=n).returning(Team.id)).scalar_one()  # type: ignore[arg-type]
            for n in ("Digital Team", "FCR", "Resolution Centre", "CCA")
        ]
        areas = [
            conn.execute(insert(Area).values(name=n, postcode_prefixes=[]).returning(Area.id)).scalar_one()  # type: ignore[arg-type]
            for n in ("East", "South", "West")
        ]
        ops = [
            conn.execute(
                insert(Operator)
                .values(
                    username=f"bench{i}",
                    display_name=f"Operator {i}",
                    password_hash="x",
                    role="operator",
                    skills=[],
                )
                .returning(Operator.id)
            ).scalar_one()  # type: ignore[arg-type]
            for i in range(20)
        ]
    table = SurveyResponse.__table__  # type: ignore[attr-defined]
    invitations = SurveyInvitation.__table__  # type: ignore[attr-defined]
    done = 0
    t0 = time.perf_counter()
    while done < rows:
        batch = []
        invited = []
        for i in range(min(SEED_CHUNK, rows - done)):
            # Every answer belongs to its invitation (the cohort is by the contact's date).
            at = start + timedelta(seconds=31 * (done + i))
            context = {
                "channel": rng.choice(["chat", "report"]),
                "team_id": rng.choice(teams),
                "operator_id": rng.choice(ops),
                "area_id": rng.choice(areas),
                "topic": rng.choice(["theft", "noise", "fraud", "asb"]),
                "reference": f"FC-0101-{done + i:06d}",
            }
            invited.append(
                context
                | {
                    "id": done + i + 1,
                    "status": "completed",
                    "next_question": 4,
                    "contact_at": at - timedelta(hours=2),
                    "due_at": at - timedelta(hours=1),
                    "sent_at": at - timedelta(hours=1),
                    "completed_at": at,
                    "created_at": at - timedelta(hours=2),
                }
            )
            batch.append(
                context
                | {
                    "invitation_id": done + i + 1,
                    "score_time": rng.choice([1, 2, 3, 4, 4, 5, 5, None]),
                    "score_resolve": rng.choice([1, 2, 3, 4, 5, 5]),
                    "score_overall": rng.choice([2, 3, 4, 5, 5]),
                    "comment": rng.choice(comments),
                    "response_channel": rng.choice(["sms", "web", "widget"]),
                    "submitted_at": at,
                }
            )
        with engine.begin() as conn:
            conn.execute(invitations.insert(), invited)
            conn.execute(table.insert(), batch)
        done += len(batch)
    print(f"seeded {rows:,} responses in {time.perf_counter() - t0:.1f} s")
    engine.dispose()


def child(url: str, kind: str) -> None:
    """Run one export (or the baseline read) and print JSON figures."""
    from zoneinfo import ZoneInfo

    from contact_store.db import Store, make_engine
    from contact_store.events import InProcessBus
    from contact_store.settings import Settings
    from contact_store.surveys.exports import response_rows, responses_csv, responses_xlsx
    from contact_store.surveys.results import Filters

    store = Store(make_engine(url), InProcessBus())
    settings = Settings(env="test", database_url=url, secret_key=secrets.token_urlsafe(40))
    with store.session_scope() as s:  # warm the pool and the imports
        next(iter(response_rows(session=s, filters=Filters(), tz=ZoneInfo("UTC"), batch_size=10)), None)
    before = rss_mb("VmRSS")
    t0 = time.perf_counter()
    size = 0
    rows = 0
    if kind == "read":
        with store.session_scope() as s:
            for _ in response_rows(session=s, filters=Filters(), tz=ZoneInfo(settings.timezone)):
                rows += 1
    elif kind == "openpyxl":
        import itertools

        from contact_store.surveys.exports import RESPONSE_HEADER, xlsx_stream

        with store.session_scope() as s:
            source = response_rows(session=s, filters=Filters(), tz=ZoneInfo(settings.timezone))
            counted = (r for r in itertools.islice(source, OPENPYXL_ROWS))
            for chunk in xlsx_stream([("Responses", RESPONSE_HEADER, counted)]):
                size += len(chunk)
        rows = OPENPYXL_ROWS
    else:
        export = responses_csv if kind == "csv" else responses_xlsx
        for chunk in export(session_factory=store.new_session, settings=settings, filters=Filters()):
            size += len(chunk)
        with store.session_scope() as s:
            from sqlalchemy import func, select

            from contact_store.models import SurveyResponse

            rows = int(s.execute(select(func.count()).select_from(SurveyResponse)).scalar_one())
    seconds = time.perf_counter() - t0
    peak = rss_mb("VmHWM")
    print(
        json.dumps(
            {
                "kind": kind,
                "rows": rows,
                "seconds": round(seconds, 2),
                "rows_per_s": round(rows / seconds),
                "bytes": size,
                "rss_before_mb": round(before, 1),
                "peak_rss_mb": round(peak, 1),
                "rss_growth_mb": round(peak - before, 1),
            }
        )
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--child", choices=["read", "csv", "xlsx", "openpyxl"])
    args = parser.parse_args()
    if args.child:
        child(args.database_url, args.child)
        return 0
    from contact_store.migrate import upgrade_database

    calibration_start = calibrate()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.db"
        upgrade_database(url)
        seed(url, args.rows)
        results = {}
        for kind in ("read", "csv", "xlsx", "openpyxl"):
            out = subprocess.run(
                [sys.executable, __file__, "--child", kind, "--database-url", url],
                check=True,
                capture_output=True,
                text=True,
                cwd=ROOT,
            )
            results[kind] = json.loads(out.stdout.strip().splitlines()[-1])
            r = results[kind]
            print(
                f"{kind:>5}: {r['rows']:,} rows in {r['seconds']} s = {r['rows_per_s']:,} rows/s; "
                f"size {r['bytes'] / 1e6:.1f} MB; "
                f"RSS growth {r['rss_growth_mb']} MB (peak {r['peak_rss_mb']} MB)"
            )
    base = results["read"]["rows_per_s"]
    calibration = [calibration_start, calibrate()]
    print(f"calibration: a 10M-step Python loop took {calibration} s at start/end (about 0.4 s when idle)")
    summary = {
        "rows": args.rows,
        "database": "postgresql" if args.database_url.startswith("postgres") else "sqlite",
        "results": results,
        "cpu_calibration_10m_loop_s": calibration,
        "ratio_to_plain_read": {
            k: round(results[k]["rows_per_s"] / base, 3) for k in ("csv", "xlsx", "openpyxl")
        },
        "xlsx_speedup_over_openpyxl_write_only": round(
            results["xlsx"]["rows_per_s"] / results["openpyxl"]["rows_per_s"], 1
        ),
        "targets_met": {
            "csv_rows_per_s": results["csv"]["rows_per_s"] >= CSV_TARGET,
            "xlsx_rows_per_s": results["xlsx"]["rows_per_s"] >= XLSX_TARGET,
            "memory": all(results[k]["rss_growth_mb"] < MEMORY_TARGET_MB for k in ("csv", "xlsx")),
        },
    }
    print(json.dumps(summary["ratio_to_plain_read"]), json.dumps(summary["targets_met"]))
    out_file = ROOT / "bench" / "results" / "survey_export.json"
    out_file.parent.mkdir(parents=True, exist_ok=True)
    out_file.write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
