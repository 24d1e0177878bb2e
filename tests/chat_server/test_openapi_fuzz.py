"""Schemathesis over the whole OpenAPI document, as each role: no 5xx, every answer as documented.

Each role signs in through the real sign-in page (presign token, then the session cookie) and sends
its CSRF token as `X-CSRF-Token`; anonymous sends nothing. Every operation in
`/api/v1/openapi.json` gets generated requests (valid and invalid: wrong types, huge and negative
integers, odd text) and each response must pass `not_a_server_error` and the conformance checks
(status code, content type, headers and body schema as documented). Bounded for CI (both
backends): a few dozen examples per operation, no deadline.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlmodel import Session

from contact_store.models import Role
from contact_store.settings import Settings
from contact_store.web import CSRF_HEADER, SESSION_COOKIE
from tests.builders import DEFAULT_PASSWORD, make_conversation, make_operator, make_team

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
ROLES = ["anonymous", Role.OPERATOR, Role.SUPERVISOR, Role.MANAGER, Role.ADMIN]
EXAMPLES_PER_OPERATION = 15


def sign_in(client: TestClient, username: str, password: str) -> str:
    """Sign in through the page as a browser would; returns the session's CSRF token."""
    page = client.get("/console/sign-in")
    match = re.search(r'name="presign_token" value="([^"]+)"', page.text)
    assert match, page.text
    answer = client.post(
        "/console/sign-in",
        data={"username": username, "password": password, "presign_token": match.group(1)},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    home = client.get("/console")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', home.text)
    assert csrf, home.text
    return csrf.group(1)


@pytest.fixture(params=ROLES)
def role(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def signed_in(role: str, client: TestClient, session: Session, settings: Settings) -> Iterator[TestClient]:
    """The client, signed in as `role` (cookie + CSRF header), with a little data to find."""
    settings.notify_callback_token = "fuzz-notify-token-0123456789"
    team = make_team(session)
    make_conversation(session, token="fuzz-visitor-token")
    if role != "anonymous":
        make_operator(session, role=role, username=f"fuzz-{role}", team_id=team.id)
        session.commit()
        csrf = sign_in(client, f"fuzz-{role}", DEFAULT_PASSWORD)
        client.headers[CSRF_HEADER] = csrf
        assert client.cookies.get(SESSION_COOKIE)
    else:
        session.commit()
    yield client


def send(client: TestClient, case: schemathesis.Case) -> Any:
    """Send a generated case through the app's TestClient (its lifespan and session cookie)."""
    kwargs = case.as_transport_kwargs(base_url=str(client.base_url))
    method, url = kwargs.pop("method"), kwargs.pop("url")
    cookies = kwargs.pop("cookies", None) or {}
    data = kwargs.pop("data", None)
    if isinstance(data, bytes | str):
        kwargs["content"] = data
    elif data is not None:
        kwargs["data"] = data
    headers = {**dict(client.headers), **(kwargs.pop("headers", None) or {})}
    if cookies:
        headers["cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    allowed = {"params", "json", "content", "data", "files"}
    extra = {k: v for k, v in kwargs.items() if k in allowed}
    return client.request(method, url, headers=headers, follow_redirects=False, **extra)


def failures_of(client: TestClient, operation: Any, mode: GenerationMode) -> list[str]:
    """Run generated cases of one operation; the failures found (none is the goal)."""
    found: list[str] = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        response = send(client, case)
        try:
            case.validate_response(response, checks=CHECKS)
        except (Exception, FailureGroup) as exc:  # every failure is collected, reported below
            found.append(f"{operation.label} [{mode}] -> {response.status_code}: {exc}")
            raise

    try:
        run()
    except Unsatisfiable:
        pass  # nothing in this operation can be made invalid (no parameters, no body)
    except (Exception, FailureGroup) as exc:
        if not found:
            found.append(f"{operation.label} [{mode}]: {exc!r}")
    return found[:1]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_server_errors_and_every_answer_as_documented(
    app: FastAPI, signed_in: TestClient, mode: GenerationMode
) -> None:
    schema = schemathesis.openapi.from_dict(app.openapi())
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    failures = [f for operation in operations for f in failures_of(signed_in, operation, mode)]
    assert failures == [], "\n\n".join(failures)
