"""The manager's staffing pages: the day's plan from the forecast (contact_store.staffing.plan),
its CSV export, and the one-interval calculator for what-if questions."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response, StreamingResponse
from sqlmodel import Session

from agent_console.common import render
from agent_console.staffing.charts import Chart, chart
from contact_store.settings import Settings
from contact_store.staffing.erlang import required_erlang_a, staffing
from contact_store.staffing.forecast import day_type
from contact_store.staffing.plan import (
    HORIZON_DAYS,
    DayPlan,
    History,
    Inputs,
    day_plan,
    measured_inputs,
    read_history,
)
from contact_store.surveys.exports import csv_stream
from contact_store.text import PublicText, parse_decimal
from contact_store.web import ManagerOnly, SessionDep, SettingsDep

router = APIRouter(prefix="/console/staffing", include_in_schema=False)

Num = Annotated[PublicText, Query(max_length=12)]
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December")  # fmt: skip
# Parts of the day a manager asks about ("Saturday evening"), by local clock hours [from, to).
PARTS = [("Night", 0, 6), ("Morning", 6, 12), ("Afternoon", 12, 18), ("Evening", 18, 24)]


def day_label(day: date) -> str:
    return f"{WEEKDAYS[day.weekday()]} {day.day} {MONTHS[day.month - 1]} {day.year}"


# ------------------------------------------------------------------ the plan


# (name, label, hint, minimum, maximum, whole number) of the plan's numeric inputs.
PLAN_FIELDS = [
    ("sl", "Service level wanted (%)", "Share of chats answered within the target time.", 1.0, 99.9, False),
    ("target", "Answer within (seconds)", "The service-level target time.", 0.0, 3600.0, False),
    (
        "shrinkage",
        "Shrinkage (%)",
        "Breaks, training, absence: time paid but not available.",
        0.0,
        90.0,
        False,
    ),
    ("concurrency", "Chats per operator at once", "Each operator is this many seats.", 1.0, 20.0, True),
    ("aht", "Handling time per chat (seconds)", "", 1.0, 36_000.0, False),
    ("patience", "Visitors' average patience (seconds)", "", 1.0, 36_000.0, False),
]
OPTIONAL = {"aht", "patience"}


def _plan_form(
    raw: dict[str, str], history: History, settings: Settings
) -> tuple[dict[str, str], dict[str, str], Inputs | None, list[tuple[str, str]]]:
    """(values shown, errors, inputs or None, day options) for the plan's query."""
    days = [history.today + timedelta(days=k) for k in range(HORIZON_DAYS)]
    options = [
        (
            d.isoformat(),
            day_label(d) + (" (bank holiday)" if day_type(d, history.holidays) == "holiday" else ""),
        )
        for d in days
    ]
    sustained = history.handling.sustained_concurrency
    defaults = {
        "day": (history.today + timedelta(days=1)).isoformat(),
        "sl": "80",
        "target": str(settings.service_level_target_seconds),
        "shrinkage": "30",
        "concurrency": str(max(1, round(sustained))) if sustained else "1",
        "aht": "",
        "patience": "",
    }
    values = {k: (raw.get(k) or "").strip() or v for k, v in defaults.items()}
    errors: dict[str, str] = {}
    if values["day"] not in {iso for iso, _ in options}:
        errors["day"] = "Choose a day from the list"
    numbers: dict[str, float] = {}
    for name, label, _, low, high, whole in PLAN_FIELDS:
        if name in OPTIONAL and not values[name]:
            continue
        number = parse_decimal(values[name], low=low, high=high)
        if number is None or (whole and number != int(number)):
            kind = "a whole number" if whole else "a number"
            errors[name] = f"{label}: enter {kind} from {low:g} to {high:g}"
        else:
            numbers[name] = number
    if errors:
        return values, errors, None, options
    inputs = Inputs(
        day=date.fromisoformat(values["day"]),
        service_level=numbers["sl"] / 100,
        target_seconds=numbers["target"],
        shrinkage=numbers["shrinkage"] / 100,
        concurrency=int(numbers["concurrency"]),
        aht_seconds=numbers.get("aht"),
        patience_seconds=numbers.get("patience"),
    )
    return values, errors, inputs, options


