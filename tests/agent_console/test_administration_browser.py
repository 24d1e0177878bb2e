"""Administration pages in real Chromium (issue #15): an administrator adds a POD with its postcode
districts and opening hours (meeting the error summary first), and the next chat from one of its
postcodes is routed to it; then every other new page — teams, settings, text messages with their
preview, change history, the canned library and synonyms. axe-core must find nothing on any of
them; screenshots go to test-results/screenshots."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect
from sqlmodel import select

from contact_store import canned, org_cache
from contact_store.administration import config
from contact_store.models import Area, Conversation, Role
from tests.builders import DEFAULT_PASSWORD, make_operator, make_team
from tests.conftest import LiveServer
from tests.support.browser import assert_no_axe_violations, screenshot

pytestmark = pytest.mark.browser


@pytest.fixture
def admin_server(live_server: LiveServer) -> Iterator[LiveServer]:
    """The live server, its settings returned to the environment's afterwards (its database is
    emptied by `live_server`)."""
    try:
        yield live_server
    finally:
        config.apply(settings=live_server.settings, overrides={})
        org_cache.invalidate()


def _check(page: Page, name: str) -> None:
    screenshot(page, f"admin-{name}")
    assert_no_axe_violations(page, context=name)


def _sign_in(page: Page, server: LiveServer) -> None:
    with server.store.session_scope() as s:
        make_operator(s, username="admin-b", display_name="Ada Admin", role=Role.ADMIN)
        make_team(s, name="Digital Desk", default_max_chats=3)
        canned.load_shipped_canned_responses(session=s)
    page.goto(server.base_url + "/console/sign-in")
    page.get_by_label("Username").fill("admin-b")
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Welcome, Ada Admin")).to_be_visible()


def test_admin_adds_a_pod_and_the_next_chat_goes_to_it(page: Page, admin_server: LiveServer) -> None:
    server = admin_server
    _sign_in(page, server)
    page.get_by_role("link", name="Teams and PODs").click()
    expect(page.get_by_role("heading", name="PODs and postcodes")).to_be_visible()
    _check(page, "pods")
    page.get_by_role("button", name="Add a POD").click()
    page.get_by_label("POD name").fill("Riverside")
    page.get_by_label("Postcode districts").fill("ZZ9, not a postcode")
    page.get_by_label("This POD's own hours").check()
    page.get_by_label("Monday").fill("8 till late")
    _check(page, "pod-form")
    page.get_by_role("button", name="Add POD").click()
    summary = page.locator(".govuk-error-summary")
    expect(summary).to_contain_text("is not one")
    expect(summary).to_contain_text("Enter times like 08:00-20:00")
    expect(page.get_by_label("POD name")).to_have_value("Riverside")  # answers kept
    _check(page, "pod-form-errors")
    page.get_by_label("Postcode districts").fill("ZZ9, ZZ10")
    for day in ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"):
        page.get_by_label(day).fill("00:00-24:00")
    page.get_by_role("button", name="Add POD").click()
    expect(page.get_by_role("link", name="Riverside", exact=True)).to_be_visible()
    expect(page.locator("table")).to_contain_text("ZZ9, ZZ10")
    with server.store.session_scope() as s:
        area_id = s.exec(select(Area.id).where(Area.name == "Riverside")).one()
    r = httpx.post(
        server.base_url + "/api/v1/chats", json={"name": "Alex", "topic": "crime", "postcode": "zz9 1aa"}
    )
    assert r.status_code == 201, r.text
    with server.store.session_scope() as s:
        conv = s.get(Conversation, r.json()["conversation_id"])
        assert conv is not None and conv.area_id == area_id
    page.get_by_role("link", name="History of Riverside").click()
    expect(page.locator("table")).to_contain_text("ZZ9")
    _check(page, "history-pod")


def test_every_administration_page(page: Page, admin_server: LiveServer) -> None:
    server = admin_server
    _sign_in(page, server)
    page.goto(server.base_url + "/console/admin/teams")
    page.get_by_label("Team name").fill("Night desk")
    page.get_by_label("Chats at once").fill("30")
    page.get_by_role("button", name="Add team").click()
    expect(page.locator(".govuk-error-summary")).to_contain_text("from 1 to 20")
    _check(page, "teams-errors")
    page.get_by_label("Chats at once").fill("4")
    page.get_by_role("button", name="Add team").click()
    page.get_by_role("link", name="Night desk", exact=True).click()
    _check(page, "team-form")

    page.get_by_role("link", name="Settings").first.click()
    expect(page.get_by_role("heading", name="Settings", exact=True)).to_be_visible()
    _check(page, "settings")
    page.get_by_label("Brand colour").fill("dark blue")
    page.locator("#force").locator("xpath=following-sibling::form[1]").get_by_role(
        "button", name="Save"
    ).click()
    expect(page.locator(".govuk-error-summary")).to_be_visible()
    _check(page, "settings-errors")
    page.get_by_label("Brand colour").fill("#4b2e83")
    page.get_by_label("Name", exact=True).fill("Heddlu Prawf Police")
    page.locator("form[action$='/settings/force']").get_by_role("button", name="Save").click()
    expect(page.locator(".govuk-header")).to_contain_text("Heddlu Prawf Police")  # every worker, no restart
    _check(page, "settings-saved")

    page.goto(server.base_url + "/console/admin/sms-templates")
    _check(page, "sms-templates")
    page.locator('a[href="/console/admin/sms-templates/chat_ack/cy"]').click()
    page.get_by_label("Text").fill("((force)): diolch am gysylltu â ni. Eich cyfeirnod yw ((reference)).")
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#sms-encoding")).to_contain_text("UCS-2")
    _check(page, "sms-template-preview")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("heading", name="Text messages")).to_be_visible()

    page.goto(server.base_url + "/console/admin/history?type=setting&id=sms:chat_ack:cy&at=2000-01-01")
    expect(page.locator("#in-force")).to_contain_text("No change was recorded by then")
    _check(page, "history-at-date")
    page.goto(server.base_url + "/console/admin/history")
    _check(page, "history")

    page.get_by_role("link", name="Canned answers").first.click()
    page.get_by_label("Search").fill("bike")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#canned-table")).to_contain_text("Cycle theft")
    _check(page, "canned-library")
    page.get_by_role("button", name="Add a canned answer").click()
    page.get_by_role("button", name="Add canned answer").click()
    expect(page.locator(".govuk-error-summary")).to_contain_text("Enter a title")
    _check(page, "canned-form-errors")
    page.goto(server.base_url + "/console/canned-synonyms")
    page.get_by_label("Words that mean the same").fill("bike, bicycle, cycle")
    page.get_by_role("button", name="Add group").click()
    expect(page.get_by_label("Group 1")).to_have_value("bike, bicycle, cycle")
    _check(page, "canned-synonyms")


def test_admin_retires_and_restores_a_team_and_a_pod(page: Page, admin_server: LiveServer) -> None:
    """Retiring asks first and is refused while the team has active operators (the error summary
    links to them); a retired POD's postcodes go to the common queue; both can be restored."""
    server = admin_server
    _sign_in(page, server)
    with server.store.session_scope() as s:
        team = make_team(s, name="Night desk")
        make_operator(s, username="sam-n", display_name="Sam Night", team_id=team.id)
        s.add(Area(name="Riverside", postcode_prefixes=["ZZ9"]))
    page.goto(server.base_url + "/console/admin/teams")
    page.get_by_role("link", name="Night desk", exact=True).click()
    page.get_by_role("button", name="Retire Night desk").click()
    expect(page.get_by_role("heading", name="Retire Night desk?")).to_be_visible()
    _check(page, "team-retire")
    page.get_by_role("button", name="Retire Night desk").click()
    expect(page.locator(".govuk-error-summary")).to_contain_text("Night desk has 1 active operator")
    _check(page, "team-retire-errors")
    page.get_by_role("link", name="See the operators of Night desk").click()
    expect(page.get_by_role("heading", name="Operators in Night desk")).to_be_visible()
    page.get_by_role("button", name="Disable Sam Night").click()
    expect(page.get_by_role("button", name="Enable Sam Night")).to_be_visible()  # the POST is done
    page.goto(server.base_url + "/console/admin/teams")
    page.get_by_role("link", name="Night desk", exact=True).click()
    page.get_by_role("button", name="Retire Night desk").click()
    page.get_by_role("button", name="Retire Night desk").click()
    expect(page.locator("#retired-teams")).to_contain_text("Night desk (retired)")
    _check(page, "teams-retired")
    page.get_by_role("link", name="Night desk (retired)").click()
    _check(page, "team-retired-form")
    page.get_by_role("button", name="Restore Night desk").click()
    expect(page.get_by_role("link", name="Night desk", exact=True)).to_be_visible()
    expect(page.locator("#retired-teams")).to_have_count(0)

    page.goto(server.base_url + "/console/admin/pods")
    page.get_by_role("link", name="Riverside", exact=True).click()
    page.get_by_role("button", name="Retire Riverside").click()
    _check(page, "pod-retire")
    page.get_by_role("button", name="Retire Riverside").click()
    expect(page.locator("#retired-pods")).to_contain_text("Riverside (retired)")
    _check(page, "pods-retired")
    r = httpx.post(
        server.base_url + "/api/v1/chats", json={"name": "Alex", "topic": "crime", "postcode": "ZZ9 1AA"}
    )
    assert r.status_code == 201, r.text
    with server.store.session_scope() as s:
        conv = s.get(Conversation, r.json()["conversation_id"])
        assert conv is not None and conv.area_id is None  # the common queue
    page.get_by_role("link", name="Riverside (retired)").click()
    page.get_by_role("button", name="Restore Riverside").click()
    expect(page.locator("#retired-pods")).to_have_count(0)
