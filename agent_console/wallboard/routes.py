"""The supervisor's wallboard: a page, a JSON snapshot, and a Server-Sent Events stream.

Stream protocol (`GET /console/wallboard/stream`, `text/event-stream`):
- On connect the server subscribes to the bus channels `queue`, `wallboard` and `reports`, then
  sends one `event: wallboard` with the full snapshot (subscribe first, then read: nothing missed).
- After any event on those channels (coalesced: at most one snapshot per COALESCE_SECONDS) and
  every HEARTBEAT_SECONDS (so waiting times tick), it sends a fresh `event: wallboard` snapshot.
  `bus.resync` is just another reason to re-read the store: every message is a whole snapshot,
  so a missed event can never leave the screen wrong for longer than a heartbeat.
- The staff session is re-checked at every heartbeat; a session that was ended or timed out gets
  `event: signed-out` and the stream closes.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from sqlmodel import select

from agent_console.common import render
from agent_console.wallboard.service import snapshot
from contact_store import audit, staff
from contact_store.errors import AppError
from contact_store.events import channels
from contact_store.models import Operator
from contact_store.supervision import SETTABLE_STATUSES, reassign_conversation, set_operator_status
from contact_store.text import DbId, PublicText, TextId, parse_int
from contact_store.web import (
    CSRF_FORM_FIELD,
    SessionDep,
    SettingsDep,
    StoreDep,
    SupervisorOnly,
    check_csrf,
    client_ip,
    token_from_request,
)

router = APIRouter(prefix="/console/wallboard", include_in_schema=False)
HEARTBEAT_SECONDS = 5.0  # waiting times on screen are at most this stale
COALESCE_SECONDS = 0.25  # a burst of events (a busy minute) costs one re-read, not one each


@router.get("")
def wallboard_page(
    request: Request, ctx: SupervisorOnly, session: SessionDep, settings: SettingsDep
) -> Response:
    operators = session.exec(
        select(Operator).where(Operator.is_active == True).order_by(Operator.display_name)  # noqa: E712
    ).all()
    return render(
        request,
        "agent_console/wallboard/page.html",
        nav="wallboard",
        data=snapshot(session=session, settings=settings),
        all_operators=operators,
        statuses=[s.value for s in SETTABLE_STATUSES],
        sl_target=settings.service_level_target_seconds,
        abandon_ignore=settings.abandon_ignore_under_seconds,
        report_target=settings.report_target_hours,
    )


@router.get("/data")
def wallboard_data(ctx: SupervisorOnly, session: SessionDep, settings: SettingsDep) -> Response:
    return JSONResponse(snapshot(session=session, settings=settings))


@router.get("/stream")
async def wallboard_stream(
    request: Request, ctx: SupervisorOnly, store: StoreDep, settings: SettingsDep
) -> Response:
    token = token_from_request(request)
    sub = store.bus.subscribe()
    await sub.add(channels.QUEUE, channels.WALLBOARD, channels.REPORTS)

    def _still_signed_in(*, session: object) -> bool:
        try:
            staff.resolve_session(session=session, settings=settings, token=token)  # type: ignore[arg-type]
        except AppError:
            return False
        return True

    async def events() -> AsyncIterator[str]:
        try:
            data = await store.run_db(snapshot, settings=settings)
            yield f"event: wallboard\ndata: {json.dumps(data)}\n\n"
            loop = asyncio.get_running_loop()
            next_beat = loop.time() + HEARTBEAT_SECONDS
            while True:
                timeout = max(0.0, next_beat - loop.time())
                try:
                    await asyncio.wait_for(sub.get(), timeout=timeout)
                    await asyncio.sleep(COALESCE_SECONDS)
                    while not sub.queue.empty():
                        sub.queue.get_nowait()
                except TimeoutError:
                    next_beat = loop.time() + HEARTBEAT_SECONDS
                    if not await store.run_db(_still_signed_in):
                        yield "event: signed-out\ndata: {}\n\n"
                        return
                if await request.is_disconnected():
                    return
                data = await store.run_db(snapshot, settings=settings)
                yield f"event: wallboard\ndata: {json.dumps(data)}\n\n"
        finally:
            await sub.close()

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.post("/operators/{operator_id}/status")
def operator_status(
    request: Request,
    operator_id: DbId,
    ctx: SupervisorOnly,
    session: SessionDep,
    csrf_token: Annotated[PublicText, Form(alias=CSRF_FORM_FIELD, max_length=200)] = "",
    status: Annotated[PublicText, Form(max_length=20)] = "",
) -> Response:
    check_csrf(ctx, csrf_token)
    set_operator_status(
        session=session, operator_id=operator_id, status=status, by_operator_id=ctx.operator.id
    )
    audit.record(
        session=session,
        operator_id=ctx.operator.id,
        action="operator.status",
        object_type="operator",
        object_id=operator_id,
        ip=client_ip(request),
        detail={"status": status},
    )
    return RedirectResponse("/console/wallboard", status_code=303)


@router.post("/chats/{conversation_id}/assign")
def reassign_chat(
    request: Request,
    conversation_id: TextId,
    ctx: SupervisorOnly,
    session: SessionDep,
    csrf_token: Annotated[PublicText, Form(alias=CSRF_FORM_FIELD, max_length=200)] = "",
    operator_id: Annotated[PublicText, Form(max_length=12)] = "",
) -> Response:
    check_csrf(ctx, csrf_token)
    target = parse_int(operator_id, low=1) or 0
    conv = reassign_conversation(
        session=session,
        conversation_id=conversation_id[:36],
        to_operator_id=target,
        by_operator_id=ctx.operator.id,
    )
    audit.record(
        session=session,
        operator_id=ctx.operator.id,
        action="conversation.reassign",
        object_type="conversation",
        object_id=conversation_id[:36],
        person_id=conv.person_id,
        ip=client_ip(request),
        detail={"to": target},
    )
    return RedirectResponse("/console/wallboard", status_code=303)
