"""The operator's chat workspace: /console/workspace (status, queue, several chats in tabs).

The page is a shell; everything live goes over WS /ws/console (chat_server/console_ws.py) from
workspace.js. The side panels use these JSON routes (any signed-in staff; every action on a chat
goes through `access.conversation_for`, so an operator reaches only chats they hold or are offered):
    GET  /console/workspace/canned?q=&language=      canned responses, operator's name filled in
    POST /console/workspace/canned/{id}/used         count one insertion (X-CSRF-Token)
    GET  /console/workspace/transfer-targets         operators and teams
    GET  /console/workspace/chats/<id>/person        the person panel (audited view)
    POST /console/workspace/chats/<id>/transfer      JSON {to_operator_id | to_team_id, note};
                                                     X-CSRF-Token header; 4xx JSON {"error": ...}
    GET/POST /console/workspace/chats/<id>/wrap-up   the wrap-up form (a GOV.UK page)
"""

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from pydantic import BaseModel

from agent_console.workspace import service
from contact_store import transfer
from contact_store.access import conversation_for, visible_canned_clause
from contact_store.canned import count_use
from contact_store.errors import AppError, NotFound, ValidationFailed
from contact_store.grading import GRADES, THRIVE_KEYS
from contact_store.settings import Settings
from contact_store.text import DbId, PublicText, TextId, parse_int
from contact_store.ui import template_context, templates_for
from contact_store.web import CSRF_HEADER, CurrentStaff, SessionDep, SettingsDep, check_csrf, client_ip
from contact_store.wrapup import OUTCOMES, WrapUp, wrap_up_conversation

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"
router = APIRouter(prefix="/console/workspace", include_in_schema=False)


def _error_json(exc: AppError) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": exc.code, "message": exc.message, "fields": exc.fields or {}}},
        status_code=exc.status_code,
    )


@router.get("", response_class=HTMLResponse)
def workspace(request: Request, ctx: CurrentStaff, session: SessionDep) -> HTMLResponse:
    return templates_for(request, TEMPLATES).TemplateResponse(
        request,
        "agent_console/workspace/workspace.html",
        template_context(request, operator=ctx.operator, areas=service.areas(session=session)),
    )


@router.get("/workspace.js")
def workspace_js(ctx: CurrentStaff) -> FileResponse:
    return FileResponse(
        STATIC / "workspace.js", media_type="text/javascript", headers={"Cache-Control": "no-cache"}
    )


@router.get("/tools.js")
def tools_js(ctx: CurrentStaff) -> FileResponse:
    return FileResponse(
        STATIC / "tools.js", media_type="text/javascript", headers={"Cache-Control": "no-cache"}
    )


@router.get("/workspace.css")
def workspace_css(ctx: CurrentStaff) -> FileResponse:
    return FileResponse(
        STATIC / "workspace.css", media_type="text/css", headers={"Cache-Control": "no-cache"}
    )


@router.get("/canned")
def canned(ctx: CurrentStaff, session: SessionDep, q: str = "", language: str = "en") -> JSONResponse:
    items = service.canned_payload(
        session=session, operator=ctx.operator, query=q[:100], language=language[:5]
    )
    return JSONResponse({"items": items})


@router.post("/canned/{canned_id}/used")
def canned_used(canned_id: DbId, request: Request, ctx: CurrentStaff, session: SessionDep) -> JSONResponse:
    """Count one insertion of a canned answer (usage shown to the team on the library page)."""
    check_csrf(ctx, request.headers.get(CSRF_HEADER))
    if not count_use(session=session, canned_id=canned_id, visible=visible_canned_clause(ctx.operator)):
        raise NotFound("There is no such canned answer")
    return JSONResponse({"counted": True})


@router.get("/transfer-targets")
def transfer_targets(ctx: CurrentStaff, session: SessionDep) -> JSONResponse:
    return JSONResponse(service.transfer_targets(session=session, operator=ctx.operator))


@router.get("/chats/{conversation_id}/person")
def person_panel(
    conversation_id: TextId, request: Request, ctx: CurrentStaff, session: SessionDep, settings: SettingsDep
) -> JSONResponse:
    conv = conversation_for(session=session, staff=ctx.operator, conversation_id=conversation_id)
    payload = service.person_payload(
        session=session,
        operator=ctx.operator,
        conversation=conv,
        repeat_contact_days=settings.repeat_contact_days,
        ip=client_ip(request),
    )
    # The number this chat said it is safe to text, or null: the panel shows "Not safe to text".
    payload["safe_to_text"] = service.texting_number(settings=settings, conversation=conv)
    return JSONResponse(payload)


def _int_or_none(value: Any) -> int | None:
    return parse_int(value, low=1) if isinstance(value, str) else None


