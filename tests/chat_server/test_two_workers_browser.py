"""Two browser windows on two workers (PostgreSQL + Redis): the visitor's widget on worker A, the
operator's workspace on worker B; the operator goes away and comes back mid-chat."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.builders import DEFAULT_PASSWORD, make_operator
from tests.chat_server.workers import Worker, needs_postgres_and_redis, slow_start, two_workers
from tests.support.browser import screenshot

pytestmark = [pytest.mark.browser, needs_postgres_and_redis, slow_start]
__all__ = ["two_workers"]


def test_widget_on_one_worker_workspace_on_the_other(
    page: Page, browser: Browser, two_workers: tuple[Worker, Worker]
) -> None:
    a, b = two_workers
    with a.store.session_scope() as s:
        make_operator(s, username="kim", display_name="Kim")
    page.goto(a.base_url + "/chat")
    page.get_by_label("Your name").fill("Lee")
    page.get_by_label("What is your chat about?").select_option("road")
    page.get_by_role("button", name="Start chat").click()
    expect(page.get_by_text("in the queue")).to_be_visible()
    page.get_by_label("Your message").fill("A car is parked across my drive")
    page.keyboard.press("Enter")

    ctx = browser.new_context()
    op = ctx.new_page()
    op.goto(b.base_url + "/console/workspace")
    op.get_by_label("Username").fill("kim")
    op.get_by_label("Password").fill(DEFAULT_PASSWORD)
    op.keyboard.press("Enter")
    op.get_by_role("button", name="Accept chat with Lee").click()
    expect(op.locator(".fcws-msg--visitor")).to_contain_text("A car is parked across my drive")
    expect(page.get_by_text("You are chatting with Kim.")).to_be_visible()
    op.get_by_label("Message to Lee").fill("Which street are you on?")
    op.get_by_role("button", name="Send").click()
    expect(page.locator(".fcw-msg--operator .fcw-text")).to_have_text(["Which street are you on?"])
    # The operator goes away; the visitor writes; the operator comes back on the same worker B.
    op.goto("about:blank")
    page.get_by_label("Your message").fill("Station Road")
    page.keyboard.press("Enter")
    op.goto(b.base_url + "/console/workspace")
    expect(op.locator(".fcws-msg--visitor").last).to_contain_text("Station Road")
    expect(op.locator(".fcws-msg--visitor")).to_have_count(2)
    screenshot(op, "chat-two-workers-operator")
    ctx.close()
