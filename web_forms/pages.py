"""Rendering public pages: the package's templates, the page language and its translator.

Language of a public page (`contact_store.i18n.choose_language`): `?lang=en|cy` on any URL, then
the `fc_lang` cookie, then Accept-Language, then English. `LanguageFromQuery` (installed by the app
factory) remembers a `?lang=` in the cookie on the response, so the choice sticks on every later
page; the switch link (`/language?lang=..&next=<this page>`) does the same and comes back here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from contact_store.i18n import LANGUAGE_COOKIE, LANGUAGE_NAMES, LANGUAGES, choose_language, translator
from contact_store.settings import Settings
from contact_store.ui import template_context, templates_for

TEMPLATES = Path(__file__).parent / "templates"
# Journey pages may hold answers: never keep them in a cache or the back-forward cache on disk.
NO_STORE = {"Cache-Control": "no-store, max-age=0", "Pragma": "no-cache"}
# One year: a language choice is a preference, not personal data.
LANGUAGE_COOKIE_SECONDS = 365 * 24 * 3600
# Paths that are not public pages: the API, the staff console, files.
NOT_PAGES = ("/api/", "/console", "/static/", "/ws/", "/healthz", "/language")


def page_language(request: Request) -> str:
    """The language of this request's pages."""
    return choose_language(
        query=request.query_params.get("lang"),
        cookie=request.cookies.get(LANGUAGE_COOKIE),
        accept_language=request.headers.get("accept-language"),
    )


def language_cookie(lang: str, *, secure: bool) -> str:
    """The Set-Cookie value remembering the visitor's language."""
    attributes = f"Max-Age={LANGUAGE_COOKIE_SECONDS}; Path=/; SameSite=Lax; HttpOnly"
    return f"{LANGUAGE_COOKIE}={lang}; {attributes}{'; Secure' if secure else ''}"


class LanguageFromQuery:
    """`?lang=cy` on any public page sets the language cookie, so the choice sticks."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.secure = settings.cookie_secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(NOT_PAGES):
            await self.app(scope, receive, send)
            return
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        lang = query.get("lang")
        cookies = dict(scope.get("headers") or []).get(b"cookie", b"").decode("latin-1")
        if lang not in LANGUAGES or f"{LANGUAGE_COOKIE}={lang}" in cookies.replace(" ", "").split(";"):
            await self.app(scope, receive, send)
            return
        cookie = language_cookie(str(lang), secure=self.secure).encode("latin-1")

        async def with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"set-cookie", cookie)]
            await send(message)

        await self.app(scope, receive, with_cookie)


def switch_link(request: Request, lang: str) -> dict[str, str]:
    """The link to this same page in the other language."""
    other = next(code for code in LANGUAGES if code != lang)
    query = urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "lang"])
    here = request.url.path + (f"?{query}" if query else "")
    return {
        "code": other,
        "name": LANGUAGE_NAMES[other],
        "href": f"/language?lang={other}&next={quote(here, safe='')}",
    }


def page_context(request: Request, lang: str) -> dict[str, Any]:
    """What every public page's template needs for its language: `lang`, `_` and the switch link."""
    return {"lang": lang, "_": translator(lang), "switch_language": switch_link(request, lang)}


def render(
    request: Request,
    template: str,
    *,
    status_code: int = 200,
    no_store: bool = False,
    templates_dir: Path = TEMPLATES,
    **values: Any,
) -> Response:
    """A public page in the visitor's language, with the language switch link."""
    lang = values.pop("lang", None) or page_language(request)
    context = template_context(request, **page_context(request, lang), **values)
    templates = templates_for(request, templates_dir)
    response: HTMLResponse = templates.TemplateResponse(
        request, template, context, status_code=status_code, headers=NO_STORE if no_store else None
    )
    response.headers["Content-Language"] = lang
    return response
