"""Performance dashboards (supervisors: their team; managers: all), their CSV exports and the
drill-down to the contacts behind a figure."""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from sqlmodel import col, select

from agent_console.common import render
from agent_console.dashboards import charts
from agent_console.dashboards.service import (
    BREAKDOWNS,
    COMPARE,
    HEADLINES,
    MAX_DAYS,
    Dashboard,
    Query,
    build,
    channel_label,
    last_month,
    names,
    value,
)
from contact_store.access import dashboard_team
from contact_store.clock import utcnow
from contact_store.measures.definitions import CHANNELS, DEFINITIONS
from contact_store.measures.drill import DRILLABLE, contacts_behind
from contact_store.measures.facts import backfill_to, built_at
from contact_store.measures.query import GRAINS, Figures
from contact_store.models import Team
from contact_store.surveys.exports import csv_stream
from contact_store.text import parse_int
from contact_store.web import SessionDep, SettingsDep, SupervisorOnly

router = APIRouter(prefix="/console/dashboards", include_in_schema=False)
TABLES = ("headline", "series", "heatmap", "waits", "teams", "breakdown", "compare")
# Breakdowns whose rows drill down to their contacts (hours and days of the week are sums of slots).
DRILL_DIMS = {"team": "team", "area": "area", "operator": "operator", "topic": "topic"}


def _date(raw: dict[str, str], prefix: str, label: str, errors: dict[str, str]) -> date | None:
    parts = [raw.get(f"{prefix}-{p}", "").strip() for p in ("day", "month", "year")]
    if not any(parts):
        return None
    try:
        d, m, y = (int(p) for p in parts)
        return date(y, m, d)
    except ValueError:
        errors[prefix] = f"{label} must be a real date, like 31 3 2026"
        return None


def parse_query(request: Request, staff: Any, today: date) -> tuple[Query, dict[str, str], dict[str, str]]:
    """The dashboard's query from the URL; bad answers are reported (and kept), never a 500."""
    raw = {k: v for k, v in request.query_params.items()}
    errors: dict[str, str] = {}
    start = _date(raw, "from", "The start date", errors)
    end = _date(raw, "to", "The end date", errors)
    default_start, default_end = last_month(today)
    if start and end and end < start:
        errors["to"] = "The end date must be the same as or after the start date"
    elif start and end and (end - start).days >= MAX_DAYS:
        errors["to"] = "Choose a period of at most two years"
    if errors or not (start and end):
        start, end = (
            (start or default_start, end or default_end) if not errors else (default_start, default_end)
        )
        if end < start:
            start, end = default_start, default_end
    channel = raw.get("channel", "chat")
    grain = raw.get("grain", "")
    if grain not in GRAINS:
        grain = "day" if (end - start).days <= 62 else "week" if (end - start).days <= 366 else "month"
    by = raw.get("by", "team")
    query = Query(
        start=start,
        end=end,
        channel=channel if channel in CHANNELS else "chat",
        team_id=dashboard_team(staff=staff, requested=parse_int(raw.get("team", ""), low=0)),
        by=by if by in BREAKDOWNS else "team",
        grain=grain,
    )
    return query, raw, errors


def _query_string(q: Query, **extra: Any) -> str:
    params: dict[str, Any] = {
        "from-day": q.start.day,
        "from-month": q.start.month,
        "from-year": q.start.year,
        "to-day": q.end.day,
        "to-month": q.end.month,
        "to-year": q.end.year,
        "channel": q.channel,
        "by": q.by,
        "grain": q.grain,
    }
    if q.team_id is not None:
        params["team"] = q.team_id
    return urlencode(params | extra)


def _drill(q: Query, measure: str, start: date, end: date, dim: str = "all", val: Any = None) -> str:
    params: dict[str, Any] = {
        "measure": measure,
        "start": start,
        "end": end,
        "channel": q.channel,
        "dim": dim,
    }
    if q.team_id is not None:
        params["team"] = q.team_id
    if val is not None:
        params["value"] = val
    return "/console/dashboards/contacts?" + urlencode(params)


def _fmt(v: float | None, kind: str) -> str:
    if v is None:
        return "–"
    if kind == "percent":
        return f"{v * 100:.1f}%"
    if kind == "seconds":
        return f"{v:.0f} s" if v < 120 else f"{v / 60:.1f} min"
    if kind == "decimal":
        return f"{v:.2f}"
    return f"{v:,.0f}"


def cell(f: Figures, key: str, kind: str) -> str:
    """A figure as shown and exported; satisfaction carries its n."""
    text = _fmt(value(f, key), kind)
    if key == "satisfaction":
        text += f" (n {f.satisfaction_n})"
    return text


