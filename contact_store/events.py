"""The event bus: how a committed change reaches every websocket on every worker.

Protocol and guarantees
-----------------------
- Events are JSON objects published on named channels (see `channels`). Services never publish
  directly: they call `emit(session, channel, event)`, which parks the event on the session; the
  events are published only after that session's transaction commits, and dropped on rollback.
- Two backends behind one interface: `InProcessBus` (one worker, the embedded default) and
  `RedisBus` (Redis pub/sub, several workers or hosts). Delivery is at-most-once, in publish order
  per channel. Exactly-once for users comes from the store: every chat message has a `seq`, and a
  subscriber that may have missed events re-reads the store after the last `seq` it holds.
- `subscribe()` returns a `Subscription` whose channels are live when `add()` returns: subscribe
  first, then read the backlog from the store, then forward live events, dropping ones already seen.
- `RedisBus` holds ONE pattern subscription per worker (`PSUBSCRIBE <prefix>:*`, confirmed at
  start) and fans events out locally, so adding a channel to a subscription costs no Redis round
  trip (a reconnect storm of thousands of sockets used to send one SUBSCRIBE each and wait for its
  confirmation, timing out at 5 s under load). Events of channels with no local subscriber are
  dropped before their JSON is decoded.
- If the Redis connection drops, every subscription receives `{"type": "bus.resync"}` once the bus
  has reconnected, so holders of state re-read the store instead of silently missing events.
- `publish()` is safe to call from any thread (request handlers run in a threadpool).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import threading
from abc import ABC, abstractmethod
from collections import defaultdict, deque
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

logger = logging.getLogger(__name__)

Event = dict[str, Any]
RESYNC_EVENT: Event = {"type": "bus.resync"}
PENDING_EVENTS_KEY = "firstcontact.pending_events"
BUS_KEY = "firstcontact.bus"
# A slow consumer must not grow memory without bound; past this it is told to resync.
SUBSCRIPTION_QUEUE_LIMIT = 1000
_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")  # escaped in the channel prefix of the pattern
# Events sent to Redis in one pipelined round trip at most.
PUBLISH_BATCH = 500


# One encoder for every event published (json.dumps with options builds one per call).
_EVENT_ENCODER = json.JSONEncoder(separators=(",", ":"), default=str)


class channels:
    """Channel names, in one place."""

    QUEUE = "queue"  # chat queue changed (new, claimed, abandoned): consoles and wallboards
    REPORTS = "reports"  # online report received or changed
    WALLBOARD = "wallboard"  # operator status and other supervisor figures
    SMS = "sms"  # inbound text received

    @staticmethod
    def conversation(conversation_id: str) -> str:
        return f"conversation:{conversation_id}"

    @staticmethod
    def operator(operator_id: int) -> str:
        return f"operator:{operator_id}"


class Subscription:
    """A set of channels whose events arrive on one queue, in publish order per channel."""

    def __init__(self, bus: EventBus) -> None:
        self._bus = bus
        self.channels: set[str] = set()
        self.queue: asyncio.Queue[tuple[str, Event]] = asyncio.Queue()
        self._overflowed = False

    async def add(self, *names: str) -> None:
        """Start receiving these channels; they are live when this returns."""
        new = [n for n in names if n not in self.channels]
        self.channels.update(new)
        if new:
            await self._bus._attach(self, new)

    async def remove(self, *names: str) -> None:
        gone = [n for n in names if n in self.channels]
        self.channels.difference_update(gone)
        if gone:
            await self._bus._detach(self, gone)

    def deliver(self, channel: str, event: Event) -> None:
        """Called on the event loop by the bus."""
        if self.queue.qsize() >= SUBSCRIPTION_QUEUE_LIMIT:
            if not self._overflowed:
                self._overflowed = True
                logger.warning("subscription overflowed; asking it to resync")
                self.queue.put_nowait(("", RESYNC_EVENT))
            return
        self.queue.put_nowait((channel, event))

    async def get(self) -> tuple[str, Event]:
        item = await self.queue.get()
        if item[1] is RESYNC_EVENT:
            self._overflowed = False
        return item

    async def close(self) -> None:
        if self.channels:
            await self._bus._detach(self, list(self.channels))
            self.channels.clear()

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __aiter__(self) -> AsyncIterator[tuple[str, Event]]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[tuple[str, Event]]:
        while True:
            yield await self.get()


class EventBus(ABC):
    """Publish events to channels; subscribe to channels. One instance per worker process."""

    name = "abstract"

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._local: dict[str, set[Subscription]] = defaultdict(set)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()

    async def stop(self) -> None:
        self._loop = None

    def subscribe(self) -> Subscription:
        return Subscription(self)

    @abstractmethod
    def publish(self, channel: str, event: Event) -> None:
        """Send an event to every subscriber of the channel, on every worker. Thread-safe."""

    def publish_many(self, events: list[tuple[str, Event]]) -> None:
        """Publish several events in order (a group commit's): as `publish`, fewer wake-ups."""
        for channel, event in events:
            self.publish(channel, event)

    @abstractmethod
    async def ping(self) -> bool:
        """True when the bus can deliver events."""

    async def _attach(self, sub: Subscription, names: list[str]) -> None:
        for name in names:
            self._local[name].add(sub)

    async def _detach(self, sub: Subscription, names: list[str]) -> None:
        for name in names:
            subs = self._local.get(name)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._local[name]

    def _dispatch_local(self, channel: str, event: Event) -> None:
        """Hand an event to this process's subscribers. Must run on the event loop."""
        for sub in list(self._local.get(channel, ())):
            sub.deliver(channel, event)

    def _on_loop(self, fn: Any, *args: Any) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            fn(*args)
        else:
            loop.call_soon_threadsafe(fn, *args)


class InProcessBus(EventBus):
    """Delivers events to subscribers in this process only (one worker)."""

    name = "in-process"

    def publish(self, channel: str, event: Event) -> None:
        self._on_loop(self._dispatch_local, channel, event)

    def publish_many(self, events: list[tuple[str, Event]]) -> None:
        if events:
            self._on_loop(self._dispatch_all, events)

    def _dispatch_all(self, events: list[tuple[str, Event]]) -> None:
        for channel, event in events:
            self._dispatch_local(channel, event)

    async def ping(self) -> bool:
        return self._loop is not None


class RedisBus(EventBus):
    """Redis pub/sub: one shared subscriber connection per process, fanned out locally."""

    name = "redis"
    RECONNECT_DELAY_SECONDS = 0.5
    STOP_TIMEOUT_SECONDS = 2.0

    def __init__(self, url: str, *, prefix: str = "firstcontact") -> None:
        super().__init__()
        import redis
        import redis.asyncio as aioredis

        self._url = url
        self._prefix = prefix + ":"
        self._sync = redis.Redis.from_url(url)
        self._async: aioredis.Redis = aioredis.Redis.from_url(url)
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._lock = threading.Lock()
        # Events published on the event loop wait here for the one publisher task (see publish).
        self._outbox: deque[tuple[str, str]] = deque()
        self._outbox_ready = asyncio.Event()
        self._publisher: asyncio.Task[None] | None = None
        self._stopped = False

    async def start(self) -> None:
        await super().start()
        self._stopped = False
        self._pubsub = self._async.pubsub()
        try:
            await self._psubscribe()
            reader = self._read_forever()
        except Exception:
            # Redis down at start-up: the worker still starts (readiness says Redis is not
            # reachable) and subscribes as soon as Redis answers, as after a lost connection.
            logger.warning("redis bus: Redis unreachable at start-up; reconnecting", exc_info=True)
            reader = self._reconnect_then_read()
        self._reader = asyncio.create_task(reader, name="redis-bus-reader")
        self._publisher = asyncio.create_task(self._publish_forever(), name="redis-bus-publisher")

    async def stop(self) -> None:
        """Stop reading and publishing and close the connections. Safe to call twice (an app
        sharing this bus may stop it too) and bounded: a Redis that no longer answers cannot hold
        a worker's shutdown for longer than STOP_TIMEOUT_SECONDS per connection."""
        if self._stopped:
            return
        self._stopped = True
        tasks = [task for task in (self._reader, self._publisher) if task is not None]
        self._reader = self._publisher = None
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=self.STOP_TIMEOUT_SECONDS)
        closers = [self._async.aclose()]
        if self._pubsub is not None:
            closers.insert(0, self._pubsub.aclose())
            self._pubsub = None
        for closer in closers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(closer, self.STOP_TIMEOUT_SECONDS)
        self._sync.close()
        await super().stop()

    def publish(self, channel: str, event: Event) -> None:
        payload = _EVENT_ENCODER.encode(event)
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not None and running is self._loop and self._publisher is not None:
            # Never block the event loop on a socket: one publisher task sends what is waiting, in
            # order, pipelined on one connection (a task per event reordered them and, under load,
            # ran the async pool out of connections). Only on the bus's own loop: its async Redis
            # client must never be used from another loop (that crashed a test process with a
            # segfault); other loops and threads take the sync path.
            self._outbox.append((channel, payload))
            self._outbox_ready.set()
        else:
            try:
                self._sync.publish(self._prefix + channel, payload)
            except Exception:
                logger.exception(
                    "redis publish failed on %s; subscribers will resync from the store", channel
                )

    def publish_many(self, events: list[tuple[str, Event]]) -> None:
        try:
            on_own_loop = asyncio.get_running_loop() is self._loop
        except RuntimeError:
            on_own_loop = False
        if on_own_loop or len(events) < 2:
            super().publish_many(events)
            return
        # From a thread: one round trip for the whole batch, still in order.
        try:
            with self._sync.pipeline(transaction=False) as pipe:
                for channel, event in events:
                    pipe.publish(self._prefix + channel, _EVENT_ENCODER.encode(event))
                pipe.execute()
        except Exception:
            logger.exception("redis publish failed for %d events; subscribers will resync", len(events))

    async def _publish_forever(self) -> None:
        while True:
            await self._outbox_ready.wait()
            self._outbox_ready.clear()
            while self._outbox:
                batch = [self._outbox.popleft() for _ in range(min(len(self._outbox), PUBLISH_BATCH))]
                try:
                    async with self._async.pipeline(transaction=False) as pipe:
                        for channel, payload in batch:
                            pipe.publish(self._prefix + channel, payload)
                        await pipe.execute()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    logger.exception(
                        "redis publish failed for %d events; subscribers will resync", len(batch)
                    )

    async def ping(self) -> bool:
        if self._reader is None or self._reader.done():
            return False
        try:
            return bool(await self._async.ping())
        except Exception:
            return False

    async def _psubscribe(self) -> None:
        """Subscribe this worker to every channel of the prefix; live once Redis confirms."""
        await self._pubsub.psubscribe(_GLOB_SPECIAL.sub(r"\\\1", self._prefix) + "*")
        deadline = asyncio.get_running_loop().time() + 5
        while True:  # the confirmation is the first reply on the fresh connection
            message = await self._pubsub.get_message(timeout=1.0)
            if message is not None and message["type"] == "psubscribe":
                return
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("Redis did not confirm the bus subscription")

    async def _read_forever(self) -> None:
        while True:
            try:
                message = await self._pubsub.get_message(timeout=1.0)
                if message is None:
                    continue
                self._handle(message)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("redis bus connection lost; reconnecting", exc_info=True)
                await self._reconnect()

    async def _reconnect_then_read(self) -> None:
        await self._reconnect()
        await self._read_forever()

    def _handle(self, message: dict[str, Any]) -> None:
        if message["type"] != "pmessage":
            return
        raw_channel = message["channel"]
        channel = raw_channel.decode() if isinstance(raw_channel, bytes) else str(raw_channel)
        channel = channel.removeprefix(self._prefix)
        if channel not in self._local:
            return  # nobody here listens: skip the decode
        try:
            event = json.loads(message["data"])
        except ValueError:
            logger.warning("ignoring non-JSON event on %s", channel)
            return
        self._dispatch_local(channel, event)

    async def _reconnect(self) -> None:
        while True:
            await asyncio.sleep(self.RECONNECT_DELAY_SECONDS)
            try:
                with contextlib.suppress(Exception):
                    await self._pubsub.aclose()
                self._pubsub = self._async.pubsub()
                await self._psubscribe()
                break
            except Exception:
                logger.warning("redis bus reconnect failed; retrying", exc_info=True)
        seen: set[int] = set()
        for subs in self._local.values():
            for sub in subs:
                if id(sub) not in seen:
                    seen.add(id(sub))
                    sub.deliver("", RESYNC_EVENT)


def make_bus(redis_url: str | None, *, prefix: str = "firstcontact") -> EventBus:
    """The Redis bus when a URL is configured, else the in-process bus."""
    if redis_url:
        return RedisBus(redis_url, prefix=prefix)
    return InProcessBus()


def emit(session: Session, channel: str, event: Event) -> None:
    """Publish `event` on `channel` once this session's transaction commits (dropped on rollback)."""
    session.info.setdefault(PENDING_EVENTS_KEY, []).append((channel, event))


@sa_event.listens_for(Session, "after_commit")
def _publish_after_commit(session: Session) -> None:
    pending = session.info.pop(PENDING_EVENTS_KEY, None)
    bus: EventBus | None = session.info.get(BUS_KEY)
    if not pending or bus is None:
        return
    for channel, event in pending:
        bus.publish(channel, event)


@sa_event.listens_for(Session, "after_rollback")
def _drop_after_rollback(session: Session) -> None:
    session.info.pop(PENDING_EVENTS_KEY, None)
