"""Report triage pages: the 24-hour queue, a report's page with its actions, evidence downloads.

Every route resolves the report through `contact_store.access.report_for` (the one access rule
for reports) and every POST checks the CSRF token first.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from sqlmodel import Session, select

from agent_console.common import render
from agent_console.triage import service
from contact_store import audit
from contact_store.access import ReportAction, report_for
from contact_store.errors import AppError, Forbidden, NotFound, ValidationFailed
from contact_store.models import Area, Evidence, Operator, Report, Role, Team
from contact_store.person_history import person_history, repeat_contact_reports
from contact_store.settings import Settings
from contact_store.staff import has_role
from contact_store.text import DbId, Page, PublicText, parse_int
from contact_store.web import (
    CSRF_FORM_FIELD,
    CurrentStaff,
    SessionDep,
    SettingsDep,
    StaffContext,
    check_csrf,
    client_ip,
)

router = APIRouter(prefix="/console/reports", include_in_schema=False)
CsrfField = Annotated[PublicText, Form(alias=CSRF_FORM_FIELD, max_length=200)]
# Evidence is stored under a server-generated name; anything else in the column is refused.
STORED_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def _int_or_none(value: str | None) -> int | None:
    return parse_int(value, low=1)


def form_choices(request: Request, slugs: list[str]) -> list[tuple[str, str]]:
    """(slug, the form's name) for each form reports came from, by name (the slug if unknown)."""
    titles: dict[str, str] = getattr(request.app.state, "form_titles", {})
    return sorted(((slug, titles.get(slug, slug)) for slug in slugs), key=lambda pair: pair[1].lower())


@router.get("")
def triage_list(
    request: Request,
    ctx: CurrentStaff,
    session: SessionDep,
    settings: SettingsDep,
    form: Annotated[PublicText, Query(max_length=64)] = "",
    area: Annotated[PublicText, Query(max_length=12)] = "",
    team: Annotated[PublicText, Query(max_length=12)] = "",
    status: Annotated[PublicText, Query(max_length=24)] = "open",
    grade: Annotated[PublicText, Query(max_length=2)] = "",
    sensitive: Annotated[PublicText, Query(max_length=3)] = "",
    assigned: Annotated[PublicText, Query(max_length=12)] = "",
    page: Page = 1,
) -> Response:
    filters = service.TriageFilters(
        form=form,
        area_id=_int_or_none(area),
        team_id=_int_or_none(team),
        status=status,
        grade=_int_or_none(grade),
        sensitive=sensitive,
        assigned=assigned,
        page=page,
    )
    rows, total = service.list_reports(
        session=session, staff=ctx.operator, filters=filters, settings=settings
    )
    # The "Repeat" badge counts only contacts this member of staff may open (not the flag stored
    # when the report was filed, which counted every contact linked by a typed phone number).
    repeat_ids = repeat_contact_reports(
        session=session,
        staff=ctx.operator,
        report_ids=[row.report.id for row in rows if row.report.id is not None],
        window_days=settings.repeat_contact_days,
    )
    # Retired teams and PODs stay in the filters (marked "(retired)"): their reports are history.
    areas = session.exec(select(Area).order_by(Area.name)).all()
    teams = session.exec(select(Team).order_by(Team.name)).all()
    names = dict(session.exec(select(Operator.id, Operator.display_name)).all())
    query = request.url.query
    base_query = re.sub(r"(^|&)page=\d+", "", query).strip("&")
    return render(
        request,
        "agent_console/triage/list.html",
        nav="reports",
        rows=rows,
        repeat_ids=repeat_ids,
        total=min(total, service.count_limit(page)),
        more=total > service.count_limit(page),
        filters=filters,
        areas=areas,
        teams=teams,
        forms=form_choices(request, service.form_slugs(session=session)),
        form_titles=getattr(request.app.state, "form_titles", {}),
        statuses=service.STATUS_LABELS,
        grades=service.GRADE_LABELS,
        names=names,
        page=page,
        pages=max(1, -(-total // service.PAGE_SIZE)),
        base_query=base_query,
        target_hours=settings.report_target_hours,
    )


def _detail(
    request: Request,
    ctx: StaffContext,
    session: Session,
    settings: Settings,
    report: Report,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    evidence = session.exec(select(Evidence).where(Evidence.report_id == report.id)).all()
    history = (
        person_history(
            session=session,
            staff=ctx.operator,
            person_id=report.person_id,
            repeat_contact_days=settings.repeat_contact_days,
            exclude_report_id=report.id,
            limit=10,
        )
        if report.person_id
        else None
    )
    operators = session.exec(
        select(Operator).where(Operator.is_active == True).order_by(Operator.display_name)  # noqa: E712
    ).all()
    audit.record(
        session=session,
        operator_id=ctx.operator.id,
        action="report.view",
        object_type="report",
        object_id=report.id or "",
        person_id=report.person_id,
        ip=client_ip(request),
    )
    area = session.get(Area, report.area_id) if report.area_id else None
    team = session.get(Team, report.team_id) if report.team_id else None
    assignee = session.get(Operator, report.assignee_id) if report.assignee_id else None
    return render(
        request,
        "agent_console/triage/detail.html",
        status=status,
        nav="reports",
        report=report,
        form_title=getattr(request.app.state, "form_titles", {}).get(report.form_slug, report.form_slug),
        area=area,
        team=team,
        assignee=assignee,
        evidence=evidence,
        history=history,
        phone=service.reporter_phone(session=session, report=report),
        texting=service.texting_number(settings=settings, report=report),
        timeline=service.timeline(session=session, report_id=report.id or 0),
        statuses=service.STATUS_LABELS,
        grades=service.GRADE_LABELS,
        thrive_keys=service.THRIVE_KEYS,
        update_texts=service.UPDATE_TEXTS,
        event_labels=service.EVENT_LABELS,
        operators=operators,
        can_assign=has_role(ctx.operator, Role.SUPERVISOR),
        errors=errors or {},
        values=values or {},
        target_hours=settings.report_target_hours,
    )


@router.get("/{report_id}")
def report_page(
    request: Request, report_id: DbId, ctx: CurrentStaff, session: SessionDep, settings: SettingsDep
) -> Response:
    report = report_for(session=session, staff=ctx.operator, report_id=report_id, action=ReportAction.READ)
    return _detail(request, ctx, session, settings, report)


def _done(report_id: DbId, anchor: str = "") -> Response:
    return RedirectResponse(f"/console/reports/{report_id}{anchor}", status_code=303)


def _invalid(
    request: Request,
    ctx: StaffContext,
    session: Session,
    settings: Settings,
    report: Report,
    exc: AppError,
    values: dict[str, str],
) -> Response:
    session.rollback()  # nothing half-done is kept; the page is re-read and the answers re-shown
    fresh = session.get(Report, report.id)
    return _detail(
        request,
        ctx,
        session,
        settings,
        fresh or report,
        errors=exc.fields or {"page": exc.message},
        values=values,
        status=exc.status_code,
    )


@router.post("/{report_id}/claim")
def claim_report(
    request: Request, report_id: DbId, ctx: CurrentStaff, session: SessionDep, csrf_token: CsrfField = ""
) -> Response:
    check_csrf(ctx, csrf_token)
    report = report_for(session=session, staff=ctx.operator, report_id=report_id, action=ReportAction.CLAIM)
    service.claim(session=session, report=report, staff=ctx.operator, ip=client_ip(request))
    return _done(report_id)


@router.post("/{report_id}/assign")
def assign_report(
    request: Request,
    report_id: DbId,
    ctx: CurrentStaff,
    session: SessionDep,
    csrf_token: CsrfField = "",
    operator_id: Annotated[PublicText, Form(max_length=12)] = "",
    back: Annotated[PublicText, Form(max_length=40)] = "",
) -> Response:
    check_csrf(ctx, csrf_token)
    report = report_for(session=session, staff=ctx.operator, report_id=report_id, action=ReportAction.ASSIGN)
    target_id = _int_or_none(operator_id)
    target = session.get(Operator, target_id) if target_id else None
    if target_id and (target is None or not target.is_active):
        raise NotFound("There is no such operator")
    service.assign(session=session, report=report, staff=ctx.operator, to=target, ip=client_ip(request))
    if back == "wallboard":
        return RedirectResponse("/console/wallboard", status_code=303)
    return _done(report_id)


@router.post("/{report_id}/grade")
def grade_report(
    request: Request,
    report_id: DbId,
    ctx: CurrentStaff,
    session: SessionDep,
    settings: SettingsDep,
    csrf_token: CsrfField = "",
    grade: Annotated[PublicText, Form(max_length=2)] = "",
    threat: Annotated[PublicText, Form(max_length=service.THRIVE_MAX)] = "",
    harm: Annotated[PublicText, Form(max_length=service.THRIVE_MAX)] = "",
    risk: Annotated[PublicText, Form(max_length=service.THRIVE_MAX)] = "",
    investigation: Annotated[PublicText, Form(max_length=service.THRIVE_MAX)] = "",
    vulnerability: Annotated[PublicText, Form(max_length=service.THRIVE_MAX)] = "",
    engagement: Annotated[PublicText, Form(max_length=service.THRIVE_MAX)] = "",
) -> Response:
    check_csrf(ctx, csrf_token)
    report = report_for(session=session, staff=ctx.operator, report_id=report_id, action=ReportAction.UPDATE)
    thrive = {
        "threat": threat,
        "harm": harm,
        "risk": risk,
        "investigation": investigation,
        "vulnerability": vulnerability,
        "engagement": engagement,
    }
    try:
        g = _int_or_none(grade)
        if grade and g is None:
            raise ValidationFailed(
                "Choose a grade from 1 to 5", fields={"grade": "Choose a grade from 1 to 5"}
            )
        service.set_grade(
            session=session, report=report, staff=ctx.operator, grade=g, thrive=thrive, ip=client_ip(request)
        )
    except ValidationFailed as exc:
        return _invalid(request, ctx, session, settings, report, exc, {"grade": grade, **thrive})
    return _done(report_id, "#timeline")


@router.post("/{report_id}/note")
def note_report(
    request: Request,
    report_id: DbId,
    ctx: CurrentStaff,
    session: SessionDep,
    settings: SettingsDep,
    csrf_token: CsrfField = "",
    note: Annotated[PublicText, Form(max_length=5000)] = "",
) -> Response:
    check_csrf(ctx, csrf_token)
    report = report_for(session=session, staff=ctx.operator, report_id=report_id, action=ReportAction.UPDATE)
    try:
        service.add_note(session=session, report=report, staff=ctx.operator, text=note, ip=client_ip(request))
    except ValidationFailed as exc:
        return _invalid(request, ctx, session, settings, report, exc, {"note": note})
    return _done(report_id, "#timeline")


@router.post("/{report_id}/status")
def status_report(
    request: Request,
    report_id: DbId,
    ctx: CurrentStaff,
    session: SessionDep,
    settings: SettingsDep,
    csrf_token: CsrfField = "",
    status: Annotated[PublicText, Form(max_length=24)] = "",
) -> Response:
    check_csrf(ctx, csrf_token)
    report = report_for(session=session, staff=ctx.operator, report_id=report_id, action=ReportAction.UPDATE)
    try:
        service.set_status(
            session=session,
            settings=settings,
            report=report,
            staff=ctx.operator,
            status=status,
            ip=client_ip(request),
        )
    except ValidationFailed as exc:
        return _invalid(request, ctx, session, settings, report, exc, {"status": status})
    return _done(report_id, "#timeline")


@router.post("/{report_id}/sms")
def sms_report(
    request: Request,
    report_id: DbId,
    ctx: CurrentStaff,
    session: SessionDep,
    settings: SettingsDep,
    csrf_token: CsrfField = "",
    sms_preset: Annotated[PublicText, Form(max_length=24)] = "",
    sms_text: Annotated[PublicText, Form(max_length=900)] = "",
) -> Response:
    check_csrf(ctx, csrf_token)
    report = report_for(session=session, staff=ctx.operator, report_id=report_id, action=ReportAction.UPDATE)
    preset = "" if sms_preset == "free" else sms_preset
    try:
        if sms_preset == "free" and not sms_text.strip():
            raise ValidationFailed("Write the update", fields={"sms_text": "Write the update"})
        service.send_update(
            session=session,
            report=report,
            staff=ctx.operator,
            settings=settings,
            preset=preset,
            text=sms_text,
            ip=client_ip(request),
        )
    except service.TextBlocked as exc:
        # Refused by the SMS gate: the blocked text and its timeline line are kept (committed).
        return _detail(
            request, ctx, session, settings, report, errors=exc.fields, values={}, status=exc.status_code
        )
    except ValidationFailed as exc:
        return _invalid(
            request, ctx, session, settings, report, exc, {"sms_preset": sms_preset, "sms_text": sms_text}
        )
    return _done(report_id, "#timeline")


@router.get("/{report_id}/evidence/{evidence_id}")
def evidence_download(
    request: Request,
    report_id: DbId,
    evidence_id: DbId,
    ctx: CurrentStaff,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    report = report_for(session=session, staff=ctx.operator, report_id=report_id, action=ReportAction.READ)
    ev = session.get(Evidence, evidence_id)
    if ev is None or ev.report_id != report.id:
        raise NotFound("There is no such file")
    root = settings.upload_dir.resolve()
    if not STORED_NAME.match(ev.stored_name):
        raise Forbidden("This file cannot be served")
    path = (root / ev.stored_name).resolve()
    if path.parent != root or not path.is_file():
        raise NotFound("The file is missing from the store")
    audit.record(
        session=session,
        operator_id=ctx.operator.id,
        action="evidence.download",
        object_type="evidence",
        object_id=ev.id or "",
        person_id=report.person_id,
        ip=client_ip(request),
    )
    return FileResponse(
        path,
        media_type=ev.content_type or "application/octet-stream",
        filename=ev.original_name,
        content_disposition_type="attachment",
        headers={
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )


__all__ = ["router"]