def _parts(plan: DayPlan) -> list[dict[str, Any]]:
    """Peak operators and rostered staff in each part of the day (by the interval's local start)."""
    out = []
    for name, lo, hi in PARTS:
        rows = [r for r in plan.rows if lo <= r.interval.local_start.hour < hi]
        out.append(
            {
                "name": name,
                "hours": f"{lo:02d}:00–{hi % 24:02d}:00",
                "forecast": sum(r.forecast for r in rows),
                "c_operators": max((r.erlang_c.operators for r in rows), default=0),
                "c_rostered": max((r.erlang_c.rostered for r in rows), default=0),
                "a_operators": max((r.erlang_a.operators for r in rows), default=0),
                "a_rostered": max((r.erlang_a.rostered for r in rows), default=0),
            }
        )
    return out


def _charts(plan: DayPlan) -> tuple[Chart, Chart]:
    labels = [r.interval.local_start.strftime("%H:%M") for r in plan.rows]
    day = day_label(plan.inputs.day)
    peak = max(plan.rows, key=lambda r: r.forecast, default=None)
    demand = chart(
        id="chart-demand",
        title=f"Forecast chats per half hour, {day}",
        description=(
            f"{plan.total_forecast:.0f} chats forecast in {len(plan.rows)} half hours"
            + (f"; the busiest is {peak.interval.label} with {peak.forecast:.1f}." if peak else ".")
            + " The table below gives every figure."
        ),
        labels=labels,
        bars=[r.forecast for r in plan.rows],
        bar_name="Forecast chats",
        y_label="chats",
    )
    staff = chart(
        id="chart-staff",
        title=f"Operators to roster per half hour, {day}",
        description=(
            f"At most {plan.peak_rostered_c} rostered by Erlang C and {plan.peak_rostered_a} by Erlang A "
            "(which allows for visitors who give up). The table below gives every figure."
        ),
        labels=labels,
        lines=[
            ("Rostered, Erlang C", "c", [float(r.erlang_c.rostered) for r in plan.rows]),
            ("Rostered, Erlang A", "a", [float(r.erlang_a.rostered) for r in plan.rows]),
        ],
        y_label="operators",
    )
    return demand, staff


def _checks_chart(plan: DayPlan) -> Chart | None:
    days = [d for w in plan.checks for d in w.days]
    if not days:
        return None
    return chart(
        id="chart-checks",
        title="Past weeks: forecast chats per day against what happened",
        description=(
            f"{len(days)} days from {day_label(days[0].day)}: bars are the chats that arrived, "
            "the line what was forecast from the weeks before. The table below gives every figure."
        ),
        labels=[f"{d.day:%d/%m}" for d in days],
        bars=[float(d.actual) for d in days],
        bar_name="Chats that arrived",
        lines=[("Forecast", "c", [d.forecast for d in days])],
        y_label="chats",
        label_every=7,
    )


def _what_if(plan: DayPlan, forecast: float) -> str:
    i = plan.inputs
    return "/console/staffing/calculator?" + urlencode(
        {
            "contacts": f"{forecast:.1f}",
            "period": "30",
            "aht": f"{plan.aht_seconds:.0f}",
            "patience": f"{plan.patience_seconds:.0f}",
            "target": f"{i.target_seconds:g}",
            "sl": f"{i.service_level * 100:g}",
            "shrinkage": f"{i.shrinkage * 100:g}",
            "concurrency": str(i.concurrency),
        }
    )


def plan_query(
    day: Annotated[PublicText, Query(max_length=10)] = "",
    sl: Num = "",
    target: Num = "",
    shrinkage: Num = "",
    concurrency: Num = "",
    aht: Num = "",
    patience: Num = "",
) -> dict[str, str]:
    """The plan's inputs as typed (the page and its CSV take the same query)."""
    return {"day": day, "sl": sl, "target": target, "shrinkage": shrinkage, "concurrency": concurrency,
            "aht": aht, "patience": patience}  # fmt: skip


