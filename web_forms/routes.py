"""Public HTTP handlers (thin: validation and persistence live in the services).

The form catalogue is loaded and validated here, at import, so a broken definition stops the
application from starting rather than failing a visitor.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from web_forms.api.routes import router as api_router
from web_forms.catalogue import catalogue
from web_forms.i18n import LANGUAGES
from web_forms.journey.routes import router as journey_router
from web_forms.pages import language_cookie, render

catalogue()  # validate every form definition at start-up

router = APIRouter(tags=["public"])

from web_forms.surveys.routes import router as surveys_router  # noqa: E402  (SMS/surveys area)

router.include_router(surveys_router)


@router.get("/", include_in_schema=False)
def home(request: Request) -> Response:
    """The public start page: emergency advice first, then the ways to contact the force."""
    return render(request, "web_forms/home.html")


@router.get("/language", include_in_schema=False)
def switch_language(request: Request, lang: str = "en", next: str = "/") -> Response:
    """Switch the public pages' language, then go back to the page the link was on."""
    target = next if next.startswith("/") and not next.startswith("//") and "\\" not in next else "/"
    response = RedirectResponse(target, status_code=303)
    if lang in LANGUAGES:
        secure = request.app.state.settings.cookie_secure
        response.headers.append("set-cookie", language_cookie(lang, secure=secure))
    return response


router.include_router(journey_router)
router.include_router(api_router)
