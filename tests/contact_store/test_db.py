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
