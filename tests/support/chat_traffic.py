"""Chat traffic that survives restarts: visitor and console clients that behave like the widget and
the workspace (reconnect at once on 1012, resume after the last seq held, resend unacked messages
with their client_id) and count what a user would notice: a repeated message frame on the wire,
a message never acked, a close code. Used by the rolling-restart test and bench/rolling_restart.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

Frame = dict[str, Any]
# Reconnect delays: at once (with jitter) after 1012, like the widget and the workspace; a short
# backoff after anything else (a refused connection while nginx marks a worker failed).
RESTART_JITTER = 0.25
OTHER_BACKOFF = 0.5


def new_id() -> str:
    return str(uuid.uuid4())


@dataclass
class ChatLog:
    """What one side of one chat has seen."""

    last: int = 0
    received: dict[int, str] = field(default_factory=dict)  # seq -> client_id
    repeats: int = 0

    def message(self, frame: Frame) -> None:
        seq = int(frame["seq"])
        if seq <= self.last:
            self.repeats += 1
            return
        self.last = seq
        self.received[seq] = frame.get("client_id") or ""


@dataclass
class Client:
    """Common to both sockets: one connection at a time, closes counted by code."""

    ws_base: str
    sent: dict[str, Frame] = field(default_factory=dict)  # client_id -> frame (every message sent)
    unacked: dict[str, Frame] = field(default_factory=dict)
    closes: Counter[int] = field(default_factory=Counter)
    connects: int = 0
    ws: ClientConnection | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)

    async def send(self, frame: Frame) -> None:
        ws = self.ws
        if ws is None:
            return
        with contextlib.suppress(ConnectionClosed):
            await ws.send(json.dumps(frame))

    async def send_message(self, frame: Frame) -> None:
        self.sent[frame["client_id"]] = frame
        self.unacked[frame["client_id"]] = frame
        await self.send(frame)

    async def open(self) -> ClientConnection:
        raise NotImplementedError

    async def on_open(self) -> None:
        raise NotImplementedError

    def on_frame(self, frame: Frame) -> None:
        raise NotImplementedError

    async def run(self) -> None:
        """Stay connected until cancelled."""
        while True:
            try:
                self.ws = await self.open()
            except (OSError, InvalidHandshake, InvalidStatus, TimeoutError):
                self.closes[-1] += 1  # could not connect (a worker going away behind nginx)
                await asyncio.sleep(OTHER_BACKOFF)
                continue
            self.connects += 1
            try:
                await self.on_open()
                self.ready.set()
                async for raw in self.ws:
                    frame = json.loads(raw)
                    if frame.get("type") == "ping":
                        await self.send({"type": "pong"})
                    elif frame.get("type") == "error" and frame.get("code") == "rate_limited":
                        asyncio.get_running_loop().call_later(1.0, self._resend_later, frame.get("client_id"))
                    else:
                        self.on_frame(frame)
            except ConnectionClosed:
                pass
            code = self.ws.close_code if self.ws.close_code is not None else 1006
            self.closes[code] += 1
            self.ws = None
            await asyncio.sleep(random.random() * RESTART_JITTER if code == 1012 else OTHER_BACKOFF)

    def _resend_later(self, client_id: str | None) -> None:
        frame = self.unacked.get(client_id or "")
        if frame is not None:
            asyncio.get_running_loop().create_task(self.send(frame))

    def ack(self, frame: Frame) -> None:
        self.unacked.pop(frame["client_id"], None)


@dataclass
class VisitorClient(Client):
    chat: Frame = field(default_factory=dict)
    origin: str = ""
    log: ChatLog = field(default_factory=ChatLog)

    @property
    def cid(self) -> str:
        return str(self.chat["conversation_id"])

    async def open(self) -> ClientConnection:
        return await connect(f"{self.ws_base}/ws/chat/{self.cid}", origin=self.origin, open_timeout=5)  # type: ignore[arg-type]

    async def on_open(self) -> None:
        await self.send({"type": "auth", "token": self.chat["token"]})
        await self.send({"type": "resume", "after_seq": self.log.last})
        for frame in list(self.unacked.values()):
            await self.send(frame)

    def on_frame(self, frame: Frame) -> None:
        if frame["type"] == "message":
            self.log.message(frame)
        elif frame["type"] == "ack":
            self.ack(frame)

    async def say(self, body: str) -> None:
        await self.send_message({"type": "message", "client_id": new_id(), "body": body})


@dataclass
class ConsoleClient(Client):
    headers: dict[str, str] = field(default_factory=dict)
    logs: dict[str, ChatLog] = field(default_factory=dict)
    active: set[str] = field(default_factory=set)
    errors: list[Frame] = field(default_factory=list)
    # The old workspace (before #12): no `held` first frame; a per-chat resume on every reconnect.
    old_protocol: bool = False

    async def open(self) -> ClientConnection:
        return await connect(f"{self.ws_base}/ws/console", additional_headers=self.headers, open_timeout=5)

    async def on_open(self) -> None:
        if self.old_protocol:
            for cid, log in self.logs.items():
                await self.send({"type": "resume", "conversation_id": cid, "after_seq": log.last})
        else:
            await self.send({"type": "resume", "held": {cid: log.last for cid, log in self.logs.items()}})
        for frame in list(self.unacked.values()):
            await self.send(frame)

    def on_frame(self, frame: Frame) -> None:
        kind = frame["type"]
        if kind == "message":
            self.logs.setdefault(frame["conversation_id"], ChatLog()).message(frame)
        elif kind == "ack":
            self.ack(frame)
        elif kind == "error":
            self.errors.append(frame)
        elif kind == "conversation" and frame.get("status") == "active":
            self.logs.setdefault(frame["conversation_id"], ChatLog())
            self.active.add(frame["conversation_id"])

    async def say(self, cid: str, body: str) -> None:
        await self.send_message(
            {"type": "message", "conversation_id": cid, "client_id": new_id(), "body": body}
        )

    @property
    def repeats(self) -> int:
        return sum(log.repeats for log in self.logs.values())


async def wait_for(predicate: Any, *, timeout: float, what: Any) -> None:
    """Poll `predicate()` until true (generous: a failure is a timeout, not a timing assertion)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what() if callable(what) else what}")
        await asyncio.sleep(0.1)
