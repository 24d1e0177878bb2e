"""The per-process team/area cache: used only where allowed, cleared by changes, expires by TTL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert

from contact_store import org_cache
from contact_store.db import Store, make_engine
from contact_store.events import InProcessBus
from contact_store.models import Area
from tests.support.databases import fresh_database, truncate_all


@pytest.fixture(scope="module")
def real_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    with fresh_database(tmp_path_factory.mktemp("orgcache"), "org_cache") as url:
        engine = make_engine(url)
        yield engine
        engine.dispose()


@pytest.fixture
def real_store(real_engine: Engine, tmp_path: Path) -> Iterator[Store]:
    org_cache.invalidate()
    yield Store(real_engine, InProcessBus())
    truncate_all(real_engine)
    org_cache.invalidate()


def _area_id(store: Store, postcode: str) -> int | None:
    with store.session_scope() as session:
        return org_cache.snapshot(session).area_id(postcode)


def _insert_elsewhere(engine: Engine, name: str, prefixes: list[str]) -> None:
    """A change the ORM events of this process do not see (another worker, SQL by hand)."""
    with engine.begin() as conn:
        conn.execute(insert(Area.__table__).values(name=name, postcode_prefixes=prefixes))  # type: ignore[attr-defined]


def test_changes_from_elsewhere_are_seen_after_the_ttl(
    real_store: Store, real_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _area_id(real_store, "PR1 2AB") is None  # now cached: no areas
    _insert_elsewhere(real_engine, "South", ["PR1"])
    assert _area_id(real_store, "PR1 2AB") is None  # still the cached snapshot
    monkeypatch.setattr(org_cache, "ORG_CACHE_TTL", 0.0)
    assert _area_id(real_store, "PR1 2AB") is not None


def test_an_orm_change_clears_the_cache_at_once(real_store: Store) -> None:
    assert _area_id(real_store, "LA1 1AA") is None
    with real_store.session_scope() as session:
        session.add(Area(name="North", postcode_prefixes=["LA"]))
    assert _area_id(real_store, "LA1 1AA") is not None


def test_uncommitted_changes_are_seen_by_their_session_only_and_never_cached(real_store: Store) -> None:
    assert _area_id(real_store, "BB1 1AA") is None
    session = real_store.new_session()
    try:
        session.add(Area(name="East", postcode_prefixes=["BB"]))
        session.flush()
        assert org_cache.snapshot(session).area_id("BB1 1AA") is not None
        session.rollback()
    finally:
        session.close()
    assert _area_id(real_store, "BB1 1AA") is None


def test_sessions_on_an_outer_transaction_never_use_the_cache(store: Store) -> None:
    with store.session_scope() as session:  # the test store joins a rolled-back transaction
        assert org_cache.CACHE_ENGINE_KEY not in session.info


def test_a_cached_area_deleted_elsewhere_leaves_the_report_without_an_area(
    real_store: Store, real_engine: Engine, tmp_path: Path
) -> None:
    from sqlalchemy import delete, select

    from contact_store.models import Report
    from contact_store.reports import ReportCreate, file_report
    from tests.conftest import make_test_settings

    _insert_elsewhere(real_engine, "South", ["PR1"])
    area_id = _area_id(real_store, "PR1 2AB")
    assert area_id is not None  # cached now
    with real_engine.begin() as conn:  # deleted by another process: this one's cache is stale
        conn.execute(delete(Area.__table__))  # type: ignore[attr-defined]
    assert _area_id(real_store, "PR1 2AB") == area_id
    settings = make_test_settings(tmp_path, str(real_engine.url))
    report_in = ReportCreate(form_slug="crime", answers={}, summary="Bike", postcode="PR1 2AB")
    with real_store.session_scope() as session:
        filed = file_report(session=session, settings=settings, report_in=report_in)
    assert filed.area_id is None  # not a foreign-key failure (a 500) for the person reporting
    with real_engine.connect() as conn:
        stored = conn.execute(select(Report.__table__.c.area_id)).scalar_one()  # type: ignore[attr-defined]
    assert stored is None
