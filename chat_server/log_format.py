"""Log lines: text (the default) or one JSON object per line (`FIRSTCONTACT_LOG_FORMAT=json`).

Every line, in either format, goes through two filters on its handler: `RedactSecrets`
(`chat_server.log_redaction`: tokens, phone numbers, e-mail addresses) and `RequestIdFilter`, which
sets `record.request_id` from `contact_store.request_context` (None outside a request). A JSON line
holds `time` (UTC, ISO 8601, milliseconds), `level`, `logger`, `message`, `request_id` and, when
there is one, `exception` (the traceback, redacted like the message). Uvicorn's access lines also
carry `method`, `path` (redacted) and `status`.

`logging_config(fmt)` is one `logging.config.dictConfig` for uvicorn's loggers AND the root logger
(the app's own lines): it travels to every worker process, unlike handlers added at run time.
"""

from __future__ import annotations

import copy
import json
import logging
import logging.config
from datetime import UTC, datetime
from typing import Any, Literal

from chat_server.log_redaction import RedactSecrets, redact
from contact_store.request_context import current_request_id

LogFormat = Literal["text", "json"]
TEXT_FORMAT = "%(levelname)s %(name)s: %(message)s"


class RequestIdFilter(logging.Filter):
    """Sets `record.request_id` (None outside a request); never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = current_request_id()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line (see the module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
            "request_id": getattr(record, "request_id", None) or current_request_id(),
        }
        if record.name == "uvicorn.access" and isinstance(record.args, tuple) and len(record.args) == 5:
            _client, method, path, _version, status = record.args
            line.update(method=method, path=redact(str(path)), status=status)
        if record.exc_info:
            line["exception"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            line["exception"] = redact(record.exc_text)
        return json.dumps(line, ensure_ascii=False, default=str)


def json_line(message: str, *, logger: str, level: str = "INFO") -> str:
    """One line in the JSON format for output that is not a log record (the CLI's own lines)."""
    record = logging.LogRecord(logger, logging.getLevelName(level), __file__, 0, message, None, None)
    return JsonFormatter().format(record)


def logging_config(fmt: LogFormat = "text", *, level: str = "INFO") -> dict[str, Any]:
    """Uvicorn's logging configuration with our filters on every handler, the root logger (the
    app's lines) writing to stderr, and JSON formatters when `fmt` is "json"."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {
        "redact_secrets": {"()": f"{RedactSecrets.__module__}.RedactSecrets"},
        "request_id": {"()": f"{__name__}.RequestIdFilter"},
    }
    config["formatters"]["app"] = {"format": TEXT_FORMAT}
    config["handlers"]["app"] = {
        "class": "logging.StreamHandler",
        "formatter": "app",
        "stream": "ext://sys.stderr",
    }
    if fmt == "json":
        for name in list(config["formatters"]):
            config["formatters"][name] = {"()": f"{__name__}.JsonFormatter"}
    for handler in config["handlers"].values():
        handler["filters"] = [*handler.get("filters", []), "redact_secrets", "request_id"]
    config["root"] = {"handlers": ["app"], "level": level.upper()}
    # Alembic says "Context impl ..." at INFO each time readiness reads the schema's revision.
    config["loggers"]["alembic"] = {"level": "WARNING"}
    # Twilio's client logs every request it makes at INFO, with the recipient's number and the
    # text's body in the form data: never below WARNING (the redaction filter is a second line).
    config["loggers"]["twilio"] = {"level": "WARNING"}
    return config


def configure_logging(fmt: LogFormat = "text", *, level: str = "INFO") -> None:
    """Apply `logging_config` in this process (the CLI, before it serves or works)."""
    logging.config.dictConfig(logging_config(fmt, level=level))
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("twilio").setLevel(logging.WARNING)
