"""Small helpers every console page uses: rendering a template and the client's address."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import Response

from contact_store.ui import template_context, templates_for

TEMPLATES = Path(__file__).resolve().parent / "templates"


def duration(value: timedelta | float | None) -> str:
    """A short human duration: "45 s", "12 min", "5 h 20 min", "3 d 4 h"."""
    if value is None:
        return "–"
    seconds = int(value.total_seconds() if isinstance(value, timedelta) else value)
    if seconds < 60:
        return f"{max(seconds, 0)} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def local_time(value: datetime | None, fmt: str = "%d %b %Y %H:%M") -> str:
    """A UTC time shown in the force's time zone."""
    if value is None:
        return "–"
    return value.astimezone(ZoneInfo(_TZ[0])).strftime(fmt)


_TZ = ["Europe/London"]


def percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def render(request: Request, template: str, *, status: int = 200, **values: Any) -> Response:
    """Render a console template with the staff context (staff, csrf_token) added."""
    templates = templates_for(request, TEMPLATES)
    if "duration" not in templates.env.filters:
        _TZ[0] = request.app.state.settings.timezone
        templates.env.filters.update(duration=duration, local_time=local_time, percent=percent)
    return templates.TemplateResponse(
        request, template, template_context(request, **values), status_code=status
    )
