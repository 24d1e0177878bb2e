"""Manager results, exports and the admin SMS log over HTTP: anonymous, forbidden and valid; CSRF;
escaping; and the whole "done when" journey with the log provider."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlmodel import Session, select

from contact_store.db import Store
from contact_store.models import SmsMessage, SurveyInvitation
from contact_store.outbox import queue_sms
from contact_store.settings import Settings
from contact_store.sms.providers import LogProvider
from contact_store.sms.worker import run_once
from contact_store.surveys import schedule_survey
from contact_store.surveys.service import dispatch_due_invitations
from tests.builders import (
    DEFAULT_PASSWORD,
    make_operator,
    make_person,
    make_report,
    make_survey_answer,
    make_team,
)

PAGES = [
    "/console/surveys",
    "/console/surveys/comments",
    "/console/surveys/export/responses.csv",
    "/console/surveys/export/responses.xlsx",
    "/console/surveys/export/table.csv",
    "/console/surveys/export/table.xlsx",
]


def sign_in(client: TestClient, session: Session, role: str) -> str:
    """Sign in a new member of staff with this role; returns the page's CSRF token."""
    op = make_operator(session, role=role)
    session.commit()
    page = client.get("/console/sign-in")
    token = re.search(r'name="presign_token" value="([^"]+)"', page.text)
    assert token
    r = client.post(
        "/console/sign-in",
        data={
            "username": op.username,
            "password": DEFAULT_PASSWORD,
            "presign_token": token.group(1),
            "next": "/console",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    home = client.get("/console")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', home.text)
    assert csrf
    return csrf.group(1)


def test_results_pages_need_a_manager(client: TestClient, session: Session) -> None:
    for path in [*PAGES, "/console/sms"]:
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/console/sign-in"), path
    sign_in(client, session, "supervisor")
    for path in [*PAGES, "/console/sms"]:
        assert client.get(path).status_code == 403, path


def test_manager_sees_results_and_exports_but_not_the_sms_log(client: TestClient, session: Session) -> None:
    sign_in(client, session, "manager")
    for path in PAGES:
        assert client.get(path).status_code == 200, path
    assert client.get("/console/sms").status_code == 403


def test_bad_filters_are_reported_not_500(client: TestClient, session: Session) -> None:
    sign_in(client, session, "manager")
    r = client.get("/console/surveys?start=2026-02-31&end=x&team=abc&channel=<script>x1")
    assert r.status_code == 200 and "There is a problem" in r.text and "must be a real date" in r.text
    assert "<script>x1" not in r.text


def test_comments_are_escaped_and_searchable(client: TestClient, session: Session) -> None:
    team = make_team(session, "Digital")
    for text in ["<script>alert(1)</script> rude", "Helpful officer"]:
        make_survey_answer(session, score_time=5, comment=text, team_id=team.id)
    session.commit()
    sign_in(client, session, "manager")
    r = client.get("/console/surveys/comments?q=rude")
    assert r.status_code == 200 and "1 comment" in r.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; rude" in r.text and "<script>alert(1)" not in r.text
    assert "Helpful officer" not in r.text


def test_sms_log_simulate_needs_admin_and_csrf(client: TestClient, session: Session) -> None:
    csrf = sign_in(client, session, "admin")
    page = client.get("/console/sms")
    assert page.status_code == 200 and "Simulate an inbound text" in page.text
    r = client.post("/console/sms/simulate", data={"from_number": "07700900123", "body": "hello"})
    assert r.status_code == 403
    r = client.post("/console/sms/simulate", data={"from_number": "nope", "body": "", "csrf_token": csrf})
    assert r.status_code == 422 and "There is a problem" in r.text and 'value="nope"' in r.text
    r = client.post(
        "/console/sms/simulate",
        data={"from_number": "07700900123", "body": "<i>hi</i>", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = client.get("/console/sms")
    assert "&lt;i&gt;hi&lt;/i&gt;" in page.text
    api = client.post("/api/v1/sms/simulate", json={"from_number": "07700900123", "body": "again"})
    assert api.status_code == 403
    api = client.post(
        "/api/v1/sms/simulate",
        json={"from_number": "07700900123", "body": "again"},
        headers={"X-CSRF-Token": csrf},
    )
    assert api.status_code == 201 and api.json()["handled_as"] == "contact"


def test_simulate_refused_for_non_admin_and_other_providers(
    client: TestClient, session: Session, settings: Settings
) -> None:
    csrf = sign_in(client, session, "manager")
    r = client.post(
        "/api/v1/sms/simulate",
        json={"from_number": "07700900123", "body": "x"},
        headers={"X-CSRF-Token": csrf},
    )
    assert r.status_code == 403
    assert client.post("/console/sms/simulate", data={"csrf_token": csrf}).status_code == 403


def test_done_when_ack_survey_by_text_and_web_then_manager_table_and_exports(
    client: TestClient, session: Session, store: Store, settings: Settings
) -> None:
    team = make_team(session, "Digital Team")
    people = [make_person(session, phone_e164=f"+44770090012{i}") for i in (1, 2)]
    reports = [
        make_report(
            session,
            person_id=p.id,
            team_id=team.id,
            status="received",
            safe_to_contact=True,
            contact_e164=p.phone_e164,
        )
        for p in people
    ]
    for report in reports:  # what the forms area does in the report's transaction
        queue_sms(
            session=session,
            settings=settings,
            to=people[0].phone_e164 if report is reports[0] else people[1].phone_e164,  # type: ignore[arg-type]
            template="report_ack",
            kind="ack",
            report_id=report.id,
            person_id=report.person_id,
            personalisation={
                "force": settings.force_name,
                "reference": report.reference,
                "target": "24 hours",
            },
        )
    session.commit()
    run_once(store=store, settings=settings, provider=LogProvider(), worker_id="t")
    # Resolved: the console area calls schedule_survey in that transaction.
    invitations = []
    for report in reports:
        report.status = "resolved"
        invitations.append(
            schedule_survey(session=session, settings=settings, channel="report", report=report)
        )
    session.commit()
    assert (
        dispatch_due_invitations(
            session=session, settings=settings, now=invitations[0].due_at + timedelta(seconds=1)
        )
        == 2
    )
    session.commit()
    run_once(store=store, settings=settings, provider=LogProvider(), worker_id="t")

    csrf = sign_in(client, session, "admin")
    log = client.get("/console/sms").text
    assert (
        log.count("thank you for your report") == 2
        and log.count("please tell us about your recent contact") == 2
    )
    for body in ["5", "four", "5 stars", "Brilliant =cmd"]:  # person 1 answers by text
        r = client.post(
            "/api/v1/sms/simulate",
            json={"from_number": "07700 900121", "body": body},
            headers={"X-CSRF-Token": csrf},
        )
        assert r.json()["handled_as"] == "survey"
    # Person 2 answers on the web page from the link in their text.
    invite = session.exec(
        select(SmsMessage).where(SmsMessage.survey_invitation_id == invitations[1].id)
    ).one()
    link = invite.body.split(settings.public_base_url)[1].split()[0]
    page = client.get(link)
    assert page.status_code == 200 and settings.survey_questions[1] in page.text
    r = client.post(link, data={"score_time": "2", "score_resolve": "4"})
    assert r.status_code == 422 and "Select how satisfied you were with the overall service" in r.text
    assert 'value="2" checked' in r.text
    r = client.post(
        link, data={"score_time": "2", "score_resolve": "4", "score_overall": "3", "comment": "Slow"}
    )
    assert r.status_code == 200 and "Thank you for your feedback" in r.text
    assert "already answered" in client.get(link).text

    session.expire_all()
    assert {i.status for i in session.exec(select(SurveyInvitation)).all()} == {"completed"}
    client.cookies.clear()
    sign_in(client, session, "manager")
    table = client.get("/console/surveys").text
    assert "Digital Team" in table and "100%" in table  # 2 responses of 2 invitations
    rows = list(
        csv.reader(
            io.StringIO(client.get("/console/surveys/export/responses.csv").content.decode("utf-8-sig"))
        )
    )
    assert len(rows) == 3 and {r[5] for r in rows[1:]} == {"sms", "web"}
    assert "'=cmd" not in rows[1][-1] + rows[2][-1] and "Brilliant =cmd" in {rows[1][-1], rows[2][-1]}
    book = load_workbook(io.BytesIO(client.get("/console/surveys/export/responses.xlsx").content))
    assert book["Responses"].max_row == 3
    table_csv = client.get("/console/surveys/export/table.csv").content.decode("utf-8-sig")
    assert "Digital Team" in table_csv and "Total" in table_csv


def test_date_filters_use_the_govuk_date_input(client: TestClient, session: Session) -> None:
    """Day, month and year boxes with GOV.UK messages; what was typed is kept (#15.4)."""
    sign_in(client, session, "manager")
    ok = client.get("/console/surveys", params={"start-day": "1", "start-month": "3", "start-year": "2026"})
    assert ok.status_code == 200 and "There is a problem" not in ok.text
    assert 'name="start-day"' in ok.text and 'value="2026"' in ok.text and 'type="date"' not in ok.text
    assert "start=2026-03-01" in ok.text  # exports and links carry the date
    cases = [
        ({"start-day": "1", "start-year": "2026"}, "Contacts from must include a month"),
        ({"start-day": "31", "start-month": "2", "start-year": "2026"}, "Contacts from must be a real date"),
        ({"start-day": "1", "start-month": "2", "start-year": "26"}, "Year must include 4 numbers"),
        ({"end-day": "x", "end-month": "2", "end-year": "2026"}, "Contacts to must be a real date"),
        (
            {"start-day": "2", "start-month": "3", "start-year": "2026", "end-day": "1", "end-month": "3",
             "end-year": "2026"},
            "Contacts to must be the same as or after contacts from",
        ),
    ]  # fmt: skip
    for params, message in cases:
        r = client.get("/console/surveys", params=params)
        assert r.status_code == 200 and "There is a problem" in r.text, params
        assert message in r.text, (params, message)
        for value in params.values():
            assert f'value="{value}"' in r.text  # the answers are kept
    # The comments page shares the filters.
    r = client.get("/console/surveys/comments", params={"start-day": "1", "start-year": "2026"})
    assert r.status_code == 200 and "Contacts from must include a month" in r.text


def test_date_input_highlights_only_the_boxes_at_fault(client: TestClient, session: Session) -> None:
    sign_in(client, session, "manager")
    page = client.get("/console/surveys", params={"start-day": "1", "start-year": "2026"}).text
    boxes = {
        m.group(1): "govuk-input--error" in m.group(0)
        for m in re.finditer(r'<input class="[^"]*" id="f-start(?:-(\w+))?"', page)
    }
    assert boxes == {None: False, "month": True, "year": False}  # day (id f-start), month, year
    page = client.get(
        "/console/surveys", params={"start-day": "1", "start-month": "2", "start-year": "26"}
    ).text
    boxes = {
        m.group(1): "govuk-input--error" in m.group(0)
        for m in re.finditer(r'<input class="[^"]*" id="f-start(?:-(\w+))?"', page)
    }
    assert boxes == {None: False, "month": False, "year": True}
