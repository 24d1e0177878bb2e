"""Survey answers at the boundary: typed widget body, no unstorable text, foreign digits refused,
and two answers racing for one survey give one 201 and one 409 (never a 500)."""

from __future__ import annotations

import json
import secrets
import threading
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from contact_store.models import SurveyResponse
from contact_store.settings import Settings
from contact_store.surveys import schedule_survey
from contact_store.surveys.service import survey_token
from tests.builders import make_conversation, make_person
from tests.conftest import LiveServer

GOOD = {"score_time": 5, "score_resolve": 4, "score_overall": 5}


def _chat_with_survey(session: Session, settings: Settings) -> tuple[str, str, int]:
    token = secrets.token_urlsafe(16)
    person = make_person(session, phone_e164="+447700900123")
    chat = make_conversation(session, token=token, person_id=person.id, status="ended", topic="noise")
    invitation = schedule_survey(session=session, settings=settings, channel="chat", conversation=chat)
    session.commit()
    assert invitation is not None and invitation.id is not None
    return chat.id, token, invitation.id


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"comment": "good \ud800"}, "comment"),
        ({"comment": "good\x00"}, "comment"),
        ({"comment": ["good"]}, "comment"),
        ({"score_time": "٣"}, "score_time"),
        ({"score_time": 2**70}, "score_time"),
        ({"score_time": [5]}, "score_time"),
        ({"score_overall": 6}, "score_overall"),
        ({"extra": 1}, "extra"),
    ],
)
def test_widget_answers_are_typed_and_storable(
    client: TestClient, session: Session, settings: Settings, change: dict[str, Any], field: str
) -> None:
    chat_id, token, invitation_id = _chat_with_survey(session, settings)
    response = client.post(
        f"/api/v1/chats/{chat_id}/survey",
        content=json.dumps(GOOD | change).encode(),
        headers={"Authorization": f"Bearer {token}", "content-type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert field in response.json()["error"]["fields"]
    assert (
        session.exec(select(SurveyResponse).where(SurveyResponse.invitation_id == invitation_id)).first()
        is None
    )


def test_widget_survey_ids_from_the_path_are_checked(client: TestClient) -> None:
    for conversation_id in ("%00", "x" * 200):
        response = client.get(
            f"/api/v1/chats/{conversation_id}/survey", headers={"Authorization": "Bearer t"}
        )
        assert response.status_code == 422, response.text


@pytest.mark.parametrize("score", ["٣", "²", "9" * 40, "-1", "3.0"])
def test_web_survey_refuses_foreign_digits_with_the_form_again(
    client: TestClient, session: Session, settings: Settings, score: str
) -> None:
    _, _, invitation_id = _chat_with_survey(session, settings)
    url = f"/survey/{survey_token(settings=settings, invitation_id=invitation_id)}"
    form = {"score_time": score, "score_resolve": "4", "score_overall": "5", "comment": "fine\x00"}
    response = client.post(url, data=form)
    assert response.status_code == 422
    assert "Select how satisfied you were with the time it took" in response.text
    assert "Your comments must not contain control characters" in response.text


def test_two_answers_racing_for_one_survey_give_201_and_409(live_server: LiveServer) -> None:
    with live_server.store.session_scope() as session:
        chat_id, token, invitation_id = _chat_with_survey(session, live_server.settings)
    url = f"{live_server.base_url}/api/v1/chats/{chat_id}/survey"
    start = threading.Barrier(2)
    statuses: list[int] = []

    def answer(scores: dict[str, int]) -> None:
        start.wait()
        statuses.append(
            httpx.post(url, json=scores, headers={"Authorization": f"Bearer {token}"}).status_code
        )

    threads = [threading.Thread(target=answer, args=(GOOD,)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(statuses) == [201, 409]
    with live_server.store.session_scope() as session:
        rows = session.exec(select(SurveyResponse).where(SurveyResponse.invitation_id == invitation_id)).all()
    assert len(rows) == 1
