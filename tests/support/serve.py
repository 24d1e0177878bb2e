"""`python -m chat_server serve` in a subprocess, for tests of what only a real server does (its
logging configuration, several workers, a rolling restart behind nginx).

- `WorkerProcess`: the one place that starts such a process: on its own port (the same one on every
  start), output appended to a log file, waited for until a health path answers 200 (one generous
  deadline: a busy CI machine starts slowly), stopped with SIGTERM and killed only if it does not
  stop; a failure's message ends with the tail of the worker's log.
- `serve_env`: the environment of a test server; `served`: one server for a `with` block.

Used by tests/chat_server/workers.py (two workers), tests/support/rolling.py (workers behind nginx,
tests/support/cluster.py) and the logging and metrics tests.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.conftest import free_port

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = 240.0  # seconds for a worker to answer its health path: a busy machine starts slowly
LOG_TAIL = 3000  # characters of the worker's log in a failure's message


def serve_env(tmp_path: Path, database_url: str, **settings: str) -> dict[str, str]:
    """The environment of a test server (data in `tmp_path`, its own secret key): no Redis or shared
    metrics directory unless given; `settings` are FIRSTCONTACT_* variables by their lower-case
    names (`redis_url="..."` is FIRSTCONTACT_REDIS_URL)."""
    env = os.environ | {
        "FIRSTCONTACT_ENV": "test",
        "FIRSTCONTACT_DATABASE_URL": database_url,
        "FIRSTCONTACT_DATA_DIR": str(tmp_path),
        "FIRSTCONTACT_SECRET_KEY": secrets.token_urlsafe(40),
    }
    env.pop("FIRSTCONTACT_REDIS_URL", None)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return env | {f"FIRSTCONTACT_{name.upper()}": value for name, value in settings.items()}


def wait_until_up(url: str, proc: subprocess.Popen[bytes], *, timeout: float) -> None:
    """Until `url` answers 200; fails if `proc` exits first or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"the process serving {url} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} did not answer 200 within {timeout:g} s")
        time.sleep(0.1)


def _tail(log_tail: str) -> str:
    return f"\n--- the end of its log ---\n{log_tail}"


class WorkerProcess:
    """One `python -m chat_server serve [args]` on a fixed port (restartable on it), its output in
    `log_path` (emptied by the first start, appended to by later ones). `env` may be set after
    construction (the port is known at once: a proxy's configuration can name it first)."""

    def __init__(
        self,
        name: str,
        env: dict[str, str],
        log_path: Path,
        *args: str,
        port: int | None = None,
        ready: str = "/healthz",
        repo: Path | None = None,
    ) -> None:
        self.name = name
        self.env = env
        self.log_path = log_path
        self.args = args
        self.port = free_port() if port is None else port
        self.ready = ready
        self.repo = repo or REPO
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def log_tail(self, chars: int = LOG_TAIL) -> str:
        if not self.log_path.exists():
            return "(no log)"
        return self.log_path.read_text(errors="replace")[-chars:]

    def start(self, *, timeout: float = START_TIMEOUT) -> None:
        self.launch()
        self.wait_up(timeout=timeout)

    def launch(self) -> None:
        """Starts the process without waiting for it (start several, then `wait_up` each)."""
        assert self.proc is None or self.proc.poll() is not None, f"worker {self.name} is running"
        self.starts += 1
        with self.log_path.open("ab" if self.starts > 1 else "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "chat_server", "serve", "--port", str(self.port), *self.args],
                cwd=self.repo,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait_up(self, *, timeout: float = START_TIMEOUT) -> None:
        assert self.proc is not None, f"worker {self.name} was not started"
        try:
            wait_until_up(self.base_url + self.ready, self.proc, timeout=timeout)
        except AssertionError as exc:
            raise AssertionError(f"worker {self.name}: {exc}{_tail(self.log_tail())}") from None

    def terminate(self) -> None:
        """SIGTERM (a graceful shutdown), once, if the process is running."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def wait_stopped(self, *, timeout: float, strict: bool = True) -> int | None:
        """Waits for the process to exit; kills it after `timeout` s, then fails if `strict`.
        Returns its exit code (None if it was never started)."""
        if self.proc is None:
            return None
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            if strict:
                raise AssertionError(
                    f"worker {self.name} did not stop within {timeout:g} s of SIGTERM"
                    + _tail(self.log_tail())
                ) from None
            return self.proc.returncode

    def stop(self, *, timeout: float = 60.0) -> int:
        """SIGTERM, then the graceful shutdown within `timeout` s (or a failure); the exit code."""
        assert self.proc is not None, f"worker {self.name} was not started"
        self.terminate()
        code = self.wait_stopped(timeout=timeout)
        assert code is not None
        return code


def close_all(workers: Iterable[WorkerProcess], *, timeout: float = 15.0) -> None:
    """Teardown of several workers: SIGTERM to all at once, then each killed if still running after
    `timeout` s."""
    workers = list(workers)
    for w in workers:
        w.terminate()
    for w in workers:
        w.wait_stopped(timeout=timeout, strict=False)


@contextmanager
def served(
    env: dict[str, str], log_path: Path, *args: str, port: int, ready: str = "/health/live"
) -> Iterator[str]:
    """A server on `port` writing its output to `log_path`; yields its base URL once `ready`
    answers 200, and stops it afterwards (failing if it does not stop within 30 s)."""
    worker = WorkerProcess("server", env, log_path, *args, port=port, ready=ready)
    try:
        worker.start()
        yield worker.base_url
    finally:
        if worker.proc is not None:
            worker.stop(timeout=30)
