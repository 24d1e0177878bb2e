"""What the Prometheus instrumentation costs on the hot paths, on this machine.

    .venv/bin/python bench/telemetry_hot_path.py [--calls 200000]

A chat message pays one counter increment when stored and one per socket it is delivered to; an
HTTP request pays one labelled histogram observe (`chat_server.observe`). Measured per call, in
nanoseconds, in the two modes of prometheus-client:

- single process (one worker: values in memory, behind a lock);
- multiprocess (`PROMETHEUS_MULTIPROC_DIR`, several workers: values in memory-mapped files).

Baseline in the same run: incrementing an entry of a plain dict (what any counting costs); the
ratio to it and the absolute nanoseconds are the figures to watch against the chat's per-message
budget (tens of microseconds). Each mode runs in its own process (the mode is fixed at import).
Prints the figures and writes bench/results/telemetry_hot_path.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"


def measure(calls: int) -> dict[str, float]:
    """Nanoseconds per call in this process's mode."""
    sys.path.insert(0, str(REPO))
    from contact_store import telemetry

    counts: dict[str, int] = {"visitor": 0}

    def per_call(fn: object) -> float:
        call = fn  # type: ignore[assignment]
        for _ in range(1000):
            call()  # type: ignore[operator]
        started = time.perf_counter_ns()
        for _ in range(calls):
            call()  # type: ignore[operator]
        return (time.perf_counter_ns() - started) / calls

    def baseline() -> None:
        counts["visitor"] += 1

    histogram = telemetry.HTTP_LATENCY
    return {
        "dict_increment_ns": per_call(baseline),
        "counter_inc_ns": per_call(telemetry.STORED_BY_VISITOR.inc),
        "http_observe_ns": per_call(lambda: histogram.labels("POST", "/api/v1/chats", "201").observe(0.004)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--child", choices=["single", "multi"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.calls)))
        return
    figures: dict[str, dict[str, float]] = {}
    for mode in ("single", "multi"):
        env = dict(os.environ)
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        with tempfile.TemporaryDirectory() as shared:
            if mode == "multi":
                env["PROMETHEUS_MULTIPROC_DIR"] = shared
            out = subprocess.run(
                [sys.executable, __file__, "--child", mode, "--calls", str(args.calls)],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        figures[mode] = json.loads(out)
    load = os.getloadavg()[0]
    print(f"calls per figure: {args.calls}; load average (1 min): {load:.1f}")
    for mode, f in figures.items():
        base = f["dict_increment_ns"]
        print(
            f"{mode:>6}: dict += 1 {base:6.0f} ns | counter inc {f['counter_inc_ns']:6.0f} ns "
            f"(x{f['counter_inc_ns'] / base:.1f}) | HTTP observe {f['http_observe_ns']:6.0f} ns "
            f"(x{f['http_observe_ns'] / base:.1f})"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "telemetry_hot_path.json").write_text(
        json.dumps({"calls": args.calls, "load_average": load, "figures": figures}, indent=2)
    )


if __name__ == "__main__":
    main()
