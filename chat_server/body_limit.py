"""Request bodies are refused by size while they stream, before anything parses or spools them.

One pure ASGI middleware, for every HTTP request:

- The limit comes from the request: a multipart POST to a form question page (evidence uploads,
  `/report/{slug}/{page}`) may carry `UPLOAD_MAX_FILES` files of `UPLOAD_MAX_BYTES` plus
  `UPLOAD_OVERHEAD_BYTES` of text fields and multipart framing; every other body (JSON API,
  HTML forms, provider callbacks, the console) at most `REQUEST_BODY_MAX_BYTES`.
- A declared `Content-Length` over the limit is answered 413 at once: the application never runs
  and not one byte of the body is read. A `Content-Length` that is not a number is a 400.
- A body without a length (chunked) is counted as the application reads it: the moment the count
  passes the limit the 413 is sent, the application's read fails (`BodyTooLarge`, itself a 413) so
  it unwinds without parsing further, and whatever it then tries to send is dropped. The rest of
  the body is never read.
- Every 413 says `Connection: close`, so the server stops reading the connection too.

The 413 is the app's usual error: JSON (`{"error": {"code": "too_large", …}}`) on the API, the
GOV.UK error page for people.
"""

from __future__ import annotations

import re

from fastapi import Request
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chat_server.errors import app_error_response
from contact_store.errors import AppError
from contact_store.i18n import N_, translator
from contact_store.settings import Settings
from web_forms.pages import page_language

# Text answers, buttons and multipart framing around the largest allowed set of files.
UPLOAD_OVERHEAD_BYTES = 1024 * 1024
# The form question pages, the only place a body carries files.
UPLOAD_PATH = re.compile(r"^/report/[^/]+/[^/]+$")
UPLOAD_MESSAGE = N_("The files you sent are too large. Each file must be smaller than {mb} MB.")
BODY_MESSAGE = N_("The request is too large.")
CLOSE = {"Connection": "close"}


class BodyTooLarge(HTTPException):
    """Raised into the application when it reads past the limit (FastAPI passes HTTP errors on)."""

    def __init__(self) -> None:
        super().__init__(status_code=413, detail=BODY_MESSAGE)


def body_limit(scope: Scope, settings: Settings) -> tuple[int, str]:
    """The byte limit for this request and the message that refuses it."""
    headers = dict(scope.get("headers") or [])
    content_type = headers.get(b"content-type", b"").decode("latin-1").lower()
    if (
        scope["method"] == "POST"
        and content_type.startswith("multipart/form-data")
        and UPLOAD_PATH.match(scope["path"])
    ):
        limit = settings.upload_max_bytes * settings.upload_max_files + UPLOAD_OVERHEAD_BYTES
        # Translated here, before the size goes in (the error page translates the other message).
        _ = translator(page_language(Request(scope)))
        return limit, _(UPLOAD_MESSAGE).format(mb=settings.upload_max_bytes // (1024 * 1024))
    return settings.request_body_max_bytes, BODY_MESSAGE


def declared_length(scope: Scope) -> int | None:
    """The request's Content-Length; None when absent; -1 when it is not a plain number."""
    for name, value in scope.get("headers") or []:
        if name.lower() == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isascii() and text.isdigit() else -1
    return None


class BodyLimit:
    """Refuses request bodies over their limit, up front or as they stream (see the module doc)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, status: int, message: str) -> None:
        code = "too_large" if status == 413 else "bad_request"
        error = AppError(message, status_code=status, code=code, headers=CLOSE)
        await app_error_response(Request(scope, receive), error)(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, message = body_limit(scope, self.settings)
        length = declared_length(scope)
        if length == -1:
            await self._refuse(scope, receive, send, 400, "The Content-Length header is not a number.")
            return
        if length is not None and length > limit:
            await self._refuse(scope, receive, send, 413, message)
            return

        received = 0
        refused = False
        app_started = False

        async def counted_receive() -> Message:
            nonlocal received, refused
            if refused:
                raise BodyTooLarge
            msg = await receive()
            if msg["type"] == "http.request":
                received += len(msg.get("body", b""))
                if received > limit:
                    refused = True
                    if not app_started:
                        await self._refuse(scope, receive, send, 413, message)
                    raise BodyTooLarge
            return msg

        async def guarded_send(msg: Message) -> None:
            nonlocal app_started
            if refused:
                return  # our 413 went out; the application's own answer to its failed read is dropped
            if msg["type"] == "http.response.start":
                app_started = True
            await send(msg)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except BodyTooLarge:
            if not refused:
                raise


__all__ = ["UPLOAD_OVERHEAD_BYTES", "BodyLimit", "BodyTooLarge", "body_limit"]
