"""The console in real Chromium: the live wallboard, a triage story, and every page axe-clean."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from contact_store.clock import utcnow
from contact_store.events import channels, emit
from contact_store.models import Operator, OperatorStatus, Role
from tests.builders import (
    DEFAULT_PASSWORD,
    make_area,
    make_conversation,
    make_operator,
    make_person,
    make_report,
    make_team,
)
from tests.conftest import LiveServer
from tests.support.browser import assert_no_axe_violations, screenshot

pytestmark = pytest.mark.browser
XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'


def _sign_in(page: Page, live_server: LiveServer, username: str, next_path: str) -> None:
    page.goto(live_server.base_url + next_path)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_wallboard_changes_without_reload(page: Page, live_server: LiveServer) -> None:
    with live_server.store.session_scope() as s:
        make_operator(s, role=Role.SUPERVISOR, username="sup-wb", display_name="Sam Supervisor")
        # last_seen_at: an available operator is connected (routing sends silent ones offline).
        op = make_operator(
            s,
            username="op-wb",
            display_name="Olu Operator",
            status=OperatorStatus.AVAILABLE,
            last_seen_at=utcnow(),
        )
        op_id = op.id
        make_report(s, received_at=utcnow() - timedelta(hours=30))
    _sign_in(page, live_server, "sup-wb", "/console/wallboard")
    expect(page.get_by_role("heading", name="Wallboard")).to_be_visible()
    expect(page.locator("#live-status")).to_have_text("live")
    page.evaluate("window.__sameDocument = true")
    open_reports = page.locator('[data-field="reports_open"]')
    expect(open_reports).to_have_text("1")
    expect(page.locator('[data-field="reports_over_target"]')).to_have_text("1")
    expect(page.locator("#operators")).to_contain_text("Olu Operator")
    assert_no_axe_violations(page, context="wallboard 1280")
    screenshot(page, "console-wallboard-1280")

    # A report arrives: the figure changes without a reload.
    with live_server.store.session_scope() as s:
        report = make_report(s, summary="<img src=x onerror=alert(1)>")
        emit(s, channels.REPORTS, {"type": "report.received", "report_id": report.id})
    expect(open_reports).to_have_text("2")
    # An operator goes away: the operator table changes.
    with live_server.store.session_scope() as s:
        row = s.get(Operator, op_id)
        assert row is not None
        row.status = OperatorStatus.AWAY
        row.status_changed_at = utcnow()
        s.add(row)
        emit(s, channels.WALLBOARD, {"type": "operator.status", "operator_id": op_id, "status": "away"})
    expect(page.locator('[data-field="away"]')).to_have_text("1")
    expect(page.locator("#operators")).to_contain_text("away")
    assert page.evaluate("window.__sameDocument") is True  # never reloaded

    # The supervisor sets the operator back to available from the wallboard.
    page.get_by_label("Status for Olu Operator").select_option("available")
    page.locator("#operators").get_by_role("button", name="Set").click()
    expect(page.locator('[data-field="available"]')).to_have_text("1")

    # A chat arrives: the queue figure and the chat list change; the supervisor gives it to Olu.
    with live_server.store.session_scope() as s:
        conv = make_conversation(s, topic="burglary")
        emit(s, channels.QUEUE, {"type": "conversation.queued", "conversation_id": conv.id})
    expect(page.locator('[data-field="waiting"]')).to_have_text("1")
    expect(page.locator("#chats")).to_contain_text("burglary")
    page.locator("#chats").get_by_role("combobox").select_option(label="Olu Operator")
    page.locator("#chats").get_by_role("button", name="Give").click()
    expect(page.locator('[data-field="in_progress"]')).to_have_text("1")
    expect(page.locator("#chats")).to_contain_text("Olu Operator")

    page.set_viewport_size({"width": 1920, "height": 1080})
    assert_no_axe_violations(page, context="wallboard 1920")
    screenshot(page, "console-wallboard-1920")


def test_triage_claim_grade_and_text_update(page: Page, live_server: LiveServer) -> None:
    with live_server.store.session_scope() as s:
        team = make_team(s, name="Digital Team")
        area = make_area(s, name="East")
        make_operator(s, username="op-tri", display_name="Priya Shah", team_id=team.id)
        person = make_person(s, name="Alex Reporter", phone_e164="+447700900123")
        make_report(s, person_id=person.id, received_at=utcnow() - timedelta(hours=2), status="closed")
        report = make_report(
            s,
            person_id=person.id,
            form_slug="crime",
            team_id=team.id,
            area_id=area.id,
            summary="Bike stolen from shed",
            answers={"what_happened": "My bike was stolen", "when": XSS},
            received_at=utcnow() - timedelta(hours=26),
            safe_to_contact=True,
            contact_e164="+447700900123",
        )
        ref, rid = report.reference, report.id
    _sign_in(page, live_server, "op-tri", "/console/reports")
    expect(page.get_by_role("heading", name="Online reports")).to_be_visible()
    expect(page.get_by_text("over 24 h")).to_be_visible()
    assert_no_axe_violations(page, context="triage list")
    screenshot(page, "console-triage-list")
    page.get_by_role("link", name=ref).click()
    expect(page.get_by_text("My bike was stolen")).to_be_visible()
    answer = page.locator(".govuk-summary-list__row", has=page.get_by_text("When", exact=True)).locator("dd")
    expect(answer).to_have_text(XSS)  # shown as text...
    assert page.evaluate("window.__xss") is None  # ...never run
    expect(page.get_by_text("Repeat contact").first).to_be_visible()
    page.get_by_role("button", name="Claim this report").click()
    expect(page.locator("#report-assignee")).to_have_text("Priya Shah")
    expect(page.locator("#report-status")).to_have_text("In progress")
    page.get_by_label("Grade", exact=True).select_option("3")
    page.get_by_label("Vulnerability").fill("None identified")
    page.get_by_role("button", name="Save grade and THRIVE").click()
    expect(page.locator("#report-grade")).to_contain_text("3 – Non-urgent")
    page.get_by_label("Your report has been passed to an officer").check()
    page.get_by_role("button", name="Send text").click()
    timeline = page.locator(".fc-timeline")
    expect(timeline).to_contain_text(f"update on {ref}: your report has been passed to an officer")
    expect(timeline).to_contain_text("Grade set to 3")
    expect(timeline).to_contain_text("Claimed by Priya Shah")
    assert_no_axe_violations(page, context="report page")
    screenshot(page, "console-report")
    # A bad note shows the error summary and stays accessible.
    page.get_by_role("button", name="Add note").click()
    expect(page.get_by_text("There is a problem")).to_be_visible()
    assert_no_axe_violations(page, context="report page with error")
    page.goto(f"{live_server.base_url}/console/reports/{rid}")
    page.get_by_role("link", name="Alex Reporter").click()
    expect(page.get_by_role("heading", name="Alex Reporter")).to_be_visible()
    assert_no_axe_violations(page, context="person page")
    screenshot(page, "console-person")


def test_admin_and_manager_pages_are_accessible(page: Page, live_server: LiveServer) -> None:
    with live_server.store.session_scope() as s:
        make_team(s, name="Resolution Centre")
        make_area(s, name="West")
        make_operator(s, role=Role.ADMIN, username="admin-ax", display_name="Ada Admin")
        person = make_person(s, name="Pat Person", phone_e164="+447700900999")
        make_report(s, person_id=person.id)
        pid = person.id
    _sign_in(page, live_server, "admin-ax", "/console")
    expect(page.get_by_role("heading", name="Welcome, Ada Admin")).to_be_visible()
    assert_no_axe_violations(page, context="home")
    screenshot(page, "console-home-admin")
    for path, heading, name in [
        ("/console/admin/operators", "Operators", "console-admin-operators"),
        ("/console/admin/operators/new", "Add an operator", "console-admin-operator-new"),
        ("/console/admin/audit", "Audit log", "console-admin-audit"),
        ("/console/admin/people?q=Pat", "Subject access", "console-admin-people"),
        (
            f"/console/admin/people/{pid}/export",
            f"Everything held about person {pid}",
            "console-admin-export",
        ),
        (
            "/console/staffing/calculator?contacts=100&period=30&aht=180&target=20&sl=80&shrinkage=30&concurrency=1",
            "Staffing calculator",
            "console-staffing",
        ),
        ("/console/staffing/calculator?contacts=x", "Staffing calculator", "console-staffing-error"),
        ("/console/staffing", "Staffing plan", "console-staffing-plan-empty"),
    ]:
        page.goto(live_server.base_url + path)
        expect(page.get_by_role("heading", name=heading, level=1)).to_be_visible()
        assert_no_axe_violations(page, context=path)
        screenshot(page, name)
    page.goto(
        live_server.base_url
        + "/console/staffing/calculator?contacts=100&period=30&aht=180&target=20&sl=80&shrinkage=30"
    )
    expect(page.locator("#plan-agents")).to_have_text("14")
    expect(page.locator("#plan-rostered")).to_have_text("20")
    page.goto(live_server.base_url + "/console/admin/operators/new")
    page.get_by_label("Username").fill("new-person")
    page.get_by_label("Name shown to colleagues").fill("New Person")
    page.get_by_label("West").check()
    page.get_by_role("button", name="Add operator").click()
    expect(page.get_by_role("heading", name="Operator added")).to_be_visible()
    assert_no_axe_violations(page, context="operator added")