class TransferIn(BaseModel):
    to_operator_id: DbId | None = None
    to_team_id: DbId | None = None
    note: PublicText = ""


@router.post("/chats/{conversation_id}/transfer")
def transfer_chat(
    conversation_id: TextId,
    payload: TransferIn,
    request: Request,
    ctx: CurrentStaff,
    session: SessionDep,
    settings: SettingsDep,
) -> JSONResponse:
    check_csrf(ctx, request.headers.get(CSRF_HEADER))
    conv = conversation_for(session=session, staff=ctx.operator, conversation_id=conversation_id)
    try:
        if (payload.to_operator_id is None) == (payload.to_team_id is None):
            raise ValidationFailed(
                "Choose an operator or a team", fields={"target": "Choose an operator or a team"}
            )
        if payload.to_operator_id is not None:
            transfer.transfer_to_operator(
                session=session,
                settings=settings,
                conversation=conv,
                by=ctx.operator,
                to_operator_id=payload.to_operator_id,
                note=payload.note,
            )
        else:
            assert payload.to_team_id is not None
            transfer.transfer_to_team(
                session=session,
                conversation=conv,
                by=ctx.operator,
                to_team_id=payload.to_team_id,
                note=payload.note,
            )
    except AppError as exc:
        session.rollback()
        return _error_json(exc)
    return JSONResponse({"ok": True, "conversation_id": conversation_id})


def _wrap_up_page(
    request: Request,
    *,
    settings: Settings,
    conv: Any,
    values: dict[str, Any],
    errors: dict[str, str],
    status_code: int = 200,
    report: Any = None,
    message: str = "",
) -> HTMLResponse:
    return templates_for(request, TEMPLATES).TemplateResponse(
        request,
        "agent_console/workspace/wrap_up.html",
        template_context(
            request,
            conv=conv,
            values=values,
            errors=errors,
            error_message=message,
            report=report,
            outcomes=OUTCOMES,
            grades=GRADES,
            thrive_keys=THRIVE_KEYS,
            safe_to_text=service.texting_number(settings=settings, conversation=conv),
        ),
        status_code=status_code,
    )


@router.get("/chats/{conversation_id}/wrap-up", response_class=HTMLResponse)
def wrap_up_form(
    conversation_id: TextId, request: Request, ctx: CurrentStaff, session: SessionDep, settings: SettingsDep
) -> HTMLResponse:
    conv = conversation_for(session=session, staff=ctx.operator, conversation_id=conversation_id)
    values = {"topic": conv.topic, "thrive": {}}
    return _wrap_up_page(request, settings=settings, conv=conv, values=values, errors={})


@router.post("/chats/{conversation_id}/wrap-up", response_class=HTMLResponse)
def wrap_up_submit(
    conversation_id: TextId,
    request: Request,
    ctx: CurrentStaff,
    session: SessionDep,
    settings: SettingsDep,
    csrf_token: PublicText = Form(""),
    outcome: PublicText = Form(""),
    grade: PublicText = Form(""),
    topic: PublicText = Form(""),
    raise_report: PublicText = Form(""),
    report_summary: PublicText = Form(""),
    threat: PublicText = Form(""),
    harm: PublicText = Form(""),
    risk: PublicText = Form(""),
    investigation: PublicText = Form(""),
    vulnerability: PublicText = Form(""),
    engagement: PublicText = Form(""),
) -> HTMLResponse:
    check_csrf(ctx, csrf_token)
    conv = conversation_for(session=session, staff=ctx.operator, conversation_id=conversation_id)
    thrive = {
        "threat": threat,
        "harm": harm,
        "risk": risk,
        "investigation": investigation,
        "vulnerability": vulnerability,
        "engagement": engagement,
    }
    values = {
        "outcome": outcome,
        "grade": grade,
        "topic": topic,
        "raise_report": raise_report == "yes",
        "report_summary": report_summary,
        "thrive": thrive,
    }
    grade_number = _int_or_none(grade) or 0
    try:
        report = wrap_up_conversation(
            session=session,
            settings=settings,
            conversation=conv,
            operator=ctx.operator,
            wrap_up=WrapUp(
                outcome=outcome,
                grade=grade_number,
                thrive=thrive,
                topic=topic.strip(),
                raise_report=raise_report == "yes",
                report_summary=report_summary,
            ),
        )
    except AppError as exc:
        session.rollback()
        return _wrap_up_page(
            request,
            settings=settings,
            conv=conv,
            values=values,
            errors=dict(exc.fields or {}),
            message=exc.message,
            status_code=exc.status_code,
        )
    return _wrap_up_page(
        request, settings=settings, conv=conv, values=values, errors={}, report=report or True
    )
