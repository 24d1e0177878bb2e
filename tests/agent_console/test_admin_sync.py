"""Two workers in one process, each with its own engine, settings and config follower, sharing one
database and the bus (in-process here; each its own Redis subscriber when
FIRSTCONTACT_TEST_REDIS_URL is set): a change saved through one reaches the other's settings and
organisation at once, and the next chat from the new POD's postcode is routed to it."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import pytest

from agent_console.admin import org
from chat_server.chat.service import start_chat
from contact_store import org_cache
from contact_store.administration import config
from contact_store.administration.sync import ConfigFollower
from contact_store.db import Store, make_engine
from contact_store.events import EventBus, make_bus
from contact_store.models import Conversation
from tests.builders import make_operator
from tests.conftest import make_test_settings
from tests.support.databases import TEST_REDIS_URL, fresh_database

pytestmark = pytest.mark.anyio
ALL_DAY = dict.fromkeys(("mon", "tue", "wed", "thu", "fri", "sat", "sun"), "00:00-24:00")
CLOSED = dict.fromkeys(ALL_DAY, "")


async def _until(check: object, seconds: float = 5.0) -> None:
    """Wait for the followers (a bound, not a timing claim: the cache TTL is 30 s)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not check():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "the change did not arrive"
        await asyncio.sleep(0.02)


async def test_a_change_on_one_worker_reaches_the_other(tmp_path: Path) -> None:
    with fresh_database(tmp_path, "sync") as url:
        prefix = f"fctest-{secrets.token_hex(4)}"
        shared: EventBus = make_bus(None)
        stores: list[Store] = []
        followers: list[ConfigFollower] = []
        all_settings = []
        for name in ("a", "b"):
            settings = make_test_settings(
                tmp_path / name,
                url,
                redis_url=TEST_REDIS_URL or None,
                redis_channel_prefix=prefix,
                chat_opening_hours=CLOSED,
            )
            bus = make_bus(TEST_REDIS_URL, prefix=prefix) if TEST_REDIS_URL else shared
            if bus is not shared or not stores:
                await bus.start()
            store = Store(make_engine(url), bus, settings=settings)
            stores.append(store)
            all_settings.append(settings)
            followers.append(ConfigFollower(store, settings))
        try:
            for follower in followers:
                await follower.start()
            a, b = stores
            settings_a, settings_b = all_settings
            with b.session_scope() as s:  # B reads (and caches) the organisation first
                assert org_cache.snapshot(s).area_id("ZZ9 1AA") is None
            seen = followers[1].refreshes
            with a.session_scope() as s:
                admin = make_operator(s, role="admin")
                config.save(
                    session=s,
                    settings=settings_a,
                    key="force_name",
                    value="Heddlu Glan-yr-Afon",
                    operator_id=admin.id,
                )
                area, errors = org.save_area(
                    session=s,
                    area=None,
                    form=org.AreaForm(
                        name="Riverside", postcodes="ZZ9", own_hours=True, hours=ALL_DAY, closed_days=""
                    ),
                    operator_id=admin.id,
                )
                assert not errors and area is not None
                area_id = area.id
            await _until(
                lambda: followers[1].refreshes > seen and settings_b.force_name == "Heddlu Glan-yr-Afon"
            )
            assert settings_a.force_name == "Heddlu Glan-yr-Afon"  # A follows its own change too
            with b.session_scope() as s:
                started = start_chat(
                    session=s, settings=settings_b, name="Alex", topic="crime", postcode="zz9 1aa"
                )
                assert s.get(Conversation, started.conversation_id).area_id == area_id  # type: ignore[union-attr]
            # Removing the override returns B to the environment's value.
            seen = followers[1].refreshes
            with a.session_scope() as s:
                config.save(session=s, settings=settings_a, key="force_name", value=None, operator_id=None)
            await _until(lambda: followers[1].refreshes > seen)
            assert settings_b.force_name == "Northshire Police"
        finally:
            for follower in followers:
                await follower.stop()
            for store in stores:
                if store.bus is not shared:
                    await store.bus.stop()
                store.engine.dispose()
            await shared.stop()
