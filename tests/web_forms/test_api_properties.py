"""Property tests of the forms API: no body, in the schema's shape or not, gives a 5xx, and a
valid submission still works afterwards (Hypothesis)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, select

from contact_store.models import IdempotencyRecord, Report
from contact_store.text import MAX_JSON_DEPTH
from tests.support.strategies import json_values, nasty_text
from tests.web_forms.helpers import full_answers
from web_forms.catalogue import catalogue

FORMS = catalogue()
SLUGS = list(FORMS)
# Accepted answers to anything odd: refused (400/404/409/413/422), throttled (429) or filed (201).
CLIENT_ANSWERS = {201, 400, 404, 409, 413, 422, 429}


def _answers_in_shape(slug: str) -> st.SearchStrategy[dict[str, Any]]:
    """Answers keyed by the form's real question ids (and a few others), any JSON values."""
    form = FORMS[slug]
    valid = full_answers(form)
    keys = st.one_of(st.sampled_from(sorted(form.questions)), nasty_text)
    values = st.one_of(json_values, st.sampled_from([v for v in valid.values() if v is not None] or [""]))
    return st.dictionaries(keys, values, max_size=8).map(lambda odd: {**valid, **odd})


in_shape = st.sampled_from(SLUGS).flatmap(
    lambda slug: st.tuples(
        st.just(slug),
        st.fixed_dictionaries(
            {"answers": _answers_in_shape(slug)},
            optional={"language": st.one_of(st.sampled_from(["en", "cy"]), nasty_text)},
        ),
    )
)
out_of_shape = st.tuples(st.one_of(st.sampled_from(SLUGS), nasty_text), json_values)


def _post(client: TestClient, slug: str, body: Any, key: str | None = None) -> int:
    # ensure_ascii: lone surrogates travel as \ud800 escapes, exactly as an attacker sends them.
    headers: dict[str, str | bytes] = {"content-type": "application/json"}
    if key is not None:
        headers["Idempotency-Key"] = key.encode("latin-1")  # any byte a header can carry
    response = client.post(
        f"/api/v1/forms/{slug}/submissions", content=json.dumps(body).encode(), headers=headers
    )
    assert response.status_code in CLIENT_ANSWERS, (response.status_code, response.text[:500])
    response.json()  # every answer is a JSON document (the error body included)
    return response.status_code


@pytest.fixture
def api(app: FastAPI) -> Iterator[TestClient]:
    app.state.settings.api_submissions_per_minute = 1_000_000  # the property is about input, not rate
    with TestClient(app) as client:
        yield client


def _still_works(api: TestClient, session: Session) -> None:
    answers = full_answers(FORMS["crime"])
    response = api.post("/api/v1/forms/crime/submissions", json={"answers": answers})
    assert response.status_code == 201, response.text
    assert session.exec(select(Report).where(Report.reference == response.json()["reference"])).one()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=in_shape)
def test_submissions_in_the_schema_shape_never_give_a_5xx(
    api: TestClient, case: tuple[str, dict[str, Any]]
) -> None:
    slug, body = case
    _post(api, slug, body)


def test_in_shape_then_valid(api: TestClient, session: Session) -> None:
    """The property above runs on one app; this proves the same app still files a report."""
    test_submissions_in_the_schema_shape_never_give_a_5xx(api)
    _still_works(api, session)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=out_of_shape, key=st.one_of(st.none(), st.text(st.characters(max_codepoint=255), max_size=300)))
def test_any_json_any_key_never_gives_a_5xx(api: TestClient, case: tuple[str, Any], key: str | None) -> None:
    slug, body = case
    if (key is not None and any(c in key for c in "\r\n")) or slug in ("", ".", ".."):
        return  # not a header value / not a path segment an HTTP client can send
    # Any bytes in the path, percent-encoded (a lone surrogate becomes the invalid UTF-8 it is).
    _post(api, quote(slug.encode("utf-8", "surrogatepass"), safe=""), body, key)


def test_a_valid_submission_works_after_odd_ones(api: TestClient, session: Session) -> None:
    for body in ({"answers": {"description": "\ud800"}}, {"answers": {"\ud800": 1}}, [[[[]]]]):
        _post(api, "crime", body)
    _still_works(api, session)


@pytest.mark.parametrize(
    ("answers", "field"),
    [
        ({"description": "bike \ud800 stolen"}, "description"),
        ({"description": "bike\x00stolen"}, "description"),
        ({"incident_date": "٢٠٢٦-03-01"}, "incident_date"),
        ({"incident_date": {"day": "²", "month": "3", "year": "2026"}}, "incident_date"),
    ],
)
def test_unstorable_text_and_foreign_digits_are_field_errors(
    api: TestClient, session: Session, answers: dict[str, Any], field: str
) -> None:
    body = {"answers": full_answers(FORMS["crime"]) | answers}
    response = api.post(
        "/api/v1/forms/crime/submissions",
        content=json.dumps(body).encode(),
        headers={"content-type": "application/json", "Idempotency-Key": "k-unstorable"},
    )
    assert response.status_code == 422, response.text
    assert field in "".join(response.json()["error"]["fields"])
    assert session.exec(select(Report)).all() == []
    assert session.exec(select(IdempotencyRecord)).all() == []


def test_surrogate_or_nul_in_a_key_or_idempotency_key_is_422(api: TestClient) -> None:
    crime = full_answers(FORMS["crime"])
    for body, headers in (
        ({"answers": crime | {"\ud800": "x"}}, {}),
        ({"answers": crime | {"x\x00": "x"}}, {}),
        ({"answers": crime}, {"Idempotency-Key": "key\x00"}),
    ):
        response = api.post(
            "/api/v1/forms/crime/submissions",
            content=json.dumps(body).encode(),
            headers={"content-type": "application/json", **headers},
        )
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "validation_failed"


def test_deep_nesting_is_refused_not_recursed(api: TestClient) -> None:
    deep: Any = "x"
    for _ in range(MAX_JSON_DEPTH + 5):
        deep = [deep]
    assert _post(api, "crime", {"answers": {"description": deep}}) == 422
    very_deep = b'{"answers": {"description": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}"
    response = api.post(
        "/api/v1/forms/crime/submissions", content=very_deep, headers={"content-type": "application/json"}
    )
    assert response.status_code in (400, 413, 422)
