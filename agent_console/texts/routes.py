"""Texts to match: inbound texts that quoted no reference of theirs and answered no text we sent.

A member of staff attaches one to a report they may update (by its reference, through
`contact_store.access.report_for`, the one report rule) or files a new report from it. Nothing is
texted back: whether it is safe to text that number is not known. Every POST checks CSRF first;
every match is audited.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from agent_console.common import render
from contact_store import audit
from contact_store.access import ReportAction, report_for
from contact_store.errors import ValidationFailed
from contact_store.reports import ReportCreate, file_report, get_report_by_reference, one_line
from contact_store.sms.inbound import attach_by_staff, texts_to_match, unmatched_text
from contact_store.web import CSRF_FORM_FIELD, CurrentStaff, SessionDep, SettingsDep, check_csrf, client_ip

router = APIRouter(prefix="/console/texts", include_in_schema=False)
CsrfField = Annotated[str, Form(alias=CSRF_FORM_FIELD, max_length=200)]
# A report filed from a text is an "information" report until triage grades it.
FORM_FOR_TEXTS = "information"


@router.get("")
def texts_page(request: Request, ctx: CurrentStaff, session: SessionDep) -> Response:
    return render(
        request,
        "agent_console/texts/list.html",
        nav="texts",
        texts=texts_to_match(session=session),
        errors={},
        values={},
    )


def _audit(request: Request, ctx: CurrentStaff, session: SessionDep, action: str, inbound_id: int) -> None:
    audit.record(
        session=session,
        operator_id=ctx.operator.id,
        action=action,
        object_type="inbound_sms",
        object_id=inbound_id,
        ip=client_ip(request),
    )


@router.post("/{inbound_id}/attach")
def attach_text(
    request: Request,
    inbound_id: int,
    ctx: CurrentStaff,
    session: SessionDep,
    csrf_token: CsrfField = "",
    reference: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    check_csrf(ctx, csrf_token)
    inbound = unmatched_text(session=session, inbound_id=inbound_id)
    report = get_report_by_reference(session=session, reference=reference.strip().upper())
    if report is None:
        message = "Enter the reference of a report, like FC-2811-7Q4K"
        return render(
            request,
            "agent_console/texts/list.html",
            status=422,
            nav="texts",
            texts=texts_to_match(session=session),
            errors={f"reference-{inbound_id}": message},
            values={f"reference-{inbound_id}": reference},
        )
    report = report_for(
        session=session, staff=ctx.operator, report_id=report.id or 0, action=ReportAction.UPDATE
    )
    attach_by_staff(session=session, inbound=inbound, report=report, operator_id=ctx.operator.id or 0)
    _audit(request, ctx, session, "sms.match", inbound_id)
    return RedirectResponse(f"/console/reports/{report.id}#timeline", status_code=303)


@router.post("/{inbound_id}/new-report")
def new_report_from_text(
    request: Request,
    inbound_id: int,
    ctx: CurrentStaff,
    session: SessionDep,
    settings: SettingsDep,
    csrf_token: CsrfField = "",
) -> Response:
    check_csrf(ctx, csrf_token)
    inbound = unmatched_text(session=session, inbound_id=inbound_id)
    if not inbound.body.strip():
        raise ValidationFailed("This text is empty: there is nothing to report")
    filed = file_report(
        session=session,
        settings=settings,
        report_in=ReportCreate(
            form_slug=FORM_FOR_TEXTS,
            answers={"description": inbound.body},
            summary=one_line(inbound.body),
            channel="sms",
            phone=inbound.from_e164 or None,
            safe_to_contact=False,  # nobody has said it is safe to text this number
        ),
    )
    report = report_for(session=session, staff=ctx.operator, report_id=filed.id, action=ReportAction.READ)
    attach_by_staff(session=session, inbound=inbound, report=report, operator_id=ctx.operator.id or 0)
    _audit(request, ctx, session, "sms.new_report", inbound_id)
    return RedirectResponse(f"/console/reports/{filed.id}", status_code=303)
