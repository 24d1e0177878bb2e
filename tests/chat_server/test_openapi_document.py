"""The OpenAPI document covers the whole JSON API: every route under /api, every request body,
and every error status with the one error body."""

from __future__ import annotations

from fastapi import FastAPI, routing
from fastapi.openapi.utils import _get_api_route_for_openapi

from chat_server.security_headers import API_DOCS_PATH


def _api_routes(app: FastAPI) -> set[tuple[str, str]]:
    found = set()
    for context in routing.iter_route_contexts(app.routes):
        route = _get_api_route_for_openapi(context)
        # The documentation page itself (HTML) is the one /api route that is not the API.
        if route is not None and route.path.startswith("/api/") and route.path != API_DOCS_PATH:
            found |= {(method.lower(), route.path) for method in route.methods}
    return found


def test_every_api_route_is_documented(app: FastAPI) -> None:
    spec = app.openapi()
    documented = {(method, path) for path, ops in spec["paths"].items() for method in ops}
    missing = _api_routes(app) - documented
    assert not missing, missing


def test_every_error_answer_has_the_error_body(app: FastAPI) -> None:
    spec = app.openapi()
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    for path, operations in spec["paths"].items():
        if path == "/healthz":
            continue
        for method, operation in operations.items():
            codes = {code for code in operation["responses"] if code.startswith("4")}
            for code in codes:
                schema = operation["responses"][code]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, code)
            if "requestBody" in operation or operation.get("parameters"):
                assert "422" in codes, (method, path)


def test_request_bodies_are_documented(app: FastAPI) -> None:
    paths = app.openapi()["paths"]
    survey = paths["/api/v1/chats/{conversation_id}/survey"]["post"]["requestBody"]["content"]
    assert survey["application/json"]["schema"] == {"$ref": "#/components/schemas/SurveyAnswersIn"}
    twilio = paths["/api/v1/sms/twilio/inbound"]["post"]["requestBody"]["content"]
    assert "From" in twilio["application/x-www-form-urlencoded"]["schema"]["properties"]
    for path in ("/api/v1/sms/notify/receipt", "/api/v1/sms/notify/inbound", "/api/v1/sms/simulate"):
        assert "requestBody" in paths[path]["post"], path
    submission = paths["/api/v1/forms/{slug}/submissions"]["post"]["responses"]
    assert {"201", "404", "409", "413", "422", "429"} <= set(submission)
