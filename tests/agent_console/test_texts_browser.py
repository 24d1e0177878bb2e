"""The done-when of inbound matching in real Chromium: a bike report is filed online, a chat with
the same mobile raises a second report; a text quoting the bike report's reference lands on the
bike report, a text with no reference on the contact of the last text sent, and one that matches
nothing waits in "Texts to match" where an operator attaches it. axe-core must find nothing."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import select

from contact_store.models import InboundSms, Role, SmsMessage, SmsStatus
from contact_store.sms.inbound import handle_inbound
from tests.builders import DEFAULT_PASSWORD, make_conversation, make_operator, make_person, make_report
from tests.conftest import LiveServer
from tests.support.browser import assert_no_axe_violations, screenshot

pytestmark = pytest.mark.browser
PHONE = "+447700900456"


def test_texts_land_on_the_contact_they_are_about(page: Page, live_server: LiveServer) -> None:
    settings = live_server.settings
    with live_server.store.session_scope() as s:
        person = make_person(s, phone_e164=PHONE)
        bike = make_report(
            s, person_id=person.id, status="in_progress", summary="Bike stolen", reference="FC-0111-BK7Q"
        )
        chat = make_conversation(s, person_id=person.id, status="ended")
        knife = make_report(s, person_id=person.id, status="new", channel="chat", conversation_id=chat.id)
        s.add(
            SmsMessage(to_e164=PHONE, body="About your chat", status=SmsStatus.DELIVERED, report_id=knife.id)
        )
        make_operator(s, username="texts-op", display_name="Texts Operator", role=Role.SUPERVISOR)
        bike_id, knife_id, bike_ref = bike.id, knife.id, bike.reference
    with live_server.store.session_scope() as s:
        quoted = handle_inbound(
            session=s,
            settings=settings,
            from_number=PHONE,
            body=f"Found a receipt for the bike ({bike_ref})",
            provider="log",
        )
        threaded = handle_inbound(
            session=s, settings=settings, from_number=PHONE, body="Thanks", provider="log"
        )
        stray = handle_inbound(
            session=s,
            settings=settings,
            from_number="+447700900999",
            body="Who do I talk to?",
            provider="log",
        )
        assert (quoted.report_id, quoted.matched_by) == (bike_id, "reference")
        assert (threaded.report_id, threaded.matched_by) == (knife_id, "reply_thread")
        assert stray.matched_by == "unmatched"
    page.goto(live_server.base_url + "/console/sign-in")
    page.get_by_label("Username").fill("texts-op")
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Welcome, Texts Operator")).to_be_visible()
    page.goto(f"{live_server.base_url}/console/reports/{bike_id}")
    expect(page.get_by_text("Found a receipt for the bike")).to_be_visible()
    expect(page.get_by_text("matched by the reference it quoted")).to_be_visible()
    page.get_by_role("link", name="Texts to match").click()
    expect(page.get_by_role("heading", name="Texts to match")).to_be_visible()
    expect(page.get_by_text("Who do I talk to?")).to_be_visible()
    assert_no_axe_violations(page, context="texts to match")
    screenshot(page, "texts-to-match")
    page.get_by_label("Reference of the report it is about").fill("FC-0000-NOPE")
    page.get_by_role("button", name="Attach to this report").click()
    expect(page.get_by_role("alert")).to_contain_text("Enter the reference of a report")
    assert_no_axe_violations(page, context="texts to match with an error")
    page.get_by_label("Reference of the report it is about").fill(bike_ref)
    page.get_by_role("button", name="Attach to this report").click()
    expect(page.get_by_text("matched by staff")).to_be_visible()
    with live_server.store.session_scope() as s:
        assert s.exec(select(InboundSms).where(InboundSms.matched_by == "unmatched")).first() is None
