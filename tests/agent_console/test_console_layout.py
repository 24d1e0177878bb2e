"""Console layout in real Chromium (#15.4): no page scrolls sideways at 320 px (tables reflow into
labelled rows), the header lines up with the content at 1440 px, and the chat workspace keeps the
message box in view at 1440×900. Screenshots: test-results/screenshots/layout-*.png."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from contact_store.models import Role
from tests.agent_console.test_workspace_browser import Visitor, sign_in
from tests.builders import make_area, make_operator, make_person, make_report, make_team
from tests.conftest import LiveServer
from tests.support.browser import screenshot

pytestmark = pytest.mark.browser

# The widest element's right edge beyond the window, with what it is, or None.
OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  let worst = null;
  for (const el of document.querySelectorAll('body *')) {
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.height === 0) continue;
    if (getComputedStyle(el).visibility === 'hidden') continue;
    // Inside a scrolling region the page itself does not scroll.
    let p = el.parentElement, scrolls = false;
    while (p && p !== document.body) {
      const o = getComputedStyle(p).overflowX;
      if (o !== 'visible') { scrolls = true; break; }
      p = p.parentElement;
    }
    if (scrolls) continue;
    if (box.right > width + 1 && (!worst || box.right > worst.right)) {
      worst = {right: box.right, what: el.tagName + '.' + el.className + ' ' + (el.id || '')};
    }
  }
  return {scrollWidth: document.documentElement.scrollWidth, width, worst};
}"""


def _pages(live_server: LiveServer) -> list[tuple[str, str]]:
    with live_server.store.session_scope() as s:
        team = make_team(s, name="Digital Team")
        area = make_area(s, name="East", postcode_prefixes=["BB"])
        make_operator(s, role=Role.ADMIN, username="layout-admin", display_name="Lee Layout", team_id=team.id)
        person = make_person(s, name="Pat Public", phone_e164="+447700900123")
        report = make_report(
            s, person_id=person.id, team_id=team.id, area_id=area.id, summary="A very long summary " * 8
        )
        rid, pid = report.id, person.id
    return [
        ("home", "/console"),
        ("reports", "/console/reports"),
        ("report", f"/console/reports/{rid}"),
        ("person", f"/console/people/{pid}"),
        ("texts", "/console/texts"),
        ("wallboard", "/console/wallboard"),
        ("surveys", "/console/surveys"),
        ("sms", "/console/sms"),
        ("staffing", "/console/staffing"),
        ("calculator", "/console/staffing/calculator"),
        ("workspace", "/console/workspace"),
    ]


def test_no_console_page_scrolls_sideways_at_320px(page: Page, live_server: LiveServer) -> None:
    pages = _pages(live_server)
    page.set_viewport_size({"width": 320, "height": 800})
    sign_in(page, live_server, "layout-admin", "/console")
    failures = []
    for name, path in pages:
        page.goto(live_server.base_url + path)
        page.wait_for_load_state("networkidle")
        found = page.evaluate(OVERFLOW)
        screenshot(page, f"layout-320-{name}")
        if found["scrollWidth"] > found["width"] or found["worst"]:
            failures.append((path, found))
    assert not failures, failures


def test_header_lines_up_with_the_content_at_1440px(page: Page, live_server: LiveServer) -> None:
    pages = _pages(live_server)
    page.set_viewport_size({"width": 1440, "height": 900})
    sign_in(page, live_server, "layout-admin", "/console")
    failures = []
    for name, path in pages:
        page.goto(live_server.base_url + path)
        page.wait_for_load_state("networkidle")
        brand = page.locator("header .govuk-header__container").first.bounding_box()
        nav = page.locator(".govuk-service-navigation__container").first.bounding_box()
        main = page.locator("main").first.bounding_box()
        assert brand and nav and main
        screenshot(page, f"layout-1440-{name}")
        lefts = {round(brand["x"]), round(nav["x"]), round(main["x"])}
        if max(lefts) - min(lefts) > 1:
            failures.append((path, brand["x"], nav["x"], main["x"]))
    assert not failures, failures


def test_workspace_message_box_in_view_at_1440x900(page: Page, live_server: LiveServer) -> None:
    with live_server.store.session_scope() as s:
        team = make_team(s, name="Digital Team")
        make_operator(s, username="box-op", display_name="Bo", team_id=team.id, max_concurrent_chats=3)
    visitor = Visitor(live_server, "Robin", postcode="BB1 1AA")
    try:
        for i in range(12):
            visitor.say(f"Message number {i} about the bike that was stolen from the shed last night.")
        page.set_viewport_size({"width": 1440, "height": 900})
        sign_in(page, live_server, "box-op")
        page.get_by_role("button", name="Accept chat with").first.click()
        panel = page.locator(f"#fcws-panel-{visitor.id}")
        box = panel.get_by_label("Message to Robin")
        expect(box).to_be_visible()
        expect(panel.locator(".fcws-msg--visitor").last).to_contain_text("Message number 11")
        screenshot(page, "layout-1440x900-workspace")
        assert page.evaluate("() => window.scrollY") == 0
        where = box.bounding_box()
        send = panel.get_by_role("button", name="Send", exact=True).bounding_box()
        assert where and send
        assert where["y"] >= 0 and where["y"] + where["height"] <= 900, where
        assert send["y"] + send["height"] <= 900, send
    finally:
        visitor.ws.close()
