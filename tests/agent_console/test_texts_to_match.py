"""Texts to match: staff attach an unmatched inbound text to a report they may update, or file a new
report from it; the report rule decides, CSRF is checked, nothing is texted back."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from contact_store.models import InboundSms, Report, ReportEvent, Role, SmsMessage
from contact_store.settings import Settings
from contact_store.sms.inbound import handle_inbound
from tests.agent_console.helpers import sign_in_as
from tests.builders import make_person, make_report, make_team

PHONE = "+447700900123"


def _unmatched(session: Session, settings: Settings, body: str = "Is anyone looking at this?") -> InboundSms:
    make_person(session, phone_e164=PHONE)
    inbound = handle_inbound(session=session, settings=settings, from_number=PHONE, body=body, provider="log")
    assert inbound.matched_by == "unmatched"
    session.commit()
    return inbound


def test_texts_to_match_need_sign_in(client: TestClient) -> None:
    r = client.get("/console/texts", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/console/sign-in")
    assert client.post(
        "/console/texts/1/attach", data={"reference": "x"}, follow_redirects=False
    ).status_code in (
        303,
        401,
        403,
    )


def test_an_operator_attaches_a_text_to_a_report_of_their_team(
    client: TestClient, session: Session, settings: Settings
) -> None:
    team = make_team(session)
    inbound = _unmatched(session, settings, "<b>the bike</b> is back")
    report = make_report(session, team_id=team.id, status="in_progress")
    session.commit()
    _op, csrf = sign_in_as(client, session, settings, team_id=team.id)
    page = client.get("/console/texts")
    assert page.status_code == 200 and "&lt;b&gt;the bike&lt;/b&gt; is back" in page.text
    assert (
        client.post(f"/console/texts/{inbound.id}/attach", data={"reference": report.reference}).status_code
        == 403
    )
    r = client.post(
        f"/console/texts/{inbound.id}/attach",
        data={"reference": report.reference.lower(), "csrf_token": csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == f"/console/reports/{report.id}#timeline"
    session.expire_all()
    matched = session.get(InboundSms, inbound.id)
    assert matched is not None and (matched.report_id, matched.matched_by) == (report.id, "staff")
    (event,) = session.exec(select(ReportEvent).where(ReportEvent.report_id == report.id)).all()
    assert event.data["matched"] == "matched by staff"
    assert "matched by staff" in client.get(f"/console/reports/{report.id}").text
    again = client.post(
        f"/console/texts/{inbound.id}/attach", data={"reference": report.reference, "csrf_token": csrf}
    )
    assert again.status_code == 409


def test_an_operator_cannot_attach_to_a_report_they_may_not_update(
    client: TestClient, session: Session, settings: Settings
) -> None:
    inbound = _unmatched(session, settings)
    hidden = make_report(session, sensitive=True, form_slug="domestic-abuse")
    session.commit()
    _op, csrf = sign_in_as(client, session, settings)
    r = client.post(
        f"/console/texts/{inbound.id}/attach", data={"reference": hidden.reference, "csrf_token": csrf}
    )
    assert r.status_code == 403
    session.expire_all()
    assert session.get(InboundSms, inbound.id).matched_by == "unmatched"  # type: ignore[union-attr]


def test_an_unknown_reference_is_a_field_error(
    client: TestClient, session: Session, settings: Settings
) -> None:
    inbound = _unmatched(session, settings)
    _op, csrf = sign_in_as(client, session, settings)
    r = client.post(
        f"/console/texts/{inbound.id}/attach", data={"reference": "FC-0000-ZZZZ", "csrf_token": csrf}
    )
    assert r.status_code == 422 and "There is a problem" in r.text and 'value="FC-0000-ZZZZ"' in r.text


def test_a_new_report_from_a_text_sends_nothing(
    client: TestClient, session: Session, settings: Settings
) -> None:
    inbound = _unmatched(session, settings, "Someone is selling stolen bikes behind the shop")
    _op, csrf = sign_in_as(client, session, settings, role=Role.SUPERVISOR)
    r = client.post(
        f"/console/texts/{inbound.id}/new-report", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert r.status_code == 303
    session.expire_all()
    report = session.exec(select(Report).where(Report.channel == "sms")).one()
    assert report.answers == {"description": "Someone is selling stolen bikes behind the shop"}
    matched = session.get(InboundSms, inbound.id)
    assert matched is not None and (matched.report_id, matched.matched_by) == (report.id, "staff")
    assert matched.person_id == report.person_id
    # No acknowledgement goes out (nobody said it is safe to text): the gate records it as blocked.
    (ack,) = session.exec(select(SmsMessage)).all()
    assert (ack.status, ack.blocked_reason, ack.sent_at) == ("blocked", "not_safe_to_contact", None)
    assert "No texts are waiting" in client.get("/console/texts").text
