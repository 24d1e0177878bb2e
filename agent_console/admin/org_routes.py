"""Admin pages for the organisation: teams and their chat capacity, PODs with their postcode
districts and chat opening hours; retiring and restoring either (never deleting: agent_console/
admin/org.py says what retiring does).

All routes are admin-only (AdminOnly); every POST checks CSRF; every change writes a history
version and an audit event in the same transaction and reaches every worker through the bus
(contact_store/administration).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import select

from agent_console.admin import org
from agent_console.admin.forms import CsrfField, LongText, ShortText
from agent_console.admin.forms import audit_change as _audit
from agent_console.common import render
from contact_store.errors import NotFound
from contact_store.models import Area, Team
from contact_store.opening_hours import DAY_NAMES, DAYS
from contact_store.text import DbId, PublicText
from contact_store.web import AdminOnly, SessionDep, SettingsDep, check_csrf

router = APIRouter(prefix="/console/admin", include_in_schema=False)


# ---------- teams ----------


def _teams_page(
    request: Request, session: SessionDep, values: dict[str, str], errors: dict[str, str], status: int = 200
) -> Response:
    teams = session.exec(select(Team).order_by(Team.name)).all()
    return render(
        request,
        "agent_console/admin/teams.html",
        nav="organisation",
        teams=[t for t in teams if t.retired_at is None],
        retired=[t for t in teams if t.retired_at is not None],
        values=values,
        errors=errors,
        status=status,
    )


@router.get("/teams")
def teams_page(request: Request, ctx: AdminOnly, session: SessionDep) -> Response:
    return _teams_page(request, session, {"max_chats": "3"}, {})


def _team_or_404(session: SessionDep, team_id: int) -> Team:
    team = session.get(Team, team_id)
    if team is None:
        raise NotFound("There is no such team")
    return team


@router.get("/teams/{team_id}")
def team_page(request: Request, team_id: DbId, ctx: AdminOnly, session: SessionDep) -> Response:
    team = _team_or_404(session, team_id)
    values = {"name": team.name, "max_chats": str(team.default_max_chats)}
    return render(
        request, "agent_console/admin/team_form.html", nav="organisation", team=team, values=values, errors={}
    )


@router.post("/teams")
@router.post("/teams/{team_id}")
def save_team(
    request: Request,
    ctx: AdminOnly,
    session: SessionDep,
    team_id: DbId | None = None,
    csrf_token: CsrfField = "",
    name: ShortText = "",
    max_chats: Annotated[PublicText, Form(max_length=6)] = "",
) -> Response:
    check_csrf(ctx, csrf_token)
    team = _team_or_404(session, team_id) if team_id is not None else None
    before = org.team_snapshot(team) if team else None
    saved, errors = org.save_team(
        session=session, team=team, name=name, max_chats=max_chats, operator_id=ctx.operator.id
    )
    if errors or saved is None:
        values = {"name": name, "max_chats": max_chats}
        if team is None:
            return _teams_page(request, session, values, errors, status=422)
        return render(
            request,
            "agent_console/admin/team_form.html",
            nav="organisation",
            team=team,
            values=values,
            errors=errors,
            status=422,
        )
    _audit(
        session,
        ctx,
        request,
        "team.add" if team is None else "team.update",
        "team",
        saved.id,
        {"before": before, "after": org.team_snapshot(saved)},
    )
    return RedirectResponse("/console/admin/teams", status_code=303)


# ---------- PODs ----------


def _area_values(area: Area | None) -> dict[str, Any]:
    hours = (area.opening_hours if area else None) or {}
    return {
        "name": area.name if area else "",
        "postcodes": ", ".join(area.postcode_prefixes) if area else "",
        "own_hours": bool(hours),
        "hours": {d: hours.get(d, "") for d in DAYS},
        "closed_days": "\n".join((area.closed_days or []) if area else []),
    }


def _area_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    area: Area | None,
    values: dict[str, Any],
    errors: dict[str, str],
    status: int = 200,
) -> Response:
    return render(
        request,
        "agent_console/admin/pod_form.html",
        nav="organisation",
        area=area,
        values=values,
        errors=errors,
        days=list(zip(DAYS, DAY_NAMES, strict=True)),
        service_hours=settings.chat_opening_hours,
        status=status,
    )


@router.get("/pods")
def pods_page(request: Request, ctx: AdminOnly, session: SessionDep) -> Response:
    areas = session.exec(select(Area).order_by(Area.name)).all()
    return render(
        request,
        "agent_console/admin/pods.html",
        nav="organisation",
        areas=[a for a in areas if a.retired_at is None],
        retired=[a for a in areas if a.retired_at is not None],
        days=list(zip(DAYS, DAY_NAMES, strict=True)),
    )


@router.get("/pods/new")
def new_pod_page(request: Request, ctx: AdminOnly, session: SessionDep, settings: SettingsDep) -> Response:
    return _area_page(request, session, settings, None, _area_values(None), {})


def _area_or_404(session: SessionDep, area_id: int) -> Area:
    area = session.get(Area, area_id)
    if area is None:
        raise NotFound("There is no such POD")
    return area


@router.get("/pods/{area_id}")
def pod_page(
    request: Request, area_id: DbId, ctx: AdminOnly, session: SessionDep, settings: SettingsDep
) -> Response:
    area = _area_or_404(session, area_id)
    return _area_page(request, session, settings, area, _area_values(area), {})


@router.post("/pods")
@router.post("/pods/{area_id}")
def save_pod(
    request: Request,
    ctx: AdminOnly,
    session: SessionDep,
    settings: SettingsDep,
    area_id: DbId | None = None,
    csrf_token: CsrfField = "",
    name: ShortText = "",
    postcodes: LongText = "",
    own_hours: Annotated[PublicText, Form(max_length=5)] = "",
    hours_mon: ShortText = "",
    hours_tue: ShortText = "",
    hours_wed: ShortText = "",
    hours_thu: ShortText = "",
    hours_fri: ShortText = "",
    hours_sat: ShortText = "",
    hours_sun: ShortText = "",
    closed_days: LongText = "",
) -> Response:
    check_csrf(ctx, csrf_token)
    area = _area_or_404(session, area_id) if area_id is not None else None
    before = org.area_snapshot(area) if area else None
    hours = dict(
        zip(DAYS, (hours_mon, hours_tue, hours_wed, hours_thu, hours_fri, hours_sat, hours_sun), strict=True)
    )
    form = org.AreaForm(
        name=name, postcodes=postcodes, own_hours=own_hours == "yes", hours=hours, closed_days=closed_days
    )
    saved, errors = org.save_area(session=session, area=area, form=form, operator_id=ctx.operator.id)
    if errors or saved is None:
        values = {
            "name": name,
            "postcodes": postcodes,
            "own_hours": form.own_hours,
            "hours": hours,
            "closed_days": closed_days,
        }
        return _area_page(request, session, settings, area, values, errors, status=422)
    _audit(
        session,
        ctx,
        request,
        "area.add" if area is None else "area.update",
        "area",
        saved.id,
        {"before": before, "after": org.area_snapshot(saved)},
    )
    return RedirectResponse("/console/admin/pods", status_code=303)


# ---------- retire and restore ----------
# Retiring asks first (a page saying what it does, with a warning button); restoring is one
# button on the edit page. Both are POSTs with the CSRF token, audited (`team.retire`,
# `area.restore`, ...) with a history version, and reach every worker like an edit.


def _retire_page(
    request: Request, kind: str, item: Team | Area, errors: dict[str, str], status: int = 200
) -> Response:
    return render(
        request,
        "agent_console/admin/retire.html",
        nav="organisation",
        kind=kind,
        item=item,
        base=f"/console/admin/{'teams' if kind == 'team' else 'pods'}",
        errors=errors,
        status=status,
    )


def _check_action(action: str) -> bool:
    """True to retire, False to restore (404 for anything else)."""
    if action not in ("retire", "restore"):
        raise NotFound("There is no such page")
    return action == "retire"


@router.get("/teams/{team_id}/retire")
def retire_team_page(request: Request, team_id: DbId, ctx: AdminOnly, session: SessionDep) -> Response:
    team = _team_or_404(session, team_id)
    if team.retired_at is not None:
        return RedirectResponse(f"/console/admin/teams/{team_id}", status_code=303)
    return _retire_page(request, "team", team, {})


@router.post("/teams/{team_id}/{action}")
def retire_or_restore_team(
    request: Request,
    team_id: DbId,
    action: str,
    ctx: AdminOnly,
    session: SessionDep,
    csrf_token: CsrfField = "",
) -> Response:
    check_csrf(ctx, csrf_token)
    retire = _check_action(action)
    team = _team_or_404(session, team_id)
    before = org.team_snapshot(team)
    changed, errors = org.set_team_retired(
        session=session, team=team, retired=retire, operator_id=ctx.operator.id
    )
    if errors:
        return _retire_page(request, "team", team, errors, status=422)
    if changed:
        after = org.team_snapshot(team)
        _audit(session, ctx, request, f"team.{action}", "team", team.id, {"before": before, "after": after})
    return RedirectResponse("/console/admin/teams", status_code=303)


@router.get("/pods/{area_id}/retire")
def retire_pod_page(request: Request, area_id: DbId, ctx: AdminOnly, session: SessionDep) -> Response:
    area = _area_or_404(session, area_id)
    if area.retired_at is not None:
        return RedirectResponse(f"/console/admin/pods/{area_id}", status_code=303)
    return _retire_page(request, "area", area, {})


@router.post("/pods/{area_id}/{action}")
def retire_or_restore_pod(
    request: Request,
    area_id: DbId,
    action: str,
    ctx: AdminOnly,
    session: SessionDep,
    settings: SettingsDep,
    csrf_token: CsrfField = "",
) -> Response:
    check_csrf(ctx, csrf_token)
    retire = _check_action(action)
    area = _area_or_404(session, area_id)
    before = org.area_snapshot(area)
    changed, errors = org.set_area_retired(
        session=session, area=area, retired=retire, operator_id=ctx.operator.id
    )
    if errors:  # restoring only: a district of it now belongs to another POD
        return _area_page(request, session, settings, area, _area_values(area), errors, status=422)
    if changed:
        after = org.area_snapshot(area)
        _audit(session, ctx, request, f"area.{action}", "area", area.id, {"before": before, "after": after})
    return RedirectResponse("/console/admin/pods", status_code=303)
