"""The live-chat protocol, shared by the visitor socket and the console socket.

Starting a chat
    POST /api/v1/chats  {"name", "mobile"?, "email"?, "topic", "postcode"? | "area_id"?, "language"?}
    -> 201 {"conversation_id", "token", "reference", "queue_position", "estimated_wait_seconds"}
    The token authorises that conversation only (the store keeps its sha256). Outside opening hours
    -> 409 {"error": {"code": "closed", ...}}; GET /api/v1/chats/availability says so beforehand.

Visitor socket: WS /ws/chat/{conversation_id}?token=...
    Client frames: {"type": "message", "client_id": <uuid>, "body": <text>}
                   {"type": "resume", "after_seq": N}   (send first; 0 for a new chat)
                   {"type": "typing"}  {"type": "end"}  {"type": "ping"}
    Server frames: {"type": "ack", "client_id", "seq"}
                   {"type": "message", "seq", "client_id", "sender": "visitor"|"operator"|"system",
                    "body", "sent_at", "operator"?: {"display_name"}}
                   {"type": "queue", "position", "estimated_wait_seconds"}
                   {"type": "assigned", "operator": {"display_name"}}
                   {"type": "typing", "sender": "operator"}  {"type": "delivered", "seq"}
                   {"type": "ended"}  {"type": "ping"} / {"type": "pong"}
                   {"type": "error", "code", "message", "client_id"?}
    Handshake refusals (before accept, so the browser sees a failed connection): origin not allowed
    (HTTP 403), token not for this conversation (HTTP 403).

Guarantees (exactly-once as the user sees it)
    - A message is stored with the next per-conversation seq (atomic UPDATE ... RETURNING in the
      database) and committed BEFORE its ack is sent or it is delivered to anyone.
    - A repeated client_id returns the original ack and stores nothing new: clients resend
      unacked messages with the same client_id after reconnecting.
    - resume: the server subscribes to the conversation's channel first, then replays every stored
      message with seq > after_seq, then forwards live events, dropping any with seq <= the last it
      sent. A live event that skips a seq (an event lost on the bus) or a `bus.resync` makes the
      server re-read the store from the last seq sent: no gap, no duplicate.
    - Internal notes are stored with a seq but only published on a staff channel; the visitor's
      socket sees a bodiless marker and never the note, live or in replay.
    - Bodies are plain text (control characters stripped, length-limited); clients render them
      with textContent, never as HTML.
    - Heartbeats: the server sends {"type": "ping"} every `chat_heartbeat_seconds`; clients answer
      or send their own pings, and reconnect (forever, jittered backoff) when pings stop.
    - Rate limit: one token bucket per conversation, shared by all its connections (and every
      worker through Redis when configured; `chat_rate_per_second`, `chat_rate_burst`, see
      `message_rate.py`); a message over the limit is refused with error code `rate_limited` and
      NOT stored (resend it).

The console socket (/ws/console) uses the same message, ack and resume rules per conversation:
see `chat_server/console_ws.py`.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlsplit

from starlette.websockets import WebSocket

from contact_store.settings import Settings
from contact_store.throttle import MIN_RATE_PER_SECOND, Bucket, Rate

# Largest client frame accepted; a message body is limited well below this by settings.
MAX_FRAME_BYTES = 16_384


class TokenBucket:
    """One connection's rate limit (the console socket's): `rate` tokens a second, at most `burst`
    saved up (the bucket of `contact_store.throttle`)."""

    def __init__(self, rate: float, burst: int) -> None:
        self._rate = Rate(max(1, burst), max(1, burst) / max(rate, MIN_RATE_PER_SECOND))
        self._bucket = Bucket(self._rate, time.monotonic())

    def take(self) -> bool:
        return self._bucket.take(self._rate, time.monotonic()) == 0.0


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def origin_allowed(ws: WebSocket, settings: Settings) -> bool:
    """Browsers always send Origin: it must be ours or listed. Non-browser clients send none."""
    origin = ws.headers.get("origin")
    if origin is None:
        return True
    allowed = {origin_of(settings.public_base_url), *(origin_of(o) for o in settings.allowed_origins)}
    # The Host the browser used is also ours (e.g. 127.0.0.1 vs localhost in development).
    host = ws.headers.get("host", "")
    if host:
        allowed.add(f"{'https' if ws.url.scheme == 'wss' else 'http'}://{host}".lower())
    return origin.lower() in allowed


def parse_frame(raw: str) -> dict[str, Any] | None:
    if len(raw) > MAX_FRAME_BYTES:
        return None
    try:
        frame = json.loads(raw)
    except ValueError:
        return None
    return frame if isinstance(frame, dict) and isinstance(frame.get("type"), str) else None


def error_frame(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message, **extra}


def dumps(frame: dict[str, Any]) -> str:
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)
