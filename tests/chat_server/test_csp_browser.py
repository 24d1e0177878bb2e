"""The Content-Security-Policy in real Chromium: the main pages load and work with ZERO violations
(every `securitypolicyviolation` event and every CSP console message is recorded) and stay
axe-clean. Checked before axe runs: axe's own loader tries an inline script first.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

from contact_store.models import Role
from tests.builders import DEFAULT_PASSWORD, make_area, make_operator
from tests.conftest import LiveServer
from tests.support.browser import assert_no_axe_violations

pytestmark = pytest.mark.browser

# Runs in every document before its own scripts (injected by DevTools, so the CSP does not apply).
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  const where = `${e.sourceFile}:${e.lineNumber}`;
  window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI} at ${where}`);
});
"""


class CspWatch:
    """CSP complaints seen by one page: violation events of the current document, console lines."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.console: list[str] = []
        page.on("console", self._on_console)

    def _on_console(self, message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.console.append(message.text)

    def assert_clean(self, where: str) -> None:
        events = self.page.evaluate("() => window.__cspViolations || null")
        assert events is not None, "the violation recorder did not run"
        problems = list(events) + self.console
        assert not problems, f"CSP violations on {where}:\n" + "\n".join(problems)

    def check(self, where: str) -> None:
        """No violation so far on this document, then axe (whose loader is refused once, by design)."""
        self.assert_clean(where)
        assert_no_axe_violations(self.page, context=where)
        self.console.clear()
        self.page.evaluate("() => { window.__cspViolations = []; }")


@pytest.fixture
def watched(browser: Browser) -> Iterator[tuple[Page, CspWatch]]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(10_000)
    context.add_init_script(RECORD_VIOLATIONS)
    page = context.new_page()
    try:
        yield page, CspWatch(page)
    finally:
        context.close()


def _sign_in(page: Page, live_server: LiveServer, username: str, next_path: str) -> None:
    page.goto(live_server.base_url + next_path)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_public_form_has_no_csp_violations(watched: tuple[Page, CspWatch], live_server: LiveServer) -> None:
    page, watch = watched
    page.goto(live_server.base_url + "/report")
    # The nonced inline script in the layout ran.
    expect(page.locator("body")).to_have_class(re.compile(r"\bjs-enabled govuk-frontend-supported\b"))
    watch.check("report index")
    page.goto(live_server.base_url + "/report/domestic-abuse")
    expect(page.get_by_role("button", name="Emergency Exit this page")).to_be_visible()
    page.get_by_role("button", name="Start now").click()
    page.get_by_role("button", name="Continue").click()
    expect(page.locator(".govuk-error-summary")).to_be_visible()
    # GOV.UK Frontend ran (it moves focus to the error summary): its module script was allowed.
    expect(page.locator(".govuk-error-summary")).to_be_focused()
    watch.check("domestic abuse question page with errors")


def test_widget_demo_and_hosted_chat_have_no_csp_violations(
    watched: tuple[Page, CspWatch], live_server: LiveServer
) -> None:
    page, watch = watched
    with live_server.store.session_scope() as s:
        make_area(s, name="East", postcode_prefixes=["BB"])
    page.goto(live_server.base_url + "/chat/demo")
    page.get_by_role("button", name="Chat with us").click()
    expect(page.get_by_text("If you are in danger now")).to_be_visible()
    watch.check("widget demo, pre-chat form")
    page.get_by_label("Your name").fill("Robin")
    page.get_by_label("What is your chat about?").select_option("crime")
    page.get_by_role("button", name="Start chat").click()
    # Reaching the queue means the chat API call and the websocket were both allowed.
    expect(page.get_by_text("You are number 1 in the queue.")).to_be_visible()
    watch.check("widget demo, waiting in the queue")
    page.goto(live_server.base_url + "/chat")  # the same chat, resumed inline on the hosted page
    expect(page.get_by_role("region", name="Live chat")).to_contain_text("You are number 1 in the queue.")
    watch.check("hosted chat page")


def test_console_sign_in_workspace_and_wallboard_have_no_csp_violations(
    watched: tuple[Page, CspWatch], live_server: LiveServer
) -> None:
    page, watch = watched
    with live_server.store.session_scope() as s:
        make_operator(s, role=Role.SUPERVISOR, username="sup-csp", display_name="Sam Supervisor")
    page.goto(live_server.base_url + "/console/sign-in")
    expect(page.get_by_label("Username")).to_be_visible()
    watch.check("console sign-in")
    _sign_in(page, live_server, "sup-csp", "/console/workspace")
    expect(page.get_by_role("heading", name="Chat workspace")).to_be_visible()
    expect(page.locator("body")).to_contain_text("Sam Supervisor")
    watch.check("workspace")
    page.goto(live_server.base_url + "/console/wallboard")
    expect(page.locator("#live-status")).to_have_text("live")  # the event stream connected
    watch.check("wallboard")
