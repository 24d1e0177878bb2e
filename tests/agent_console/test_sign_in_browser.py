"""The sign-in page as staff meet it: real Chromium, keyboard only, axe-core clean."""

import pytest
from playwright.sync_api import Page, expect

from tests.builders import DEFAULT_PASSWORD, make_operator
from tests.conftest import LiveServer
from tests.support.browser import assert_no_axe_violations, screenshot

pytestmark = pytest.mark.browser


def test_sign_in_with_keyboard(page: Page, live_server: LiveServer) -> None:
    with live_server.store.session_scope() as s:
        make_operator(s, username="kb-user", display_name="Keyboard User")
    page.goto(live_server.base_url + "/console")
    expect(page.get_by_role("heading", name="Sign in to the console")).to_be_visible()
    assert_no_axe_violations(page, context="sign-in")
    screenshot(page, "console-sign-in")
    page.get_by_label("Username").fill("kb-user")
    page.keyboard.press("Tab")
    page.keyboard.type("wrong password")
    page.keyboard.press("Enter")
    expect(page.get_by_text("There is a problem")).to_be_visible()
    assert_no_axe_violations(page, context="sign-in error")
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Welcome, Keyboard User")).to_be_visible()
    assert_no_axe_violations(page, context="console home")


def test_public_home_page(phone_page: Page, live_server: LiveServer) -> None:
    phone_page.goto(live_server.base_url + "/")
    expect(phone_page.get_by_text("If you are in danger now")).to_be_visible()
    assert_no_axe_violations(phone_page, context="home")
    screenshot(phone_page, "public-home-phone")
