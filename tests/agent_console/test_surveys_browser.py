"""Survey pages in real Chromium: the Figure 18 table, the public survey (with errors), the SMS log.
Screenshots are saved to test-results/screenshots; axe-core must find nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect

from contact_store.models import SurveyInvitation, SurveyResponse
from contact_store.outbox import queue_sms
from contact_store.surveys import schedule_survey
from contact_store.surveys.service import survey_token
from tests.builders import DEFAULT_PASSWORD, make_area, make_operator, make_person, make_report, make_team
from tests.conftest import LiveServer
from tests.support.browser import assert_no_axe_violations, screenshot
from tests.support.sms_consent import texting_report

pytestmark = pytest.mark.browser


def _sign_in(page: Page, live_server: LiveServer, role: str) -> None:
    with live_server.store.session_scope() as s:
        make_operator(s, username=f"{role}-b", display_name=f"A {role}", role=role)
    page.goto(live_server.base_url + "/console/sign-in")
    page.get_by_label("Username").fill(f"{role}-b")
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name=f"Welcome, A {role}")).to_be_visible()


def test_figure18_results_page(page: Page, live_server: LiveServer) -> None:
    now = datetime.now(UTC)
    with live_server.store.session_scope() as s:
        pod = make_area(s, "East")
        for name, scores in {
            "Digital Team": [(5, 5, 4), (4, 3, 5), (2, 4, 4)],
            "FCR": [(5, 4, 5), (3, 2, 1)],
            "Resolution Centre": [(5, 5, 5)],
        }.items():
            team = make_team(s, name)
            for i, (t, r, o) in enumerate(scores):
                invitation = SurveyInvitation(
                    channel="chat",
                    team_id=team.id,
                    area_id=pod.id,
                    status="completed",
                    contact_at=now - timedelta(days=9 * i),
                    sent_at=now - timedelta(days=9 * i),
                )
                s.add(invitation)
                s.flush()
                s.add(
                    SurveyResponse(
                        invitation_id=invitation.id,
                        score_time=t,
                        score_resolve=r,
                        score_overall=o,
                        comment=f"<em>Comment {i}</em> =1+1",
                        response_channel="sms",
                        channel="chat",
                        team_id=team.id,
                        area_id=pod.id,
                        submitted_at=now - timedelta(days=9 * i),
                    )
                )
    _sign_in(page, live_server, "manager")
    page.goto(live_server.base_url + "/console/surveys")
    expect(page.get_by_role("heading", name="Satisfaction survey results")).to_be_visible()
    expect(page.get_by_role("rowheader", name="Total", exact=True)).to_be_visible()
    assert_no_axe_violations(page, context="survey results")
    screenshot(page, "survey-results")
    # The GOV.UK date input: day, month and year, with its messages (#15.4).
    start = page.get_by_role("group", name="Contacts from (on or after)")
    start.get_by_label("Day").fill("1")
    start.get_by_label("Year").fill("2020")
    page.get_by_role("button", name="Apply filters").click()
    expect(page.get_by_role("link", name="Contacts from must include a month")).to_be_visible()
    assert_no_axe_violations(page, context="survey results date error")
    screenshot(page, "survey-results-date-error")
    page.get_by_role("link", name="Contacts from must include a month").click()
    start = page.get_by_role("group", name="Contacts from (on or after)")
    expect(start.get_by_label("Year")).to_have_value("2020")
    start.get_by_label("Month").fill("1")
    page.get_by_role("button", name="Apply filters").click()
    expect(page.get_by_role("rowheader", name="Total", exact=True)).to_be_visible()
    comments = page.get_by_role("link", name="Read and search comments")
    assert "start=2020-01-01" in (comments.get_attribute("href") or "")
    page.get_by_role("link", name="Read and search comments").click()
    expect(page.get_by_text("<em>Comment 0</em> =1+1").first).to_be_visible()
    assert_no_axe_violations(page, context="survey comments")
    screenshot(page, "survey-comments")


def test_public_survey_page_on_a_phone(phone_page: Page, live_server: LiveServer) -> None:
    settings = live_server.settings
    with live_server.store.session_scope() as s:
        report = make_report(s, person_id=make_person(s, phone_e164="+447700900123").id)
        invitation = schedule_survey(session=s, settings=settings, channel="report", report=report)
        token = survey_token(settings=settings, invitation_id=invitation.id)  # type: ignore[arg-type]
    phone_page.goto(f"{live_server.base_url}/survey/{token}")
    assert_no_axe_violations(phone_page, context="survey form")
    phone_page.get_by_role("button", name="Send your answers").click()
    expect(phone_page.get_by_text("There is a problem")).to_be_visible()
    assert_no_axe_violations(phone_page, context="survey form errors")
    screenshot(phone_page, "survey-public-errors-phone")
    phone_page.get_by_role("link", name="Select how satisfied you were with the time it took").click()
    phone_page.keyboard.press("Space")  # the first radio (very satisfied) gets focus from the summary link
    phone_page.get_by_role("group", name="2.").get_by_label("Satisfied (4)").check()
    phone_page.get_by_role("group", name="3.").get_by_label("Very satisfied (5)").check()
    phone_page.get_by_label("4. Finally").fill("Kind and quick")
    phone_page.get_by_role("button", name="Send your answers").click()
    expect(phone_page.get_by_role("heading", name="Thank you for your feedback")).to_be_visible()
    assert_no_axe_violations(phone_page, context="survey done")
    screenshot(phone_page, "survey-public-done-phone")


def test_sms_log_page(page: Page, live_server: LiveServer) -> None:
    with live_server.store.session_scope() as s:
        for reference, report in (
            ("FC-2511-ABCD", texting_report(s)),
            ("FC-2511-NOPE", make_report(s, contact_e164="+447700900123")),  # not safe to text
        ):
            queue_sms(
                session=s,
                settings=live_server.settings,
                to="07700900123",
                template="report_ack",
                kind="ack",
                report_id=report.id,
                personalisation={"force": "Northshire Police", "reference": reference, "target": "24 hours"},
            )
    _sign_in(page, live_server, "admin")
    page.goto(live_server.base_url + "/console/sms")
    expect(page.get_by_text("Your reference is FC-2511-ABCD")).to_be_visible()
    blocked = page.get_by_role("row").filter(has_text="FC-2511-NOPE")
    expect(blocked.get_by_text("blocked", exact=True)).to_be_visible()
    expect(blocked.get_by_text("Not sent: Not safe to text")).to_be_visible()
    page.get_by_label("From number").fill("07700 900123")
    page.get_by_label("Message").fill("Is anyone looking at my report?")
    page.get_by_role("button", name="Receive this text").click()
    expect(page.get_by_text("The inbound text was received and handled.")).to_be_visible()
    assert_no_axe_violations(page, context="sms log")
    screenshot(page, "sms-log")
