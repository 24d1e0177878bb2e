"""The SMS gate: every reason a text is refused, recorded as blocked, and re-checked before sending."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import Session, select

from contact_store.clock import utcnow
from contact_store.db import Store
from contact_store.models import SmsMessage, SmsStatus
from contact_store.outbox import queue_sms
from contact_store.settings import Settings
from contact_store.sms import gate
from contact_store.sms.providers import LogProvider
from contact_store.sms.worker import run_once
from tests.builders import make_conversation, make_report
from tests.support.sms_consent import NUMBER_E164, texting_chat, texting_report


def _text(session: Session, settings: Settings, to: str = NUMBER_E164, **about: object) -> SmsMessage:
    message = queue_sms(
        session=session,
        settings=settings,
        to=to,
        template="free_text",
        personalisation={"message": "hello"},
        kind="update",
        **about,  # type: ignore[arg-type]
    )
    assert message is not None
    return message


def test_a_contact_that_said_yes_on_this_number_is_texted(session: Session, settings: Settings) -> None:
    for about in ({"conversation_id": texting_chat(session).id}, {"report_id": texting_report(session).id}):
        message = _text(session, settings, **about)
        assert message.status == SmsStatus.QUEUED and message.blocked_reason is None


@pytest.mark.parametrize(
    "contact",
    [
        "none",  # a text about no contact at all
        "chat said no",
        "report said no",
        "said yes for another number",
        "report unanswered",
    ],
)
def test_no_consent_blocks_with_its_reason(session: Session, settings: Settings, contact: str) -> None:
    about: dict[str, object] = {}
    if contact == "chat said no":
        about["conversation_id"] = make_conversation(session, contact_e164=NUMBER_E164).id
    elif contact == "report said no":
        about["report_id"] = make_report(session, safe_to_contact=False, contact_e164=NUMBER_E164).id
    elif contact == "said yes for another number":
        about["report_id"] = texting_report(session, "+447700900999").id
    elif contact == "report unanswered":
        about["report_id"] = make_report(session).id
    message = _text(session, settings, **about)
    assert message.status == SmsStatus.BLOCKED
    assert message.blocked_reason == gate.BlockReason.NOT_SAFE_TO_CONTACT


def test_a_number_outside_the_allowed_prefixes_is_blocked(session: Session, settings: Settings) -> None:
    us = "+12025550123"  # valid, can take texts, said yes: still not a country this force texts
    message = _text(session, settings, us, conversation_id=texting_chat(session, us).id)
    assert message.status == SmsStatus.BLOCKED and message.blocked_reason == "country_not_allowed"
    settings.sms_allowed_prefixes = ["+447", "+1"]
    assert _text(session, settings, us, conversation_id=texting_chat(session, us).id).status == "queued"


def test_the_daily_cap_counts_every_template_per_recipient(session: Session, settings: Settings) -> None:
    settings.sms_max_per_recipient_per_day = 3
    chat, report = texting_chat(session), texting_report(session)
    first = [_text(session, settings, conversation_id=chat.id) for _ in range(2)]
    first.append(_text(session, settings, report_id=report.id))  # another contact, same number
    assert [m.status for m in first] == ["queued"] * 3
    over = _text(session, settings, report_id=report.id)
    assert over.status == SmsStatus.BLOCKED and over.blocked_reason == "recipient_daily_cap"
    # Blocked rows do not count; another number has its own allowance.
    other = texting_chat(session, "+447700900555")
    assert _text(session, settings, "+447700900555", conversation_id=other.id).status == "queued"
    # Texts older than 24 hours no longer count.
    session.execute(
        update(SmsMessage)
        .where(SmsMessage.id == first[0].id)  # type: ignore[arg-type]
        .values(created_at=utcnow() - timedelta(hours=25))
    )
    assert _text(session, settings, conversation_id=chat.id).status == "queued"


def test_the_country_rules_the_public_boundary_uses(settings: Settings) -> None:
    assert gate.allowed_country_codes(settings) == {44} and gate.only_uk(settings)
    assert gate.number_country_allowed(settings=settings, e164="+441632960001")  # a UK landline: a call back
    assert not gate.number_country_allowed(settings=settings, e164="+12025550123")
    assert not gate.prefix_allowed(settings=settings, e164="+441632960001")  # but never texted
    settings.sms_allowed_prefixes = ["+447", "+353 8"]
    assert gate.allowed_country_codes(settings) == {44, 353} and not gate.only_uk(settings)
    assert gate.prefix_allowed(settings=settings, e164="+353851234567")


def test_the_worker_re_checks_withdrawn_consent_and_racing_rows_over_the_cap(
    store: Store, session: Session, settings: Settings
) -> None:
    settings.sms_max_per_recipient_per_day = 2
    chat, withdrawn = texting_chat(session), texting_chat(session, "+447700900777")
    rows = [_text(session, settings, conversation_id=chat.id) for _ in range(2)]
    # A third row written by a transaction that raced past the queue-time count.
    racing = _text(session, settings, conversation_id=chat.id)
    assert racing.status == "blocked"
    racing.status, racing.blocked_reason = SmsStatus.QUEUED, None
    changed_mind = _text(session, settings, "+447700900777", conversation_id=withdrawn.id)
    withdrawn.safe_to_contact = False  # e.g. staff learn the phone is no longer safe
    session.add_all([racing, withdrawn])
    session.commit()
    tick = run_once(store=store, settings=settings, provider=LogProvider(), worker_id="w")
    assert tick.sent == 2
    session.expire_all()
    statuses = {
        m.id: (m.status, m.blocked_reason)
        for m in session.exec(select(SmsMessage).where(SmsMessage.status != "queued")).all()
    }
    assert statuses[rows[0].id] == statuses[rows[1].id] == ("sent", None)
    assert statuses[racing.id] == ("blocked", "recipient_daily_cap")
    assert statuses[changed_mind.id] == ("blocked", "not_safe_to_contact")
    blocked = session.get(SmsMessage, racing.id)
    assert blocked is not None and blocked.sent_at is None and blocked.provider_message_id is None
