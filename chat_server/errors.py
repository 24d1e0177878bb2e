"""Error handlers: one JSON shape for the API, GOV.UK-styled pages for people, never a bare 500."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from contact_store.errors import AppError, NotAuthenticated

logger = logging.getLogger(__name__)

HTTP_HEADINGS = {
    400: "There is a problem with the request",
    401: "Sign in to continue",
    403: "You cannot see this page",
    404: "Page not found",
    405: "This action is not allowed",
    413: "The file or form is too large",
    422: "There is a problem with what was sent",
    429: "Too many requests",
}


def wants_json(request: Request) -> bool:
    """API paths and clients that ask for JSON get JSON; people get pages."""
    path = request.url.path
    if path.startswith("/api/") or path == "/healthz":
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def error_body(code: str, message: str, fields: dict[str, str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    return {"error": body}


def _page(request: Request, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    templates = request.app.state.templates
    heading = HTTP_HEADINGS.get(status, "Sorry, there is a problem with the service")
    return templates.TemplateResponse(
        request, "error.html", {"heading": heading, "message": message}, status_code=status, headers=headers
    )


def app_error_response(request: Request, exc: AppError) -> Response:
    """The response for an `AppError`: JSON for the API, a sign-in redirect or a page for people."""
    if wants_json(request):
        return JSONResponse(exc.to_dict(), status_code=exc.status_code, headers=exc.headers or None)
    if isinstance(exc, NotAuthenticated) and request.url.path.startswith("/console"):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/console/sign-in?next={quote(target)}", status_code=303)
    return _page(request, exc.status_code, exc.message, exc.headers or None)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on the app."""

    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError) -> Response:
        return app_error_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        fields: dict[str, str] = {}
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "form")]
            fields[".".join(loc) or "request"] = str(err.get("msg", "Invalid value"))
        if wants_json(request):
            return JSONResponse(
                error_body("validation_failed", "Some fields are not valid", fields), status_code=422
            )
        return _page(request, 422, "Some of the information sent was not valid. Go back and try again.")

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        message = exc.detail if isinstance(exc.detail, str) else HTTP_HEADINGS.get(exc.status_code, "Error")
        if wants_json(request):
            return JSONResponse(
                error_body(f"http_{exc.status_code}", message),
                status_code=exc.status_code,
                headers=getattr(exc, "headers", None),
            )
        if exc.status_code == 404:
            message = "If you typed the web address, check it is correct."
        return _page(request, exc.status_code, message)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        message = "Sorry, there is a problem with the service. Try again later."
        if wants_json(request):
            return JSONResponse(error_body("internal_error", message), status_code=500)
        return _page(request, 500, message)
