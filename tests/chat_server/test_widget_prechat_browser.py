"""The widget's pre-chat step asks whether it is safe to text (real Chromium, axe-core): "no" is
preselected for sensitive topics, a number abroad is refused with the answers kept, and the answer
reaches the store (a chat that said no gets its acknowledgement blocked, never sent)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import select

from contact_store.models import Conversation, SmsMessage
from tests.conftest import LiveServer
from tests.support.browser import assert_no_axe_violations, screenshot

pytestmark = pytest.mark.browser


def test_prechat_asks_if_it_is_safe_to_text(page: Page, live_server: LiveServer) -> None:
    page.goto(live_server.base_url + "/chat")
    expect(page.get_by_label("Your name")).to_be_visible()
    safe = page.get_by_role("group", name="Is it safe for us to text you on this number?")
    yes, no = safe.get_by_label("Yes, it is safe to text me"), safe.get_by_label("No, do not text me")
    topic = page.get_by_label("What is your chat about?")
    topic.select_option("domestic-abuse")
    expect(no).to_be_checked()  # sensitive topic: "no" until the visitor says otherwise
    topic.select_option("crime")
    expect(yes).to_be_checked()
    topic.select_option("domestic-abuse")
    expect(no).to_be_checked()
    assert_no_axe_violations(page, context="pre-chat with safe-to-text question")

    # A number abroad: a clear error, every answer kept.
    page.get_by_label("Your name").fill("Sam")
    page.get_by_label("Mobile number (optional)").fill("+1 202 555 0123")
    page.get_by_role("button", name="Start chat").click()
    expect(page.get_by_role("link", name="Enter a UK mobile number, like 07700 900123")).to_be_visible()
    expect(page.get_by_label("Your name")).to_have_value("Sam")
    expect(page.get_by_label("Mobile number (optional)")).to_have_value("+1 202 555 0123")
    expect(page.get_by_label("What is your chat about?")).to_have_value("domestic-abuse")
    expect(page.get_by_label("No, do not text me")).to_be_checked()
    assert_no_axe_violations(page, context="pre-chat number abroad")
    screenshot(page, "chat-prechat-safe-to-text-error")

    page.get_by_label("Mobile number (optional)").fill("07700 900123")
    page.get_by_role("button", name="Start chat").click()
    expect(page.get_by_text("You are number 1 in the queue.")).to_be_visible()
    with live_server.store.session_scope() as s:
        conv = s.exec(select(Conversation)).one()
        assert conv.topic == "domestic-abuse" and conv.safe_to_contact is False
        assert conv.contact_e164 == "+447700900123"
        (ack,) = s.exec(select(SmsMessage)).all()
        assert ack.status == "blocked" and ack.blocked_reason == "not_safe_to_contact"


def test_an_explicit_answer_survives_a_change_of_topic(page: Page, live_server: LiveServer) -> None:
    page.goto(live_server.base_url + "/chat")
    page.get_by_label("What is your chat about?").select_option("crime")
    page.get_by_label("No, do not text me").check()
    page.get_by_label("What is your chat about?").select_option("asb")
    expect(page.get_by_label("No, do not text me")).to_be_checked()
    page.get_by_label("Your name").fill("Kim")
    page.get_by_label("Mobile number (optional)").fill("07700 900124")
    page.get_by_role("button", name="Start chat").click()
    expect(page.get_by_text("You are number 1 in the queue.")).to_be_visible()
    with live_server.store.session_scope() as s:
        conv = s.exec(select(Conversation)).one()
        assert conv.topic == "asb" and conv.safe_to_contact is False
