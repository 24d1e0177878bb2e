"""Error handlers: one JSON shape for the API, GOV.UK-styled pages for people, never a bare 500.

The mapping from failures to answers lives here, once, not in a try in every route:
- `AppError` family -> its status (400/401/403/404/409/413/422/429);
- request validation (pydantic, FastAPI params) -> 422 with `fields`;
- text that cannot be stored (`contact_store.text.UnstorableText`) -> 422;
- a value the database refuses (`DataError`, a backstop behind the boundary types) -> 422;
- a unique or foreign-key constraint hit by two requests at once (`IntegrityError`), e.g. two
  answers to one survey racing each other -> 409 `conflict` ("already done, reload");
- anything else -> logged, 500 page (never a trace).
Error bodies never echo what was sent, and every string in them is made encodable first (a lone
surrogate in a field name must not turn a 422 into a 500).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import DataError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from chat_server.security_headers import new_nonce
from contact_store.errors import AppError, Conflict, NotAuthenticated, ValidationFailed
from contact_store.i18n import N_, translator
from contact_store.openapi import ERROR_DESCRIPTIONS, ErrorBody
from contact_store.text import UnstorableText, strip_unstorable
from contact_store.web import csp_nonce
from web_forms.pages import page_language, render

logger = logging.getLogger(__name__)

# Headings and messages are English message ids: a public page shows them in the visitor's language.
HTTP_HEADINGS = {
    400: N_("There is a problem with the request"),
    401: N_("Sign in to continue"),
    403: N_("You cannot see this page"),
    404: N_("Page not found"),
    405: N_("This action is not allowed"),
    409: N_("This has already been done"),
    410: N_("This page is no longer available"),
    413: N_("The file or form is too large"),
    422: N_("There is a problem with what was sent"),
    429: N_("Too many requests"),
}
DEFAULT_HEADING = N_("Sorry, there is a problem with the service")
CONFLICT_MESSAGE = N_(
    "This was already done, possibly by another request at the same moment. Reload to see it."
)
NOT_FOUND_MESSAGE = N_("If you typed the web address, check it is correct.")
NOT_ALLOWED_MESSAGE = N_("Go back to the page you were on and try again.")
INVALID_MESSAGE = N_("Some of the information sent was not valid. Go back and try again.")
UNEXPECTED_MESSAGE = N_("Sorry, there is a problem with the service. Try again later.")
MAX_FIELD_NAME = 64


def wants_json(request: Request) -> bool:
    """API paths and clients that ask for JSON get JSON; people get pages."""
    path = request.url.path
    if path.startswith("/api/") or path == "/healthz":
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def error_body(code: str, message: str, fields: dict[str, str] | None = None) -> dict[str, Any]:
    """`{"error": {"code", "message", "fields"?}}` with every string encodable as UTF-8."""
    body: dict[str, Any] = {"code": code, "message": strip_unstorable(message)}
    if fields:
        body["fields"] = {
            strip_unstorable(str(k))[:MAX_FIELD_NAME]: strip_unstorable(str(v)) for k, v in fields.items()
        }
    return {"error": body}


def _page(request: Request, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """An error page: for the public in their language (with the 999 advice and the language
    switch), for staff pages in English."""
    heading = HTTP_HEADINGS.get(status, DEFAULT_HEADING)
    if request.url.path.startswith("/console"):
        templates = request.app.state.templates
        context = {"heading": heading, "message": message}
        return templates.TemplateResponse(request, "error.html", context, status_code=status, headers=headers)
    _ = translator(page_language(request))
    response = render(
        request, "web_forms/error.html", status_code=status, heading=_(heading), message=_(message)
    )
    response.headers.update(headers or {})
    return response


def app_error_response(request: Request, exc: AppError) -> Response:
    """The response for an `AppError`: JSON for the API, a sign-in redirect or a page for people."""
    if wants_json(request):
        body = error_body(exc.code, exc.message, exc.fields)
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers or None)
    if isinstance(exc, NotAuthenticated) and request.url.path.startswith("/console"):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/console/sign-in?next={quote(target)}", status_code=303)
    return _page(request, exc.status_code, strip_unstorable(exc.message), exc.headers or None)


def _documented(status: int) -> dict[str, Any]:
    return {
        "description": ERROR_DESCRIPTIONS[status],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    }


def _document_error_shape(app: FastAPI) -> None:
    """The OpenAPI document shows our 422 body (ErrorBody), not FastAPI's default one."""
    generate = app.openapi
    fastapi_422 = "#/components/schemas/HTTPValidationError"

    def openapi() -> dict[str, Any]:
        spec = generate()
        schemas = spec.setdefault("components", {}).setdefault("schemas", {})
        defs = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(defs.pop("$defs", {}))
        schemas["ErrorBody"] = defs
        for operations in spec.get("paths", {}).values():
            for operation in operations.values():
                if "requestBody" in operation:
                    # FastAPI answers 400 to a body it cannot read; chat_server.body_limit 413 to
                    # one over the size limit, for every operation that takes a body.
                    operation["responses"].setdefault("400", _documented(400))
                    operation["responses"].setdefault("413", _documented(413))
                response = operation.get("responses", {}).get("422")
                content = (response or {}).get("content", {}).get("application/json", {})
                if content.get("schema", {}).get("$ref") == fastapi_422:
                    content["schema"] = {"$ref": "#/components/schemas/ErrorBody"}
                    response["description"] = ERROR_DESCRIPTIONS[422]
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        return spec

    app.openapi = openapi  # type: ignore[method-assign]


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on the app (and document the error body in its OpenAPI)."""
    _document_error_shape(app)

    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError) -> Response:
        return app_error_response(request, exc)

    @app.exception_handler(UnstorableText)
    async def _unstorable(request: Request, exc: UnstorableText) -> Response:
        return app_error_response(request, ValidationFailed(str(exc)))

    @app.exception_handler(DataError)
    async def _data_error(request: Request, exc: DataError) -> Response:
        # Backstop only: the boundary types (contact_store.text) refuse such values first.
        logger.warning(
            "value refused by the database on %s %s: %s", request.method, request.url.path, exc.orig
        )
        return app_error_response(request, ValidationFailed("A value sent cannot be stored"))

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError) -> Response:
        logger.info("constraint conflict on %s %s: %s", request.method, request.url.path, exc.orig)
        return app_error_response(request, Conflict(CONFLICT_MESSAGE))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        fields: dict[str, str] = {}
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "form")]
            fields[".".join(loc)[:MAX_FIELD_NAME] or "request"] = str(err.get("msg", "Invalid value"))
        if wants_json(request):
            return JSONResponse(
                error_body("validation_failed", "Some fields are not valid", fields), status_code=422
            )
        return _page(request, 422, INVALID_MESSAGE)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        message = (
            exc.detail if isinstance(exc.detail, str) else HTTP_HEADINGS.get(exc.status_code, DEFAULT_HEADING)
        )
        if wants_json(request):
            return JSONResponse(
                error_body(f"http_{exc.status_code}", message),
                status_code=exc.status_code,
                headers=getattr(exc, "headers", None),
            )
        if exc.status_code == 404:
            message = NOT_FOUND_MESSAGE
        elif exc.status_code == 405:
            message = NOT_ALLOWED_MESSAGE
        return _page(request, exc.status_code, message, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        message = UNEXPECTED_MESSAGE
        if wants_json(request):
            response: Response = JSONResponse(error_body("internal_error", message), status_code=500)
        else:
            response = _page(request, 500, message)
        # This answer leaves from outside the middleware stack: the security headers are set here.
        secure = getattr(request.app.state, "security_headers", None)
        if secure is not None:
            nonce = csp_nonce(request) or new_nonce()
            response.raw_headers[:] = secure(request.url.path, nonce, list(response.raw_headers))
        return response
