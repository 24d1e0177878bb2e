"""Schemathesis over the routes the OpenAPI leaves out (console and public HTML pages): no 5xx.

The console's pages are not part of the public API document, but their path, query and form
parameters are input all the same. This builds a document of every HTTP route (the live stream
and sign-out excepted), signs in as an admin through the real sign-in page, puts the session's
CSRF token in every form, and checks `not_a_server_error` on generated invalid requests.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI, routing
from fastapi.openapi.utils import _get_api_route_for_openapi
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from sqlmodel import Session

from contact_store.models import Role
from contact_store.settings import Settings
from contact_store.web import CSRF_FORM_FIELD, CSRF_HEADER
from tests.builders import DEFAULT_PASSWORD, make_conversation, make_operator, make_report, make_team
from tests.chat_server.test_openapi_fuzz import send, sign_in

EXAMPLES_PER_OPERATION = 5
# An endless event stream, and the one route that ends the session the fuzzing runs in.
SKIPPED = {"/console/wallboard/stream", "/console/sign-out"}


def hidden_routes_document(app: FastAPI) -> dict[str, Any]:
    """An OpenAPI document of every HTTP route the public document leaves out (each route's
    parameters come from its handler's signature, as FastAPI reads them to serve it)."""
    mirror = FastAPI()
    for context in routing.iter_route_contexts(app.routes):
        route = _get_api_route_for_openapi(context)
        if route is None or route.include_in_schema or route.path in SKIPPED:
            continue
        mirror.add_api_route(route.path, route.endpoint, methods=sorted(route.methods))
    return mirror.openapi()


@pytest.fixture
def admin(client: TestClient, session: Session, settings: Settings) -> Iterator[tuple[TestClient, str]]:
    team = make_team(session)
    make_operator(session, role=Role.ADMIN, username="fuzz-admin", team_id=team.id)
    make_report(session)
    make_conversation(session, status="active")
    session.commit()
    csrf = sign_in(client, "fuzz-admin", DEFAULT_PASSWORD)
    client.headers[CSRF_HEADER] = csrf
    yield client, csrf


def server_errors_of(client: TestClient, csrf: str, operation: Any, mode: GenerationMode) -> list[str]:
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
        if isinstance(case.body, dict) and CSRF_FORM_FIELD in case.body:
            case.body[CSRF_FORM_FIELD] = csrf  # get past the CSRF check to the parameters
        response = send(client, case)
        try:
            case.validate_response(response, checks=[not_a_server_error])
        except (Exception, FailureGroup) as exc:
            found.append(f"{operation.label} [{mode}] -> {response.status_code}: {exc}")
            raise

    try:
        run()
    except Unsatisfiable:
        pass
    except (Exception, FailureGroup) as exc:
        if not found:
            found.append(f"{operation.label} [{mode}]: {exc!r}")
    return found[:1]


def test_no_console_or_page_input_gives_a_5xx(app: FastAPI, admin: tuple[TestClient, str]) -> None:
    """Invalid values (out of bounds, wrong types) for every declared parameter; the valid ones are
    covered by each area's own tests. Kept small: it runs in CI on both backends."""
    client, csrf = admin
    mode = GenerationMode.NEGATIVE
    schema = schemathesis.openapi.from_dict(hidden_routes_document(app))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 50
    failures = [f for op in operations for f in server_errors_of(client, csrf, op, mode)]
    assert failures == [], "\n\n".join(failures)
