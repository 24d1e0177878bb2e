"""The SMS log (admins): every text in the outbox with its status (a text the SMS gate refused is
`blocked`, with its reason), inbound texts, and a form to simulate an inbound text (log provider
only) through the same handling as a real one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from sqlmodel import col, select

from contact_store.errors import Forbidden
from contact_store.models import InboundSms, SmsMessage
from contact_store.people import normalise_phone
from contact_store.sms.gate import REASON_LABELS
from contact_store.sms.inbound import handle_inbound
from contact_store.ui import template_context, templates_for
from contact_store.web import CSRF_FORM_FIELD, CSRF_HEADER, AdminOnly, SessionDep, SettingsDep, check_csrf

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
router = APIRouter(include_in_schema=False)
# Rows shown on the log page (newest first).
LOG_ROWS = 200


class SimulatedInbound(BaseModel):
    from_number: str = Field(max_length=40)
    body: str = Field(max_length=2000)


def _render(request: Request, session: SessionDep, *, status: int = 200, **values: object) -> Response:
    outbox = session.exec(select(SmsMessage).order_by(col(SmsMessage.id).desc()).limit(LOG_ROWS)).all()
    inbound = session.exec(select(InboundSms).order_by(col(InboundSms.id).desc()).limit(LOG_ROWS)).all()
    templates = templates_for(request, TEMPLATES)
    return templates.TemplateResponse(
        request,
        "agent_console/sms_log/log.html",
        template_context(
            request,
            outbox=outbox,
            inbound=inbound,
            blocked_labels=REASON_LABELS,
            **({"errors": {}, "values": {}} | values),
        ),
        status_code=status,
    )


@router.get("/console/sms", response_class=HTMLResponse)
def sms_log(request: Request, ctx: AdminOnly, session: SessionDep, settings: SettingsDep) -> Response:
    return _render(request, session, provider=settings.sms_provider, done=request.query_params.get("done"))


def _simulate(session: SessionDep, settings: SettingsDep, from_number: str, body: str) -> dict[str, str]:
    if settings.sms_provider != "log":
        raise Forbidden("Inbound texts can only be simulated with the log provider")
    errors: dict[str, str] = {}
    if normalise_phone(from_number) is None:
        errors["from_number"] = "Enter a UK phone number, like 07700 900123"
    if not body.strip():
        errors["body"] = "Enter the text of the message"
    if not errors:
        handle_inbound(session=session, settings=settings, from_number=from_number, body=body, provider="log")
    return errors


@router.post("/console/sms/simulate", response_class=HTMLResponse)
def simulate_inbound_form(
    request: Request,
    ctx: AdminOnly,
    session: SessionDep,
    settings: SettingsDep,
    from_number: Annotated[str, Form(max_length=40)] = "",
    body: Annotated[str, Form(max_length=2000)] = "",
    csrf_token: Annotated[str, Form(alias=CSRF_FORM_FIELD, max_length=200)] = "",
) -> Response:
    check_csrf(ctx, csrf_token)
    errors = _simulate(session, settings, from_number, body)
    if errors:
        return _render(
            request,
            session,
            status=422,
            provider=settings.sms_provider,
            errors=errors,
            values={"from_number": from_number, "body": body},
        )
    return RedirectResponse("/console/sms?done=1", status_code=303)


@router.post("/api/v1/sms/simulate")
def simulate_inbound_api(
    request: Request, payload: SimulatedInbound, ctx: AdminOnly, session: SessionDep, settings: SettingsDep
) -> Response:
    check_csrf(ctx, request.headers.get(CSRF_HEADER))
    errors = _simulate(session, settings, payload.from_number, payload.body)
    if errors:
        return JSONResponse(
            {"error": {"code": "validation", "message": "Check the fields", "fields": errors}}, 422
        )
    latest = session.exec(select(InboundSms).order_by(col(InboundSms.id).desc())).first()
    return JSONResponse(
        {"id": latest.id if latest else None, "handled_as": latest.handled_as if latest else None}, 201
    )
