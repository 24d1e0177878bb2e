"""The request id: one per HTTP request or websocket session, in a context variable.

`chat_server.observe.Observe` sets it for each request (from a well-formed incoming `X-Request-ID`,
else a new one) and returns it in the response's `X-Request-ID` header. asyncio tasks and
`anyio.to_thread` calls copy the context when they start, so work a request starts (a websocket
session's tasks, its database calls in the threadpool) logs the same id. Every log line carries it
(`chat_server.log_format.RequestIdFilter`); it is `None` outside any request (start-up, the SMS
worker's own passes).
"""

from __future__ import annotations

import itertools
import os
import re
import secrets
from contextvars import ContextVar

REQUEST_ID: ContextVar[str | None] = ContextVar("firstcontact_request_id", default=None)
# What an incoming id may look like (a UUID, a proxy's $request_id, a trace id): 8-128 characters
# of letters, digits and . _ : - . Anything else is replaced, so a header cannot inject log text.
_WELL_FORMED = re.compile(r"[A-Za-z0-9._:-]{8,128}")


def well_formed(value: str | None) -> bool:
    """True when an incoming request id may be kept as it is."""
    return bool(value) and _WELL_FORMED.fullmatch(value or "") is not None


# Request ids need to be unique, not secret: a random prefix per process (16 hex characters, drawn
# again in a forked child) and a counter (16 more). uuid4() read the OS's random source on every
# request and socket (4.6% of the forms API's CPU in a profile).
_ids = itertools.count(1)
_prefix = secrets.token_hex(8)


def _new_prefix() -> None:
    global _prefix
    _prefix = secrets.token_hex(8)


os.register_at_fork(after_in_child=_new_prefix)


def new_request_id() -> str:
    """A fresh request id (32 hex characters)."""
    return f"{_prefix}{next(_ids):016x}"


def current_request_id() -> str | None:
    """The id of the request this code runs for, or None."""
    return REQUEST_ID.get()
