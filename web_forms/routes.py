"""Public HTTP handlers (thin: validation and persistence live in the services)."""

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from contact_store.ui import template_context, templates_for

TEMPLATES = Path(__file__).parent / "templates"
router = APIRouter(tags=["public"])

from web_forms.surveys.routes import router as surveys_router  # noqa: E402  (SMS/surveys area)

router.include_router(surveys_router)


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def home(request: Request) -> HTMLResponse:
    """The public start page: emergency advice first, then the ways to contact the force."""
    templates = templates_for(request, TEMPLATES)
    return templates.TemplateResponse(request, "web_forms/home.html", template_context(request))
