"""Small helpers every console page uses: rendering a template and the client's address."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import Response

from contact_store.text import parse_int
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


def date_from_parts(day: str, month: str, year: str, *, label: str) -> tuple[date | None, str | None]:
    """A GOV.UK date input's day, month and year as a date: (date or None, error or None).

    All three blank is no date (None, None). Messages follow the GOV.UK date input pattern:
    "<label> must include a month", "<label> must be a real date", "Year must include 4 numbers".
    """
    day, month, year = day.strip(), month.strip(), year.strip()
    if not (day or month or year):
        return None, None
    missing = [name for name, value in (("day", day), ("month", month), ("year", year)) if not value]
    if missing:
        return None, f"{label} must include a {' and a '.join(missing)}"
    numbers = [parse_int(value, low=0, high=9999) for value in (year, month, day)]
    if any(n is None for n in numbers):
        return None, f"{label} must be a real date"
    if len(year) != 4:
        return None, "Year must include 4 numbers"
    try:
        return date(numbers[0] or 0, numbers[1] or 0, numbers[2] or 0), None
    except ValueError:
        return None, f"{label} must be a real date"
