"""The outbox worker: atomic claims, backoff, deadlines, permanent failures, lease recovery, and
exactly-once delivery with two concurrent workers against a flaky provider."""

from __future__ import annotations

import random
import threading
from collections import Counter
from datetime import timedelta
from pathlib import Path

from sqlalchemy import update
from sqlmodel import Session, select

from contact_store.clock import utcnow
from contact_store.db import Store, make_engine
from contact_store.events import InProcessBus
from contact_store.models import SmsMessage, SmsStatus
from contact_store.outbox import queue_sms
from contact_store.settings import Settings
from contact_store.sms.providers import LogProvider, Outgoing, PermanentFailure, TemporaryFailure
from contact_store.sms.worker import (
    BACKOFF_CAP,
    backoff_delay,
    claim_due,
    recover_stale_claims,
    release_claims,
    run_once,
)
from tests.builders import make_person
from tests.support.databases import fresh_database
from tests.support.sms_consent import texting_chat

NUMBER = "07700 900123"


class ScriptedProvider:
    """Answers send() from a script of outcomes; records every call."""

    name = "fake"

    def __init__(self, outcomes: list[str], known: dict[str, str] | None = None) -> None:
        self.outcomes = outcomes
        self.sends: list[str] = []
        self.lookups: list[str] = []
        self.known = known or {}

    def send(self, outgoing: Outgoing) -> str:
        self.sends.append(outgoing.reference)
        outcome = self.outcomes.pop(0) if self.outcomes else "ok"
        if outcome == "temp":
            raise TemporaryFailure("503")
        if outcome == "perm":
            raise PermanentFailure("400 bad number")
        self.known[outgoing.reference] = f"p-{outgoing.row_id}"
        return f"p-{outgoing.row_id}"

    def lookup(self, outgoing: Outgoing) -> str | None:
        self.lookups.append(outgoing.reference)
        return self.known.get(outgoing.reference)


def _queue(session: Session, settings: Settings, **kw: object) -> SmsMessage:
    chat = texting_chat(session)
    message = queue_sms(
        session=session,
        settings=settings,
        conversation_id=chat.id,
        to=NUMBER,
        template="free_text",
        personalisation={"message": "hello"},
        kind="update",
        **kw,
    )  # type: ignore[arg-type]
    assert message is not None
    session.commit()
    return message


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    rng = random.Random(1)
    delays = [backoff_delay(n, rng=rng) for n in range(1, 12)]
    assert timedelta(seconds=15) <= delays[0] <= timedelta(seconds=30)
    assert timedelta(seconds=60) <= delays[2] <= timedelta(seconds=120)
    assert all(d <= BACKOFF_CAP for d in delays)
    assert len({d.total_seconds() for d in delays[:5]}) == 5


def test_log_provider_sends_and_rows_are_claimed_once(
    store: Store, session: Session, settings: Settings
) -> None:
    message = _queue(session, settings)
    with store.session_scope() as s:
        first = claim_due(session=s, settings=settings, worker_id="a")
    with store.session_scope() as s:
        second = claim_due(session=s, settings=settings, worker_id="b")
    assert [c.id for c in first] == [message.id] and second == []
    # Put it back and let a full pass send it with the log provider.
    session.execute(update(SmsMessage).where(SmsMessage.id == message.id).values(status="queued"))  # type: ignore[arg-type]
    session.commit()
    tick = run_once(store=store, settings=settings, provider=LogProvider(), worker_id="w")
    assert tick.sent == 1
    session.expire_all()
    row = session.get(SmsMessage, message.id)
    assert row is not None and row.status == SmsStatus.SENT and row.provider_message_id == f"log-{message.id}"


def test_temporary_failure_retries_later_then_gives_up(
    store: Store, session: Session, settings: Settings
) -> None:
    settings.sms_max_attempts = 2
    message = _queue(session, settings)
    provider = ScriptedProvider(["temp", "temp"])
    run_once(store=store, settings=settings, provider=provider, worker_id="w")
    session.expire_all()
    row = session.get(SmsMessage, message.id)
    assert row is not None and row.status == SmsStatus.QUEUED and row.attempts == 1
    assert row.next_attempt_at > utcnow()
    # Not due yet: nothing happens.
    assert run_once(store=store, settings=settings, provider=provider, worker_id="w").claimed == 0
    row.next_attempt_at = utcnow() - timedelta(seconds=1)
    session.add(row)
    session.commit()
    run_once(store=store, settings=settings, provider=provider, worker_id="w")
    session.expire_all()
    row = session.get(SmsMessage, message.id)
    assert row is not None and row.status == SmsStatus.FAILED and "gave up after 2" in (row.last_error or "")
    assert provider.lookups == [f"fc-sms-{message.id}"]  # the retry asked first


