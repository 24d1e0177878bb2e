"""The live-chat protocol, shared by the visitor socket and the console socket.

Starting a chat
    POST /api/v1/chats  {"name", "mobile"?, "email"?, "topic", "postcode"? | "area_id"?, "language"?}
    -> 201 {"conversation_id", "token", "reference", "queue_position", "estimated_wait_seconds"}
    The token authorises that conversation only (the store keeps its sha256). Outside opening hours
    -> 409 {"error": {"code": "closed", ...}}; GET /api/v1/chats/availability says so beforehand.

The visitor token never travels in a URL
    It goes in the socket's first frame (below) or, over HTTP, in `Authorization: Bearer <token>`:
    GET /api/v1/chats/{id}/transcript (text/plain) and GET/POST /api/v1/chats/{id}/survey.
    A URL ends up in proxy logs, browser history and Referer headers; a frame or a header does not.
    The token stops working `chat_token_ttl_after_end_minutes` (default 60) after the chat ended or
    was abandoned: the socket is then closed with 4410, HTTP answers 410 `chat_expired`. Until then
    the visitor can reconnect, read the replay, download the transcript and answer the survey.
    (`?token=` in the socket URL is ignored: the first frame is the only way in.)

Visitor socket: WS /ws/chat/{conversation_id}
    First client frame, within AUTH_DEADLINE_SECONDS of the handshake:
                   {"type": "auth", "token": <the token from POST /api/v1/chats>, "after_seq": N}
                   With after_seq (the last seq the client holds; 0 for a new chat) the server
                   authorises and resumes in one read of the store, as if a resume frame followed
                   (what the widget sends). Without it, send a resume frame next.
    Then client frames: {"type": "message", "client_id": <uuid>, "body": <text>}
                   {"type": "resume", "after_seq": N}   (after an auth frame without after_seq)
                   {"type": "typing"}  {"type": "end"}  {"type": "ping"}  {"type": "pong"}
    Server frames: {"type": "ack", "client_id", "seq"}
                   {"type": "message", "seq", "client_id", "sender": "visitor"|"operator"|"system",
                    "body", "sent_at", "operator"?: {"display_name"}}
                   {"type": "queue", "position", "estimated_wait_seconds", "staffed"}
                   (estimated_wait_seconds is null and staffed false when nobody can answer now)
                   {"type": "assigned", "operator": {"display_name"}}
                   {"type": "typing", "sender": "operator"}  {"type": "delivered", "seq"}
                   {"type": "ended"}  {"type": "ping"} / {"type": "pong"}
                   {"type": "error", "code", "message", "client_id"?}
    Refusals: origin not allowed -> handshake refused (HTTP 403, before accept). After accept:
    no auth frame in time, or not an auth frame first, or a token not for this conversation ->
    close 4401; a token past its expiry -> close 4410. Clients stop reconnecting on 4401/4410.

Frames (both sockets): one parser, `parse_frame`, reads every frame a client sends
    - A frame is a JSON object in a text websocket frame with a known "type"; each type's fields
      are checked (rules: VISITOR_FRAMES, CONSOLE_FRAMES) and a frame that fails gets an `error`
      frame (`bad_frame`, `too_big`, `bad_client_id`, `bad_body`, `empty`, `too_long`, ...); the
      socket stays open and the next good frame is served. Binary frames, frames over
      MAX_FRAME_BYTES, invalid or deeply nested JSON are answered the same way.
    - Frames over MAX_TRANSPORT_FRAME_BYTES are refused by the websocket layer before they are read
      (close 1009); text that is not UTF-8 closes with 1007 (the websocket standard). An unexpected
      server fault closes with 1011. Every close carries a close frame.
    - Integers (after_seq) are JSON integers from 0 to the store's largest (`MAX_DB_INT`, the
      integer columns' range), not booleans, floats or strings;
      ids are strings (conversation ids: up to 36 letters, digits and hyphens; client_id: 1-64
      characters without control characters, NUL or lone surrogates; refused, never altered).
    - Bodies are plain text: NUL, lone UTF-16 surrogates and control characters are stripped
      (`contact_store.text.strip_unstorable`), then trimmed and length-limited (`message_max_length`).

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
      `retry_after` (seconds), and NOT stored (resend it, same client_id, after that delay).
    - Overload: a worker holds at most `chat_max_pending_messages` messages being stored at once,
      and takes none while its event loop runs more than `overload_max_delay_ms` late
      (`contact_store.admission`); past either a message is refused at once with
      {"type": "error", "code": "busy", "client_id", "retry_after"} and NOT stored: the client keeps
      it and resends it (same client_id) after `retry_after` seconds. Nothing queues without bound.

The console socket (/ws/console) uses the same message, ack and resume rules per conversation:
see `chat_server/console_ws.py`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketDisconnected, WebSocketState

from contact_store import conversations as conv_service
from contact_store.errors import ValidationFailed
from contact_store.settings import Settings
from contact_store.text import MAX_DB_INT
from contact_store.throttle import MIN_RATE_PER_SECOND, Bucket, Rate
from contact_store.web import request_scheme

logger = logging.getLogger(__name__)

# Largest client frame accepted (UTF-8 bytes). A message body is limited well below this by
# settings: 2,000 characters are at most 8 KB of UTF-8 (a browser's JSON.stringify leaves them
# unescaped), or 12 KB if every character of the basic plane is sent as a \uXXXX escape.
MAX_FRAME_BYTES = 16_384
# The websocket layer's own cap (uvicorn `ws_max_size`): a bigger frame is never buffered, the
# connection is closed with 1009. Above MAX_FRAME_BYTES so a client over it still gets an answer.
MAX_TRANSPORT_FRAME_BYTES = 65_536
# A visitor socket that has not sent its auth frame by then is closed: an unauthenticated socket
# holds memory and a slot for nothing. Ample for a phone on a slow network.
AUTH_DEADLINE_SECONDS = 10.0
# Close codes (4000-4999 are the application's own; they mirror the HTTP statuses).
CLOSE_NOT_AUTHORISED = 4401
CLOSE_FORBIDDEN_ORIGIN = 4403
CLOSE_EXPIRED = 4410
CLOSE_SERVER_ERROR = 1011  # standard: an unexpected condition on the server
# What a socket raises once its client has gone: on receive or a failed send (WebSocketDisconnect),
# on using a socket already closed (WebSocketDisconnected).
CLIENT_GONE = (WebSocketDisconnect, WebSocketDisconnected)
# Chats a console's `resume` frame may list in `held` (an operator holds a handful; a supervisor
# watches more); the frame stays far under MAX_FRAME_BYTES.
MAX_HELD_CHATS = 200
# Conversation ids are UUIDs (36 characters); checked before any database lookup.
_CONVERSATION_ID = re.compile(r"[0-9A-Za-z-]{1,36}")
# Visitor tokens are `secrets.token_urlsafe(32)` (43 characters).
_TOKEN = re.compile(r"[0-9A-Za-z_-]{1,128}")


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
        secure = request_scheme(ws) in ("https", "wss")  # X-Forwarded-Proto from a trusted proxy
        allowed.add(f"{'https' if secure else 'http'}://{host}".lower())
    return origin.lower() in allowed


def error_frame(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message, **extra}


@dataclass(frozen=True, slots=True)
class Refusal:
    """A client frame that was not accepted: answered with an `error` frame, the socket stays open.

    Only ids that passed their own check are echoed (never raw client input)."""

    code: str
    message: str
    client_id: str | None = None
    conversation_id: str | None = None

    def frame(self) -> dict[str, Any]:
        ids = {"conversation_id": self.conversation_id, "client_id": self.client_id}
        return error_frame(self.code, self.message, **{k: v for k, v in ids.items() if v is not None})


class _Refused(Exception):
    def __init__(self, refusal: Refusal) -> None:
        self.refusal = refusal


def _refuse(code: str, message: str, **ids: str | None) -> _Refused:
    return _Refused(Refusal(code, message, **ids))


# A rule reads one frame type's fields from the decoded object (and the body length limit) and
# returns them checked, or raises _Refused. Unknown fields are ignored.
FrameRule = Callable[[dict[str, Any], int], dict[str, Any]]


def _nothing(raw: dict[str, Any], max_body: int) -> dict[str, Any]:
    return {}


def _whole_number(raw: dict[str, Any], key: str, **ids: str | None) -> int:
    value = raw.get(key, 0)
    # type() is int: bool is an int subclass; floats and numeric strings are not numbers here.
    if type(value) is not int or not 0 <= value <= MAX_DB_INT:  # fits the INTEGER id columns (MAX_DB_INT)
        raise _refuse("bad_frame", f"{key} must be a whole number from 0 to {MAX_DB_INT}", **ids)
    return value


def _conversation_id(raw: dict[str, Any]) -> str:
    value = raw.get("conversation_id")
    if not isinstance(value, str) or not _CONVERSATION_ID.fullmatch(value):
        raise _refuse("bad_frame", "conversation_id is required (the chat's id)")
    return value


def _message(raw: dict[str, Any], max_body: int, conversation_id: str | None = None) -> dict[str, Any]:
    client_id = None
    try:
        client_id = conv_service.clean_client_id(raw.get("client_id"))
        body = conv_service.clean_body(raw.get("body"), max_length=max_body)
    except ValidationFailed as exc:
        raise _refuse(exc.code, exc.message, client_id=client_id, conversation_id=conversation_id) from None
    return {"client_id": client_id, "body": body}


def _auth(raw: dict[str, Any], max_body: int) -> dict[str, Any]:
    token = raw.get("token")
    if not isinstance(token, str) or not _TOKEN.fullmatch(token):
        raise _refuse("bad_token", "Send the chat's token")
    # after_seq in the auth frame: authorise and resume in one step (one read of the store).
    after_seq = _whole_number(raw, "after_seq") if "after_seq" in raw else None
    return {"token": token, "after_seq": after_seq}


def _resume(raw: dict[str, Any], max_body: int) -> dict[str, Any]:
    return {"after_seq": _whole_number(raw, "after_seq")}


def _about_a_chat(raw: dict[str, Any], max_body: int) -> dict[str, Any]:
    return {"conversation_id": _conversation_id(raw)}


def _held(raw: dict[str, Any]) -> dict[str, Any]:
    held = raw.get("held")
    if not isinstance(held, dict) or len(held) > MAX_HELD_CHATS:
        raise _refuse("bad_frame", f"held maps up to {MAX_HELD_CHATS} conversation ids to the last seq held")
    checked: dict[str, int] = {}
    for cid in held:
        if not _CONVERSATION_ID.fullmatch(cid):
            raise _refuse("bad_frame", "held maps conversation ids to the last seq held")
        checked[cid] = _whole_number(held, cid)
    return {"held": checked}


def _console_resume(raw: dict[str, Any], max_body: int) -> dict[str, Any]:
    if "held" in raw:  # the console's first frame: every chat it holds, with its last seq
        return _held(raw)
    cid = _conversation_id(raw)
    return {"conversation_id": cid, "after_seq": _whole_number(raw, "after_seq", conversation_id=cid)}


def _console_message(raw: dict[str, Any], max_body: int) -> dict[str, Any]:
    cid = _conversation_id(raw)
    fields = _message(raw, max_body, conversation_id=cid)
    internal = raw.get("internal", False)
    if type(internal) is not bool:
        raise _refuse(
            "bad_frame", "internal must be true or false", conversation_id=cid, client_id=fields["client_id"]
        )
    return {"conversation_id": cid, **fields, "internal": internal}


def _status(raw: dict[str, Any], max_body: int) -> dict[str, Any]:
    status = raw.get("status")
    if not isinstance(status, str) or len(status) > 16:
        raise _refuse("bad_status", "Choose available, busy or away")
    return {"status": status}  # which statuses may be set is routing's rule (set_status)


VISITOR_FRAMES: Mapping[str, FrameRule] = {
    "auth": _auth,
    "resume": _resume,
    "message": _message,
    "typing": _nothing,
    "end": _nothing,
    "ping": _nothing,
    "pong": _nothing,
}
CONSOLE_FRAMES: Mapping[str, FrameRule] = {
    "status": _status,
    "accept": _about_a_chat,
    "decline": _about_a_chat,
    "watch": _about_a_chat,
    "resume": _console_resume,
    "message": _console_message,
    "typing": _about_a_chat,
    "end": _about_a_chat,
    "ping": _nothing,
    "pong": _nothing,
}


def _too_big(text: str) -> bool:
    # Counting characters first: a frame can only be over in bytes if it is over a quarter of it.
    if len(text) > MAX_FRAME_BYTES:
        return True
    return len(text) * 4 > MAX_FRAME_BYTES and len(text.encode("utf-8", "surrogatepass")) > MAX_FRAME_BYTES


def parse_frame(
    data: str | bytes | None, *, rules: Mapping[str, FrameRule], max_body: int
) -> dict[str, Any] | Refusal:
    """Every client frame of both sockets: its checked fields (with "type"), or the Refusal to
    answer. Never raises for anything a client can send."""
    if not isinstance(data, str):
        return Refusal("bad_frame", "Frames are JSON text, not binary")
    if _too_big(data):
        return Refusal("too_big", f"Frames can be at most {MAX_FRAME_BYTES} bytes")
    try:
        raw = json.loads(data)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser's stack
        return Refusal("bad_frame", "Frames are JSON objects with a type")
    kind = raw.get("type") if isinstance(raw, dict) else None
    if not isinstance(kind, str):
        return Refusal("bad_frame", "Frames are JSON objects with a type")
    rule = rules.get(kind)
    if rule is None:
        return Refusal("bad_frame", "Unknown frame type")
    try:
        return {"type": kind, **rule(raw, max_body)}
    except _Refused as exc:
        return exc.refusal


async def receive_frame(
    ws: WebSocket, *, rules: Mapping[str, FrameRule], max_body: int
) -> dict[str, Any] | Refusal:
    """The next client frame through `parse_frame`; WebSocketDisconnect when the client has gone."""
    message = await ws.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
    text = message.get("text")
    return parse_frame(text if text is not None else message.get("bytes"), rules=rules, max_body=max_body)


# One encoder for every frame: json.dumps with options builds a new encoder on each call (seen
# in the reconnect storm's profile).
_FRAME_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def dumps(frame: dict[str, Any]) -> str:
    return _FRAME_ENCODER.encode(frame)


async def serve_until_closed(ws: WebSocket, connection: Awaitable[None], *, name: str) -> None:
    """Run an accepted socket's `connection`; however it ends, the client gets a close frame
    (returning from an ASGI websocket app without one drops the TCP connection): 1000 when the
    server ends it, 1011 after an unexpected fault (logged); none is owed once the client left."""
    code = 1000
    try:
        await connection
    except CLIENT_GONE:
        return
    except Exception:
        logger.exception("%s socket failed", name)
        code = CLOSE_SERVER_ERROR
    if ws.application_state == WebSocketState.CONNECTED and ws.client_state == WebSocketState.CONNECTED:
        with contextlib.suppress(*CLIENT_GONE, OSError):
            await ws.close(code=code)
