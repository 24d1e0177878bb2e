"""The staffing plan in real Chromium: charts and tables axe-clean, the calculator and its errors,
and no sideways scrolling at 320 px. Screenshots go to test-results/screenshots."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect

from contact_store.clock import utcnow
from contact_store.models import Role
from tests.builders import DEFAULT_PASSWORD, make_operator
from tests.conftest import LiveServer
from tests.support.browser import assert_no_axe_violations, screenshot
from tests.support.staffing import store_chats

pytestmark = pytest.mark.browser
LONDON = ZoneInfo("Europe/London")
NO_SIDEWAYS_SCROLL = "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth"


def test_staffing_plan_page(page: Page, live_server: LiveServer) -> None:
    today = utcnow().astimezone(LONDON).date()
    saturday = today + timedelta(days=(5 - today.weekday()) % 7 or 7)
    with live_server.store.session_scope() as s:
        store_chats(s, tz=LONDON, first=today - timedelta(weeks=12), end=today,
                    per_day={0: 6, 1: 4, 2: 4, 3: 4, 4: 6, 5: 8, 6: 2}, evening_extra=6)  # fmt: skip
        make_operator(s, role=Role.MANAGER, username="mgr-plan", display_name="Mo Manager")
    page.goto(live_server.base_url + "/console/staffing")
    page.get_by_label("Username").fill("mgr-plan")
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Staffing plan", level=1)).to_be_visible()
    page.get_by_label("Day", exact=True).select_option(saturday.isoformat())
    page.get_by_role("button", name="Show the plan").click()
    expect(page.locator("#plan-heading")).to_contain_text("Saturday")
    expect(page.get_by_role("img", name="Operators to roster per half hour")).to_be_visible()
    evening = page.locator("#parts tr", has_text="Evening")
    expect(evening).to_be_visible()
    assert int(evening.locator("td").nth(1).inner_text().split()[0]) >= 1  # rostered by Erlang C
    assert_no_axe_violations(page, context="staffing plan 1280")
    screenshot(page, "console-staffing-plan-1280")

    # What if: the calculator opened from the 19:00 row, prefilled with that half hour.
    page.locator("#plan-table tr", has_text="19:00–19:30").get_by_role("link").click()
    expect(page.get_by_role("heading", name="Staffing calculator")).to_be_visible()
    assert float(page.get_by_label("Contacts in the period").input_value()) > 0
    assert_no_axe_violations(page, context="calculator")
    screenshot(page, "console-staffing-calculator")
    page.get_by_label("Contacts in the period").fill("lots")
    page.get_by_role("button", name="Calculate").click()
    expect(page.get_by_role("heading", name="There is a problem")).to_be_visible()
    assert_no_axe_violations(page, context="calculator error")

    page.goto(live_server.base_url + "/console/staffing?sl=200")
    expect(page.get_by_role("heading", name="There is a problem")).to_be_visible()
    assert_no_axe_violations(page, context="staffing plan error")

    # A phone-width window: the tables reflow into labelled rows instead of scrolling sideways.
    page.set_viewport_size({"width": 320, "height": 800})
    page.goto(live_server.base_url + f"/console/staffing?day={saturday.isoformat()}")
    expect(page.locator("#plan-table")).to_be_visible()
    assert page.evaluate(NO_SIDEWAYS_SCROLL)
    assert_no_axe_violations(page, context="staffing plan 320")
    screenshot(page, "console-staffing-plan-320")
