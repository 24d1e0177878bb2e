"""The HTML journey over HTTP: every form end to end, errors, change links, double submission,
hostile input, quick exit, uploads and Welsh."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from contact_store.errors import NotFound
from contact_store.evidence import list_for_report, open_evidence
from contact_store.models import Evidence, FormSession, Person, Report, SmsMessage
from tests.builders import make_area, make_person, make_team
from tests.web_forms.helpers import PNG, complete_journey, form_fields, full_answers
from web_forms.catalogue import catalogue


def submit_token(html: str) -> str:
    match = re.search(r'name="submit_token" value="([^"]+)"', html)
    assert match, "no submit token on the page"
    return match.group(1)


def send(client: TestClient, slug: str, answers: dict | None = None) -> str:
    """Complete and send a form; returns the reference shown on the confirmation page."""
    check = complete_journey(client, slug, answers)
    page = client.get(check)
    response = client.post(f"/report/{slug}/submit", data={"submit_token": submit_token(page.text)})
    assert response.status_code == 200
    match = re.search(r'class="fc-reference">([^<]+)<', response.text)
    assert match, response.text[:3000]
    return match.group(1)


@pytest.mark.parametrize("slug", list(catalogue()))
def test_every_form_can_be_reported(client: TestClient, session: Session, slug: str) -> None:
    reference = send(client, slug)
    assert re.fullmatch(r"FC-\d{4}-[2-9A-Z]{4,}", reference)
    report = session.exec(select(Report).where(Report.reference == reference)).one()
    form = catalogue()[slug]
    assert report.form_slug == slug
    assert report.sensitive == form.sensitive
    assert report.grade == form.grade
    assert report.summary.startswith(form.title)
    assert len(report.summary) <= 300
    assert report.person_id is not None


def test_report_is_filed_with_person_team_area_and_acknowledgement(
    client: TestClient, session: Session
) -> None:
    team = make_team(session, "Digital Team")
    area = make_area(session, "South", postcode_prefixes=["PR1", "PR2"])
    earlier = make_person(session, phone_e164="+447700900123")
    session.commit()
    reference = send(client, "crime")
    report = session.exec(select(Report).where(Report.reference == reference)).one()
    assert report.team_id == team.id
    assert report.area_id == area.id
    assert report.person_id == earlier.id
    assert report.answers["incident_date"] == "2026-03-27"
    assert report.answers["phone"] == "+447700900123"
    sms = session.exec(select(SmsMessage).where(SmsMessage.report_id == report.id)).one()
    assert reference in sms.body and sms.to_e164 == "+447700900123"
    # A second report from the same number is flagged as a repeat contact.
    second = send(client, "crime")
    again = session.exec(select(Report).where(Report.reference == second)).one()
    assert again.repeat_contact is True and again.person_id == earlier.id


def test_errors_are_summarised_and_answers_kept(client: TestClient) -> None:
    client.post("/report/crime/start")
    response = client.post(
        "/report/crime/when",
        data={"incident_date-day": "31", "incident_date-month": "2", "incident_date-year": "2026"},
    )
    assert response.status_code == 200
    assert "There is a problem" in response.text
    assert 'href="#incident_date-day"' in response.text
    assert "The date must be a real date" in response.text
    assert 'value="31"' in response.text and 'value="2026"' in response.text
    assert "<title>Error:" in response.text
    long_text = "<script>alert(1)</script> 🚓 " * 300
    response = client.post("/report/crime/what", data={"description": long_text})
    assert "must be 5000 characters or fewer" in response.text
    assert "<script>alert(1)</script>" not in response.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; 🚓" in response.text


@pytest.mark.parametrize(
    ("page_id", "data", "message"),
    [
        ("what", {"description": "bad \x00 byte"}, "must not contain control characters"),
        ("what", {"description": "   "}, "Tell us what happened"),
        (
            "when",
            {"incident_date-day": "1", "incident_date-month": "1", "incident_date-year": "2999"},
            "today or in the past",
        ),
        (
            "when",
            {"incident_date-day": "x", "incident_date-month": "1", "incident_date-year": "2020"},
            "real date",
        ),
        (
            "when",
            {"incident_date-day": "1", "incident_date-month": "", "incident_date-year": "2020"},
            "must include a month",
        ),
        (
            "when",
            {"incident_date-day": "1", "incident_date-month": "1", "incident_date-year": "20"},
            "real date",
        ),
        ("crime-type", {"crime_type": "arson<script>"}, "Select an option from the list"),
        ("where", {"incident_postcode": "NOT A POSTCODE"}, "Enter a real postcode"),
        ("contact", {"full_name": "Sam", "phone": "12345"}, "Enter a UK phone number"),
        ("contact", {"full_name": "Sam", "email": "not-an-email"}, "Enter an email address"),
        ("contact", {"full_name": "x" * 201}, "200 characters or fewer"),
    ],
)
def test_hostile_input_gets_a_clear_error(client: TestClient, page_id: str, data: dict, message: str) -> None:
    client.post("/report/crime/start")
    # Make the suspect page reachable regardless of order: answer the pages before it.
    response = client.post(f"/report/crime/{page_id}", data=data)
    assert response.status_code == 200
    assert "There is a problem" in response.text
    assert message in response.text


def test_emoji_and_markup_are_kept_as_text(client: TestClient, session: Session) -> None:
    form = catalogue()["crime"]
    answers = full_answers(form) | {"description": 'Bike 🚲 stolen <b>bold</b> & "quotes"\nsecond line'}
    reference = send(client, "crime", answers)
    report = session.exec(select(Report).where(Report.reference == reference)).one()
    assert report.answers["description"] == answers["description"]


def test_change_link_returns_to_check_answers(client: TestClient) -> None:
    check = complete_journey(client, "crime")
    page = client.get(check)
    assert 'href="/report/crime/what?change=1"' in page.text
    edit = client.get("/report/crime/what?change=1")
    assert 'href="/report/crime/check"' in edit.text  # back link goes back to the summary
    assert "Someone took my bike" in edit.text
    response = client.post(
        "/report/crime/what?change=1", data={"description": "Changed account"}, follow_redirects=False
    )
    assert response.headers["location"] == "/report/crime/check"
    assert "Changed account" in client.get(check).text


def test_change_that_reveals_a_page_asks_it_before_check(client: TestClient) -> None:
    form = catalogue()["crime"]
    answers = full_answers(form) | {"suspect_known": "no"}
    check = complete_journey(client, "crime", answers)
    assert "suspect-details" not in client.get(check).text
    response = client.post(
        "/report/crime/suspect?change=1", data={"suspect_known": "yes"}, follow_redirects=False
    )
    assert response.headers["location"] == "/report/crime/suspect-details"
    response = client.post(
        "/report/crime/suspect-details", data={"suspect_description": "Tall"}, follow_redirects=False
    )
    assert response.headers["location"].endswith("/check")


def test_double_submission_files_one_report(client: TestClient, session: Session) -> None:
    check = complete_journey(client, "crime")
    token = submit_token(client.get(check).text)
    first = client.post("/report/crime/submit", data={"submit_token": token})
    second = client.post("/report/crime/submit", data={"submit_token": token})
    assert first.status_code == second.status_code == 200
    ref1 = re.search(r'fc-reference">([^<]+)<', first.text)
    ref2 = re.search(r'fc-reference">([^<]+)<', second.text)
    assert ref1 and ref2 and ref1.group(1) == ref2.group(1)
    assert len(session.exec(select(Report)).all()) == 1
    # Back button to a question page after sending: the journey is over.
    assert client.get("/report/crime/what", follow_redirects=False).headers["location"] == "/report/crime"


def test_wrong_submit_token_does_not_file(client: TestClient, session: Session) -> None:
    complete_journey(client, "crime")
    response = client.post("/report/crime/submit", data={"submit_token": "forged"}, follow_redirects=False)
    assert response.headers["location"] == "/report/crime/check"
    assert session.exec(select(Report)).all() == []


def test_answers_live_on_the_server_only(client: TestClient, session: Session) -> None:
    response = client.post("/report/crime/start", follow_redirects=False)
    cookie = response.headers["set-cookie"]
    assert "fc_form=" in cookie and "HttpOnly" in cookie and "Path=/report/crime" in cookie
    client.post("/report/crime/what", data={"description": "secret account"})
    assert "secret account" not in str(client.cookies)
    stored = session.exec(select(FormSession)).one()
    assert stored.answers["values"]["description"] == "secret account"
    assert client.get("/report/crime/what").headers["cache-control"].startswith("no-store")


def test_domestic_abuse_texts_only_when_safe(client: TestClient, session: Session) -> None:
    form = catalogue()["domestic-abuse"]
    unsafe = send(client, "domestic-abuse", full_answers(form) | {"safe_to_text": "no"})
    report = session.exec(select(Report).where(Report.reference == unsafe)).one()
    assert report.sensitive is True and report.safe_to_contact is False
    (blocked,) = session.exec(select(SmsMessage).where(SmsMessage.report_id == report.id)).all()
    assert blocked.status == "blocked" and blocked.blocked_reason == "not_safe_to_contact"
    # The confirmation is shown once: history cannot lead back to it on a shared device.
    assert client.get("/report/domestic-abuse/done", follow_redirects=False).headers["location"] == (
        "/report/domestic-abuse"
    )
    safe = send(client, "domestic-abuse", full_answers(form) | {"safe_to_text": "yes"})
    report = session.exec(select(Report).where(Report.reference == safe)).one()
    (ack,) = session.exec(select(SmsMessage).where(SmsMessage.report_id == report.id)).all()
    assert ack.status == "queued" and report.safe_to_contact is True


def test_quick_exit_ends_the_form_session(client: TestClient, session: Session) -> None:
    client.post("/report/domestic-abuse/start")
    client.post("/report/domestic-abuse/safe-now", data={"safe_now": "yes"})
    page = client.get("/report/domestic-abuse/about")
    assert 'href="/report/domestic-abuse/exit"' in page.text and "govuk-exit-this-page" in page.text
    response = client.get("/report/domestic-abuse/exit", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "https://www.bbc.co.uk/weather"
    stored = session.exec(select(FormSession)).one()
    assert stored.ended_at is not None and stored.answers == {}
    assert client.get("/report/domestic-abuse/about", follow_redirects=False).headers["location"] == (
        "/report/domestic-abuse"
    )


def test_safety_page(client: TestClient) -> None:
    page = client.get("/report/domestic-abuse/safety")
    assert "Staying safe online" in page.text and "Shift key 3 times" in page.text
    assert "/report/domestic-abuse/safety" in client.get("/report/domestic-abuse").text


def test_non_sensitive_forms_have_no_exit_button(client: TestClient) -> None:
    assert "govuk-exit-this-page" not in client.get("/report/crime").text


def _to_evidence_page(client: TestClient) -> None:
    form = catalogue()["crime"]
    answers = full_answers(form)
    client.post("/report/crime/start")
    for page_id in ("crime-type", "when", "where", "what", "suspect", "suspect-details"):
        client.post(f"/report/crime/{page_id}", data=form_fields(form, page_id, answers))


def test_upload_evidence_and_attach_to_report(client: TestClient, session: Session) -> None:
    _to_evidence_page(client)
    response = client.post(
        "/report/crime/evidence",
        data={"action": "upload"},
        files={"evidence": ("bike.png", PNG, "image/png")},
    )
    assert "bike.png" in response.text and "Remove" in response.text
    evidence = session.exec(select(Evidence)).one()
    assert evidence.content_type == "image/png" and evidence.stored_name != "bike.png"
    assert evidence.report_id is None
    check = complete_journey_from(client, "crime")
    assert "bike.png" in client.get(check).text
    token = submit_token(client.get(check).text)
    client.post("/report/crime/submit", data={"submit_token": token})
    session.refresh(evidence)
    assert evidence.report_id is not None
    settings = client.app.state.settings  # type: ignore[attr-defined]
    stored = open_evidence(session=session, evidence_id=evidence.id or 0, upload_dir=settings.upload_dir)
    with stored.open() as fh:
        assert fh.read() == PNG
    assert stored.path.parent == settings.upload_dir
    assert list_for_report(session=session, report_id=evidence.report_id) == [evidence]


def test_open_evidence_refuses_unsubmitted_files(client: TestClient, session: Session) -> None:
    _to_evidence_page(client)
    client.post("/report/crime/evidence", data={"action": "upload"}, files={"evidence": ("a.png", PNG)})
    evidence = session.exec(select(Evidence)).one()
    settings = client.app.state.settings  # type: ignore[attr-defined]
    with pytest.raises(NotFound):
        open_evidence(session=session, evidence_id=evidence.id or 0, upload_dir=settings.upload_dir)
    with pytest.raises(NotFound):
        open_evidence(session=session, evidence_id=999_999, upload_dir=settings.upload_dir)
    # Quick exit deletes the files of the journey.
    client.get("/report/crime/exit")
    assert session.exec(select(Evidence)).all() == []
    assert list(settings.upload_dir.iterdir()) == []


def complete_journey_from(client: TestClient, slug: str) -> str:
    form = catalogue()[slug]
    answers = full_answers(form)
    location = client.post(f"/report/{slug}/evidence", data={}, follow_redirects=False).headers["location"]
    while not location.endswith("/check"):
        page_id = location.rsplit("/", 1)[-1]
        location = client.post(
            location, data=form_fields(form, page_id, answers), follow_redirects=False
        ).headers["location"]
    return location


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "notes.png",
            b"just text pretending to be an image" * 10,
            "must be a JPG, PNG, HEIC, PDF, MP4 or MOV",
        ),
        ("script.exe", b"MZ\x90\x00\x03" + b"\x00" * 100, "must be a JPG, PNG, HEIC, PDF, MP4 or MOV"),
        ("photo.pdf", PNG, "must be a JPG, PNG, HEIC, PDF, MP4 or MOV"),
        ("empty.png", b"", None),
    ],
)
def test_wrong_file_types_are_refused(
    client: TestClient, session: Session, name: str, content: bytes, message: str | None
) -> None:
    _to_evidence_page(client)
    response = client.post(
        "/report/crime/evidence", data={"action": "upload"}, files={"evidence": (name, content, "image/png")}
    )
    assert response.status_code == 200
    if message:
        assert "There is a problem" in response.text and message in response.text
    assert session.exec(select(Evidence)).all() == []


def test_upload_limits(client: TestClient, session: Session, app) -> None:  # type: ignore[no-untyped-def]
    app.state.settings.upload_max_files = 2
    app.state.settings.upload_max_bytes = 1024 * 1024
    _to_evidence_page(client)
    big = PNG + b"\x00" * (1024 * 1024)
    response = client.post(
        "/report/crime/evidence", data={"action": "upload"}, files={"evidence": ("big.png", big)}
    )
    assert "must be smaller than 1MB" in response.text
    for i in range(2):
        client.post(
            "/report/crime/evidence", data={"action": "upload"}, files={"evidence": (f"p{i}.png", PNG)}
        )
    response = client.post(
        "/report/crime/evidence", data={"action": "upload"}, files={"evidence": ("p3.png", PNG)}
    )
    assert "You can upload up to 2 files" in response.text
    assert len(session.exec(select(Evidence)).all()) == 2
    first = session.exec(select(Evidence)).first()
    assert first is not None
    client.post("/report/crime/evidence", data={"remove": str(first.id)})
    assert len(session.exec(select(Evidence)).all()) == 1


def test_welsh_by_accept_language_and_switch_link(client: TestClient) -> None:
    page = client.get("/report/crime", headers={"Accept-Language": "cy-GB,cy;q=0.9,en;q=0.5"})
    assert '<html lang="cy"' in page.text and "Rhoi gwybod am drosedd" in page.text
    assert "Os ydych mewn perygl nawr, ffoniwch 999." in page.text
    english = client.get("/report/crime", headers={"Accept-Language": "en-GB"})
    assert (
        "Report a crime" in english.text
        and 'href="/language?lang=cy&amp;next=%2Freport%2Fcrime"' in english.text
    )
    switched = client.get("/language?lang=cy&next=/report/crime")
    assert "Rhoi gwybod am drosedd" in switched.text
    client.post("/report/crime/start")
    error = client.post("/report/crime/when", data={})
    assert "Mae problem wedi codi" in error.text and "Rhowch y dyddiad y digwyddodd" in error.text
    assert (
        client.get("/language?lang=en&next=//evil.example", follow_redirects=False).headers["location"] == "/"
    )


def test_unknown_form_and_page_are_404(client: TestClient) -> None:
    assert client.get("/report/nope").status_code == 404
    client.post("/report/crime/start")
    assert client.get("/report/crime/nope").status_code == 404


def test_home_and_index_pages(client: TestClient) -> None:
    home = client.get("/")
    assert "If you are in danger now, call 999." in home.text and 'href="/report"' in home.text
    index = client.get("/report")
    for form in catalogue().values():
        assert f'href="/report/{form.slug}"' in index.text


def test_person_is_not_duplicated_by_email(client: TestClient, session: Session) -> None:
    form = catalogue()["feedback"]
    answers = full_answers(form) | {"phone": ""}
    answers.pop("phone")
    send(client, "feedback", answers)
    send(client, "feedback", answers | {"email": "SOMEONE@example.com"})
    people = session.exec(select(Person).where(Person.email_normalised == "someone@example.com")).all()
    assert len(people) == 1


def test_phone_is_normalised(client: TestClient, session: Session) -> None:
    form = catalogue()["crime"]
    reference = send(client, "crime", full_answers(form) | {"phone": "+44 7700 900 123"})
    report = session.exec(select(Report).where(Report.reference == reference)).one()
    assert report.answers["phone"] == "+447700900123"


def test_purge_idle_form_sessions(client: TestClient, session: Session) -> None:
    from datetime import timedelta

    from contact_store.clock import utcnow
    from web_forms.journey import service

    _to_evidence_page(client)
    client.post("/report/crime/evidence", data={"action": "upload"}, files={"evidence": ("a.png", PNG)})
    settings = client.app.state.settings  # type: ignore[attr-defined]
    assert service.purge_idle(session=session, upload_dir=settings.upload_dir) == 0
    stored = session.exec(select(FormSession)).one()
    stored.updated_at = utcnow() - service.FORM_SESSION_IDLE - timedelta(minutes=1)
    session.add(stored)
    session.flush()
    assert service.purge_idle(session=session, upload_dir=settings.upload_dir) == 1
    assert session.exec(select(FormSession)).all() == []
    assert session.exec(select(Evidence)).all() == []
    assert list(settings.upload_dir.iterdir()) == []


def test_every_form_with_a_number_asks_if_it_is_safe_to_text(client: TestClient) -> None:
    """Shown beside the number; preselected "yes" on ordinary forms and "no" on sensitive ones."""
    for slug, qid, default in (("crime", "safe_to_contact", "yes"), ("domestic-abuse", "safe_to_text", "no")):
        form = catalogue()[slug]
        assert form.identity.sms_ok == qid and form.questions[qid].default == default
        client.post(f"/report/{slug}/start")
        page = client.get(f"/report/{slug}/contact").text
        assert "Is it safe for us to text you" in page
        checked = re.findall(rf'name="{qid}" type="radio" value="(\w+)"\s*checked', page)
        assert checked == [default]
    assert all(
        f.identity.sms_ok for f in catalogue().values() if f.identity.phone
    ), "a form takes a number without asking if it is safe to text"


def test_a_number_abroad_is_refused_and_the_answers_kept(client: TestClient) -> None:
    client.post("/report/crime/start")
    data = {
        "full_name": "Sam Smith",
        "phone": "+1 202 555 0123",
        "safe_to_contact": "yes",
        "email": "s@example.com",
    }
    response = client.post("/report/crime/contact", data=data)
    assert response.status_code == 200 and "There is a problem" in response.text
    assert 'href="#phone"' in response.text and "Enter a UK phone number, like 07700 900 982" in response.text
    assert 'value="Sam Smith"' in response.text and 'value="s@example.com"' in response.text
    assert 'value="+1 202 555 0123"' in response.text
    # A UK landline is still taken (for a call back); it is never texted.
    ok = client.post("/report/crime/contact", data=data | {"phone": "020 7946 0000"}, follow_redirects=False)
    assert ok.status_code == 303


def test_unanswered_safe_to_text_on_a_sensitive_form_is_no(client: TestClient, session: Session) -> None:
    form = catalogue()["domestic-abuse"]
    answers = {k: v for k, v in full_answers(form).items() if k != "safe_to_text"}
    reference = send(client, "domestic-abuse", answers | {"phone": "07700 900458"})
    report = session.exec(select(Report).where(Report.reference == reference)).one()
    assert report.safe_to_contact is False and report.answers["safe_to_text"] == "no"
    (blocked,) = session.exec(select(SmsMessage).where(SmsMessage.report_id == report.id)).all()
    assert blocked.status == "blocked"
