"""Safe to contact, before any text (issue #10, points 2 and 3): the chat start asks, refuses
numbers abroad, and a chat that said "not safe to text" is never texted; no number gets more than
the daily cap however many forms are sent with it."""

from __future__ import annotations

from collections import Counter

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from contact_store.db import Store
from contact_store.models import Conversation, Report, SmsMessage, SmsStatus
from contact_store.settings import Settings
from contact_store.sms.providers import LogProvider
from contact_store.sms.worker import run_once
from contact_store.surveys import schedule_survey
from contact_store.surveys.service import dispatch_due_invitations
from contact_store.wrapup import WrapUp, wrap_up_conversation
from tests.agent_console.helpers import sign_in_as
from tests.web_forms.helpers import full_answers
from web_forms.catalogue import catalogue

MOBILE = "07700 900456"


def _start(client: TestClient, **answers: object) -> dict:  # type: ignore[type-arg]
    r = client.post("/api/v1/chats", json={"name": "Jo", "topic": "crime", "mobile": MOBILE} | answers)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def _texts_about(session: Session, conversation_id: str) -> list[SmsMessage]:
    session.expire_all()
    return list(session.exec(select(SmsMessage).where(SmsMessage.conversation_id == conversation_id)).all())


def test_chat_start_stores_the_answer_and_defaults_to_no_for_sensitive_topics(
    client: TestClient, session: Session, settings: Settings
) -> None:
    cases = [
        ({"safe_to_contact": True}, True),
        ({"safe_to_contact": False}, False),
        ({}, True),  # not answered, not sensitive
        ({"topic": "domestic-abuse"}, False),  # not answered, sensitive: no
        ({"topic": "domestic-abuse", "safe_to_contact": True}, True),
    ]
    for answers, safe in cases:
        started = _start(client, **answers)
        conv = session.get(Conversation, started["conversation_id"])
        assert conv is not None and conv.safe_to_contact is safe and conv.contact_e164 == "+447700900456"
        (ack,) = _texts_about(session, conv.id)
        assert ack.kind == "ack"
        assert (ack.status, ack.blocked_reason) == (
            ("queued", None) if safe else ("blocked", "not_safe_to_contact")
        )
    avail = client.get("/api/v1/chats/availability").json()
    assert avail["sensitive_topics"] == ["domestic-abuse"]
    # Staff see the answer where they would text: the workspace person panel.
    safe_chat = session.exec(select(Conversation).where(Conversation.safe_to_contact.is_(True))).first()  # type: ignore[union-attr]
    unsafe_chat = session.exec(select(Conversation).where(Conversation.safe_to_contact.is_(False))).first()  # type: ignore[union-attr]
    assert safe_chat is not None and unsafe_chat is not None
    sign_in_as(client, session, settings, role="supervisor")
    panel = client.get(f"/console/workspace/chats/{safe_chat.id}/person").json()
    assert panel["safe_to_text"] == "+447700900456"
    assert client.get(f"/console/workspace/chats/{unsafe_chat.id}/person").json()["safe_to_text"] is None


def test_chat_start_refuses_a_number_abroad_with_a_field_error(client: TestClient, session: Session) -> None:
    r = client.post(
        "/api/v1/chats",
        json={"name": "Jo", "topic": "crime", "mobile": "+1 202 555 0123", "safe_to_contact": True},
    )
    assert r.status_code == 422
    assert r.json()["error"]["fields"] == {"mobile": "Enter a UK mobile number, like 07700 900123"}
    assert session.exec(select(Conversation)).all() == [] and session.exec(select(SmsMessage)).all() == []


def test_done_when_a_domestic_abuse_chat_not_safe_to_text_is_never_texted(
    client: TestClient, session: Session, store: Store, settings: Settings
) -> None:
    """Acknowledgement, update and survey: nothing is sent, and the blocks show in the SMS log."""
    started = _start(client, topic="domestic-abuse", safe_to_contact=False)
    operator, csrf = sign_in_as(client, session, settings, role="supervisor")
    conv = session.get(Conversation, started["conversation_id"])
    assert conv is not None
    conv.status, conv.assignee_id = "ended", operator.id
    session.add(conv)
    # The chat ends (routing schedules its survey) and is wrapped up with a report raised from it.
    schedule_survey(session=session, settings=settings, channel="chat", conversation=conv)
    session.commit()
    wrap_up_page = client.get(f"/console/workspace/chats/{conv.id}/wrap-up")
    assert wrap_up_page.status_code == 200 and "Not safe to text" in wrap_up_page.text
    report = wrap_up_conversation(
        session=session,
        settings=settings,
        conversation=conv,
        operator=operator,
        wrap_up=WrapUp(outcome="report raised", grade=2, thrive={}, raise_report=True, report_summary="DA"),
    )
    session.commit()
    assert report is not None and report.safe_to_contact is False
    page = client.get(f"/console/workspace/chats/{conv.id}/person").json()
    assert page["safe_to_text"] is None
    # The console refuses the update (not just a hidden button) and records the block.
    r = client.post(f"/console/reports/{report.id}/sms", data={"csrf_token": csrf, "sms_preset": "started"})
    assert r.status_code == 422 and "Not safe to text" in r.text
    assert (
        dispatch_due_invitations(session=session, settings=settings, now=conv.queued_at.replace(year=2100))
        == 0
    )
    session.commit()
    tick = run_once(store=store, settings=settings, provider=LogProvider(), worker_id="w")
    assert tick.sent == 0
    session.expire_all()
    texts = session.exec(
        select(SmsMessage).where(
            (SmsMessage.conversation_id == conv.id) | (SmsMessage.report_id == report.id)  # type: ignore[arg-type]
        )
    ).all()
    # The chat's acknowledgement, the raised report's (same rule as online) and the refused update.
    assert sorted(t.kind for t in texts) == ["ack", "ack", "update"]
    assert {(t.status, t.blocked_reason, t.sent_at) for t in texts} == {
        (SmsStatus.BLOCKED, "not_safe_to_contact", None)
    }
    assert session.exec(select(SmsMessage).where(SmsMessage.status != "blocked")).all() == []
    sign_in_as(client, session, settings, role="admin")
    log = client.get("/console/sms").text
    assert log.count("Not sent: Not safe to text") == 3


def test_done_when_52_submissions_with_one_number_queue_no_more_than_the_cap(
    client: TestClient, session: Session, store: Store, settings: Settings
) -> None:
    settings.api_submissions_per_minute = 1000  # the per-address limit is another control
    form = catalogue()["crime"]
    answers = full_answers(form) | {"phone": "07700 900777", "safe_to_contact": "yes"}
    for _ in range(52):
        r = client.post("/api/v1/forms/crime/submissions", json={"answers": answers})
        assert r.status_code == 201, r.text
        assert r.json()["safe_to_contact"] is True
    session.expire_all()
    assert len(session.exec(select(Report)).all()) == 52  # every report is filed...
    statuses = Counter(
        (m.status, m.blocked_reason)
        for m in session.exec(select(SmsMessage).where(SmsMessage.to_e164 == "+447700900777")).all()
    )
    cap = settings.sms_max_per_recipient_per_day
    assert statuses == {("queued", None): cap, ("blocked", "recipient_daily_cap"): 52 - cap}
    tick = run_once(store=store, settings=settings, provider=LogProvider(), worker_id="w")
    assert tick.sent == cap
