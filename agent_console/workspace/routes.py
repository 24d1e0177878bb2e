"""The operator's chat workspace: /console/workspace (status, queue, several chats in tabs).

The page is a shell; everything live goes over WS /ws/console (chat_server/console_ws.py) from
workspace.js, which is split into small modules the console can extend (see the file's header).
"""

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse

from contact_store.ui import template_context, templates_for
from contact_store.web import CurrentStaff

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"
router = APIRouter(prefix="/console/workspace", include_in_schema=False)


@router.get("", response_class=HTMLResponse)
def workspace(request: Request, ctx: CurrentStaff) -> HTMLResponse:
    return templates_for(request, TEMPLATES).TemplateResponse(
        request, "agent_console/workspace/workspace.html", template_context(request, operator=ctx.operator)
    )


@router.get("/workspace.js")
def workspace_js(ctx: CurrentStaff) -> FileResponse:
    return FileResponse(
        STATIC / "workspace.js", media_type="text/javascript", headers={"Cache-Control": "no-cache"}
    )


@router.get("/workspace.css")
def workspace_css(ctx: CurrentStaff) -> FileResponse:
    return FileResponse(
        STATIC / "workspace.css", media_type="text/css", headers={"Cache-Control": "no-cache"}
    )
