"""Benchmark: the staffing plan page's work (history read, forecast, Erlang C and A per interval).

    .venv/bin/python bench/staffing_plan.py [--per-day 500] [--database-url URL]

Seeds a fresh migrated SQLite database (or the given empty PostgreSQL database) with 12 weeks of
chats (`--per-day` a day, spread over the day; one in five abandoned), then times, in the same
run: the baseline — `metrics.period_figures` over the same 12 weeks (one read of the same rows,
the wallboard's computation) — then the daily facts the planner reads its arrivals from
(`rebuild_all`, as the maintenance loop keeps them; timed apart, not part of the page), then
`read_history` (which finds the facts current and reads them) and `day_plan` for a day. The ratio to
the baseline is what counts (absolute times drift with the machine's load). Figures are printed and
written to bench/results/staffing_plan.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


# executemany needs every row to name the same columns.
OPTIONAL = ("abandoned_at", "assigned_at", "ended_at", "wrapped_up_at", "assignee_id")


def seed(url: str, per_day: int, now: datetime) -> int:
    from sqlalchemy import insert

    from contact_store.db import make_engine
    from contact_store.models import Conversation, Operator

    engine = make_engine(url)
    rng = random.Random(14)
    rows = []
    with engine.begin() as conn:
        ops = [
            conn.execute(
                insert(Operator)
                .values(username=f"bench-{i}", display_name=f"Bench {i}", password_hash="x", role="operator")
                .returning(Operator.id)  # type: ignore[arg-type]
            ).scalar_one()
            for i in range(20)
        ]
        start = now - timedelta(weeks=12)
        for day in range(84):
            for _ in range(per_day):
                queued = start + timedelta(days=day, seconds=rng.uniform(0, 86_400))
                if rng.random() < 0.2:
                    gave_up = queued + timedelta(seconds=rng.expovariate(1 / 120))
                    extra = {"status": "abandoned", "abandoned_at": gave_up}
                else:
                    assigned = queued + timedelta(seconds=rng.expovariate(1 / 30))
                    ended = assigned + timedelta(seconds=rng.uniform(300, 1200))
                    extra = {"status": "ended", "assigned_at": assigned, "ended_at": ended}
                    extra |= {"wrapped_up_at": ended + timedelta(seconds=60), "assignee_id": rng.choice(ops)}
                row = dict.fromkeys(OPTIONAL) | {"id": str(uuid.uuid4()), "token_hash": "0" * 64}
                rows.append(row | {"queued_at": queued} | extra)
            if len(rows) >= 20_000:
                conn.execute(insert(Conversation), rows)
                rows.clear()
        if rows:
            conn.execute(insert(Conversation), rows)
    return 84 * per_day


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--per-day", type=int, default=500)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    from sqlmodel import Session

    from contact_store.db import make_engine
    from contact_store.measures.facts import rebuild_all
    from contact_store.metrics import period_figures
    from contact_store.migrate import upgrade_database
    from contact_store.settings import Settings
    from contact_store.staffing.plan import Inputs, day_plan, read_history

    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.db"
        upgrade_database(url)
        chats = seed(url, args.per_day, now)
        settings = Settings(env="test", data_dir=Path(tmp))
        engine = make_engine(url)
        figures: dict[str, float] = {}
        with Session(engine) as session:
            t0 = time.perf_counter()
            period_figures(session=session, settings=settings, since=now - timedelta(weeks=12), label="x")
            figures["baseline_period_figures_s"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            rebuild_all(session=session, settings=settings, now=now)
            session.commit()
            figures["facts_build_s"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            history = read_history(session=session, settings=settings, now=now)
            figures["read_history_s"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            inputs = Inputs(day=history.today + timedelta(days=5), service_level=0.8, target_seconds=60,
                            shrinkage=0.3, concurrency=2)  # fmt: skip
            day_plan(history=history, settings=settings, inputs=inputs)
            figures["day_plan_s"] = time.perf_counter() - t0
    result = {
        "chats": chats,
        "database": "postgresql" if args.database_url.startswith("postgres") else "sqlite",
        "load_average": os.getloadavg()[0],
        **{k: round(v, 3) for k, v in figures.items()},
        "page_vs_baseline": round(
            (figures["read_history_s"] + figures["day_plan_s"]) / figures["baseline_period_figures_s"], 2
        ),
    }
    print(json.dumps(result, indent=2))
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "staffing_plan.json").write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
