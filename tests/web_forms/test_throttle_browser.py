"""What a member of the public sees when a throttle refuses them, in real Chromium with axe-core:
"Send report" over the address's limit (the check page again, answers kept, error summary focused),
and "Start chat" in the widget over the chat-start limit (a clear message with the 999 advice).

The live server is shared: each test gives it throttles of its own (limit 1, in this process, on a
clock that stands still) and puts the originals back."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from contact_store.throttle import Throttles, throttles_for
from tests.conftest import LiveServer
from tests.support.browser import assert_no_axe_violations, screenshot
from tests.web_forms.helpers import full_answers
from tests.web_forms.test_forms_browser import walk_to_check
from web_forms.catalogue import catalogue

pytestmark = pytest.mark.browser


@pytest.fixture
def tight(live_server: LiveServer) -> Iterator[LiveServer]:
    state = live_server.app.state
    original = throttles_for(live_server.app)
    limits = {"api_submissions_per_minute": 1, "chat_starts_per_address_per_hour": 1, "redis_url": None}
    state.throttles = Throttles(live_server.settings.model_copy(update=limits), clock=lambda: 0.0)
    try:
        yield live_server
    finally:
        state.throttles = original


def test_send_report_over_the_limit_keeps_the_answers(page: Page, tight: LiveServer) -> None:
    form = catalogue()["crime"]
    page.goto(tight.base_url + "/report/crime")
    page.get_by_role("button", name="Start now").click()
    walk_to_check(page, form, full_answers(form))
    # Another report from the same address uses the budget first.
    r = httpx.post(
        tight.base_url + "/api/v1/forms/feedback/submissions",
        json={"answers": full_answers(catalogue()["feedback"])},
    )
    assert r.status_code == 201
    page.get_by_role("button", name="Send report").click()
    summary = page.locator(".govuk-error-summary")
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("Your answers are saved")
    assert page.title().startswith("Error:")
    expect(page.locator(".govuk-summary-list")).to_contain_text("Someone took my bike from outside the shop.")
    assert_no_axe_violations(page, context="send report over the limit")
    screenshot(page, "forms-send-report-throttled")
    summary.get_by_role("link").click()
    expect(page.get_by_role("button", name="Send report")).to_be_focused()


def test_start_chat_over_the_limit_says_so(page: Page, tight: LiveServer) -> None:
    assert (
        httpx.post(tight.base_url + "/api/v1/chats", json={"name": "Sam", "topic": "crime"}).status_code
        == 201
    )
    page.goto(tight.base_url + "/chat/demo")
    page.get_by_role("button", name="Chat with us").click()
    page.get_by_label("Your name").fill("Robin")
    page.get_by_label("What is your chat about?").select_option("crime")
    page.get_by_role("button", name="Start chat").click()
    summary = page.locator(".fcw-error-summary")
    expect(summary).to_contain_text("Too many chats have been started from your connection")
    expect(summary).to_contain_text("If you are in danger now, call 999.")
    expect(page.get_by_text("You are number 1 in the queue.")).to_have_count(0)  # no chat started
    assert_no_axe_violations(page, context="chat start over the limit")
    screenshot(page, "chat-widget-start-throttled")
