"""Numbers in console paths, queries and forms: bounded (ids fit the INTEGER columns, pages) and
ASCII digits only. Ids beyond the column type, zero, negative or written in other digits ('٣',
'²') are a 422 or are ignored as "no choice", never a 500 from the database or from int()."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from contact_store.models import Role
from contact_store.settings import Settings
from contact_store.web import CSRF_HEADER
from tests.agent_console.helpers import sign_in_as
from tests.builders import make_conversation, make_report

HUGE = "9" * 30
BAD_IDS = [HUGE, str(2**63), str(2**31), "0", "-1", quote("٣"), quote("²")]


@pytest.fixture
def admin(client: TestClient, session: Session, settings: Settings) -> tuple[TestClient, str]:
    _, csrf = sign_in_as(client, session, settings, role=Role.ADMIN)
    return client, csrf


@pytest.mark.parametrize("bad", BAD_IDS)
@pytest.mark.parametrize(
    "path",
    [
        "/console/reports/{id}",
        "/console/reports/1/evidence/{id}",
        "/console/people/{id}",
        "/console/admin/operators/{id}",
        "/console/admin/people/{id}/export.json",
        "/console/admin/people/{id}/export",
    ],
)
def test_ids_in_paths_are_bounded(admin: tuple[TestClient, str], path: str, bad: str) -> None:
    client, _ = admin
    response = client.get(path.format(id=bad), follow_redirects=False)
    assert response.status_code == 422, (path, bad, response.status_code)


@pytest.mark.parametrize("bad", BAD_IDS)
def test_ids_in_posted_paths_are_bounded(admin: tuple[TestClient, str], bad: str) -> None:
    client, csrf = admin
    for path, form in (
        (f"/console/reports/{bad}/claim", {}),
        (f"/console/wallboard/operators/{bad}/status", {"status": "away"}),
        (f"/console/admin/operators/{bad}/disable", {}),
    ):
        response = client.post(path, data=form | {"csrf_token": csrf}, follow_redirects=False)
        assert response.status_code == 422, (path, response.status_code)


@pytest.mark.parametrize("bad", [HUGE, "0", "-1", "٣", "²"])
def test_pages_and_filters_in_queries(admin: tuple[TestClient, str], bad: str) -> None:
    client, _ = admin
    assert client.get("/console/reports", params={"page": bad}).status_code == 422
    assert client.get("/console/admin/audit", params={"page": bad}).status_code == 422
    # Hand-read filters: a number that is not a plain id means "no filter", never a 500.
    assert client.get("/console/reports", params={"area": bad[:12], "assigned": bad[:12]}).status_code == 200
    assert client.get("/console/admin/audit", params={"person": bad[:12]}).status_code == 200
    assert (
        client.get("/console/surveys", params={"team": bad, "operator": bad, "pod": bad}).status_code == 200
    )
    assert client.get("/console/surveys/comments", params={"page": bad, "team": bad}).status_code == 200


@pytest.mark.parametrize("bad", [HUGE[:12], "²", "٣", "-1"])
def test_ids_in_forms_are_ignored_or_refused(
    admin: tuple[TestClient, str], session: Session, bad: str
) -> None:
    client, csrf = admin
    report = make_report(session)
    conversation = make_conversation(session, status="active")
    session.commit()
    for path, form in (
        (f"/console/reports/{report.id}/assign", {"operator_id": bad}),
        (f"/console/wallboard/chats/{conversation.id}/assign", {"operator_id": bad}),
        (
            "/console/admin/operators",
            {"username": "new-op", "role": "operator", "team_id": bad, "areas": [bad]},
        ),
    ):
        response = client.post(path, data=form | {"csrf_token": csrf}, follow_redirects=False)
        assert response.status_code < 500, (path, response.status_code, response.text[:300])


def test_transfer_ids_in_json_are_bounded(admin: tuple[TestClient, str], session: Session) -> None:
    client, csrf = admin
    conversation = make_conversation(session, status="active")
    session.commit()
    for body in ({"to_operator_id": 2**70}, {"to_team_id": 0}, {"to_operator_id": "٣"}, {"note": "a\x00"}):
        response = client.post(
            f"/console/workspace/chats/{conversation.id}/transfer", json=body, headers={CSRF_HEADER: csrf}
        )
        assert response.status_code == 422, (body, response.text)


def test_conversation_ids_in_paths_are_storable(admin: tuple[TestClient, str]) -> None:
    client, _ = admin
    for bad in ("%00", "x" * 200):
        assert client.get(f"/console/workspace/chats/{bad}/person").status_code == 422


@pytest.mark.parametrize("token", ["é" * 20, "\u2603", "x\x00"])
def test_a_csrf_token_in_any_characters_is_403_not_500(
    admin: tuple[TestClient, str], session: Session, token: str
) -> None:
    client, _ = admin
    report = make_report(session)
    session.commit()
    response = client.post(
        f"/console/reports/{report.id}/claim", data={"csrf_token": token}, follow_redirects=False
    )
    assert response.status_code in (403, 422)


def test_evidence_remove_with_a_huge_or_foreign_number_is_ignored(client: TestClient) -> None:
    client.post("/report/crime/start")
    for bad in (HUGE, "²", "٣", "0"):
        response = client.post("/report/crime/evidence", data={"remove": bad})
        assert response.status_code < 500


@pytest.mark.parametrize("bad", ["١٢", "nan", "inf", "1e3", "1_0"])
def test_staffing_numbers_are_ascii_decimals(
    client: TestClient, session: Session, settings: Settings, bad: str
) -> None:
    sign_in_as(client, session, settings, role=Role.MANAGER)
    response = client.get("/console/staffing/calculator", params={"contacts": bad})
    assert response.status_code == 422
    response = client.get("/console/staffing", params={"sl": bad})
    assert response.status_code == 422  # the page again, with the field's error
    assert "Service level" in response.text and "enter a number from" in response.text
