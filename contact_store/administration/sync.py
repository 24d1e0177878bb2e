"""Following administrators' changes on one worker: the `config.changed` bus event (protocol in
the package docstring)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading

from contact_store import org_cache
from contact_store.administration import config
from contact_store.db import Store
from contact_store.events import RESYNC_EVENT, Subscription
from contact_store.settings import Settings

logger = logging.getLogger(__name__)


def _refresh(store: Store, settings: Settings) -> None:
    with store.session_scope() as session:
        config.reload(session=session, settings=settings)
    org_cache.invalidate()


# How long a worker that could not read the administrators' settings at start-up waits to try again.
RETRY_SECONDS = 5.0


class ConfigFollower:
    """Keeps one worker's settings and organisation cache in step with the database."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self._store = store
        self._settings = settings
        self._task: asyncio.Task[None] | None = None
        self.refreshes = 0  # how many times this worker re-read (tests and health checks)

    async def start(self) -> None:
        """Subscribe, then read the overrides (no change can fall between), then follow.

        A worker starts even when the database or Redis cannot be reached (readiness then says so,
        `chat_server/health.py`): it serves the environment's settings and keeps trying every
        `RETRY_SECONDS` until it has read the overrides and follows them."""
        if self._store.bind is not None:
            # A store bound to a test's rolled-back connection: a background reader would share
            # that connection across threads. Such tests call `config.reload` themselves.
            return
        try:
            subscription = await self._subscribe_and_read()
        except Exception:
            logger.warning("administrators' settings not read at start-up; retrying", exc_info=True)
            self._task = asyncio.create_task(self._retry_then_follow(), name="config-follower")
            return
        self._task = asyncio.create_task(self._follow(subscription), name="config-follower")

    async def _subscribe_and_read(self) -> Subscription:
        subscription = self._store.bus.subscribe()
        try:
            await subscription.add(config.CONFIG_CHANNEL)
            await self.refresh()
        except BaseException:
            await subscription.close()
            raise
        return subscription

    async def _retry_then_follow(self) -> None:
        while True:
            await asyncio.sleep(RETRY_SECONDS)
            try:
                subscription = await self._subscribe_and_read()
            except Exception:
                logger.warning("administrators' settings still not read; retrying")
                continue
            await self._follow(subscription)
            return

    async def refresh(self) -> None:
        await asyncio.to_thread(_refresh, self._store, self._settings)
        self.refreshes += 1

    async def _follow(self, subscription: Subscription) -> None:
        async with subscription:
            async for _channel, event in subscription:
                if event.get("type") in (config.CONFIG_CHANGED["type"], RESYNC_EVENT["type"]):
                    try:
                        await self.refresh()
                    except Exception:
                        # The database was unreachable: the TTL of the organisation cache and the
                        # next event still bring this worker up to date.
                        logger.exception("could not re-read administrators' settings")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


# How often a process without an event loop (the standalone `firstcontact worker`) re-reads the
# administrators' settings: its texts use the force's name, the survey questions and the wording.
POLL_SECONDS = 10.0


def poll_in_thread(
    *, store: Store, settings: Settings, stop: threading.Event, every: float = POLL_SECONDS
) -> threading.Thread:
    """Re-read the settings now and then every `every` seconds until `stop` is set."""

    def _run() -> None:
        while True:
            try:
                _refresh(store, settings)
            except Exception:
                logger.exception("could not re-read administrators' settings")
            if stop.wait(every):
                return

    thread = threading.Thread(target=_run, name="config-poll", daemon=True)
    thread.start()
    return thread
