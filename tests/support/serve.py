"""`python -m chat_server serve` in a subprocess, for tests of what only a real server does (its
logging configuration, several workers): started on a free port, waited for, stopped."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]


def serve_env(tmp_path: Path, database_url: str, **settings: str) -> dict[str, str]:
    """The environment of a test server: no Redis or shared metrics directory unless given."""
    env = os.environ | {
        "FIRSTCONTACT_ENV": "test",
        "FIRSTCONTACT_DATABASE_URL": database_url,
        "FIRSTCONTACT_DATA_DIR": str(tmp_path),
        "FIRSTCONTACT_SECRET_KEY": secrets.token_urlsafe(40),
    }
    env.pop("FIRSTCONTACT_REDIS_URL", None)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return env | {f"FIRSTCONTACT_{name.upper()}": value for name, value in settings.items()}


@contextmanager
def served(
    env: dict[str, str], log_path: Path, *args: str, port: int, ready: str = "/health/live"
) -> Iterator[str]:
    """A server on `port` writing its output to `log_path`; yields its base URL once `ready`
    answers 200, and stops it afterwards."""
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "chat_server", "serve", "--port", str(port), *args],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 240  # a busy machine starts slowly
            while True:
                assert proc.poll() is None, "server exited:\n" + log_path.read_text()[-3000:]
                try:
                    if httpx.get(base + ready, timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
            yield base
        finally:
            proc.terminate()
            proc.wait(timeout=30)
