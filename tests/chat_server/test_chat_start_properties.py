"""Property tests of chat start: no body gives a 5xx, and a valid start still works (Hypothesis)."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session

from contact_store.models import Conversation
from tests.builders import make_area
from tests.support.strategies import json_values, nasty_text

CLIENT_ANSWERS = {201, 400, 409, 422, 429}
FIELDS = ["name", "topic", "mobile", "email", "postcode", "area_id", "language"]
plausible = st.sampled_from(["Sam", "crime", "07700 900123", "sam@example.com", "PR1 2AB", "en", "cy", 1])
in_shape = st.fixed_dictionaries(
    {}, optional={field: st.one_of(plausible, json_values, nasty_text) for field in FIELDS}
)
# Every example comes from its own address, so a per-address throttle never hides a 5xx.
_addresses = itertools.count(1)


def _start(app: FastAPI, body: Any) -> Any:
    n = next(_addresses)
    client = TestClient(app, client=(f"198.51.{n // 250 % 250}.{n % 250 + 1}", 40000))
    response = client.post(
        "/api/v1/chats", content=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )
    assert response.status_code in CLIENT_ANSWERS, (response.status_code, response.text[:500])
    return response


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=in_shape)
def test_chat_start_in_shape_never_gives_a_5xx(app: FastAPI, body: dict[str, Any]) -> None:
    _start(app, body)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=json_values)
def test_chat_start_any_json_never_gives_a_5xx(app: FastAPI, body: Any) -> None:
    _start(app, body)


def test_a_valid_start_works_after_hostile_ones(app: FastAPI, session: Session) -> None:
    test_chat_start_in_shape_never_gives_a_5xx(app)
    area = make_area(session)
    session.commit()
    response = _start(app, {"name": "Sam", "topic": "crime", "area_id": area.id})
    assert response.status_code == 201, response.text
    conversation = session.get(Conversation, response.json()["conversation_id"])
    assert conversation is not None and conversation.area_id == area.id


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "Sam\ud800"}, "name"),
        ({"name": "Sam\x00"}, "name"),
        ({"topic": "crime", "mobile": "07700\x00900123"}, "mobile"),
        ({"area_id": 2**63}, "area_id"),
        ({"area_id": 2**31}, "area_id"),
        ({"area_id": 10**30}, "area_id"),
        ({"area_id": 0}, "area_id"),
        ({"area_id": "٣"}, "area_id"),
    ],
)
def test_unstorable_text_and_unbounded_ids_are_field_errors(
    app: FastAPI, body: dict[str, Any], field: str
) -> None:
    response = _start(app, {"name": "Sam", "topic": "crime"} | body)
    assert response.status_code == 422, response.text
    assert field in response.json()["error"]["fields"]
