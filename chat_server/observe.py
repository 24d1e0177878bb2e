"""The outermost ASGI middleware: request ids and HTTP/websocket figures.

For every HTTP request and websocket session:
- the request id is the incoming `X-Request-ID` when well formed, else a new one; it is set in
  `contact_store.request_context.REQUEST_ID` for everything the request runs (and the tasks it
  starts) and returned in the response's (or the websocket handshake's) `X-Request-ID` header;
- an HTTP request's time to the end of its response is observed in
  `firstcontact_http_request_duration_seconds` under its ROUTE TEMPLATE (`/chat/{conversation_id}`,
  never the raw path; "unmatched" when no route matched, e.g. a 404), method and status;
- an accepted websocket counts in `firstcontact_websockets_open` (visitor or console) until it ends.
The cost is one histogram observe per request and one gauge move per socket: no I/O.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from contact_store import telemetry
from contact_store.request_context import REQUEST_ID, new_request_id, well_formed

HEADER = b"x-request-id"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
CONSOLE_SOCKET_PREFIX = "/ws/console"
# What uvicorn says when the app sends on a socket the server has already closed.
_SERVER_ALREADY_CLOSED = "after sending 'websocket.close'"


def route_template(scope: Scope) -> str:
    """The template of the route that answered (`/chat/{conversation_id}`), or "unmatched"."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else "unmatched"


def incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers") or ():
        if name == HEADER:
            text = value.decode("latin-1")
            return text if well_formed(text) else None
    return None


def _with_header(message: Message, rid: bytes) -> Message:
    headers = [*message.get("headers", ()), (HEADER, rid)]
    return {**message, "headers": headers}


class Observe:
    """See the module docstring."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        rid = incoming_request_id(scope) or new_request_id()
        rid_bytes = rid.encode()
        token = REQUEST_ID.set(rid)
        try:
            if kind == "http":
                await self._http(scope, receive, send, rid_bytes)
            else:
                await self._websocket(scope, receive, send, rid_bytes)
        finally:
            REQUEST_ID.reset(token)

    async def _http(self, scope: Scope, receive: Receive, send: Send, rid: bytes) -> None:
        started = time.perf_counter()
        status = 500  # the app raised before answering (the server answers 500)

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = _with_header(message, rid)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            method = scope.get("method", "")
            telemetry.HTTP_LATENCY.labels(
                method if method in METHODS else "other", route_template(scope), str(status)
            ).observe(time.perf_counter() - started)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send, rid: bytes) -> None:
        gauge: Any = None

        async def send_with_id(message: Message) -> None:
            nonlocal gauge
            if message["type"] == "websocket.accept":
                message = _with_header(message, rid)
                await send(message)
                if gauge is None:
                    console = route_template(scope).startswith(CONSOLE_SOCKET_PREFIX)
                    gauge = telemetry.CONSOLE_SOCKETS if console else telemetry.VISITOR_SOCKETS
                    gauge.inc()
                return
            try:
                await send(message)
            except RuntimeError as exc:
                # uvicorn closes a socket itself (1009 for a frame over the transport cap, 1012 on
                # shutdown) and then refuses the app's next send with a RuntimeError before the
                # app has read the disconnect. That is the client gone, not a fault: as an OSError,
                # Starlette reports it as WebSocketDisconnect(1006), which every handler expects.
                if _SERVER_ALREADY_CLOSED in str(exc):
                    raise OSError(str(exc)) from exc
                raise

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if gauge is not None:
                gauge.dec()
