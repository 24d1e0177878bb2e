"""Multiprocess mode: every worker's figures add up in one scrape, a stopped worker's live gauges
stop counting, and `firstcontact serve --workers 2` sets the shared directory up (emptied)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from chat_server.app import create_app
from chat_server.cli import prepare_multiprocess_metrics
from contact_store.settings import Settings
from tests.chat_server.metrics_scrape import parse, value
from tests.conftest import free_port
from tests.support.databases import TEST_REDIS_URL, fresh_database
from tests.support.serve import serve_env, served

REPO = Path(__file__).resolve().parents[2]
M = "firstcontact_"

# One worker process: serves `requests` GET /health/live through the app, and holds `sockets`
# visitor sockets open (the gauge a socket moves); stays alive until told to stop when `linger`.
WORKER = textwrap.dedent(
    """
    import sys
    from fastapi.testclient import TestClient
    from chat_server.app import create_app
    from contact_store import telemetry
    from contact_store.settings import Settings

    requests, sockets, linger = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "linger"
    settings = Settings(routing_loop_enabled=False)
    with TestClient(create_app(settings)) as client:
        for _ in range(requests):
            assert client.get("/health/live").status_code == 200
        telemetry.VISITOR_SOCKETS.inc(sockets)
        print("ready", flush=True)
        if linger:
            sys.stdin.readline()
    """
)


@pytest.mark.timeout(600)  # three processes import the app: slow on a busy machine
def test_two_processes_add_up_in_one_scrape(
    tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "prometheus"
    shared.mkdir()
    env = os.environ | {
        "PROMETHEUS_MULTIPROC_DIR": str(shared),
        "FIRSTCONTACT_ENV": "test",
        "FIRSTCONTACT_DATA_DIR": str(tmp_path),
        "FIRSTCONTACT_DATABASE_URL": settings.effective_database_url,
        "FIRSTCONTACT_SECRET_KEY": secrets.token_urlsafe(40),
        "PYTHONPATH": str(REPO),
    }
    env.pop("FIRSTCONTACT_REDIS_URL", None)
    lingering = subprocess.Popen(
        [sys.executable, "-c", WORKER, "3", "1", "linger"],
        cwd=REPO,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert lingering.stdout is not None and lingering.stdout.readline().strip() == "ready"
        # The second worker serves 2 requests, holds 2 sockets, then stops (its app shuts down).
        done = subprocess.run(
            [sys.executable, "-c", WORKER, "2", "2", "exit"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr[-3000:]

        monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(shared))
        with TestClient(create_app(settings), client=("127.0.0.1", 40000)) as c:
            r = c.get("/metrics")
        assert r.status_code == 200
        samples = parse(r.text)
    finally:
        assert lingering.stdin is not None
        lingering.stdin.write("\n")
        lingering.stdin.close()
        lingering.wait(timeout=60)
    live = {"method": "GET", "route": "/health/live", "status": "200"}
    assert value(samples, M + "http_request_duration_seconds_count", **live) == 5  # 3 + 2
    assert value(samples, M + "websockets_open", kind="visitor") == 1  # the stopped worker's 2 are gone
    assert value(samples, M + "db_pool_size") >= 10  # the live worker's pool
    assert value(samples, M + "store_figures_up") == 1  # the store's figures follow


def test_serve_prepares_an_empty_shared_directory(
    tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    stale = tmp_path / "prometheus"
    stale.mkdir()
    (stale / "counter_1234.db").write_bytes(b"figures of a previous run")
    configured = settings.model_copy(update={"data_dir": tmp_path})
    path = prepare_multiprocess_metrics(configured)
    assert path == stale.resolve() and list(path.iterdir()) == []
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(path)
    # An operator's own directory is used (and emptied) instead.
    own = tmp_path / "own"
    own.mkdir()
    (own / "gauge_livesum_1.db").write_bytes(b"old")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(own))
    assert prepare_multiprocess_metrics(configured) == own.resolve()
    assert list(own.iterdir()) == []


@pytest.mark.timeout(600)  # two workers start and stop: slow on a busy machine
@pytest.mark.skipif(not TEST_REDIS_URL, reason="several workers need FIRSTCONTACT_TEST_REDIS_URL")
def test_serve_with_two_workers_counts_every_request(tmp_path: Path) -> None:
    """Whichever worker answers a scrape, it reports the requests every worker served."""
    with fresh_database(tmp_path, "multiproc") as url:
        env = serve_env(
            tmp_path, url, redis_url=TEST_REDIS_URL, redis_channel_prefix=f"fctest-{secrets.token_hex(4)}"
        )
        with served(
            env, tmp_path / "serve.log", "--workers", "2", port=free_port(), ready="/health/ready"
        ) as base:
            assert (tmp_path / "prometheus").is_dir()
            served_requests = 0
            # New connections, so the kernel spreads them over both workers.
            for _ in range(40):
                assert httpx.get(base + "/health/live", timeout=5).status_code == 200
                served_requests += 1
            totals = set()
            for _ in range(6):
                samples = parse(httpx.get(base + "/metrics", timeout=10).text)
                totals.add(
                    value(
                        samples, M + "http_request_duration_seconds_count", route="/health/live", status="200"
                    )
                )
            pids = {p.name.rsplit("_", 1)[-1] for p in (tmp_path / "prometheus").iterdir()}
        assert totals == {served_requests}, totals  # every scrape, whichever worker, sees all 40
        assert len(pids) >= 2, pids  # two worker processes wrote figures
