"""The forms JSON API: definitions, submissions, 422 field errors, idempotency and rate limits."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from chat_server.app import create_app
from contact_store.db import Store
from contact_store.models import IdempotencyRecord, Report, SmsMessage
from tests.conftest import make_test_settings
from tests.web_forms.helpers import full_answers
from web_forms.catalogue import catalogue


def test_list_and_definition(client: TestClient) -> None:
    listing = client.get("/api/v1/forms").json()
    slugs = [f["slug"] for f in listing["forms"]]
    assert slugs[0] == "crime" and "domestic-abuse" in slugs and len(slugs) >= 10
    definition = client.get("/api/v1/forms/crime").json()
    assert definition["slug"] == "crime"
    assert definition["pages"][0]["questions"][0]["type"] == "radios"
    suspect = next(p for p in definition["pages"] if p["id"] == "suspect-details")
    assert suspect["when"] == {"question": "suspect_known", "in": ["yes", "not-sure"]}
    assert client.get("/api/v1/forms/nope").status_code == 404


@pytest.mark.parametrize("slug", list(catalogue()))
def test_submit_each_form(client: TestClient, session: Session, slug: str) -> None:
    response = client.post(
        f"/api/v1/forms/{slug}/submissions", json={"answers": full_answers(catalogue()[slug])}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "received" and body["form"] == slug
    report = session.exec(select(Report).where(Report.reference == body["reference"])).one()
    assert report.channel == "api"


def test_422_lists_field_errors_and_stores_nothing(client: TestClient, session: Session) -> None:
    answers = full_answers(catalogue()["crime"]) | {
        "incident_date": "2026-02-30",
        "phone": "not a phone",
        "description": "x" * 6000,
        "unknown": "y",
    }
    del answers["crime_type"]
    response = client.post(
        "/api/v1/forms/crime/submissions", json={"answers": answers}, headers={"Idempotency-Key": "k-422"}
    )
    assert response.status_code == 422
    fields = response.json()["error"]["fields"]
    assert set(fields) == {"incident_date", "phone", "description", "unknown", "crime_type"}
    assert session.exec(select(Report)).all() == []
    assert session.exec(select(IdempotencyRecord)).all() == []


def test_422_in_welsh(client: TestClient) -> None:
    response = client.post("/api/v1/forms/crime/submissions", json={"answers": {}, "language": "cy"})
    assert response.status_code == 422
    assert response.json()["error"]["fields"]["incident_date"] == "Rhowch y dyddiad y digwyddodd"


def test_malformed_bodies_are_422_not_500(client: TestClient) -> None:
    for body in ({"answers": []}, {"answers": {}, "extra": 1}, {"language": "fr", "answers": {}}):
        assert client.post("/api/v1/forms/crime/submissions", json=body).status_code == 422
    response = client.post(
        "/api/v1/forms/crime/submissions", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    answers = full_answers(catalogue()["crime"]) | {"crime_type": ["theft"], "incident_date": {"day": 1}}
    response = client.post("/api/v1/forms/crime/submissions", json={"answers": answers})
    assert response.status_code == 422
    assert set(response.json()["error"]["fields"]) == {"crime_type", "incident_date"}


def test_idempotent_resubmission(client: TestClient, session: Session) -> None:
    payload = {"answers": full_answers(catalogue()["crime"])}
    first = client.post(
        "/api/v1/forms/crime/submissions", json=payload, headers={"Idempotency-Key": "abc-123"}
    )
    second = client.post(
        "/api/v1/forms/crime/submissions", json=payload, headers={"Idempotency-Key": "abc-123"}
    )
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert len(session.exec(select(Report)).all()) == 1
    assert len(session.exec(select(SmsMessage)).all()) == 1
    changed = {"answers": payload["answers"] | {"description": "Different"}}
    conflict = client.post(
        "/api/v1/forms/crime/submissions", json=changed, headers={"Idempotency-Key": "abc-123"}
    )
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "idempotency_key_reused"
    # The same key on another form is a different request.
    other = client.post(
        "/api/v1/forms/feedback/submissions",
        json={"answers": full_answers(catalogue()["feedback"])},
        headers={"Idempotency-Key": "abc-123"},
    )
    assert other.status_code == 201
    # Without a key, each request is a new report.
    client.post("/api/v1/forms/crime/submissions", json=payload)
    assert len(session.exec(select(Report)).all()) == 3


def test_rate_limit_per_address(tmp_path: Path, database_url: str, store: Store) -> None:
    # As the `settings` fixture: no routing loop on the test's one connection (on PostgreSQL its
    # units and the requests' would share that connection from two threads and could hang).
    settings = make_test_settings(
        tmp_path, database_url, api_submissions_per_minute=2, routing_loop_enabled=False
    )
    app = create_app(settings, store=store)
    payload = {"answers": full_answers(catalogue()["feedback"])}
    with TestClient(app) as c:
        codes = [c.post("/api/v1/forms/feedback/submissions", json=payload).status_code for _ in range(3)]
        assert codes == [201, 201, 429]
        limited = c.post("/api/v1/forms/feedback/submissions", json=payload)
        assert limited.json()["error"]["code"] == "rate_limited"
        assert int(limited.headers["retry-after"]) >= 1
        # Reading definitions is not limited.
        assert c.get("/api/v1/forms").status_code == 200


def test_request_too_large(client: TestClient) -> None:
    answers = {"description": "x" * (300 * 1024)}
    response = client.post("/api/v1/forms/crime/submissions", json={"answers": answers})
    assert response.status_code == 413


def test_safe_to_contact_is_an_answer_and_a_number_abroad_is_a_field_error(
    client: TestClient, session: Session
) -> None:
    crime = full_answers(catalogue()["crime"])
    abroad = client.post(
        "/api/v1/forms/crime/submissions", json={"answers": crime | {"phone": "+1 202 555 0123"}}
    )
    assert abroad.status_code == 422
    assert abroad.json()["error"]["fields"] == {"phone": "Enter a UK phone number, like 07700 900 982"}
    no = client.post("/api/v1/forms/crime/submissions", json={"answers": crime | {"safe_to_contact": "no"}})
    assert no.status_code == 201 and no.json()["safe_to_contact"] is False
    # Left out on a sensitive form: "no"; the report records it and nothing is queued.
    da = {k: v for k, v in full_answers(catalogue()["domestic-abuse"]).items() if k != "safe_to_text"}
    da |= {"phone": "07700900459"}
    r = client.post("/api/v1/forms/domestic-abuse/submissions", json={"answers": da})
    assert r.status_code == 201 and r.json()["safe_to_contact"] is False
    report = session.exec(select(Report).where(Report.reference == r.json()["reference"])).one()
    assert not report.safe_to_contact and report.contact_e164 == "+447700900459"
    queued = session.exec(select(SmsMessage).where(SmsMessage.status == "queued")).all()
    assert queued == []
