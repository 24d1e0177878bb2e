"""The change history of everything administrators change, and the version in force on a date
(admin only).
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlmodel import select

from agent_console.common import render
from contact_store.administration import history
from contact_store.models import Operator
from contact_store.text import PublicText
from contact_store.web import AdminOnly, SessionDep, SettingsDep

router = APIRouter(prefix="/console/admin", include_in_schema=False)


HISTORY_KINDS = {
    "setting": "Settings and text messages",
    "team": "Teams",
    "area": "PODs",
    "operator": "Operators",
    "canned": "Canned answers",
    "synonym": "Synonyms",
}


@router.get("/history")
def history_page(
    request: Request,
    ctx: AdminOnly,
    session: SessionDep,
    settings: SettingsDep,
    kind: Annotated[PublicText, Query(alias="type", max_length=32)] = "",
    object_id: Annotated[PublicText, Query(alias="id", max_length=80)] = "",
    at: Annotated[PublicText, Query(max_length=10)] = "",
) -> Response:
    errors: dict[str, str] = {}
    if kind and kind not in HISTORY_KINDS:
        errors["type"] = "Choose what to show"
        kind = ""
    in_force = None
    when = None
    if at:
        try:
            day = datetime.strptime(at, "%Y-%m-%d").date()
            when = datetime.combine(day, time(23, 59, 59), tzinfo=ZoneInfo(settings.timezone))
        except ValueError:
            errors["at"] = "Enter a date as YYYY-MM-DD, like 2026-03-15"
    if object_id and kind:
        rows = history.versions(session=session, object_type=kind, object_id=object_id)
        if when is not None:
            in_force = history.version_at(session=session, object_type=kind, object_id=object_id, at=when)
    else:
        rows = history.recent(session=session, object_type=kind)
        if at and not errors:
            errors["at"] = "Choose one item (its history link) to see the version in force on a date"
    names = dict(session.exec(select(Operator.id, Operator.username)).all())
    return render(
        request,
        "agent_console/admin/history.html",
        nav="history",
        rows=rows,
        names=names,
        kinds=HISTORY_KINDS,
        values={"type": kind, "id": object_id, "at": at},
        in_force=in_force,
        errors=errors,
        status=422 if errors else 200,
    )
