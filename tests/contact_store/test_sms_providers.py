"""Notify and Twilio providers against local fake HTTP servers (request shape, auth, failures)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlmodel import Session

from contact_store.clock import utcnow
from contact_store.db import Store
from contact_store.models import SmsMessage
from contact_store.outbox import queue_sms
from contact_store.settings import Settings
from contact_store.sms.providers import (
    NotifyProvider,
    Outgoing,
    PermanentFailure,
    TemporaryFailure,
    TwilioProvider,
    make_provider,
    reference_for,
    row_id_from_reference,
)
from contact_store.sms.worker import run_once
from tests.conftest import make_test_settings
from tests.support.sms_consent import texting_chat
from tests.support.sms_fakes import NOTIFY_API_KEY, TWILIO_SID, TWILIO_TOKEN, FakeServer

OUT = Outgoing(row_id=42, to_e164="+447700900123", body="Northshire Police: your reference is FC-1")


@pytest.fixture
def notify(tmp_path: Path) -> Iterator[tuple[FakeServer, Settings]]:
    with FakeServer("notify") as fake:
        settings = make_test_settings(
            tmp_path,
            "sqlite://",
            sms_provider="notify",
            notify_api_key=NOTIFY_API_KEY,
            notify_base_url=fake.base_url,
            notify_sms_template_id="f33517ff-2a88-4f6e-b855-c550268ce08a",
        )
        yield fake, settings


@pytest.fixture
def twilio(tmp_path: Path) -> Iterator[tuple[FakeServer, Settings]]:
    with FakeServer("twilio") as fake:
        settings = make_test_settings(
            tmp_path,
            "sqlite://",
            sms_provider="twilio",
            twilio_account_sid=TWILIO_SID,
            twilio_auth_token=TWILIO_TOKEN,
            twilio_from_number="+447700900999",
            twilio_base_url=fake.base_url,
        )
        yield fake, settings


def test_reference_carries_only_the_row_id() -> None:
    assert reference_for(42) == "fc-sms-42"
    assert row_id_from_reference("fc-sms-42") == 42
    assert row_id_from_reference("fc-sms-x") is None and row_id_from_reference(None) is None


def test_notify_send_uses_signed_jwt_template_and_reference(notify: tuple[FakeServer, Settings]) -> None:
    fake, settings = notify
    provider = make_provider(settings)
    assert isinstance(provider, NotifyProvider)
    message_id = provider.send(OUT)
    (sent,) = fake.state.sent
    assert sent["id"] == message_id
    assert sent["phone_number"] == "+447700900123"
    assert sent["template_id"] == settings.notify_sms_template_id
    assert sent["personalisation"] == {"body": OUT.body}
    assert sent["reference"] == "fc-sms-42"
    assert fake.state.rejected == []
    assert provider.lookup(OUT) == message_id
    assert provider.lookup(Outgoing(row_id=43, to_e164="+447700900123", body="x")) is None


def test_notify_wrong_key_is_rejected_by_the_fake(notify: tuple[FakeServer, Settings]) -> None:
    fake, settings = notify
    settings.notify_api_key = NOTIFY_API_KEY[:-4] + "0000"
    with pytest.raises(PermanentFailure):
        NotifyProvider(settings).send(OUT)
    assert fake.state.rejected == ["/v2/notifications/sms"]


@pytest.mark.parametrize(
    ("status", "error"), [(500, TemporaryFailure), (429, TemporaryFailure), (400, PermanentFailure)]
)
def test_notify_failures_are_classified(
    notify: tuple[FakeServer, Settings], status: int, error: type
) -> None:
    fake, settings = notify
    fake.state.fail_next.append(status)
    with pytest.raises(error):
        NotifyProvider(settings).send(OUT)


def test_notify_timeout_is_temporary_and_lookup_finds_the_text(notify: tuple[FakeServer, Settings]) -> None:
    fake, settings = notify
    fake.state.delay_next.append(1.0)
    provider = NotifyProvider(settings, timeout=0.3)
    with pytest.raises(TemporaryFailure):
        provider.send(OUT)
    assert len(fake.state.sent) == 1
    assert provider.lookup(OUT) == fake.state.sent[0]["id"]


def test_twilio_send_with_basic_auth_and_status_callback(twilio: tuple[FakeServer, Settings]) -> None:
    fake, settings = twilio
    provider = make_provider(settings)
    assert isinstance(provider, TwilioProvider)
    sid = provider.send(OUT)
    (sent,) = fake.state.sent
    assert sent["sid"] == sid and sent["To"] == "+447700900123" and sent["From"] == "+447700900999"
    assert sent["Body"] == OUT.body
    assert sent["StatusCallback"].endswith("/api/v1/sms/twilio/status?ref=fc-sms-42")
    assert provider.lookup(OUT) == sid


@pytest.mark.parametrize(
    ("status", "error"), [(503, TemporaryFailure), (429, TemporaryFailure), (400, PermanentFailure)]
)
def test_twilio_failures_are_classified(
    twilio: tuple[FakeServer, Settings], status: int, error: type
) -> None:
    fake, settings = twilio
    fake.state.fail_next.append(status)
    with pytest.raises(error):
        TwilioProvider(settings).send(OUT)


def test_twilio_wrong_token_is_permanent(twilio: tuple[FakeServer, Settings]) -> None:
    _fake, settings = twilio
    settings.twilio_auth_token = "wrong"
    with pytest.raises(PermanentFailure):
        TwilioProvider(settings).send(OUT)


def test_twilio_timeout_is_temporary(twilio: tuple[FakeServer, Settings]) -> None:
    fake, settings = twilio
    fake.state.delay_next.append(1.0)
    with pytest.raises(TemporaryFailure):
        TwilioProvider(settings, timeout=0.3).send(OUT)


def test_worker_with_notify_fake_sends_once_through_failures_and_a_timeout(
    notify: tuple[FakeServer, Settings], store: Store, session: Session
) -> None:
    """A 500, then a timeout whose request did arrive: the retry looks the reference up and stops."""
    fake, settings = notify
    message = queue_sms(
        session=session,
        settings=settings,
        conversation_id=texting_chat(session).id,
        to="07700900123",
        template="free_text",
        personalisation={"message": "hi"},
        kind="update",
    )
    assert message is not None
    session.commit()
    provider = NotifyProvider(settings, timeout=0.3)
    fake.state.fail_next.append(500)
    fake.state.delay_next.append(1.0)
    for _ in range(3):
        session.execute(
            update(SmsMessage).where(SmsMessage.status == "queued").values(next_attempt_at=utcnow())
        )  # type: ignore[arg-type]
        session.commit()
        run_once(store=store, settings=settings, provider=provider, worker_id="w")
    session.expire_all()
    row = session.get(SmsMessage, message.id)
    assert row is not None and row.status == "sent" and row.attempts == 3
    assert len(fake.state.sent) == 1 and row.provider_message_id == fake.state.sent[0]["id"]