PlanQuery = Annotated[dict[str, str], Depends(plan_query)]


@router.get("")
def staffing_page(
    request: Request,
    ctx: ManagerOnly,
    session: SessionDep,
    settings: SettingsDep,
    raw: PlanQuery,
) -> Response:
    history = read_history(session=session, settings=settings)
    values, errors, inputs, options = _plan_form(raw, history, settings)
    plan = day_plan(history=history, settings=settings, inputs=inputs) if inputs else None
    measured = measured_inputs(history, inputs.concurrency if inputs else 1)
    return render(
        request,
        "agent_console/staffing/plan.html",
        nav="staffing",
        fields=PLAN_FIELDS,
        values=values,
        errors=errors,
        options=options,
        plan=plan,
        history=history,
        measured=measured,
        parts=_parts(plan) if plan else [],
        charts=_charts(plan) if plan else None,
        checks_chart=_checks_chart(plan) if plan else None,
        what_if=(lambda f: _what_if(plan, f)) if plan else None,
        csv_href="/console/staffing/plan.csv?" + urlencode(values),
        day_label=day_label,
        status=422 if errors else 200,
    )


CSV_HEADER = [
    "Date",
    "Interval (local time)",
    "Interval start (UTC)",
    "Forecast chats",
    "Erlang C seats",
    "Erlang C operators",
    "Erlang C rostered",
    "Erlang C service level %",
    "Erlang A seats",
    "Erlang A operators",
    "Erlang A rostered",
    "Erlang A service level %",
    "Erlang A abandoned %",
    "Handling time (s)",
    "Patience (s)",
    "Chats per operator",
    "Shrinkage %",
]


