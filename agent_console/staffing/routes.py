"""The manager's staffing page: Erlang C for a forecast (contact_store.metrics.staffing)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from agent_console.common import render
from contact_store.metrics import staffing
from contact_store.text import PublicText, parse_decimal
from contact_store.web import ManagerOnly, SettingsDep

router = APIRouter(prefix="/console/staffing", include_in_schema=False)

# (name, label, hint, default, minimum, maximum) of each input; defaults are DOMAIN.md's check example.
FIELDS = [
    ("contacts", "Contacts in the period", "Forecast chats (or calls) arriving.", "100", 0.0, 1_000_000.0),
    ("period", "Period (minutes)", "Usually 30 or 60.", "30", 1.0, 1440.0),
    (
        "aht",
        "Average handling time (seconds)",
        "Active time plus wrap-up, per contact.",
        "180",
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
        "1 for calls; chat operators handle several.",
        "1",
        1.0,
        20.0,
    ),
]


@router.get("")
def staffing_page(
    request: Request,
    ctx: ManagerOnly,
    settings: SettingsDep,
    contacts: Annotated[PublicText, Query(max_length=12)] = "",
    period: Annotated[PublicText, Query(max_length=12)] = "",
    aht: Annotated[PublicText, Query(max_length=12)] = "",
    target: Annotated[PublicText, Query(max_length=12)] = "",
    sl: Annotated[PublicText, Query(max_length=12)] = "",
    shrinkage: Annotated[PublicText, Query(max_length=12)] = "",
    concurrency: Annotated[PublicText, Query(max_length=12)] = "",
) -> Response:
    raw = {
        "contacts": contacts,
        "period": period,
        "aht": aht,
        "target": target,
        "sl": sl,
        "shrinkage": shrinkage,
        "concurrency": concurrency,
    }
    submitted = any(raw.values())
    values = {name: (raw[name] or default) for name, _, _, default, _, _ in FIELDS}
    errors: dict[str, str] = {}
    numbers: dict[str, float] = {}
    for name, label, _, _, low, high in FIELDS:
        number = parse_decimal(values[name], low=low, high=high)
        if number is None:
            errors[name] = f"{label}: enter a number from {low:g} to {high:g}"
        else:
            numbers[name] = number
    plan = None
    if not errors:
        plan = staffing(
            contacts=numbers["contacts"],
            period_seconds=numbers["period"] * 60,
            aht_seconds=numbers["aht"],
            target_seconds=numbers["target"],
            target_service_level=numbers["sl"] / 100,
            shrinkage=numbers["shrinkage"] / 100,
            concurrency=int(numbers["concurrency"]),
        )
    return render(
        request,
        "agent_console/staffing/page.html",
        nav="staffing",
        fields=FIELDS,
        values=values,
        errors=errors,
        plan=plan,
        submitted=submitted,
        status=422 if errors else 200,
    )
