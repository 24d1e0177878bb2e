"""The dashboard and its drill-down in real Chromium: axe-core finds nothing; screenshots saved."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from contact_store.measures import rebuild_all
from tests.builders import DEFAULT_PASSWORD, make_operator
from tests.conftest import LiveServer
from tests.support.browser import assert_no_axe_violations, screenshot
from tests.support.dashboard_scenario import build_scenario, utc

pytestmark = pytest.mark.browser


def test_dashboard_pages_are_accessible(page: Page, live_server: LiveServer) -> None:
    with live_server.store.session_scope() as s:
        build_scenario(s, prefix="Browser ")
        rebuild_all(session=s, settings=live_server.settings, now=utc(2026, 4, 20, 12))
        make_operator(s, username="manager-dash", display_name="A manager", role="manager")
    page.goto(live_server.base_url + "/console/sign-in")
    page.get_by_label("Username").fill("manager-dash")
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.keyboard.press("Enter")
    page.get_by_role("link", name="Dashboards").click()
    expect(page.get_by_role("heading", name="Performance dashboard")).to_be_visible()
    for prefix, (d, m, y) in {"from": ("1", "3", "2026"), "to": ("31", "3", "2026")}.items():
        group = page.locator(f"#{prefix}")
        group.get_by_label("Day").fill(d)
        group.get_by_label("Month").fill(m)
        group.get_by_label("Year").fill(y)
    page.get_by_role("button", name="Show figures").click()
    expect(page.get_by_role("img", name="Service level by team")).to_be_visible()
    assert_no_axe_violations(page, context="dashboard")
    screenshot(page, "dashboard-chat")
    page.get_by_label("Channel").select_option("forms")
    page.get_by_role("button", name="Show figures").click()
    assert_no_axe_violations(page, context="dashboard forms")
    page.get_by_role("link", name="2").first.click()
    expect(page.get_by_role("heading", name="Contacts behind a figure")).to_be_visible()
    assert_no_axe_violations(page, context="dashboard drill-down")
    screenshot(page, "dashboard-contacts")
    page.goto(live_server.base_url + "/console/dashboards?from-day=40&from-month=2&from-year=2026")
    expect(page.get_by_text("There is a problem")).to_be_visible()
    assert_no_axe_violations(page, context="dashboard error")
