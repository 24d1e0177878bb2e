"""Keeping secrets out of the server's logs.

The visitor's chat token no longer travels in a URL (it is the socket's first frame), but an old
or foreign client may still put one there (`/ws/chat/{id}?token=...`), and a survey link carries a
signed token in its path (`/survey/<token>`). Uvicorn writes
the path with its query string into the access log and into its "WebSocket ... [accepted]" lines,
so whoever can read the logs could take over a live chat or answer someone's survey.
`RedactSecrets` replaces the value of every secret-bearing query parameter and the survey token
with `[redacted]` in every record before any handler formats it; `uvicorn_log_config()` is
uvicorn's own logging configuration with that filter on both of its handlers (it travels to every
worker process, unlike a filter added at run time).

Personal data (issue #12): no log statement of ours writes what the public typed, but a library's
message may quote it (a validation error, an exception's text). As a safety net `redact` also
replaces phone numbers (E.164 and UK national mobiles, spaced or not) and e-mail addresses, and
`Authorization: Bearer ...` values. The database engine hides statement parameters in its errors
(`contact_store.db.make_engine`, `hide_parameters=True`), so a failed INSERT never logs its values.
"""

from __future__ import annotations

import logging
import re
from typing import Any

# Query parameters whose values are credentials (case-insensitive).
SECRET_PARAMETERS = ("token", "access_token", "key", "signature")
_SECRET_VALUE = re.compile(
    r"(?P<name>[?&](?:" + "|".join(SECRET_PARAMETERS) + r")=)[^&#\s\"']*", re.IGNORECASE
)
_SECRET_SEGMENT = re.compile(r"(?P<name>/survey/)[^/?#\s\"']+")
REDACTED = "[redacted]"
# +447700900123, +44 7700 900123, 07700 900123, 07700900123; never part of a longer number or word.
_PHONE = re.compile(
    r"(?<![\w.+/:-])"
    r"(?:\+\d{1,3}[ -]?\d{2,5}[ -]?\d{3,4}[ -]?\d{3,4}|0\d{4}[ -]?\d{3}[ -]?\d{3})"
    r"(?![\w.-])"
)
_EMAIL = re.compile(r"[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_BEARER = re.compile(r"(?P<name>\bbearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE)


def redact(text: str) -> str:
    """`text` with secret query parameters, path tokens, bearer tokens, phone numbers and e-mail
    addresses replaced."""
    if "@" in text:
        text = _EMAIL.sub(REDACTED, text)
    if any(c.isdigit() for c in text):
        text = _PHONE.sub(REDACTED, text)
    if "earer" in text or "EARER" in text:
        text = _BEARER.sub(lambda m: m.group("name") + REDACTED, text)
    if "/" not in text and "=" not in text:
        return text
    text = _SECRET_VALUE.sub(lambda m: m.group("name") + REDACTED, text)
    return _SECRET_SEGMENT.sub(lambda m: m.group("name") + REDACTED, text)


class RedactSecrets(logging.Filter):
    """Redacts secret query parameters in a record's message and string arguments (in place, so
    formatters that read `record.args` by position, like uvicorn's access formatter, still work)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()}
        return True


def uvicorn_log_config(log_format: str = "text") -> dict[str, Any]:
    """Uvicorn's logging configuration with `RedactSecrets` (and the request id) on every handler,
    in the text or JSON format (`chat_server.log_format`)."""
    from chat_server.log_format import logging_config

    return logging_config("json" if log_format == "json" else "text")


def redact_root_handlers() -> None:
    """Put the filter on the root logger's handlers (the CLI's own log lines)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactSecrets) for f in handler.filters):
            handler.addFilter(RedactSecrets())
