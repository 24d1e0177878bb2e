"""The look shared by public pages and the console: one Jinja2 environment factory and the base
layout (GOV.UK Frontend components in the force's own brand: no crown, no GDS Transport)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.templating import Jinja2Templates

from contact_store.assets import current_manifest
from contact_store.settings import Settings
from contact_store.web import csp_template_context

SHARED_TEMPLATES = Path(__file__).parent / "templates"


def make_templates(*directories: Path, settings: Settings) -> Jinja2Templates:
    """A template environment that sees the package's own templates first, then the shared ones.

    Autoescaping is on for every template: nothing the public typed is ever rendered as HTML.
    Every template also gets `csp_nonce`: an inline <script> or <style> runs only with it, and
    `asset_url('app.css')`: the fingerprinted URL of a static file (contact_store/assets.py).
    """
    templates = Jinja2Templates(
        directory=[*directories, SHARED_TEMPLATES], context_processors=[csp_template_context, brand_context]
    )
    env = templates.env
    env.autoescape = True
    env.globals.update(
        force_name=settings.force_name,
        force_brand_colour=settings.force_brand_colour,
        non_emergency_number=settings.force_phone_non_emergency,
        asset_url=current_manifest().url,
    )
    return templates


def brand_context(request: Any) -> dict[str, Any]:
    """Jinja context processor: the force's name, colour and number as the worker's settings hold
    them now (an administrator may change them in the console; the globals are the start-up values)."""
    settings = getattr(getattr(getattr(request, "app", None), "state", None), "settings", None)
    if not isinstance(settings, Settings):
        return {}
    return {
        "force_name": settings.force_name,
        "force_brand_colour": settings.force_brand_colour,
        "non_emergency_number": settings.force_phone_non_emergency,
    }


def template_context(request: Any, **values: Any) -> dict[str, Any]:
    """The context every page gets: the request, the signed-in staff member (if any), its CSRF."""
    staff = getattr(request.state, "staff", None)
    context: dict[str, Any] = {"request": request, "staff": staff}
    if staff is not None:
        context["csrf_token"] = staff.csrf_token
    context.update(values)
    return context


def templates_for(request: Any, package_templates: Path) -> Jinja2Templates:
    """The template environment for one package, built once per app and cached on its state."""
    cache: dict[Path, Jinja2Templates] = request.app.state.__dict__.setdefault("_template_envs", {})
    templates = cache.get(package_templates)
    if templates is None:
        templates = make_templates(package_templates, settings=request.app.state.settings)
        cache[package_templates] = templates
    return templates
