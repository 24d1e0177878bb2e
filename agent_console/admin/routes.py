"""Admin pages: operator management, the audit log search, and subject-access exports.

All routes are admin-only (AdminOnly); every POST checks CSRF; every change and every export is
written to the audit log in the same transaction.
"""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import select

from agent_console.admin import service
from agent_console.common import render
from contact_store import audit
from contact_store.errors import AppError
from contact_store.models import ROLE_RANK, Operator, Person, Team
from contact_store.staff import create_operator
from contact_store.subject_access import subject_access_export
from contact_store.text import DbId, Page, PublicText, parse_int
from contact_store.web import (
    CSRF_FORM_FIELD,
    AdminOnly,
    SessionDep,
    SettingsDep,
    StaffContext,
    check_csrf,
    client_ip,
)

router = APIRouter(prefix="/console/admin", include_in_schema=False)
CsrfField = Annotated[PublicText, Form(alias=CSRF_FORM_FIELD, max_length=200)]


def _int(value: str) -> int | None:
    return parse_int(value, low=1)


def _form_page(
    request: Request,
    session: SessionDep,
    *,
    operator: Operator | None,
    values: dict[str, object],
    errors: dict[str, str],
    status: int = 200,
) -> Response:
    teams, areas = service.choices(session=session, operator=operator)
    return render(
        request,
        "agent_console/admin/operator_form.html",
        status=status,
        nav="operators",
        operator=operator,
        values=values,
        errors=errors,
        roles=list(ROLE_RANK),
        teams=teams,
        areas=areas,
    )


def _audit(
    session: SessionDep,
    ctx: StaffContext,
    request: Request,
    action: str,
    operator_id: int | None,
    detail: dict[str, object] | None = None,
) -> None:
    audit.record(
        session=session,
        operator_id=ctx.operator.id,
        action=action,
        object_type="operator",
        object_id=operator_id or "",
        ip=client_ip(request),
        detail=detail or {},
    )


@router.get("/operators")
def operators_page(
    request: Request,
    ctx: AdminOnly,
    session: SessionDep,
    team: Annotated[PublicText, Query(max_length=12)] = "",
) -> Response:
    """Every staff account; `?team=<id>` shows only that team's (a team's retire page links here)."""
    stmt = select(Operator).order_by(Operator.display_name)
    team_filter = session.get(Team, _int(team) or 0) if team else None
    if team_filter is not None:
        stmt = stmt.where(Operator.team_id == team_filter.id)
    teams = {t.id: t.label for t in session.exec(select(Team)).all()}
    return render(
        request,
        "agent_console/admin/operators.html",
        nav="operators",
        operators=session.exec(stmt).all(),
        teams=teams,
        team_filter=team_filter,
        live=service.live_session_counts(session=session),
    )


@router.get("/operators/new")
def new_operator_page(request: Request, ctx: AdminOnly, session: SessionDep) -> Response:
    return _form_page(request, session, operator=None, values={"role": "operator", "areas": []}, errors={})


def _read_form(
    display_name: str, role: str, team_id: str, max_chats: str, areas: list[str]
) -> service.OperatorForm:
    return service.OperatorForm(
        display_name=display_name,
        role=role,
        team_id=_int(team_id),
        area_ids=[a for a in (_int(x) for x in areas) if a is not None],
        max_chats=_int(max_chats) if max_chats.strip() else None,
    )


