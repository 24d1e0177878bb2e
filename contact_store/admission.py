"""Admission control: a bound on the hot-path work in flight in one worker, refused explicitly past it.

Protocol
--------
- Each hot path (chat messages, form submissions) has a `Gate` per app (`gates_for(app)`), holding
  at most `limit` units at once: a unit is admitted (`gate.admit()`, a context manager around the
  store call) or refused at once with `Busy` — never queued. Admitting is a counter on the event
  loop (no lock, no I/O).
- The limit is the queue bound: work waiting behind it is at most `limit` units, so the latency of
  what is accepted stays about `limit / throughput` however hard the worker is pushed, and memory
  stays bounded. Past it the worker answers at once, which costs far less than the work it sheds.
- A count alone does not bound waiting: under twice the saturation rate the backlog sits in the
  sockets' buffers and the event loop's ready queue, not in the gate (measured: 0 refusals at the
  bound of 400, accepted p99 2 s). So each gate also refuses while the worker's event loop runs
  late by more than `overload_max_delay_ms` (`LoopLag`: a timer every LAG_SAMPLE_SECONDS notes how
  late it woke; the lag rises at once and decays by half each sample). Late by that much, every
  piece of work on the worker waits that long before it starts: refusing new work is what lets
  accepted work through in bounded time. Lateness refuses only while the gate already holds work:
  with nothing accepted there is nothing to protect, and the lag then comes from the worker's own
  background work (start-up, a facts rebuild), not from load (the wheel smoke test's first report,
  seconds after start-up, was refused 429 on a busy machine). 0 turns it off (the tests' default,
  on a shared machine).
- `Busy` carries `retry_after` (seconds). The chat sockets turn it into an error frame
  `{"type": "error", "code": "busy", "client_id", "retry_after"}` and store nothing: the client
  resends the same `client_id` after `retry_after` (the widget does), so nothing is lost and a resend
  that raced a slow commit is still answered with the original (client_id is idempotent). HTTP
  answers 429 with `Retry-After` (whole seconds).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from contact_store.errors import AppError
from contact_store.settings import Settings

CHAT_MESSAGES = "chat-messages"
FORM_SUBMISSIONS = "form-submissions"
LAG_SAMPLE_SECONDS = 0.05


class Busy(AppError):
    """Refused because the worker is at its bound: retry after `retry_after` seconds."""

    status_code = 429
    code = "busy"

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message, headers={"Retry-After": str(max(1, math.ceil(retry_after)))})
        self.retry_after = retry_after


class LoopLag:
    """How late this worker's event loop runs what is due (seconds): the delay every piece of
    work on it meets before it starts. `start()` on the loop; `stop()` at shutdown."""

    def __init__(self, sample_seconds: float = LAG_SAMPLE_SECONDS) -> None:
        self.sample_seconds = sample_seconds
        self.lag = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._sample(), name="loop-lag")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _sample(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self.sample_seconds
            await asyncio.sleep(self.sample_seconds)
            late = max(0.0, loop.time() - due)
            self.lag = max(late, self.lag / 2)  # up at once; halves with each sample on time


class Gate:
    """At most `limit` units in flight, and no more while the loop runs more than `max_delay` late
    (the first is always admitted); the rest are refused with `Busy` (event-loop only)."""

    def __init__(
        self,
        name: str,
        *,
        limit: int,
        retry_after: float,
        max_delay: float = 0.0,
        lag: Callable[[], float] | None = None,
    ) -> None:
        self.name = name
        self.limit = max(1, limit)
        self.retry_after = retry_after
        self.max_delay = max_delay
        self.lag = lag
        self.in_flight = 0
        self.refused = 0

    def late(self) -> bool:
        """The worker is running more than `max_delay` behind (never when the bound is 0)."""
        return self.max_delay > 0 and self.lag is not None and self.lag() > self.max_delay

    @contextmanager
    def admit(self, message: str = "The service is busy: try again in a moment") -> Iterator[None]:
        """Hold a place for the block, or raise `Busy` at once when all `limit` are taken, or when
        some are and the worker is running late."""
        if self.in_flight >= self.limit or (self.in_flight > 0 and self.late()):
            self.refused += 1
            raise Busy(message, retry_after=self.retry_after)
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1


def make_gates(settings: Settings, lag: LoopLag | None = None) -> dict[str, Gate]:
    retry = settings.busy_retry_after_seconds
    max_delay = settings.overload_max_delay_ms / 1000
    late: Callable[[], float] | None = (lambda: lag.lag) if lag is not None else None
    return {
        name: Gate(name, limit=limit, retry_after=retry, max_delay=max_delay, lag=late)
        for name, limit in (
            (CHAT_MESSAGES, settings.chat_max_pending_messages),
            (FORM_SUBMISSIONS, settings.forms_max_pending_submissions),
        )
    }


def gate_for(app: Any, name: str) -> Gate:
    """The app's gate `name` (`app.state.admission`), made from `app.state.settings` (and the
    worker's `app.state.loop_lag`, when its lifespan started one) on first use."""
    gates: dict[str, Gate] | None = getattr(app.state, "admission", None)
    if gates is None:
        gates = app.state.admission = make_gates(app.state.settings, getattr(app.state, "loop_lag", None))
    return gates[name]
