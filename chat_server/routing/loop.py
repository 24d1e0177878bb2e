"""The routing loop: one asyncio task per worker, started in the app's lifespan.

Each pass (every `routing_interval_seconds`, and at once when the queue channel reports a change):
stamp presence, expire offers, requeue chats of operators past their grace period, abandon chats
whose visitor left, offer waiting chats to operators, and publish changed queue positions to the
waiting visitors. Every step is a conditional UPDATE in the store, so several workers running
this loop at once agree (they race only to make the same change, and one wins).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from sqlmodel import Session

from chat_server.chat.presence import TOUCH_EVERY_SECONDS, Presence, touch_operators, touch_visitors
from chat_server.routing import queue as queue_service
from chat_server.routing import service
from contact_store import telemetry
from contact_store.db import Store
from contact_store.events import channels
from contact_store.group_commit import run_db
from contact_store.settings import Settings

logger = logging.getLogger(__name__)

# Events arriving together are handled in one pass (a burst of queue changes costs one pass).
DEBOUNCE_SECONDS = 0.02


class RoutingLoop:
    def __init__(self, store: Store, settings: Settings, presence: Presence) -> None:
        self.store = store
        self.settings = settings
        self.presence = presence
        self.touched_at = 0.0
        self.published: dict[str, tuple[int, int | None]] = {}
        self.queue_dirty = True
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="routing-loop")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task

    async def run(self) -> None:
        sub = self.store.bus.subscribe()
        await sub.add(channels.QUEUE)
        try:
            while True:
                try:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(sub.get(), timeout=self.settings.routing_interval_seconds)
                        self.queue_dirty = True
                        await asyncio.sleep(DEBOUNCE_SECONDS)
                        while not sub.queue.empty():
                            sub.queue.get_nowait()
                    await self.pass_once()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    logger.exception("routing pass failed; retrying")
                    await asyncio.sleep(self.settings.routing_interval_seconds)
        finally:
            await sub.close()

    async def pass_once(self) -> None:
        now = time.monotonic()
        if now - self.touched_at >= TOUCH_EVERY_SECONDS:
            self.touched_at = now
            for ids in self.presence.visitor_batches():
                await run_db(self.store, touch_visitors, ids=ids)
            if ops := self.presence.operator_ids():
                await run_db(self.store, touch_operators, ids=ops)
        changed, expired, offered = await run_db(self.store, self._maintain)
        if expired:
            telemetry.OFFERS_TIMED_OUT.inc(expired)
        if offered:
            telemetry.OFFERS.inc(offered)
        if changed or self.queue_dirty:
            self.queue_dirty = False
            await self.publish_positions()

    def _maintain(self, *, session: Session) -> tuple[int, int, int]:
        """(changes, offers timed out, offers made); counted by the caller once committed."""
        s = self.settings
        expired = queue_service.expire_offers(session=session, settings=s)
        n = expired + queue_service.requeue_lost_operators(session=session, settings=s)
        n += queue_service.abandon_gone_visitors(session=session, settings=s)
        offered = service.assign_waiting(session=session, settings=s)
        return n + offered, expired, offered

    async def publish_positions(self) -> None:
        current = await run_db(self.store, queue_service.positions, settings=self.settings)
        for cid, (pos, wait) in current.items():
            if self.published.get(cid) != (pos, wait):
                self.store.bus.publish(channels.conversation(cid), queue_service.queue_frame(pos, wait))
        self.published = current
