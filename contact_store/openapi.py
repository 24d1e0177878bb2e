"""The documented shape of every API error, and the `responses=` of each route that can give one.

Every 4xx from `/api` has the same body, `{"error": {"code", "message", "fields"?}}` (rendered by
chat_server.errors). Routes list the codes they can answer with `error_responses(...)`, so the
OpenAPI document names every status an operation returns with this model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field


class ErrorDetail(BaseModel):
    code: str = Field(description="Machine-readable reason, e.g. validation_failed, not_found")
    message: str = Field(description="What went wrong, for a person")
    fields: dict[str, str] | None = Field(default=None, description="Per-field messages (422)")


class ErrorBody(BaseModel):
    """The body of every error answer from the API."""

    error: ErrorDetail


# chat_server.errors puts ErrorBody's schema into the document's components under this name.
ERROR_BODY_REF = "#/components/schemas/ErrorBody"

ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "The body could not be read (not UTF-8, or not parseable)",
    401: "Not signed in, or the token or credentials are wrong",
    403: "Signed in, but not allowed (role, CSRF token or signature)",
    404: "No such resource (or not visible to this caller)",
    409: "Conflicts with the current state (already done, or done at the same moment)",
    413: "The body is too large",
    422: "Some fields are not valid (see `fields`)",
    410: "Gone: no longer available",
    429: "Too many requests: wait for Retry-After seconds",
    503: "A part of the service is not available",
}


def error_responses(*codes: int, descriptions: Mapping[int, str] | None = None) -> dict[int | str, Any]:
    """`responses=` for a route: each code with the error model and a description."""
    out: dict[int | str, Any] = {}
    for code in codes:
        entry: dict[str, Any] = {
            "description": (descriptions or {}).get(code, ERROR_DESCRIPTIONS.get(code, "Error")),
            # Always JSON, whatever the route's own media type (a transcript is text/plain).
            "content": {"application/json": {"schema": {"$ref": ERROR_BODY_REF}}},
        }
        if code == 429:
            entry["headers"] = {
                "Retry-After": {"description": "Seconds to wait", "schema": {"type": "string"}}
            }
        out[code] = entry
    return out


__all__ = ["ERROR_BODY_REF", "ERROR_DESCRIPTIONS", "ErrorBody", "ErrorDetail", "error_responses"]
