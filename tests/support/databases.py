"""Test databases: a fresh, migrated database per test run on SQLite or PostgreSQL.

PostgreSQL runs use a new database named fc_test_<random> on the server given by
FIRSTCONTACT_TEST_DATABASE_URL, so concurrent runs never see each other's data; it is dropped at
the end. Alembic makes every schema, as in production.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text

from contact_store.migrate import scratch_postgres_database, upgrade_database
from contact_store.models import metadata

TEST_DATABASE_URL = os.environ.get("FIRSTCONTACT_TEST_DATABASE_URL", "")
TEST_REDIS_URL = os.environ.get("FIRSTCONTACT_TEST_REDIS_URL", "")


@contextmanager
def fresh_database(tmp_dir: Path, name: str = "test") -> Iterator[str]:
    """Yield the URL of a new, migrated database; remove it afterwards."""
    if not TEST_DATABASE_URL or TEST_DATABASE_URL.startswith("sqlite"):
        url = f"sqlite:///{(tmp_dir / f'{name}.db').as_posix()}"
        upgrade_database(url)
        yield url
        return
    with scratch_postgres_database(TEST_DATABASE_URL, prefix=f"fc_test_{name}") as url:
        upgrade_database(url)
        yield url


def assert_store_invariants(engine) -> None:  # type: ignore[no-untyped-def]
    """Fail the test whose run broke one of the store's invariants (`contact_store.invariants`)."""
    import pytest
    from sqlmodel import Session

    from contact_store.invariants import check_store

    with Session(engine) as session:
        result = check_store(session=session)
    if not result.ok:
        pytest.fail("The store's invariants are broken:\n" + result.describe())


def truncate_all(engine) -> None:  # type: ignore[no-untyped-def]
    """Empty every table (for the live-server database shared by a test module).

    The live server's background tasks (the chat routing loop) keep running, so on PostgreSQL the
    TRUNCATE can deadlock with one of their short transactions; it is simply retried.
    """
    from sqlalchemy.exc import OperationalError

    for attempt in range(5):
        try:
            _truncate_all_once(engine)
            return
        except OperationalError:
            if attempt == 4:
                raise
            time.sleep(0.1)


def _truncate_all_once(engine) -> None:  # type: ignore[no-untyped-def]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(metadata.sorted_tables):
                conn.execute(table.delete())
