"""Survey results for managers: the Figure 18 table, trend, comments and exports (ManagerOnly)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from sqlmodel import col, select

from agent_console.common import date_from_parts
from contact_store.models import Area, Operator, Team
from contact_store.surveys.exports import csv_stream, responses_csv, responses_xlsx, table_rows, xlsx_stream
from contact_store.surveys.results import COMMENTS_PAGE_SIZE, Filters, figure18, search_comments, trend
from contact_store.text import MAX_PAGE, parse_int
from contact_store.ui import template_context, templates_for
from contact_store.web import ManagerOnly, SessionDep, SettingsDep, StoreDep

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
router = APIRouter(prefix="/console/surveys", include_in_schema=False)
CHANNELS = ("chat", "report", "phone")
FILTER_KEYS = ("start", "end", "team", "channel", "operator", "pod")


def parse_filters(request: Request) -> tuple[Filters, dict[str, str], dict[str, str]]:
    """Filters from the query string; bad values are reported and ignored, never a 500."""
    raw = {k: request.query_params.get(k, "").strip() for k in FILTER_KEYS}
    errors: dict[str, str] = {}

    def _date(key: str, label: str) -> date | None:
        """From the GOV.UK date input (key-day, key-month, key-year), or an ISO date in `key` (links)."""
        parts = {p: request.query_params.get(f"{key}-{p}", "") for p in ("day", "month", "year")}
        if any(v.strip() for v in parts.values()):
            value, error = date_from_parts(parts["day"], parts["month"], parts["year"], label=label)
            raw.update({f"{key}-{p}": v.strip()[:8] for p, v in parts.items()})  # kept for the form
            if error:
                errors[key] = error
                raw[key] = ""
            else:
                raw[key] = value.isoformat() if value else ""
            return value
        if not raw[key]:
            return None
        try:
            value = date.fromisoformat(raw[key])
        except ValueError:
            errors[key] = f"{label} must be a real date"
            return None
        raw.update({f"{key}-{p}": str(getattr(value, p)) for p in ("day", "month", "year")})
        return value

    def _int(key: str) -> int | None:
        return parse_int(raw[key], low=1)

    start, end = _date("start", "Contacts from"), _date("end", "Contacts to")
    if start and end and end < start:
        errors["end"] = "Contacts to must be the same as or after contacts from"
        end = None
    filters = Filters(
        start=start,
        end=end,
        team_id=_int("team"),
        channel=raw["channel"] if raw["channel"] in CHANNELS else None,
        operator_id=_int("operator"),
        area_id=_int("pod"),
        timezone=request.app.state.settings.timezone,
    )
    return filters, raw, errors


def _options(session: Any) -> dict[str, Any]:
    return {
        "teams": session.exec(select(Team).order_by(col(Team.name))).all(),
        "areas": session.exec(select(Area).order_by(col(Area.name))).all(),
        "operators": session.exec(select(Operator).order_by(col(Operator.display_name))).all(),
        "channels": CHANNELS,
    }


@router.get("", response_class=HTMLResponse)
def results_page(request: Request, ctx: ManagerOnly, session: SessionDep) -> Response:
    filters, raw, errors = parse_filters(request)
    grain = "month" if request.query_params.get("grain") == "month" else "week"
    query = urlencode({k: v for k, v in raw.items() if v})
    templates = templates_for(request, TEMPLATES)
    return templates.TemplateResponse(
        request,
        "agent_console/surveys/results.html",
        template_context(
            request,
            table=figure18(session=session, filters=filters),
            points=trend(session=session, filters=filters, grain=grain),
            grain=grain,
            raw=raw,
            errors=errors,
            query=query,
            **_options(session),
        ),
    )


@router.get("/comments", response_class=HTMLResponse)
def comments_page(request: Request, ctx: ManagerOnly, session: SessionDep) -> Response:
    filters, raw, errors = parse_filters(request)
    q = request.query_params.get("q", "")[:200]
    page_raw = request.query_params.get("page", "1")
    page = parse_int(page_raw, low=1, high=MAX_PAGE) or 1
    rows, total = search_comments(session=session, filters=filters, q=q, page=page)
    names = {t.id: t.name for t in session.exec(select(Team)).all()}
    base = {k: v for k, v in raw.items() if v} | ({"q": q} if q else {})
    pages = max(1, (total + COMMENTS_PAGE_SIZE - 1) // COMMENTS_PAGE_SIZE)
    templates = templates_for(request, TEMPLATES)
    return templates.TemplateResponse(
        request,
        "agent_console/surveys/comments.html",
        template_context(
            request,
            rows=rows,
            total=total,
            q=q,
            page=page,
            pages=pages,
            team_names=names,
            raw=raw,
            errors=errors,
            prev_query=urlencode(base | {"page": page - 1}),
            next_query=urlencode(base | {"page": page + 1}),
            query=urlencode({k: v for k, v in raw.items() if v}),
            **_options(session),
        ),
    )


def _download(body: Any, filename: str, media_type: str) -> StreamingResponse:
    return StreamingResponse(
        body, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.get("/export/responses.{fmt}")
def export_responses(
    request: Request, fmt: str, ctx: ManagerOnly, store: StoreDep, settings: SettingsDep
) -> Response:
    filters, _raw, _errors = parse_filters(request)
    stamp = date.today().isoformat()
    if fmt == "csv":
        return _download(
            responses_csv(session_factory=store.new_session, settings=settings, filters=filters),
            f"survey-responses-{stamp}.csv",
            "text/csv; charset=utf-8",
        )
    if fmt == "xlsx":
        return _download(
            responses_xlsx(session_factory=store.new_session, settings=settings, filters=filters),
            f"survey-responses-{stamp}.xlsx",
            XLSX,
        )
    return Response("Unknown format", status_code=404)


@router.get("/export/table.{fmt}")
def export_table(request: Request, fmt: str, ctx: ManagerOnly, session: SessionDep) -> Response:
    filters, _raw, _errors = parse_filters(request)
    header, rows = table_rows(figure18(session=session, filters=filters))
    stamp = date.today().isoformat()
    if fmt == "csv":
        return _download(csv_stream(header, rows), f"survey-table-{stamp}.csv", "text/csv; charset=utf-8")
    if fmt == "xlsx":
        return _download(
            xlsx_stream([("Satisfaction by team", header, rows)]), f"survey-table-{stamp}.xlsx", XLSX
        )
    return Response("Unknown format", status_code=404)
