"""Rolling restart of two workers behind nginx: what the operator's socket and the visitors' saw.

    FIRSTCONTACT_TEST_DATABASE_URL=postgresql+psycopg://... FIRSTCONTACT_TEST_REDIS_URL=redis://... \\
    .venv/bin/python bench/rolling_restart.py [--chats 20] [--send-every 1.0] [--before /path/to/old]

Starts two `firstcontact serve` workers (a fresh PostgreSQL database, Redis, a fake Twilio) behind
nginx configured from deploy/nginx/firstcontact.conf, opens `--chats` chats held by one console,
sends from both sides and submits forms while each worker in turn gets SIGTERM and is started again
(tests/support/rolling.py, the same run as tests/chat_server/test_behind_nginx.py). Prints the
figures and writes bench/results/rolling_restart.json.

`--before DIR` runs the workers from another checkout (e.g. the commit before #12) with the console
client of that time (no `held` first frame; a per-chat `resume` on every reconnect), for the
"before" figure in the same minutes as "after". The headline is `console_repeated_frames`: message
frames the operator's socket received twice.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.rolling import rolling_restart, running_cluster  # noqa: E402

RESULTS = REPO / "bench" / "results"


def run(chats: int, send_every: float, before: Path | None) -> dict[str, object]:
    with (
        tempfile.TemporaryDirectory(prefix="fc-rolling-") as tmp,
        running_cluster(Path(tmp), server_repo=before) as cluster,
    ):
        return asyncio.run(
            rolling_restart(cluster, chats=chats, send_every=send_every, old_console=before is not None)
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=20)
    parser.add_argument(
        "--send-every", type=float, default=1.0, help="seconds between messages per chat and side"
    )
    parser.add_argument(
        "--before", type=Path, help="a checkout to run the workers from (the 'before' figure)"
    )
    args = parser.parse_args()
    if not os.environ.get("FIRSTCONTACT_TEST_DATABASE_URL", "").startswith("postgresql"):
        sys.stderr.write(
            "needs FIRSTCONTACT_TEST_DATABASE_URL (PostgreSQL) and FIRSTCONTACT_TEST_REDIS_URL\n"
        )
        return 2
    figures = {"label": "before" if args.before else "after", "load_average": os.getloadavg()[0]}
    figures |= run(args.chats, args.send_every, args.before)
    figures["load_average_after"] = os.getloadavg()[0]
    for key, value in figures.items():
        print(f"{key:>26}: {value}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"rolling_restart_{figures['label']}.json"
    out.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
