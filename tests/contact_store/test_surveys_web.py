"""The public survey page from a signed link and the chat widget's survey API."""

from __future__ import annotations

import secrets

from fastapi.testclient import TestClient
from itsdangerous import URLSafeTimedSerializer
from sqlmodel import Session, select

from contact_store.models import SmsMessage, SurveyResponse
from contact_store.settings import Settings
from contact_store.surveys import schedule_survey
from contact_store.surveys.service import TOKEN_SALT, dispatch_due_invitations, survey_token
from tests.builders import make_area, make_conversation, make_operator, make_person, make_report, make_team


def test_bad_or_forged_links_are_not_found(client: TestClient, session: Session, settings: Settings) -> None:
    assert client.get("/survey/not-a-token").status_code == 404
    forged = URLSafeTimedSerializer("another-secret-key", salt=TOKEN_SALT).dumps(1)
    assert client.get(f"/survey/{forged}").status_code == 404
    report = make_report(
        session, person_id=make_person(session, phone_e164="+447700900123", under_18=True).id
    )
    excluded = schedule_survey(session=session, settings=settings, channel="report", report=report)
    session.commit()
    assert (
        client.get(f"/survey/{survey_token(settings=settings, invitation_id=excluded.id)}").status_code == 404
    )  # type: ignore[arg-type]


def test_web_survey_records_context_and_is_accessible_markup(
    client: TestClient, session: Session, settings: Settings
) -> None:
    team, area = make_team(session), make_area(session)
    op = make_operator(session, team_id=team.id)
    report = make_report(
        session,
        person_id=make_person(session, phone_e164="+447700900123").id,
        team_id=team.id,
        area_id=area.id,
        assignee_id=op.id,
        form_slug="theft",
    )
    invitation = schedule_survey(session=session, settings=settings, channel="report", report=report)
    session.commit()
    path = f"/survey/{survey_token(settings=settings, invitation_id=invitation.id)}"  # type: ignore[arg-type]
    page = client.get(path)
    assert page.status_code == 200 and "govuk-radios" in page.text and "<legend" in page.text
    r = client.post(path, data={"score_time": "9", "comment": "<b>x</b>"})
    assert r.status_code == 422
    assert 'href="#score_time"' in r.text and "&lt;b&gt;x&lt;/b&gt;" in r.text
    r = client.post(
        path, data={"score_time": "5", "score_resolve": "4", "score_overall": "4", "comment": "Good"}
    )
    assert r.status_code == 200
    response = session.exec(select(SurveyResponse).where(SurveyResponse.invitation_id == invitation.id)).one()
    assert (response.team_id, response.operator_id, response.area_id, response.topic, response.reference) == (
        team.id,
        op.id,
        area.id,
        "theft",
        report.reference,
    )
    assert response.channel == "report" and response.response_channel == "web"
    # A completed survey is never texted out later.
    assert dispatch_due_invitations(session=session, settings=settings, now=invitation.due_at) == 0
    assert (
        client.post(path, data={"score_time": "1", "score_resolve": "1", "score_overall": "1"}).status_code
        == 200
    )
    session.refresh(response)
    assert response.score_time == 5


def test_widget_survey_api(client: TestClient, session: Session, settings: Settings) -> None:
    token = secrets.token_urlsafe(16)
    person = make_person(session, phone_e164="+447700900123")
    chat = make_conversation(session, token=token, person_id=person.id, status="ended", topic="noise")
    invitation = schedule_survey(session=session, settings=settings, channel="chat", conversation=chat)
    session.commit()
    url = f"/api/v1/chats/{chat.id}/survey"
    auth = {"Authorization": f"Bearer {token}"}
    assert client.get(url).status_code == 401
    assert client.get(url, headers={"Authorization": "Bearer wrong"}).status_code == 403
    assert invitation.sent_at is None
    got = client.get(url, headers=auth)
    assert got.status_code == 200 and [q["field"] for q in got.json()["questions"]][-1] == "comment"
    session.refresh(invitation)
    assert invitation.sent_at is not None  # offered in the chat window: part of its cohort from now on
    r = client.post(url, json={"score_time": 5}, headers=auth)
    assert r.status_code == 422 and set(r.json()["error"]["fields"]) == {"score_resolve", "score_overall"}
    assert (
        client.post(
            url,
            json={"score_time": 5, "score_resolve": 5, "score_overall": 5},
            headers={"Authorization": "Bearer x"},
        ).status_code
        == 403
    )
    r = client.post(
        url, json={"score_time": 5, "score_resolve": 4, "score_overall": 5, "comment": "Thanks"}, headers=auth
    )
    assert r.status_code == 201
    again = client.post(url, json={"score_time": 1, "score_resolve": 1, "score_overall": 1}, headers=auth)
    assert again.status_code == 409
    assert client.get(url, headers=auth).status_code == 404
    response = session.exec(select(SurveyResponse).where(SurveyResponse.invitation_id == invitation.id)).one()
    assert response.response_channel == "widget" and response.channel == "chat" and response.topic == "noise"
    assert dispatch_due_invitations(session=session, settings=settings, now=invitation.due_at) == 0
    assert session.exec(select(SmsMessage)).first() is None


def test_widget_has_no_survey_for_an_excluded_chat(
    client: TestClient, session: Session, settings: Settings
) -> None:
    token = secrets.token_urlsafe(16)
    chat = make_conversation(session, token=token, status="ended", topic="domestic-abuse")
    schedule_survey(session=session, settings=settings, channel="chat", conversation=chat)
    session.commit()
    r = client.get(f"/api/v1/chats/{chat.id}/survey", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "no_survey"
