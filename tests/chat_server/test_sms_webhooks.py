"""Provider callbacks: Notify bearer token and Twilio signature checks; receipts and inbound."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi.testclient import TestClient
from sqlmodel import Session, select
from twilio.request_validator import RequestValidator

from contact_store.models import InboundSms, SmsMessage, SmsStatus
from contact_store.outbox import queue_sms
from contact_store.settings import Settings
from tests.support.sms_consent import texting_chat

TOKEN = "notify-callback-token-0123456789"
TWILIO_TOKEN = "twilio-auth-token-for-tests"


def _sent(session: Session, settings: Settings) -> SmsMessage:
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
    message.status = SmsStatus.SENT
    message.provider_message_id = "notify-uuid-1"
    session.add(message)
    session.commit()
    return message


def test_notify_receipt_needs_the_bearer_token(
    client: TestClient, session: Session, settings: Settings
) -> None:
    settings.notify_callback_token = TOKEN
    message = _sent(session, settings)
    body = {"id": "notify-uuid-1", "reference": f"fc-sms-{message.id}", "status": "delivered"}
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        r = client.post("/api/v1/sms/notify/receipt", json=body, headers=headers)
        assert r.status_code == 401 and r.json()["error"]["code"] == "bad_callback_token"
    session.refresh(message)
    assert message.status == SmsStatus.SENT
    r = client.post("/api/v1/sms/notify/receipt", json=body, headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200 and r.json() == {"matched": True}
    session.refresh(message)
    assert message.status == SmsStatus.DELIVERED and message.delivered_at is not None


def test_notify_callbacks_refused_when_no_token_is_configured(client: TestClient, settings: Settings) -> None:
    settings.notify_callback_token = ""
    r = client.post(
        "/api/v1/sms/notify/inbound",
        json={"source_number": "07700900123", "content": "hi"},
        headers={"Authorization": "Bearer "},
    )
    assert r.status_code == 401


def test_notify_failure_receipt_and_inbound(client: TestClient, session: Session, settings: Settings) -> None:
    settings.notify_callback_token = TOKEN
    message = _sent(session, settings)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    r = client.post(
        "/api/v1/sms/notify/receipt",
        json={"id": "notify-uuid-1", "status": "permanent-failure"},
        headers=auth,
    )
    assert r.json() == {"matched": True}
    session.refresh(message)
    assert message.status == SmsStatus.FAILED and "permanent-failure" in (message.last_error or "")
    r = client.post(
        "/api/v1/sms/notify/inbound",
        json={
            "id": "in-1",
            "source_number": "447700900123",
            "destination_number": "07700900000",
            "content": "Thanks",
        },
        headers=auth,
    )
    assert r.status_code == 200 and r.json()["handled_as"] == "contact"
    assert (
        r.json()
        == client.post(
            "/api/v1/sms/notify/inbound",
            json={"id": "in-1", "source_number": "447700900123", "content": "Thanks"},
            headers=auth,
        ).json()
    )
    assert r.status_code == 200
    assert client.post("/api/v1/sms/notify/inbound", content=b"not json", headers=auth).status_code == 422


def _signed(settings: Settings, path: str, form: dict[str, str]) -> dict[str, str]:
    url = settings.public_base_url.rstrip("/") + path
    return {"X-Twilio-Signature": RequestValidator(TWILIO_TOKEN).compute_signature(url, form)}


def test_twilio_status_needs_a_valid_signature(
    client: TestClient, session: Session, settings: Settings
) -> None:
    settings.twilio_auth_token = TWILIO_TOKEN
    message = _sent(session, settings)
    path = f"/api/v1/sms/twilio/status?{urlencode({'ref': f'fc-sms-{message.id}'})}"
    form = {"MessageSid": "SM123", "MessageStatus": "delivered"}
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    assert client.post(path, data=form).status_code == 403
    bad = _signed(settings, path, {**form, "MessageStatus": "failed"})
    assert client.post(path, data=form, headers=bad).status_code == 403
    other_url = {
        "X-Twilio-Signature": RequestValidator(TWILIO_TOKEN).compute_signature(
            "https://evil.example" + path, form
        )
    }
    assert client.post(path, data=form, headers=other_url).status_code == 403
    session.refresh(message)
    assert message.status == SmsStatus.SENT
    r = client.post(path, data=form, headers=_signed(settings, path, form) | headers)
    assert r.status_code == 204
    session.refresh(message)
    assert message.status == SmsStatus.DELIVERED


def test_twilio_inbound_signed_and_unsigned(client: TestClient, session: Session, settings: Settings) -> None:
    settings.twilio_auth_token = TWILIO_TOKEN
    path = "/api/v1/sms/twilio/inbound"
    form = {"From": "+447700900123", "Body": "STOP", "MessageSid": "SMin1"}
    assert client.post(path, data=form, headers={"X-Twilio-Signature": "AAAA"}).status_code == 403
    assert session.exec(select(InboundSms)).first() is None
    r = client.post(path, data=form, headers=_signed(settings, path, form))
    assert r.status_code == 200 and "<Response>" in r.text
    inbound = session.exec(select(InboundSms)).one()
    assert inbound.handled_as == "stop" and inbound.provider == "twilio"


def test_twilio_refused_without_a_configured_token(client: TestClient, settings: Settings) -> None:
    settings.twilio_auth_token = ""
    form = {"From": "+447700900123", "Body": "hi"}
    r = client.post("/api/v1/sms/twilio/inbound", data=form, headers={"X-Twilio-Signature": "x"})
    assert r.status_code == 403


def test_worker_command_is_registered() -> None:
    from chat_server.cli import build_parser, cmd_serve, cmd_worker

    args = build_parser().parse_args(["worker", "--poll", "0.5"])
    assert args.func is cmd_worker and args.poll == 0.5
    serve = build_parser().parse_args(["serve", "--no-sms-worker"])
    assert serve.func is cmd_serve and serve.no_sms_worker