def test_deadline_stops_retries(store: Store, session: Session, settings: Settings) -> None:
    message = _queue(session, settings)
    message.deadline_at = utcnow() + timedelta(seconds=5)
    session.add(message)
    session.commit()
    run_once(store=store, settings=settings, provider=ScriptedProvider(["temp"]), worker_id="w")
    session.expire_all()
    row = session.get(SmsMessage, message.id)
    assert row is not None and row.status == SmsStatus.FAILED and "deadline" in (row.last_error or "")


def test_permanent_failure_is_not_retried(store: Store, session: Session, settings: Settings) -> None:
    message = _queue(session, settings)
    provider = ScriptedProvider(["perm"])
    run_once(store=store, settings=settings, provider=provider, worker_id="w")
    session.expire_all()
    row = session.get(SmsMessage, message.id)
    assert row is not None and row.status == SmsStatus.FAILED and "bad number" in (row.last_error or "")
    assert len(provider.sends) == 1


def test_stale_claim_is_recovered_and_not_sent_twice(
    store: Store, session: Session, settings: Settings
) -> None:
    message = _queue(session, settings)
    with store.session_scope() as s:
        (claim,) = claim_due(session=s, settings=settings, worker_id="dead-worker")
    # The dead worker's request reached the provider before it died.
    provider = ScriptedProvider([], known={claim.outgoing.reference: "p-earlier"})
    with store.session_scope() as s:
        assert recover_stale_claims(session=s, settings=settings) == 0  # lease not expired yet
        later = utcnow() + timedelta(seconds=settings.sms_claim_lease_seconds + 1)
        assert recover_stale_claims(session=s, settings=settings, now=later) == 1
    session.execute(
        update(SmsMessage)
        .where(SmsMessage.id == message.id)
        .values(next_attempt_at=utcnow() - timedelta(seconds=1))  # type: ignore[arg-type]
    )
    session.commit()
    run_once(store=store, settings=settings, provider=provider, worker_id="w2")
    session.expire_all()
    row = session.get(SmsMessage, message.id)
    assert row is not None and row.status == SmsStatus.SENT and row.provider_message_id == "p-earlier"
    assert provider.sends == []  # looked up, found, never sent again


def test_opted_out_survey_text_is_cancelled_at_claim(
    store: Store, session: Session, settings: Settings
) -> None:
    person = make_person(session, phone_e164="+447700900123")
    message = _queue(session, settings, essential=False, person_id=person.id)
    person.sms_opted_out_at = utcnow()
    session.add(person)
    session.commit()
    provider = ScriptedProvider([])
    run_once(store=store, settings=settings, provider=provider, worker_id="w")
    session.expire_all()
    row = session.get(SmsMessage, message.id)
    assert row is not None and row.status == SmsStatus.CANCELLED and provider.sends == []


class FlakyProvider:
    """30% of calls fail before reaching the provider, 10% time out AFTER the provider recorded
    the text (the worst case: sent, but the worker does not know), the rest succeed."""

    name = "flaky"

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.delivered: Counter[str] = Counter()
        self.calls = 0

    def send(self, outgoing: Outgoing) -> str:
        with self.lock:
            self.calls += 1
            roll = self.rng.random()
            if roll < 0.3:
                raise TemporaryFailure("503 from fake")
            self.delivered[outgoing.reference] += 1
            if roll < 0.4:
                raise TemporaryFailure("timeout (the text did arrive)")
        return f"p-{outgoing.row_id}"

    def lookup(self, outgoing: Outgoing) -> str | None:
        with self.lock:
            if self.rng.random() < 0.3:
                raise TemporaryFailure("timeout on lookup")
            return f"p-{outgoing.row_id}" if self.delivered[outgoing.reference] else None


