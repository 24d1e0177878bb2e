"""Triage actions end to end through HTTP: each lands in the timeline, the audit log and the outbox."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from contact_store.clock import utcnow
from contact_store.models import (
    AuditEvent,
    Evidence,
    Report,
    ReportEvent,
    ReportStatus,
    Role,
    SmsMessage,
    SurveyInvitation,
)
from contact_store.settings import Settings
from tests.agent_console.helpers import sign_in_as
from tests.builders import make_area, make_person, make_report, make_team


def _events(session: Session, report_id: int) -> list[str]:
    session.expire_all()
    return [e.kind for e in session.exec(select(ReportEvent).where(ReportEvent.report_id == report_id)).all()]


def test_list_shows_age_against_target_and_filters(
    client: TestClient, session: Session, settings: Settings
) -> None:
    now = utcnow()
    area = make_area(session, name="East-T")
    old = make_report(session, form_slug="crime", received_at=now - timedelta(hours=30), area_id=area.id)
    new = make_report(session, form_slug="asb", received_at=now - timedelta(hours=1), grade=2)
    sensitive = make_report(session, form_slug="asb", sensitive=True)
    sign_in_as(client, session, settings, role=Role.SUPERVISOR)
    page = client.get("/console/reports").text
    assert old.reference in page and new.reference in page and sensitive.reference in page
    assert "over 24 h" in page
    assert page.index(old.reference) < page.index(new.reference)  # oldest first
    only_asb = client.get("/console/reports?form=asb").text
    assert old.reference not in only_asb and new.reference in only_asb
    assert new.reference not in client.get(f"/console/reports?area={area.id}").text
    assert client.get("/console/reports?grade=2").text.count("FC-T-") == 1
    sens = client.get("/console/reports?sensitive=yes").text
    assert sensitive.reference in sens and new.reference not in sens
    closed = client.get("/console/reports?status=closed").text
    assert "No reports match" in closed


def test_operator_list_hides_other_teams_and_sensitive(
    client: TestClient, session: Session, settings: Settings
) -> None:
    team, other = make_team(session), make_team(session)
    mine = make_report(session, team_id=team.id)
    theirs = make_report(session, team_id=other.id)
    hidden = make_report(session, team_id=team.id, sensitive=True)
    sign_in_as(client, session, settings, team_id=team.id)
    page = client.get("/console/reports").text
    assert mine.reference in page and theirs.reference not in page and hidden.reference not in page
    assert client.get(f"/console/reports/{theirs.id}").status_code == 403
    assert client.get(f"/console/reports/{hidden.id}").status_code == 403
    assert client.get("/console/reports/999999").status_code == 404


def test_claim_grade_note_status_and_sms_land_in_the_timeline(
    client: TestClient, session: Session, settings: Settings
) -> None:
    person = make_person(session, phone_e164="+447700900321")
    report = make_report(session, person_id=person.id, safe_to_contact=True, contact_e164="+447700900321")
    op, csrf = sign_in_as(client, session, settings)
    view = client.get(f"/console/reports/{report.id}")
    assert view.status_code == 200 and "Claim this report" in view.text
    assert (
        client.post(
            f"/console/reports/{report.id}/claim", data={"csrf_token": csrf}, follow_redirects=False
        ).status_code
        == 303
    )
    session.expire_all()
    r = session.get(Report, report.id)
    assert (
        r is not None
        and r.assignee_id == op.id
        and r.status == ReportStatus.IN_PROGRESS
        and r.first_response_at
    )
    client.post(f"/console/reports/{report.id}/grade", data={"csrf_token": csrf, "grade": "3", "risk": "Low"})
    client.post(f"/console/reports/{report.id}/note", data={"csrf_token": csrf, "note": "<b>called</b>"})
    client.post(
        f"/console/reports/{report.id}/sms",
        data={"csrf_token": csrf, "sms_preset": "free", "sms_text": "An officer will call"},
    )
    client.post(f"/console/reports/{report.id}/status", data={"csrf_token": csrf, "status": "resolved"})
    client.post(f"/console/reports/{report.id}/status", data={"csrf_token": csrf, "status": "closed"})
    session.expire_all()
    r = session.get(Report, report.id)
    assert r is not None and r.grade == 3 and r.thrive["risk"] == "Low"
    assert r.status == ReportStatus.CLOSED and r.resolved_at and r.closed_at
    assert _events(session, report.id or 0) == ["assign", "grade", "note", "sms", "status", "status"]
    sms = session.exec(select(SmsMessage).where(SmsMessage.report_id == report.id)).one()
    assert sms.to_e164 == "+447700900321" and sms.template == "report_update"
    assert sms.kind == "update" and sms.operator_id == op.id  # via contact_store.sms.acks
    assert sms.body == f"{settings.force_name} update on {report.reference}: An officer will call"
    page = client.get(f"/console/reports/{report.id}").text
    assert "&lt;b&gt;called&lt;/b&gt;" in page and "<b>called</b>" not in page  # notes are text, never HTML
    actions = {
        a.action for a in session.exec(select(AuditEvent).where(AuditEvent.object_id == str(report.id))).all()
    }
    assert {
        "report.view",
        "report.assign",
        "report.grade",
        "report.note",
        "report.sms",
        "report.status",
    } <= actions


def test_resolving_a_report_schedules_its_survey_once(
    client: TestClient, session: Session, settings: Settings
) -> None:
    person = make_person(session, phone_e164="+447700900322")
    report = make_report(session, person_id=person.id, safe_to_contact=True, contact_e164="+447700900322")
    _, csrf = sign_in_as(client, session, settings, role=Role.SUPERVISOR)

    def invitations() -> list[SurveyInvitation]:
        session.expire_all()
        stmt = select(SurveyInvitation).where(SurveyInvitation.report_id == report.id)
        return list(session.exec(stmt).all())

    def status(value: str) -> None:
        r = client.post(
            f"/console/reports/{report.id}/status",
            data={"csrf_token": csrf, "status": value},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text

    status("in_progress")
    assert invitations() == []
    status("resolved")
    (invite,) = invitations()
    assert invite.channel == "report" and invite.status == "scheduled"
    assert invite.to_e164 == "+447700900322" and invite.reference == report.reference
    status("in_progress")  # reopened and resolved again: still the one invitation
    status("resolved")
    assert [i.id for i in invitations()] == [invite.id]
    status("closed")  # closing after resolving: still the one invitation
    assert [i.id for i in invitations()] == [invite.id]


def test_closing_an_open_report_schedules_its_survey(
    client: TestClient, session: Session, settings: Settings
) -> None:
    person = make_person(session, phone_e164="+447700900323")
    report = make_report(session, person_id=person.id, safe_to_contact=True, contact_e164="+447700900323")
    _, csrf = sign_in_as(client, session, settings, role=Role.SUPERVISOR)
    r = client.post(
        f"/console/reports/{report.id}/status",
        data={"csrf_token": csrf, "status": "closed"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    session.expire_all()
    (invite,) = session.exec(select(SurveyInvitation).where(SurveyInvitation.report_id == report.id)).all()
    assert invite.channel == "report" and invite.to_e164 == "+447700900323"


def test_not_safe_to_text_is_shown_and_the_server_refuses_and_records_it(
    client: TestClient, session: Session, settings: Settings
) -> None:
    person = make_person(session, phone_e164="+447700900324")
    # The reporter gave a number but did not say it is safe to text them there.
    report = make_report(session, person_id=person.id, sensitive=True, contact_e164="+447700900324")
    _, csrf = sign_in_as(client, session, settings, role=Role.SUPERVISOR)
    page = client.get(f"/console/reports/{report.id}").text
    assert "Not safe to text" in page and f'action="/console/reports/{report.id}/sms"' not in page
    r = client.post(f"/console/reports/{report.id}/sms", data={"csrf_token": csrf, "sms_preset": "started"})
    assert r.status_code == 422 and "There is a problem" in r.text and "Not safe to text" in r.text
    session.expire_all()
    (blocked,) = session.exec(select(SmsMessage).where(SmsMessage.report_id == report.id)).all()
    assert blocked.status == "blocked" and blocked.blocked_reason == "not_safe_to_contact"
    assert blocked.sent_at is None and blocked.attempts == 0
    assert _events(session, report.id or 0) == ["sms"]  # "Not sent. ..." on the timeline
    r = session.get(Report, report.id)
    assert r is not None and r.first_response_at is None  # a refused text is no response


def test_second_claim_is_refused(client: TestClient, session: Session, settings: Settings) -> None:
    report = make_report(session)
    _, csrf = sign_in_as(client, session, settings)
    assert (
        client.post(
            f"/console/reports/{report.id}/claim", data={"csrf_token": csrf}, follow_redirects=False
        ).status_code
        == 303
    )
    _, csrf2 = sign_in_as(client, session, settings)
    assert (
        client.post(
            f"/console/reports/{report.id}/claim", data={"csrf_token": csrf2}, follow_redirects=False
        ).status_code
        == 403
    )


def test_invalid_input_re_renders_with_error_summary_and_keeps_answers(
    client: TestClient, session: Session, settings: Settings
) -> None:
    report = make_report(session)  # no person: no phone
    _, csrf = sign_in_as(client, session, settings)
    r = client.post(f"/console/reports/{report.id}/note", data={"csrf_token": csrf, "note": "   "})
    assert r.status_code == 422 and "There is a problem" in r.text and "Enter a note" in r.text
    r = client.post(f"/console/reports/{report.id}/sms", data={"csrf_token": csrf, "sms_preset": "started"})
    assert r.status_code == 422 and "no mobile number" in r.text
    r = client.post(
        f"/console/reports/{report.id}/sms", data={"csrf_token": csrf, "sms_preset": "free", "sms_text": ""}
    )
    assert r.status_code == 422 and "Write the update" in r.text
    r = client.post(
        f"/console/reports/{report.id}/grade", data={"csrf_token": csrf, "grade": "9", "harm": "kept"}
    )
    assert r.status_code == 422 and 'value="kept"' in r.text
    r = client.post(f"/console/reports/{report.id}/status", data={"csrf_token": csrf, "status": "bogus"})
    assert r.status_code == 422
    assert _events(session, report.id or 0) == []


def test_evidence_is_an_attachment_with_nosniff_and_never_leaves_the_upload_dir(
    client: TestClient, session: Session, settings: Settings
) -> None:
    report = make_report(session)
    settings.upload_dir.mkdir(parents=True, exist_ok=True)
    (settings.upload_dir / "stored123.html").write_bytes(b"<script>alert(1)</script>")
    (settings.upload_dir.parent / "secret.txt").write_text("top secret")
    good = Evidence(
        report_id=report.id,
        stored_name="stored123.html",
        original_name="photo.html",
        content_type="text/html",
        size_bytes=25,
        sha256="0" * 64,
    )
    evil = Evidence(
        report_id=report.id,
        stored_name="../secret.txt",
        original_name="x.txt",
        content_type="text/plain",
        size_bytes=10,
        sha256="1" * 64,
    )
    other = make_report(session)
    session.add_all([good, evil])
    session.flush()
    sign_in_as(client, session, settings)
    r = client.get(f"/console/reports/{report.id}/evidence/{good.id}")
    assert r.status_code == 200 and r.content == b"<script>alert(1)</script>"
    assert r.headers["content-disposition"].startswith("attachment")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in r.headers["content-security-policy"]
    assert client.get(f"/console/reports/{report.id}/evidence/{evil.id}").status_code == 403
    assert client.get(f"/console/reports/{other.id}/evidence/{good.id}").status_code == 404


def test_count_is_capped_beyond_the_page(
    client: TestClient, session: Session, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent_console.triage import service

    monkeypatch.setattr(service, "COUNT_CAP", 2)
    session.add_all([Report(reference=f"FC-CAP-{i:04d}", form_slug="crime", answers={}) for i in range(30)])
    sign_in_as(client, session, settings, role=Role.SUPERVISOR)
    page = client.get("/console/reports").text
    assert "more than 27 matching" in page and "Page 1 of 2+" in page
    page2 = client.get("/console/reports?page=2").text
    assert "30 matching" in page2 and "more than" not in page2


def test_form_filter_shows_the_forms_names(client: TestClient, session: Session, settings: Settings) -> None:
    """The filter and the table show "Report a crime", not the internal slug (#15.4)."""
    make_report(session, form_slug="crime")
    make_report(session, form_slug="retired-form")  # a form no longer in the catalogue keeps its slug
    session.commit()
    sign_in_as(client, session, settings)
    page = client.get("/console/reports").text
    assert '<option value="crime">Report a crime</option>' in page
    assert '<option value="retired-form">retired-form</option>' in page
    assert '<td class="govuk-table__cell">Report a crime</td>' in page
    assert client.get("/console/reports", params={"form": "crime"}).status_code == 200
    crime = session.exec(select(Report).where(Report.form_slug == "crime")).first()
    assert crime is not None
    detail = client.get(f"/console/reports/{crime.id}").text
    assert '<span class="govuk-caption-m">Report a crime</span>' in detail
