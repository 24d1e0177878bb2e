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
"""

from __future__ import annotations

import copy
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


def redact(text: str) -> str:
    """`text` with the value of every secret query parameter and path token replaced."""
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


def uvicorn_log_config() -> dict[str, Any]:
    """Uvicorn's default logging configuration with `RedactSecrets` on every handler."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_secrets"] = {"()": f"{__name__}.RedactSecrets"}
    for handler in config["handlers"].values():
        handler.setdefault("filters", []).append("redact_secrets")
    return config


def redact_root_handlers() -> None:
    """Put the filter on the root logger's handlers (the CLI's own log lines)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactSecrets) for f in handler.filters):
            handler.addFilter(RedactSecrets())
