"""Liveness (`/health/live`) and readiness (`/health/ready`): each failing check is named."""

from __future__ import annotations

from pathlib import Path

from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from chat_server.app import create_app
from contact_store.db import Store, make_engine
from contact_store.events import InProcessBus, make_bus
from contact_store.migrate import alembic_config, upgrade_database
from contact_store.settings import Settings
from tests.conftest import free_port


def ready(settings: Settings, store: Store) -> tuple[int, dict[str, object]]:
    with TestClient(create_app(settings, store=store)) as c:
        r = c.get("/health/ready")
    return r.status_code, r.json()


def sqlite_store(path: Path) -> Store:
    return Store(make_engine(f"sqlite:///{path.as_posix()}"), InProcessBus())


def test_live_needs_no_dependency(settings: Settings) -> None:
    broken = Store(create_engine("sqlite:////nonexistent-dir/x.db"), InProcessBus())
    with TestClient(create_app(settings, store=broken)) as c:
        r = c.get("/health/live")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def test_ready_when_everything_answers(client: TestClient, settings: Settings) -> None:
    r = client.get("/health/ready")
    assert r.status_code == 200, r.text
    expected = {"database": "ok", "migrations": "ok"} | ({"redis": "ok"} if settings.redis_url else {})
    assert r.json() == {"status": "ok", "checks": expected}


def test_the_old_health_url_still_answers(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"


def test_database_unreachable(settings: Settings) -> None:
    broken = Store(create_engine("sqlite:////nonexistent-dir/x.db"), InProcessBus())
    status, body = ready(settings.model_copy(update={"redis_url": None}), broken)
    assert status == 503
    assert body == {"status": "error", "checks": {"database": "error", "migrations": "unknown"}}


def test_migrations_behind(settings: Settings, tmp_path: Path) -> None:
    script = ScriptDirectory.from_config(alembic_config(""))
    head = script.get_revision(script.get_current_head())
    assert head is not None and isinstance(head.down_revision, str)
    path = tmp_path / "behind.db"
    upgrade_database(f"sqlite:///{path.as_posix()}", revision=head.down_revision)
    status, body = ready(settings.model_copy(update={"redis_url": None}), sqlite_store(path))
    assert status == 503
    assert body == {"status": "error", "checks": {"database": "ok", "migrations": "behind"}}


def test_empty_database_is_behind(settings: Settings, tmp_path: Path) -> None:
    status, body = ready(settings.model_copy(update={"redis_url": None}), sqlite_store(tmp_path / "e.db"))
    assert status == 503 and body["checks"] == {"database": "ok", "migrations": "behind"}


def test_migrations_ahead(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "ahead.db"
    url = f"sqlite:///{path.as_posix()}"
    upgrade_database(url)
    engine = create_engine(url)
    with engine.begin() as conn:  # a newer release migrated this database
        conn.execute(text("UPDATE alembic_version SET version_num = 'f00dfacef00d'"))
    engine.dispose()
    status, body = ready(settings.model_copy(update={"redis_url": None}), sqlite_store(path))
    assert status == 503 and body["checks"] == {"database": "ok", "migrations": "ahead"}


def test_redis_configured_but_closed(settings: Settings, database_url: str) -> None:
    closed = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    configured = settings.model_copy(update={"redis_url": closed})
    engine = make_engine(database_url)
    try:
        status, body = ready(configured, Store(engine, make_bus(closed)))
    finally:
        engine.dispose()
    assert status == 503
    assert body == {"status": "error", "checks": {"database": "ok", "migrations": "ok", "redis": "error"}}
