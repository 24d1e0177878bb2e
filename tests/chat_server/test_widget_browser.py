"""The widget on a page that embeds it, and an operator in the workspace: real Chromium, axe-core.

Two browser contexts hold a conversation; each side reloads (goes away and comes back) and the
chat carries on with nothing lost or doubled.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.builders import DEFAULT_PASSWORD, make_area, make_operator
from tests.conftest import LiveServer
from tests.support.browser import assert_no_axe_violations, screenshot

pytestmark = pytest.mark.browser


def sign_in(page: Page, base_url: str, username: str) -> None:
    page.goto(base_url + "/console/workspace")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Chat workspace")).to_be_visible()


def test_widget_and_workspace_hold_a_conversation(
    page: Page, browser: Browser, live_server: LiveServer
) -> None:
    with live_server.store.session_scope() as s:
        make_area(s, name="East", postcode_prefixes=["BB"])
        make_operator(s, username="dana", display_name="Dana")
    page.goto(live_server.base_url + "/chat/demo")
    launcher = page.get_by_role("button", name="Chat with us")
    expect(launcher).to_be_visible()
    assert_no_axe_violations(page, context="demo page with launcher")
    launcher.click()
    expect(page.get_by_text("If you are in danger now")).to_be_visible()
    # The pre-chat form: errors first, then a good answer.
    page.get_by_role("button", name="Start chat").click()
    expect(page.get_by_text("There is a problem")).to_be_visible()
    assert_no_axe_violations(page, context="pre-chat errors")
    screenshot(page, "chat-widget-prechat-errors")
    page.get_by_label("Your name").fill("Robin <b>Tester</b>")
    page.get_by_label("Mobile number (optional)").fill("07700 900123")
    page.get_by_label("What is your chat about?").select_option("crime")
    page.get_by_label("Postcode (optional)").fill("BB1 1AA")
    page.get_by_role("button", name="Start chat").click()
    expect(page.get_by_text("You are number 1 in the queue.")).to_be_visible()
    # Nobody is signed in: no made-up wait, but stay or report online.
    expect(page.get_by_text("Nobody is available to chat right now")).to_be_visible()
    expect(page.locator(".fcw-body").get_by_role("link", name="Report online instead")).to_be_visible()
    page.get_by_label("Your message").fill("Someone took my <script>bike</script>")
    page.keyboard.press("Enter")
    expect(page.locator(".fcw-msg--visitor .fcw-text")).to_have_text("Someone took my <script>bike</script>")
    expect(page.locator(".fcw-msg--visitor .fcw-state")).to_have_text("Sent")
    assert_no_axe_violations(page, context="widget waiting in queue")
    screenshot(page, "chat-widget-queue")

    # The operator, in a second browser.
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    op = ctx.new_page()
    sign_in(op, live_server.base_url, "dana")
    expect(op.get_by_text("Connected as Dana")).to_be_visible()
    op.get_by_label("Your status").select_option("available")
    op.get_by_role("button", name="Set status").click()
    op.get_by_role("button", name="Accept chat").first.click()
    expect(op.get_by_role("tab", name="Robin <b>Tester</b>")).to_be_visible()
    expect(op.locator(".fcws-msg--visitor")).to_contain_text("Someone took my <script>bike</script>")
    expect(page.get_by_text("You are chatting with Dana.")).to_be_visible()
    expect(page.locator(".fcw-msg--visitor .fcw-state")).to_have_text("Delivered")
    op.get_by_label("Message to Robin <b>Tester</b>").fill("Hello Robin, I'm Dana. Where was the bike?")
    op.get_by_role("button", name="Send").click()
    expect(page.locator(".fcw-msg--operator .fcw-text")).to_have_text(
        "Hello Robin, I'm Dana. Where was the bike?"
    )
    # An internal note stays with staff.
    op.get_by_label("Message to Robin <b>Tester</b>").fill("Check PNC for similar thefts")
    op.get_by_label("Internal note (never shown to the visitor)").check()
    op.get_by_role("button", name="Send").click()
    expect(op.locator(".fcws-msg--internal")).to_contain_text("Check PNC")
    assert_no_axe_violations(op, context="workspace with a chat")
    screenshot(op, "chat-workspace")

    # The visitor goes away; the operator writes meanwhile; the visitor comes back to all of it, once.
    page.goto("about:blank")
    op.get_by_label("Message to Robin <b>Tester</b>").fill("Are you still there?")
    op.get_by_role("button", name="Send").click()
    expect(op.locator(".fcws-msg--operator").last).to_contain_text("Are you still there?")
    page.goto(live_server.base_url + "/chat/demo")
    expect(page.locator(".fcw-msg--operator .fcw-text")).to_have_text(
        ["Hello Robin, I'm Dana. Where was the bike?", "Are you still there?"]
    )
    expect(page.get_by_text("Check PNC")).to_have_count(0)
    # The operator reloads; the visitor writes meanwhile; the chat and its history come back.
    op.goto("about:blank")
    page.get_by_label("Your message").fill("Yes, outside the library")
    page.keyboard.press("Enter")
    op.goto(live_server.base_url + "/console/workspace")
    expect(op.locator(".fcws-msg--visitor")).to_have_count(2)
    expect(op.locator(".fcws-msg--visitor").last).to_contain_text("Yes, outside the library")
    screenshot(page, "chat-widget-conversation")
    # Welsh.
    page.get_by_role("button", name="Cymraeg").click()
    expect(page.get_by_label("Eich neges")).to_be_visible()
    assert_no_axe_violations(page, context="widget in Welsh")
    # End: the visitor can download the transcript.
    op.once("dialog", lambda d: d.accept())
    op.get_by_role("button", name="End chat").click()
    expect(page.get_by_text("Mae'r sgwrs wedi dod i ben.")).to_be_visible()
    # Ended by the operator (console socket): the survey is scheduled and offered in-line.
    expect(page.get_by_role("form", name="Dywedwch wrthym sut wnaethom ni")).to_be_visible()
    with page.expect_download() as dl:
        page.get_by_role("button", name="Lawrlwytho trawsgrifiad").click()
    text = open(dl.value.path(), encoding="utf-8").read()  # noqa: SIM115
    assert "Are you still there?" in text and "Check PNC" not in text
    ctx.close()


def test_hosted_chat_page_closed_offers_forms(page: Page, live_server: LiveServer) -> None:
    hours = dict(live_server.settings.chat_opening_hours)
    live_server.settings.chat_opening_hours = dict.fromkeys(hours, "")
    try:
        page.goto(live_server.base_url + "/chat")
        expect(page.get_by_text("Live chat is closed now.")).to_be_visible()
        expect(page.get_by_role("link", name="Report online instead")).to_have_attribute(
            "href", live_server.base_url + "/report"
        )
        assert_no_axe_violations(page, context="hosted chat page, closed")
        screenshot(page, "chat-hosted-closed")
    finally:
        live_server.settings.chat_opening_hours = hours


def test_quick_exit_leaves_and_forgets(phone_page: Page, live_server: LiveServer) -> None:
    phone_page.goto(live_server.base_url + "/chat")
    phone_page.get_by_label("Your name").fill("Sam")
    phone_page.get_by_label("What is your chat about?").select_option("domestic-abuse")
    phone_page.get_by_role("button", name="Start chat").click()
    expect(phone_page.get_by_text("in the queue")).to_be_visible()
    assert_no_axe_violations(phone_page, context="hosted chat page on a phone")
    screenshot(phone_page, "chat-hosted-phone")
    phone_page.route(
        "https://www.bbc.co.uk/**",
        lambda r: r.fulfill(body="<title>Weather</title>", content_type="text/html"),
    )
    phone_page.get_by_role("button", name="Quick exit").click()
    phone_page.wait_for_url("https://www.bbc.co.uk/weather")
    phone_page.goto(live_server.base_url + "/chat")
    expect(phone_page.get_by_label("Your name")).to_have_value("")
