"""Sign-in and sign-out pages for staff.

The sign-in form is protected against login CSRF by a double-submit token: a random value in a
short-lived cookie and an HMAC of it in the form. A successful sign-in always starts a brand-new
server-side session (fresh id), so a session id planted before sign-in is worthless.
"""

import hashlib
import hmac
import re
import secrets
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from agent_console.common import render
from contact_store import staff
from contact_store.errors import Forbidden
from contact_store.text import PublicText
from contact_store.throttle import retry_after_header
from contact_store.ui import template_context, templates_for
from contact_store.web import (
    CSRF_FORM_FIELD,
    SESSION_COOKIE,
    TOO_MANY_SIGN_INS,
    CurrentStaff,
    SessionDep,
    SettingsDep,
    StoreDep,
    check_csrf,
    client_ip,
    sign_in_wait,
    token_from_request,
)

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
PRE_SESSION_COOKIE = "fc_presign"
router = APIRouter(prefix="/console", include_in_schema=False)


def _presign_token(secret: str, nonce: str) -> str:
    return hmac.new(secret.encode(), f"sign-in:{nonce}".encode(), hashlib.sha256).hexdigest()


CONSOLE_HOME = "/console"
# Browsers read "\" as "/" and drop tabs and newlines, so "/\evil.example" or "/\t/evil.example"
# would leave the site: any of them (or any control character) and the target is not followed.
_UNSAFE_IN_NEXT = re.compile(r"[\\\x00-\x1f\x7f\ud800-\udfff]")


def _safe_next(target: str | None) -> str:
    """Only a same-site relative path is followed; anything else, malformed included, is the home."""
    if not target or len(target) > 500 or not target.startswith("/") or target.startswith("//"):
        return CONSOLE_HOME
    if _UNSAFE_IN_NEXT.search(target):
        return CONSOLE_HOME
    try:
        parts = urlsplit(target)
    except ValueError:
        return CONSOLE_HOME
    if parts.scheme or parts.netloc:
        return CONSOLE_HOME
    return target


def _render_sign_in(
    request: Request,
    settings: SettingsDep,
    *,
    next_url: str,
    error: str = "",
    username: str = "",
    status: int = 200,
    retry_after: float = 0.0,
) -> Response:
    nonce = secrets.token_urlsafe(16)
    templates = templates_for(request, TEMPLATES)
    response = templates.TemplateResponse(
        request,
        "agent_console/sign_in.html",
        template_context(
            request,
            presign_token=_presign_token(settings.resolved_secret_key(), nonce),
            next_url=next_url,
            error=error,
            username=username,
        ),
        status_code=status,
    )
    if retry_after > 0:
        response.headers["Retry-After"] = retry_after_header(retry_after)
    response.set_cookie(
        PRE_SESSION_COOKIE,
        nonce,
        max_age=1800,
        httponly=True,
        samesite="strict",
        secure=settings.cookie_secure,
    )
    return response


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_page(request: Request, settings: SettingsDep, next: str | None = None) -> Response:
    return _render_sign_in(request, settings, next_url=_safe_next(next))


@router.post("/sign-in", response_class=HTMLResponse)
def sign_in(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    store: StoreDep,
    username: Annotated[PublicText, Form(max_length=200)] = "",
    password: Annotated[PublicText, Form(max_length=500)] = "",
    presign_token: Annotated[PublicText, Form(max_length=200)] = "",
    next: Annotated[PublicText, Form(max_length=500)] = "/console",
) -> Response:
    nonce = request.cookies.get(PRE_SESSION_COOKIE, "")
    expected = _presign_token(settings.resolved_secret_key(), nonce) if nonce else ""
    given = presign_token.encode("utf-8", "surrogatepass")  # any text: compare bytes, never raise
    if not expected or not hmac.compare_digest(expected.encode(), given):
        return _render_sign_in(
            request,
            settings,
            next_url=_safe_next(next),
            username=username,
            status=403,
            error="The sign-in page expired. Enter your details again.",
        )
    if not username.strip() or not password:
        return _render_sign_in(
            request,
            settings,
            next_url=_safe_next(next),
            username=username,
            status=422,
            error="Enter your username and password",
        )
    wait = sign_in_wait(request, username)
    if wait > 0:
        return _render_sign_in(
            request,
            settings,
            next_url=_safe_next(next),
            username=username,
            status=429,
            error=TOO_MANY_SIGN_INS,
            retry_after=wait,
        )
    outcome = staff.authenticate(
        session=session, settings=settings, username=username, password=password, store=store
    )
    if outcome.operator is None:
        return _render_sign_in(
            request,
            settings,
            next_url=_safe_next(next),
            username=username,
            status=429 if outcome.retry_after else 401,
            error=outcome.error,
            retry_after=outcome.retry_after,
        )
    issued = staff.start_session(
        session=session,
        settings=settings,
        operator=outcome.operator,
        ip_address=client_ip(request),
        user_agent=request.headers.get("user-agent"),
    )
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        issued.token,
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
        max_age=settings.session_absolute_hours * 3600,
    )
    response.delete_cookie(PRE_SESSION_COOKIE)
    return response


@router.post("/sign-out")
def sign_out(
    request: Request,
    ctx: CurrentStaff,
    session: SessionDep,
    csrf_token: Annotated[PublicText, Form(alias=CSRF_FORM_FIELD, max_length=200)] = "",
) -> Response:
    check_csrf(ctx, csrf_token)
    staff.end_session(session=session, token=token_from_request(request))
    response = RedirectResponse("/console/sign-in", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("", response_class=HTMLResponse)
def console_home(request: Request, ctx: CurrentStaff, settings: SettingsDep) -> Response:
    """The console's front door: what this member of staff can do, by role."""
    return render(request, "agent_console/home.html", report_target_hours=settings.report_target_hours)


__all__ = ["Forbidden", "router"]
