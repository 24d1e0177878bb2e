"""A socket uvicorn closed on its own (1009, 1012) is the client gone to the app, not a fault."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.types import Message
from starlette.websockets import WebSocket, WebSocketDisconnect

from chat_server.observe import Observe


def _closed_server_send() -> tuple[Any, list[dict[str, Any]]]:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "websocket.accept":
            sent.append(message)
            return
        # uvicorn's words when the app sends after the server closed the socket itself.
        raise RuntimeError(f"Unexpected ASGI message '{message['type']}', after sending 'websocket.close'.")

    return send, sent


@pytest.mark.anyio
async def test_a_send_after_the_server_closed_the_socket_is_a_disconnect() -> None:
    seen: list[BaseException] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        ws = WebSocket(scope, receive, send)
        await ws.accept()
        try:
            await ws.send_text("hello")
        except WebSocketDisconnect as exc:
            seen.append(exc)

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    send, sent = _closed_server_send()
    scope = {"type": "websocket", "path": "/ws/console", "headers": [], "query_string": b""}
    await Observe(app)(scope, receive, send)
    assert len(sent) == 1
    assert len(seen) == 1 and isinstance(seen[0], WebSocketDisconnect) and seen[0].code == 1006


@pytest.mark.anyio
async def test_any_other_runtime_error_still_raises() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "websocket.nonsense"})

    async def send(message: Message) -> None:
        raise RuntimeError("something else")

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    scope = {"type": "websocket", "path": "/ws/visitor", "headers": [], "query_string": b""}
    with pytest.raises(RuntimeError, match="something else"):
        await Observe(app)(scope, receive, send)
