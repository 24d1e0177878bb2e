"""The event bus delivers after commit, never on rollback, on both backends."""

import asyncio

import pytest

from contact_store.db import Store
from contact_store.events import InProcessBus, RedisBus, emit
from contact_store.settings import Settings
from tests.support.databases import TEST_REDIS_URL


async def _next(sub, timeout: float = 2.0):  # type: ignore[no-untyped-def]
    return await asyncio.wait_for(sub.get(), timeout)


@pytest.mark.anyio
async def test_events_publish_only_after_commit(store: Store) -> None:
    await store.bus.start()
    try:
        sub = store.bus.subscribe()
        await sub.add("test-channel")

        def committed() -> None:
            with store.session_scope() as s:
                emit(s, "test-channel", {"n": 1})

        def rolled_back() -> None:
            with store.session_scope() as s:
                emit(s, "test-channel", {"n": 2})
                raise RuntimeError("boom")

        await asyncio.to_thread(committed)
        with pytest.raises(RuntimeError):
            await asyncio.to_thread(rolled_back)
        channel, event = await _next(sub)
        assert (channel, event) == ("test-channel", {"n": 1})
        with pytest.raises(TimeoutError):
            await _next(sub, 0.3)
        await sub.close()
    finally:
        await store.bus.stop()


@pytest.mark.anyio
async def test_in_process_bus_fans_out_and_unsubscribes() -> None:
    bus = InProcessBus()
    await bus.start()
    a, b = bus.subscribe(), bus.subscribe()
    await a.add("x")
    await b.add("x", "y")
    bus.publish("x", {"v": 1})
    bus.publish("y", {"v": 2})
    assert (await _next(a))[1] == {"v": 1}
    assert (await _next(b))[1] == {"v": 1}
    assert (await _next(b))[1] == {"v": 2}
    await a.remove("x")
    bus.publish("x", {"v": 3})
    assert (await _next(b))[1] == {"v": 3}
    with pytest.raises(TimeoutError):
        await _next(a, 0.2)
    await bus.stop()


@pytest.mark.anyio
@pytest.mark.skipif(not TEST_REDIS_URL, reason="FIRSTCONTACT_TEST_REDIS_URL not set")
async def test_redis_bus_delivers_across_instances(settings: Settings) -> None:
    """Two buses stand for two worker processes sharing one Redis."""
    one = RedisBus(TEST_REDIS_URL, prefix=settings.redis_channel_prefix)
    two = RedisBus(TEST_REDIS_URL, prefix=settings.redis_channel_prefix)
    await one.start()
    await two.start()
    try:
        sub = two.subscribe()
        await sub.add("conversation:abc")
        assert await one.ping()
        one.publish("conversation:abc", {"type": "message", "seq": 1})
        await asyncio.to_thread(one.publish, "conversation:abc", {"type": "message", "seq": 2})
        got = [(await _next(sub))[1]["seq"], (await _next(sub))[1]["seq"]]
        assert sorted(got) == [1, 2]
        await sub.close()
    finally:
        await one.stop()
        await two.stop()


@pytest.mark.anyio
@pytest.mark.skipif(not TEST_REDIS_URL, reason="FIRSTCONTACT_TEST_REDIS_URL not set")
async def test_redis_publish_many_from_a_thread_keeps_order(settings: Settings) -> None:
    """A group-committed batch's events go out in one pipeline, in commit order."""
    one = RedisBus(TEST_REDIS_URL, prefix=settings.redis_channel_prefix)
    two = RedisBus(TEST_REDIS_URL, prefix=settings.redis_channel_prefix)
    await one.start()
    await two.start()
    try:
        sub = two.subscribe()
        await sub.add("reports")
        batch = [("reports", {"n": n}) for n in range(5)]
        await asyncio.to_thread(one.publish_many, batch)
        assert [(await _next(sub))[1]["n"] for _ in range(5)] == [0, 1, 2, 3, 4]
        await sub.close()
    finally:
        await one.stop()
        await two.stop()


@pytest.mark.anyio
@pytest.mark.skipif(not TEST_REDIS_URL, reason="FIRSTCONTACT_TEST_REDIS_URL not set")
async def test_redis_bus_stops_twice_without_hanging(settings: Settings) -> None:
    """Two apps sharing one bus both stop it on shutdown: the second stop returns at once."""
    bus = RedisBus(TEST_REDIS_URL, prefix=settings.redis_channel_prefix)
    await bus.start()
    assert await bus.ping()
    async with asyncio.timeout(10):
        await bus.stop()
        await bus.stop()
    assert not await bus.ping()