def tables(board: Dashboard) -> dict[str, tuple[list[str], list[list[Any]]]]:
    """Every table of the page as (header, rows of plain values): shown and exported alike."""
    q = board.query
    heads = HEADLINES[q.channel]
    out: dict[str, tuple[list[str], list[list[Any]]]] = {}
    rows = []
    for key, label, kind, _ in heads:
        rows.append([label, *(cell(f, key, kind) for f in (board.current, board.previous, board.last_year))])
    out["headline"] = (["Measure", "This period", "Previous period", "Same period last year"], rows)
    main = heads[0][0]
    out["series"] = (
        ["Period", heads[0][1], heads[1][1], "Service level" if q.channel != "sms" else heads[2][1]],
        [
            [
                r.label,
                _fmt(value(r.figures, main), "count"),
                _fmt(value(r.figures, heads[1][0]), "count"),
                _fmt(r.figures.service_level, "percent")
                if q.channel != "sms"
                else _fmt(r.figures["failed"], "count"),
            ]
            for r in board.series
        ],
    )
    out["heatmap"] = (
        ["Hour", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
        [
            [f"{h:02d}:00"]
            + [int(value(board.heat[(d, h)], main) or 0) if (d, h) in board.heat else 0 for d in range(7)]
            for h in range(24)
        ],
    )
    out["waits"] = (
        ["Time waited", "Answered", "Abandoned", "Abandoned %"],
        [
            [
                r.label,
                int(r.figures["answered"]),
                int(r.figures["abandoned"]),
                _fmt(
                    r.figures._ratio(r.figures["abandoned"], r.figures["answered"] + r.figures["abandoned"]),
                    "percent",
                ),
            ]
            for r in board.waits
        ],
    )
    out["teams"] = (
        ["Team", "Offered", "Service level", "Average speed to answer"],
        [
            [
                r.label,
                int(r.figures["offered"]),
                _fmt(r.figures.service_level, "percent"),
                _fmt(r.figures.asa_seconds, "seconds"),
            ]
            for r in board.teams
        ],
    )
    out["breakdown"] = (
        [BREAKDOWNS[q.by]] + [label for _, label, _, _ in heads],
        [[r.label] + [cell(r.figures, key, kind) for key, _, kind, _ in heads] for r in board.rows],
    )
    compare = COMPARE[q.channel]
    out["compare"] = (
        [BREAKDOWNS[q.by]] + [f"{label} {when}" for _, label, _ in compare for when in ("now", "before")],
        [
            [label] + [cell(f, key, kind) for key, _, kind in compare for f in (now, before)]
            for label, now, before in board.compare
        ],
    )
    return out


def _charts(board: Dashboard) -> dict[str, Any]:
    q = board.query
    heads = HEADLINES[q.channel]
    main, second = heads[0], heads[1]
    span = f"{q.start:%d %B %Y} to {q.end:%d %B %Y}"
    peak = max(board.series, key=lambda r: board_value(r.figures, main[0]), default=None)
    heat_top = max(board.heat.items(), key=lambda kv: value(kv[1], main[0]) or 0, default=None)
    return {
        "series": charts.line_chart(
            "chart-series",
            f"{main[1]} and {second[1].lower()} by {q.grain}",
            f"{channel_label(q.channel)}, {span}."
            + (
                f" Highest: {peak.label} with {value(peak.figures, main[0]):.0f}."
                if peak
                else " No contacts."
            ),
            [r.label for r in board.series],
            [
                (main[1], [board_value(r.figures, main[0]) for r in board.series]),
                (second[1], [board_value(r.figures, second[0]) for r in board.series]),
            ],
        ),
        "heat": charts.heat_map(
            "chart-heat",
            f"{main[1]} by hour of day and day of week",
            f"{span}. Darker cells have more contacts."
            + (
                f" Busiest: {charts.DAYS[heat_top[0][0]]} {heat_top[0][1]:02d}:00."
                if heat_top and value(heat_top[1], main[0])
                else ""
            ),
            {k: value(f, main[0]) or 0 for k, f in board.heat.items()},
        ),
        "waits": charts.bar_chart(
            "chart-waits",
            "Abandoned chats by time waited",
            f"{span}. Chats left unanswered, by how long the visitor had waited.",
            [r.label for r in board.waits],
            [r.figures["abandoned"] for r in board.waits],
        ),
        "teams": charts.bar_chart(
            "chart-teams",
            "Service level by team",
            f"{span}. Share of offered contacts answered within the target time, per team.",
            [r.label for r in board.teams],
            [(r.figures.service_level or 0) * 100 for r in board.teams],
            "{:.0f}%",
        ),
    }


def board_value(f: Any, key: str) -> float:
    return value(f, key) or 0.0


@router.get("")
def dashboard_page(
    request: Request, ctx: SupervisorOnly, session: SessionDep, settings: SettingsDep
) -> Response:
    today = utcnow().astimezone(ZoneInfo(settings.timezone)).date()
    query, raw, errors = parse_query(request, ctx.operator, today)
    board = build(session=session, query=query)
    fmt = request.query_params.get("format")
    table = request.query_params.get("table", "")
    data = tables(board)
    if fmt == "csv" and table in data:
        header, rows = data[table]
        filename = f"dashboard-{query.channel}-{table}-{query.start}-{query.end}.csv"
        return StreamingResponse(
            csv_stream(header, rows),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
    q0, q1 = query.previous()
    y0, y1 = query.last_year()
    heads = HEADLINES[query.channel]
    drills = {
        "headline": [
            (
                _drill(query, d, query.start, query.end) if d else None,
                _drill(query, d, q0, q1) if d else None,
                _drill(query, d, y0, y1) if d else None,
            )
            for _, _, _, d in heads
        ],
        "teams": [_drill(query, "offered", query.start, query.end, "team", r.key) for r in board.teams],
        "breakdown": [
            [
                _drill(query, d, query.start, query.end, DRILL_DIMS[query.by], r.key) if d else None
                for *_, d in heads
            ]
            if query.by in DRILL_DIMS
            else None
            for r in board.rows
        ],
    }
    is_manager = ctx.operator.role in ("manager", "admin")
    return render(
        request,
        "agent_console/dashboards/page.html",
        nav="dashboards",
        board=board,
        tables=data,
        charts=_charts(board),
        drills=drills,
        heads=heads,
        definitions=DEFINITIONS,
        raw=raw,
        errors=errors,
        query=query,
        previous=(q0, q1),
        last_year=(y0, y1),
        query_string=_query_string(query),
        channels=[(c, channel_label(c)) for c in CHANNELS],
        breakdowns=BREAKDOWNS,
        grains=GRAINS,
        teams=session.exec(select(Team).order_by(col(Team.name))).all() if is_manager else [],
        team_name=names(session)["team"].get(str(query.team_id), "No team")
        if query.team_id is not None
        else None,
        built_at=built_at(session=session),
        backfill_to=backfill_to(session=session),
        settings=settings,
    )


@router.get("/contacts")
def drill_page(request: Request, ctx: SupervisorOnly, session: SessionDep, settings: SettingsDep) -> Response:
    p = request.query_params
    measure = p.get("measure", "")
    try:
        start, end = date.fromisoformat(p.get("start", "")), date.fromisoformat(p.get("end", ""))
    except ValueError:
        return render(
            request, "agent_console/dashboards/contacts.html", status=400, error="Choose a real period"
        )
    if measure not in DRILLABLE or end < start or (end - start).days >= MAX_DAYS:
        return render(request, "agent_console/dashboards/contacts.html", status=400, error="Choose a figure")
    channel = p.get("channel") if p.get("channel") in CHANNELS else None
    dim = p.get("dim", "all")
    if dim not in ("all", "team", "area", "operator", "topic", "halfhour", "wait"):
        dim = "all"
    team_id = dashboard_team(staff=ctx.operator, requested=parse_int(p.get("team", ""), low=0))
    count, rows = contacts_behind(
        session=session,
        settings=settings,
        staff=ctx.operator,
        measure=measure,
        start=start,
        end=end,
        channel=channel,
        team_id=team_id,
        dim=dim,
        value=p.get("value") if dim != "all" else None,
    )
    known = names(session)
    tz = ZoneInfo(settings.timezone)
    header = ["Contact", "Kind", "When", "Team", "Operator", "Topic", measure]
    table = [
        [
            r.reference,
            r.kind,
            r.at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
            known["team"].get(str(r.team_id), "None"),
            known["operator"].get(r.operator_id, "None"),
            r.topic,
            round(r.value, 1),
        ]
        for r in rows
    ]
    if p.get("format") == "csv":
        return StreamingResponse(
            csv_stream(header, table),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="contacts-{measure}-{start}-{end}.csv"'},
        )
    return render(
        request,
        "agent_console/dashboards/contacts.html",
        nav="dashboards",
        count=count,
        rows=rows,
        table=table,
        header=header,
        measure=measure,
        start=start,
        end=end,
        channel=channel,
        csv_href=str(request.url.include_query_params(format="csv").path)
        + "?"
        + urlencode({**dict(p), "format": "csv"}),
        error=None,
    )
