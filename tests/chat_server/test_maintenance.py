"""The housekeeping tick: which jobs run when, what they remove, and failures never escape."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from chat_server import maintenance
from chat_server.maintenance import PURGE_EVERY, RETENTION_EVERY, RETRY_AFTER, Maintenance
from contact_store.clock import utcnow
from contact_store.db import Store
from contact_store.models import FormSession, Person, ReportStatus
from contact_store.settings import Settings
from tests.builders import make_person, make_report
from web_forms.journey.service import FORM_SESSION_IDLE


def test_tick_erases_expired_contacts_and_purges_abandoned_journeys(
    store: Store, session: Session, settings: Settings
) -> None:
    settings.retention_days = 30
    long_ago = utcnow() - timedelta(days=40)
    person = make_person(session, name="Sam Old", phone_e164="+447700900111", created_at=long_ago)
    make_report(
        session, person_id=person.id, status=ReportStatus.CLOSED, received_at=long_ago, closed_at=long_ago
    )
    idle = utcnow() - FORM_SESSION_IDLE - timedelta(minutes=5)
    session.add(
        FormSession(
            id=secrets.token_hex(16), form_slug="crime", submit_token="t", updated_at=idle, created_at=idle
        )
    )
    session.add(FormSession(id=secrets.token_hex(16), form_slug="crime", submit_token="t"))  # in use
    session.commit()

    ran = Maintenance(store=store, settings=settings).tick()

    assert ran.pop("facts") is not None  # the dashboards' facts were brought up to date
    assert ran == {"retention": 1, "form_purge": 1}
    session.expire_all()
    assert session.get(Person, person.id).erased_at is not None  # type: ignore[union-attr]
    assert len(session.exec(select(FormSession)).all()) == 1


def _without_facts(jobs):  # type: ignore[no-untyped-def]
    return lambda self: [job for job in jobs(self) if job[0] != "facts"]


def test_schedule_daily_and_hourly_and_failures_are_logged_and_retried(
    store: Store, settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[str] = []
    broken = {"on": True}

    def fake_erase(**_: object) -> int:
        calls.append("retention")
        if broken["on"]:
            raise RuntimeError("database went away")
        return 3

    def fake_purge(**_: object) -> int:
        calls.append("form_purge")
        return 2

    monkeypatch.setattr(maintenance, "erase_expired", fake_erase)
    monkeypatch.setattr(maintenance, "purge_idle", fake_purge)
    # The fact refresh runs every few minutes; this test is about the daily and hourly jobs.
    monkeypatch.setattr(maintenance.Maintenance, "_jobs", _without_facts(maintenance.Maintenance._jobs))
    m = Maintenance(store=store, settings=settings)
    t0 = utcnow()

    assert m.tick(t0) == {"retention": None, "form_purge": 2}  # the failure did not stop the purge
    assert "maintenance job retention failed" in caplog.text
    assert m.tick(t0 + timedelta(minutes=1)) == {}  # nothing due
    broken["on"] = False
    assert m.tick(t0 + RETRY_AFTER) == {"retention": 3}  # retried soon after failing
    assert m.tick(t0 + PURGE_EVERY) == {"form_purge": 2}  # hourly
    assert m.tick(t0 + PURGE_EVERY + timedelta(minutes=30)) == {}
    assert m.tick(t0 + RETRY_AFTER + RETENTION_EVERY) == {"retention": 3, "form_purge": 2}  # daily
    assert calls.count("retention") == 3