@router.post("/operators")
def add_operator(
    request: Request,
    ctx: AdminOnly,
    session: SessionDep,
    csrf_token: CsrfField = "",
    username: Annotated[PublicText, Form(max_length=64)] = "",
    display_name: Annotated[PublicText, Form(max_length=200)] = "",
    role: Annotated[PublicText, Form(max_length=20)] = "",
    team_id: Annotated[PublicText, Form(max_length=12)] = "",
    max_chats: Annotated[PublicText, Form(max_length=4)] = "",
    areas: Annotated[list[str] | None, Form()] = None,
) -> Response:
    check_csrf(ctx, csrf_token)
    form = _read_form(display_name, role, team_id, max_chats, areas or [])
    values: dict[str, object] = {
        "username": username,
        "display_name": display_name,
        "role": role,
        "team_id": form.team_id,
        "max_chats": max_chats,
        "areas": form.area_ids,
    }
    errors = service.validate_form(session=session, form=form)
    if max_chats.strip() and form.max_chats is None:
        errors["max_chats"] = "Enter a number from 1 to 20, or leave blank for the team default"
    if not username.strip():
        errors["username"] = "Enter a username"
    if errors:
        return _form_page(request, session, operator=None, values=values, errors=errors, status=422)
    password = service.secrets.token_urlsafe(12)
    try:
        operator = create_operator(
            session=session,
            username=username,
            password=password,
            role=form.role,
            display_name=form.display_name.strip(),
        )
    except AppError as exc:
        return _form_page(
            request,
            session,
            operator=None,
            values=values,
            errors=exc.fields or {"username": exc.message},
            status=exc.status_code,
        )
    service.apply_form(session=session, operator=operator, form=form)
    service.record_operator_version(session=session, operator=operator, before=None, by=ctx.operator.id)
    _audit(
        session,
        ctx,
        request,
        "operator.add",
        operator.id,
        {"username": operator.username, "role": operator.role},
    )
    return render(
        request,
        "agent_console/admin/password.html",
        nav="operators",
        operator=operator,
        password=password,
        heading="Operator added",
    )


@router.get("/operators/{operator_id}")
def edit_operator_page(request: Request, operator_id: DbId, ctx: AdminOnly, session: SessionDep) -> Response:
    op = service.get_operator(session=session, operator_id=operator_id)
    values: dict[str, object] = {
        "display_name": op.display_name,
        "role": op.role,
        "team_id": op.team_id,
        "max_chats": op.max_concurrent_chats or "",
        "areas": service.operator_areas(session=session, operator_id=operator_id),
    }
    return _form_page(request, session, operator=op, values=values, errors={})


@router.post("/operators/{operator_id}")
def edit_operator(
    request: Request,
    operator_id: DbId,
    ctx: AdminOnly,
    session: SessionDep,
    csrf_token: CsrfField = "",
    display_name: Annotated[PublicText, Form(max_length=200)] = "",
    role: Annotated[PublicText, Form(max_length=20)] = "",
    team_id: Annotated[PublicText, Form(max_length=12)] = "",
    max_chats: Annotated[PublicText, Form(max_length=4)] = "",
    areas: Annotated[list[str] | None, Form()] = None,
) -> Response:
    check_csrf(ctx, csrf_token)
    op = service.get_operator(session=session, operator_id=operator_id)
    form = _read_form(display_name, role, team_id, max_chats, areas or [])
    errors = service.validate_form(session=session, form=form, operator=op)
    if max_chats.strip() and form.max_chats is None:
        errors["max_chats"] = "Enter a number from 1 to 20, or leave blank for the team default"
    if op.id == ctx.operator.id and form.role != op.role:
        errors["role"] = "You cannot change your own role: ask another admin"
    if errors:
        values: dict[str, object] = {
            "display_name": display_name,
            "role": role,
            "team_id": form.team_id,
            "max_chats": max_chats,
            "areas": form.area_ids,
        }
        return _form_page(request, session, operator=op, values=values, errors=errors, status=422)
    before = service.operator_snapshot(session=session, operator=op)
    changes = service.apply_form(session=session, operator=op, form=form)
    service.record_operator_version(session=session, operator=op, before=before, by=ctx.operator.id)
    _audit(session, ctx, request, "operator.update", op.id, {"changes": changes})
    return RedirectResponse("/console/admin/operators", status_code=303)


@router.post("/operators/{operator_id}/{action}")
def operator_action(
    request: Request,
    operator_id: DbId,
    action: str,
    ctx: AdminOnly,
    session: SessionDep,
    csrf_token: CsrfField = "",
) -> Response:
    check_csrf(ctx, csrf_token)
    op = service.get_operator(session=session, operator_id=operator_id)
    if action in ("disable", "end-sessions", "reset-password") and op.id == ctx.operator.id:
        raise AppError("Ask another admin to do this to your own account", status_code=409)
    if action in ("disable", "enable"):
        before = service.operator_snapshot(session=session, operator=op)
        service.set_active(session=session, operator=op, active=action == "enable")
        service.record_operator_version(session=session, operator=op, before=before, by=ctx.operator.id)
    elif action == "end-sessions":
        ended = service.end_sessions(session=session, operator_id=operator_id)
        _audit(session, ctx, request, "operator.end_sessions", op.id, {"ended": ended})
        return RedirectResponse("/console/admin/operators", status_code=303)
    elif action == "reset-password":
        password = service.reset_password(session=session, operator=op)
        _audit(session, ctx, request, "operator.reset_password", op.id)
        return render(
            request,
            "agent_console/admin/password.html",
            nav="operators",
            operator=op,
            password=password,
            heading="Password reset",
        )
    else:
        raise AppError("Unknown action", status_code=404)
    _audit(session, ctx, request, f"operator.{action}", op.id)
    return RedirectResponse("/console/admin/operators", status_code=303)


