"""Profile: where the time of filing one report goes (no HTTP), with cProfile.

Files `--reports` crime reports one after another through `web_forms.api.service.submit` (each in
its own transaction, as `bench/forms_submissions.py`'s "service" line) into a fresh SQLite store
(or --database-url), after a warm-up, and prints the time per report and the functions with the
most cumulative time.

    .venv/bin/python -m bench.forms_service_profile --reports 2000
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import secrets
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.forms_submissions import file_one_report  # noqa: E402
from contact_store.db import Store, make_engine  # noqa: E402
from contact_store.events import InProcessBus  # noqa: E402
from contact_store.migrate import upgrade_database  # noqa: E402
from contact_store.settings import Settings  # noqa: E402
from web_forms.catalogue import catalogue  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reports", type=int, default=2000)
    parser.add_argument("--database-url", default="", help="a migrated store (default: a new SQLite file)")
    parser.add_argument("--top", type=int, default=30, help="functions to print")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="fc-forms-profile-"))
    url = args.database_url or f"sqlite:///{tmp / 'profile.db'}"
    if not args.database_url:
        upgrade_database(url)
    settings = Settings(env="test", data_dir=tmp, database_url=url, secret_key=secrets.token_urlsafe(40))
    engine = make_engine(url)
    store = Store(engine, InProcessBus())
    form = catalogue()["crime"]

    def file_one() -> None:
        file_one_report(store, settings, form)

    for _ in range(200):  # warm-up: caches, compiled statements
        file_one()
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    for _ in range(args.reports):
        file_one()
    profiler.disable()
    elapsed = time.perf_counter() - start
    engine.dispose()
    stats = pstats.Stats(profiler)
    print(f"{args.reports} reports, {elapsed / args.reports * 1000:.2f} ms each under the profiler")
    print(f"{stats.total_calls / args.reports:.0f} function calls per report")  # type: ignore[attr-defined]
    stats.sort_stats("cumulative").print_stats(args.top)


if __name__ == "__main__":
    main()