@router.get("/plan.csv")
def staffing_csv(
    request: Request,
    ctx: ManagerOnly,
    session: SessionDep,
    settings: SettingsDep,
    raw: PlanQuery,
) -> Response:
    history = read_history(session=session, settings=settings)
    _, errors, inputs, _ = _plan_form(raw, history, settings)
    if inputs is None:
        return Response("; ".join(errors.values()), status_code=422, media_type="text/plain; charset=utf-8")
    plan = day_plan(history=history, settings=settings, inputs=inputs)
    rows = [
        [
            inputs.day.isoformat(),
            r.interval.label,
            r.interval.start.strftime("%Y-%m-%d %H:%M"),
            round(r.forecast, 2),
            r.erlang_c.seats,
            r.erlang_c.operators,
            r.erlang_c.rostered,
            round(r.erlang_c.service_level * 100, 1),
            r.erlang_a.seats,
            r.erlang_a.operators,
            r.erlang_a.rostered,
            round(r.erlang_a.service_level * 100, 1),
            round((r.erlang_a.p_abandon or 0.0) * 100, 1),
            round(plan.aht_seconds),
            round(plan.patience_seconds),
            inputs.concurrency,
            round(inputs.shrinkage * 100, 1),
        ]
        for r in plan.rows
    ]
    return StreamingResponse(
        csv_stream(CSV_HEADER, rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="staffing-plan-{inputs.day.isoformat()}.csv"'},
    )


# ------------------------------------------------------------------ the calculator

# (name, label, hint, default, minimum, maximum) of each input; defaults are DOMAIN.md's check example,
# replaced by figures from the store's history when it has any.
FIELDS = [
    ("contacts", "Contacts in the period", "Forecast chats (or calls) arriving.", "100", 0.0, 1_000_000.0),
    ("period", "Period (minutes)", "Usually 30 or 60.", "30", 1.0, 1440.0),
    (
        "aht",
        "Average handling time (seconds)",
        "Active time plus wrap-up, per contact, at the concurrency below.",
        "180",
        1.0,
        36_000.0,
    ),
    (
        "patience",
        "Average patience (seconds)",
        "How long visitors wait before giving up (Erlang A).",
        "120",
        1.0,
        36_000.0,
    ),
    ("target", "Answer within (seconds)", "The service-level target time.", "20", 0.0, 3600.0),
    ("sl", "Service level wanted (%)", "Share answered within the target time.", "80", 1.0, 99.9),
    (
        "shrinkage",
        "Shrinkage (%)",
        "Breaks, training, absence: time paid but not available.",
        "30",
        0.0,
        90.0,
    ),
    (
        "concurrency",
        "Chats per operator at once",
        "1 for calls; chat operators handle several (each is a seat).",
        "1",
        1.0,
        20.0,
    ),
]


@router.get("/calculator")
def calculator_page(
    request: Request,
    ctx: ManagerOnly,
    session: SessionDep,
    settings: SettingsDep,
    contacts: Num = "",
    period: Num = "",
    aht: Num = "",
    patience: Num = "",
    target: Num = "",
    sl: Num = "",
    shrinkage: Num = "",
    concurrency: Num = "",
) -> Response:
    raw = {
        "contacts": contacts,
        "period": period,
        "aht": aht,
        "patience": patience,
        "target": target,
        "sl": sl,
        "shrinkage": shrinkage,
        "concurrency": concurrency,
    }
    submitted = any(raw.values())
    prefill_note = ""
    defaults = {name: default for name, _, _, default, _, _ in FIELDS}
    if not submitted:
        defaults, prefill_note = _prefill(session=session, settings=settings, defaults=defaults)
    values = {name: (raw[name].strip() or defaults[name]) for name in defaults}
    errors: dict[str, str] = {}
    numbers: dict[str, float] = {}
    for name, label, _, _, low, high in FIELDS:
        number = parse_decimal(values[name], low=low, high=high)
        whole = name == "concurrency"
        if number is None or (whole and number != int(number)):
            errors[name] = (
                f"{label}: enter {'a whole number' if whole else 'a number'} from {low:g} to {high:g}"
            )
        else:
            numbers[name] = number
    plan = plan_a = None
    if not errors:
        common: dict[str, Any] = {
            "contacts": numbers["contacts"],
            "period_seconds": numbers["period"] * 60,
            "aht_seconds": numbers["aht"],
            "target_seconds": numbers["target"],
            "target_service_level": numbers["sl"] / 100,
            "shrinkage": numbers["shrinkage"] / 100,
            "concurrency": int(numbers["concurrency"]),
        }
        plan = staffing(**common)
        plan_a = required_erlang_a(patience_seconds=numbers["patience"], **common)
    return render(
        request,
        "agent_console/staffing/page.html",
        nav="staffing",
        fields=FIELDS,
        values=values,
        errors=errors,
        plan=plan,
        plan_a=plan_a,
        submitted=submitted,
        prefill_note=prefill_note,
        status=422 if errors else 200,
    )


def _prefill(*, session: Session, settings: Settings, defaults: dict[str, str]) -> tuple[dict[str, str], str]:
    """The calculator's inputs from the store: tomorrow's busiest forecast half hour, the handling
    time measured at the concurrency operators sustain, the measured patience and the SL target."""
    history = read_history(session=session, settings=settings)
    if not history.counts:
        return defaults, "The store has no chats in the last weeks yet, so these inputs are an example."
    c = max(1, round(history.handling.sustained_concurrency or 1))
    tomorrow = history.today + timedelta(days=1)
    plan = day_plan(
        history=history,
        settings=settings,
        inputs=Inputs(day=tomorrow, service_level=0.8, target_seconds=settings.service_level_target_seconds,
                      shrinkage=0.3, concurrency=c),
    )  # fmt: skip
    peak = max(plan.rows, key=lambda r: r.forecast)
    values = dict(defaults)
    values |= {
        "contacts": f"{peak.forecast:.1f}",
        "aht": f"{plan.aht_seconds:.0f}",
        "patience": f"{plan.patience_seconds:.0f}",
        "target": str(settings.service_level_target_seconds),
        "concurrency": str(c),
    }
    note = (
        f"Prefilled from the store: the busiest half hour forecast for {day_label(tomorrow)} "
        f"({peak.interval.label}), handling time {plan.aht_source}, patience {plan.patience_source}."
    )
    return values, note