@router.get("/audit")
def audit_page(
    request: Request,
    ctx: AdminOnly,
    session: SessionDep,
    settings: SettingsDep,
    username: Annotated[PublicText, Query(max_length=64)] = "",
    action: Annotated[PublicText, Query(max_length=64)] = "",
    person: Annotated[PublicText, Query(max_length=12)] = "",
    day_from: Annotated[PublicText, Query(alias="from", max_length=10)] = "",
    day_to: Annotated[PublicText, Query(alias="to", max_length=10)] = "",
    page: Page = 1,
) -> Response:
    tz = ZoneInfo(settings.timezone)
    errors: dict[str, str] = {}

    def _day(value: str, name: str) -> datetime | None:
        if not value:
            return None
        try:
            return datetime.combine(datetime.strptime(value, "%Y-%m-%d").date(), time(), tzinfo=tz)
        except ValueError:
            errors[name] = "Enter a date as YYYY-MM-DD"
            return None

    operator_id = None
    if username.strip():
        found = session.exec(select(Operator.id).where(Operator.username == username.strip().lower())).first()
        operator_id = found if found is not None else -1
        if found is None:
            errors["username"] = "No member of staff has that username"
    since = _day(day_from, "from")
    until = _day(day_to, "to")
    query = audit.AuditQuery(
        operator_id=operator_id,
        action=action.strip(),
        person_id=_int(person),
        since=since,
        until=until + timedelta(days=1) if until else None,
        page=page,
    )
    rows, total = audit.search(session=session, query=query)
    names = dict(session.exec(select(Operator.id, Operator.username)).all())
    qs = request.url.query
    base_query = "&".join(p for p in qs.split("&") if p and not p.startswith("page="))
    return render(
        request,
        "agent_console/admin/audit.html",
        nav="audit",
        rows=rows,
        total=total,
        names=names,
        values={"username": username, "action": action, "person": person, "from": day_from, "to": day_to},
        errors=errors,
        page=page,
        pages=max(1, -(-total // audit.AUDIT_PAGE_SIZE)),
        base_query=base_query,
        status=422 if errors else 200,
    )


@router.get("/people")
def people_search(
    request: Request,
    ctx: AdminOnly,
    session: SessionDep,
    q: Annotated[PublicText, Query(max_length=200)] = "",
) -> Response:
    people = service.find_people(session=session, query=q)
    if q.strip():
        audit.record(
            session=session,
            operator_id=ctx.operator.id,
            action="person.search",
            object_type="person",
            ip=client_ip(request),
            detail={"query": q[:200], "results": len(people)},
        )
    return render(request, "agent_console/admin/people.html", nav="people", q=q, people=people)


def _export(
    request: Request, ctx: StaffContext, session: SessionDep, person_id: DbId, fmt: str
) -> dict[str, object]:
    data = subject_access_export(session=session, person_id=person_id)
    audit.record(
        session=session,
        operator_id=ctx.operator.id,
        action="person.export",
        object_type="person",
        object_id=person_id,
        person_id=person_id,
        ip=client_ip(request),
        detail={"format": fmt},
    )
    return data


@router.get("/people/{person_id}/export.json")
def export_json(request: Request, person_id: DbId, ctx: AdminOnly, session: SessionDep) -> Response:
    data = _export(request, ctx, session, person_id, "json")
    return Response(
        json.dumps(data, indent=2, ensure_ascii=False, default=str),
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="subject-access-person-{person_id}.json"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/people/{person_id}/export")
def export_html(request: Request, person_id: DbId, ctx: AdminOnly, session: SessionDep) -> Response:
    data = _export(request, ctx, session, person_id, "html")
    person = session.get(Person, person_id)
    return render(request, "agent_console/admin/export.html", nav="people", data=data, person=person)