def test_two_workers_send_every_row_exactly_once(tmp_path: Path, settings: Settings) -> None:
    settings.sms_max_attempts = 100
    rows = 120
    settings.sms_max_per_recipient_per_day = rows  # every row goes to one number
    with fresh_database(tmp_path, "exactly_once") as url:
        engine = make_engine(url)
        store = Store(engine, InProcessBus())
        try:
            with store.session_scope() as s:
                chat = texting_chat(s)
                for i in range(rows):
                    queue_sms(
                        session=s,
                        settings=settings,
                        conversation_id=chat.id,
                        to=NUMBER,
                        template="free_text",
                        personalisation={"message": f"m{i}"},
                        kind="update",
                    )
            provider = FlakyProvider(seed=7)
            errors: list[BaseException] = []

            def work(name: str) -> None:
                try:
                    for _ in range(400):
                        with store.session_scope() as s:
                            # Make retries due at once so the test is quick; backoff is tested above.
                            s.execute(
                                update(SmsMessage)
                                .where(SmsMessage.status == SmsStatus.QUEUED)
                                .values(next_attempt_at=utcnow())  # type: ignore[arg-type]
                            )
                        run_once(store=store, settings=settings, provider=provider, worker_id=name)
                        with store.session_scope() as s:
                            left = s.exec(
                                select(SmsMessage).where(SmsMessage.status.in_(["queued", "sending"]))
                            ).first()  # type: ignore[attr-defined]
                        if left is None:
                            return
                except BaseException as exc:  # surfaced below
                    errors.append(exc)

            threads = [threading.Thread(target=work, args=(f"worker-{n}",)) for n in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=100)
            assert not errors
            with store.session_scope() as s:
                statuses = Counter(m.status for m in s.exec(select(SmsMessage)).all())
            assert statuses == {SmsStatus.SENT: rows}
            assert len(provider.delivered) == rows
            assert set(provider.delivered.values()) == {1}, "a text reached the provider twice"
            assert provider.calls > rows  # failures really happened
        finally:
            engine.dispose()


def test_serve_runs_the_worker_in_the_app_lifespan(tmp_path: Path) -> None:
    import time

    from fastapi.testclient import TestClient

    from chat_server.app import create_app
    from tests.conftest import make_test_settings

    with fresh_database(tmp_path, "embedded") as url:
        settings = make_test_settings(tmp_path, url, sms_worker_embedded=True)
        app = create_app(settings)
        with app.state.store.session_scope() as s:
            row_id = queue_sms(
                session=s,
                settings=settings,
                conversation_id=texting_chat(s).id,
                to=NUMBER,
                template="free_text",
                personalisation={"message": "x"},
                kind="update",
            ).id  # type: ignore[union-attr]
        with TestClient(app):
            deadline = time.monotonic() + 30
            status = "queued"
            while status != SmsStatus.SENT and time.monotonic() < deadline:
                time.sleep(0.05)
                with app.state.store.session_scope() as s:
                    status = s.get(SmsMessage, row_id).status  # type: ignore[union-attr]
        assert status == SmsStatus.SENT
        threads = [t.name for t in threading.enumerate()]
        assert "sms-worker" not in threads  # stopped with the app
        app.state.store.engine.dispose()


class StoppingProvider(ScriptedProvider):
    """Sends, and asks the worker to stop after its first send (SIGTERM in the middle of a batch)."""

    def __init__(self, stop: threading.Event) -> None:
        super().__init__([])
        self.stop = stop

    def send(self, outgoing: Outgoing) -> str:
        self.stop.set()
        return super().send(outgoing)


def test_a_stopping_worker_releases_its_unattempted_claims_and_nothing_is_sent_twice(
    store: Store, session: Session, settings: Settings
) -> None:
    rows = [_queue(session, settings).id for _ in range(3)]
    stop = threading.Event()
    stopping = StoppingProvider(stop)
    tick = run_once(store=store, settings=settings, provider=stopping, worker_id="a", stop=stop)
    assert (tick.claimed, tick.sent, tick.released) == (3, 1, 2)
    session.expire_all()
    released = [r for r in (session.get(SmsMessage, i) for i in rows) if r and r.status == SmsStatus.QUEUED]
    assert len(released) == 2
    assert all(r.claimed_by is None and r.claimed_at is None and r.attempts == 0 for r in released)
    # Another worker takes them at once (due now) as first tries: no lookup, one send each.
    other = ScriptedProvider([])
    tick = run_once(store=store, settings=settings, provider=other, worker_id="b")
    assert tick.sent == 2 and other.lookups == []
    assert Counter(stopping.sends + other.sends) == Counter(f"fc-sms-{i}" for i in rows)
    session.expire_all()
    assert {session.get(SmsMessage, i).status for i in rows} == {SmsStatus.SENT}  # type: ignore[union-attr]


def test_releasing_a_claim_another_worker_holds_changes_nothing(
    store: Store, session: Session, settings: Settings
) -> None:
    message = _queue(session, settings)
    with store.session_scope() as s:
        claims = claim_due(session=s, settings=settings, worker_id="a")
    with store.session_scope() as s:
        assert release_claims(session=s, worker_id="b", claims=claims) == 0
    session.expire_all()
    row = session.get(SmsMessage, message.id)
    assert row is not None and row.status == SmsStatus.SENDING and row.claimed_by == "a"
