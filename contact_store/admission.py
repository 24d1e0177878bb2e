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
- `Busy` carries `retry_after` (seconds). The chat sockets turn it into an error frame
  `{"type": "error", "code": "busy", "client_id", "retry_after"}` and store nothing: the client
  resends the same `client_id` after `retry_after` (the widget does), so nothing is lost and a resend
  that raced a slow commit is still answered with the original (client_id is idempotent). HTTP
  answers 429 with `Retry-After` (whole seconds).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from contact_store.errors import AppError
from contact_store.settings import Settings

CHAT_MESSAGES = "chat-messages"
FORM_SUBMISSIONS = "form-submissions"


class Busy(AppError):
    """Refused because the worker is at its bound: retry after `retry_after` seconds."""

    status_code = 429
    code = "busy"

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message, headers={"Retry-After": str(max(1, math.ceil(retry_after)))})
        self.retry_after = retry_after


class Gate:
    """At most `limit` units in flight; the rest are refused with `Busy` (event-loop only)."""

    def __init__(self, name: str, *, limit: int, retry_after: float) -> None:
        self.name = name
        self.limit = max(1, limit)
        self.retry_after = retry_after
        self.in_flight = 0
        self.refused = 0

    @contextmanager
    def admit(self, message: str = "The service is busy: try again in a moment") -> Iterator[None]:
        """Hold a place for the block, or raise `Busy` at once when all `limit` are taken."""
        if self.in_flight >= self.limit:
            self.refused += 1
            raise Busy(message, retry_after=self.retry_after)
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1


def make_gates(settings: Settings) -> dict[str, Gate]:
    retry = settings.busy_retry_after_seconds
    return {
        CHAT_MESSAGES: Gate(CHAT_MESSAGES, limit=settings.chat_max_pending_messages, retry_after=retry),
        FORM_SUBMISSIONS: Gate(
            FORM_SUBMISSIONS, limit=settings.forms_max_pending_submissions, retry_after=retry
        ),
    }


def gate_for(app: Any, name: str) -> Gate:
    """The app's gate `name` (`app.state.admission`), made from `app.state.settings` on first use."""
    gates: dict[str, Gate] | None = getattr(app.state, "admission", None)
    if gates is None:
        gates = app.state.admission = make_gates(app.state.settings)
    return gates[name]
