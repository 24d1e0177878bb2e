"""Presence touches: connected chats are stamped; a row being written is skipped, never waited for."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from chat_server.chat.presence import touch_visitors
from contact_store.clock import utcnow
from contact_store.db import Store, make_engine
from contact_store.events import InProcessBus
from contact_store.models import Conversation
from tests.builders import make_conversation
from tests.support.databases import fresh_database


@pytest.fixture
def shared_store(tmp_path: Path) -> Iterator[Store]:
    """A fresh database that two connections use at once (no rolled-back test transaction)."""
    with fresh_database(tmp_path, "presence") as url:
        engine = make_engine(url)
        yield Store(engine, InProcessBus())
        engine.dispose()


def _seen_at(store: Store, ids: list[str]) -> dict[str, object]:
    with store.session_scope() as s:
        return {cid: s.get(Conversation, cid).visitor_seen_at for cid in ids}  # type: ignore[union-attr]


def test_touch_stamps_every_connected_chat(shared_store: Store) -> None:
    long_ago = utcnow() - timedelta(hours=1)
    with shared_store.session_scope() as s:
        ids = [make_conversation(s, visitor_seen_at=long_ago).id for _ in range(3)]
        other = make_conversation(s, visitor_seen_at=long_ago).id
    shared_store.run_in_session(touch_visitors, ids=ids)
    seen = _seen_at(shared_store, [*ids, other])
    assert all(seen[cid] > long_ago for cid in ids)  # type: ignore[operator]
    assert seen[other] == long_ago


def test_touch_skips_a_row_another_transaction_holds(shared_store: Store) -> None:
    if shared_store.engine.dialect.name != "postgresql":
        pytest.skip("row locks: PostgreSQL only (SQLite has one writer)")
    long_ago = utcnow() - timedelta(hours=1)
    with shared_store.session_scope() as s:
        busy, free = (make_conversation(s, visitor_seen_at=long_ago).id for _ in range(2))
    with shared_store.engine.connect() as writer:
        writer.begin()
        # As a message batch does: the conversation row stays locked until the batch commits.
        writer.execute(text("UPDATE conversation SET last_seq = last_seq + 1 WHERE id = :id"), {"id": busy})

        def touch(*, session: object) -> None:
            # A touch that waited for the lock would fail here instead of hanging the test.
            session.execute(text("SET LOCAL lock_timeout = '10s'"))  # type: ignore[attr-defined]
            touch_visitors(session=session, ids=[busy, free])  # type: ignore[arg-type]

        shared_store.run_in_session(touch)
        writer.rollback()
    seen = _seen_at(shared_store, [busy, free])
    assert seen[busy] == long_ago, "skipped while locked (stamped at the next touch)"
    assert seen[free] > long_ago  # type: ignore[operator]
