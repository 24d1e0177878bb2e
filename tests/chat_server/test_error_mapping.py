"""The one mapping from failures to answers (chat_server.errors): conflicts are 409, values the
database refuses are 422, error bodies are always encodable, nothing becomes a 500."""

from __future__ import annotations

import json

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel
from sqlalchemy.exc import DataError, IntegrityError

from contact_store.text import PublicText, clean_text


class Echo(BaseModel):
    text: PublicText


@pytest.fixture
def failing_app(app: FastAPI) -> FastAPI:
    def conflict() -> None:
        raise IntegrityError(
            "INSERT ...", {}, Exception("UNIQUE constraint failed: surveyresponse.invitation_id")
        )

    def refused() -> None:
        raise DataError("INSERT ...", {}, Exception("value out of range"))

    def unstorable() -> None:
        clean_text("a\x00b")

    def echo(body: dict[str, Echo]) -> dict[str, str]:
        return {"ok": "yes"}

    for prefix in ("/api/v1/test", "/test"):
        app.add_api_route(f"{prefix}/conflict", conflict, methods=["POST"])
        app.add_api_route(f"{prefix}/refused", refused, methods=["POST"])
        app.add_api_route(f"{prefix}/unstorable", unstorable, methods=["POST"])
    app.add_api_route("/api/v1/test/echo", echo, methods=["POST"])
    return app


def test_a_unique_constraint_conflict_is_409_for_the_api_and_for_pages(failing_app: FastAPI) -> None:
    client = TestClient(failing_app, raise_server_exceptions=False)
    api = client.post("/api/v1/test/conflict")
    assert api.status_code == 409
    assert api.json()["error"]["code"] == "conflict" and "already" in api.json()["error"]["message"]
    page = client.post("/test/conflict", headers={"accept": "text/html"})
    assert page.status_code == 409 and "text/html" in page.headers["content-type"]
    assert "already" in page.text


def test_a_value_the_database_refuses_is_422(failing_app: FastAPI) -> None:
    client = TestClient(failing_app, raise_server_exceptions=False)
    assert client.post("/api/v1/test/refused").status_code == 422
    assert client.post("/api/v1/test/unstorable").json()["error"]["code"] == "validation_failed"
    assert client.post("/test/refused", headers={"accept": "text/html"}).status_code == 422


def test_error_bodies_never_echo_or_choke_on_lone_surrogates(failing_app: FastAPI) -> None:
    client = TestClient(failing_app, raise_server_exceptions=False)
    body = json.dumps({"\ud800key": {"text": "x\ud800"}, "ok": {"text": 1}}).encode()
    response = client.post("/api/v1/test/echo", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    fields = response.json()["error"]["fields"]
    assert any(name.endswith("key.text") for name in fields) and "ok.text" in fields
    assert all(name.encode("utf-8") for name in fields)  # the surrogate never reaches the body
    assert "\\ud800" not in response.text  # no escaped surrogate: the input is never echoed
