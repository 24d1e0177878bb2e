"""Rendering public pages: the package's templates, the page language and its translator."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from contact_store.ui import template_context, templates_for
from web_forms.i18n import LANGUAGE_COOKIE, LANGUAGE_NAMES, LANGUAGES, choose_language, translator

TEMPLATES = Path(__file__).parent / "templates"
# Journey pages may hold answers: never keep them in a cache or the back-forward cache on disk.
NO_STORE = {"Cache-Control": "no-store, max-age=0", "Pragma": "no-cache"}


def page_language(request: Request) -> str:
    """The language of this request's pages."""
    return choose_language(
        cookie=request.cookies.get(LANGUAGE_COOKIE), accept_language=request.headers.get("accept-language")
    )


def render(
    request: Request,
    template: str,
    *,
    status_code: int = 200,
    no_store: bool = False,
    **values: Any,
) -> Response:
    """A public page in the visitor's language, with the language switch link."""
    lang = values.pop("lang", None) or page_language(request)
    other = next(code for code in LANGUAGES if code != lang)
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    context = template_context(
        request,
        lang=lang,
        _=translator(lang),
        switch_language={
            "code": other,
            "name": LANGUAGE_NAMES[other],
            "href": f"/language?lang={other}&next={quote(here, safe='')}",
        },
        **values,
    )
    templates = templates_for(request, TEMPLATES)
    response: HTMLResponse = templates.TemplateResponse(
        request, template, context, status_code=status_code, headers=NO_STORE if no_store else None
    )
    response.headers["Content-Language"] = lang
    return response
