from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session

from contact_store.models import Person
from tests.builders import make_person


def test_sqlite_runs_wal_with_foreign_keys(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() >= 5000


def test_timestamps_come_back_aware_utc(session: Session) -> None:
    local = datetime(2026, 6, 1, 12, 0, tzinfo=timezone(timedelta(hours=1)))
    person = make_person(session, last_contact_at=local)
    session.expire_all()
    loaded = session.get(Person, person.id)
    assert loaded is not None and loaded.last_contact_at is not None
    assert loaded.last_contact_at.tzinfo is not None
    assert loaded.last_contact_at == datetime(2026, 6, 1, 11, 0, tzinfo=UTC)


def test_naive_timestamps_are_refused(session: Session) -> None:
    with pytest.raises(Exception, match="naive"):
        make_person(session, last_contact_at=datetime(2026, 1, 1))


def test_concurrent_sqlite_writers_never_see_database_locked(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Many threads appending to one conversation: every seq is allocated exactly once."""
    from concurrent.futures import ThreadPoolExecutor

    from contact_store.db import make_engine
    from contact_store.migrate import upgrade_database

    url = f"sqlite:///{tmp_path / 'concurrent.db'}"
    upgrade_database(url)
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO conversation (id, token_hash, status, visitor_name, topic, language, "
                "priority, danger_flag, last_seq, queued_at, thrive) "
                "VALUES ('c1', 'x', 'active', '', '', 'en', 0, 0, 0, "
                "CURRENT_TIMESTAMP, '{}')"
            )
        )

    def append(i: int) -> int:
        with engine.begin() as conn:
            seq = conn.execute(text("SELECT last_seq FROM conversation WHERE id = 'c1'")).scalar_one() + 1
            conn.execute(text("UPDATE conversation SET last_seq = :s WHERE id = 'c1'"), {"s": seq})
            return int(seq)

    with ThreadPoolExecutor(max_workers=16) as pool:
        seqs = list(pool.map(append, range(400)))
    engine.dispose()
    assert sorted(seqs) == list(range(1, 401))
