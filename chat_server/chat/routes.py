"""HTTP side of live chat: start a chat, ask whether chat is open, download the transcript."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field
from sqlmodel import col, select

from chat_server.chat import service
from contact_store.conversations import short_reference, transcript_text
from contact_store.i18n import LANGUAGES, opening_time
from contact_store.models import Area
from contact_store.openapi import error_responses
from contact_store.text import DbId, PublicText, TextId
from contact_store.throttle import CHAT_START
from contact_store.web import (
    VISITOR_TOKEN_RESPONSES,
    SessionDep,
    SettingsDep,
    throttle_address,
    visitor_conversation,
)

router = APIRouter(prefix="/api/v1/chats", tags=["chat"])
TOO_MANY_CHATS = (
    "Too many chats have been started from your connection. Wait a few minutes and try again. "
    "If you are in danger now, call 999."
)


class ChatStart(BaseModel):
    """The pre-chat answers; every string passes the public text rule (contact_store.text)."""

    name: Annotated[PublicText, Field(max_length=400)] = ""
    topic: Annotated[PublicText, Field(max_length=64)] = ""
    mobile: Annotated[PublicText, Field(max_length=40)] | None = None
    email: Annotated[PublicText, Field(max_length=320)] | None = None
    postcode: Annotated[PublicText, Field(max_length=20)] | None = None
    area_id: DbId | None = None
    language: Annotated[PublicText, Field(max_length=5)] = "en"
    # "Is it safe for us to text you on this number?" Not answered: no for sensitive topics.
    safe_to_contact: bool | None = None


class ChatStarted(BaseModel):
    conversation_id: str
    token: str
    reference: str
    queue_position: int
    # None when nobody is staffing the queue right now (no made-up estimate).
    estimated_wait_seconds: int | None


class Availability(BaseModel):
    open: bool
    next_opening: str | None
    # When chat opens again, in words, per language ("Monday at 08:00", "ddydd Llun am 08:00"),
    # local time (contact_store.i18n.opening_time): the widget shows it as it is.
    next_opening_text: dict[str, str] | None = None
    topics: dict[str, str]
    # Topics whose "safe to text?" answer defaults to no (the pre-chat form preselects it).
    sensitive_topics: list[str]
    areas: list[dict[str, object]]
    forms_url: str


async def _throttle_start(request: Request) -> None:
    """Chat starts per client address (`contact_store.throttle`): 429 with Retry-After past it."""
    await throttle_address(request, CHAT_START, TOO_MANY_CHATS)


@router.post(
    "",
    status_code=201,
    response_model=ChatStarted,
    summary="Start a live chat",
    dependencies=[Depends(_throttle_start)],
    responses=error_responses(
        409,
        422,
        429,
        descriptions={
            409: "Live chat is closed now (code `closed`)",
            429: "Too many chats started from this address; see Retry-After",
        },
    ),
)
def start_chat(body: ChatStart, request: Request, session: SessionDep, settings: SettingsDep) -> ChatStarted:
    started = service.start_chat(
        session=session,
        settings=settings,
        name=body.name,
        topic=body.topic,
        mobile=body.mobile,
        email=body.email,
        postcode=body.postcode,
        area_id=body.area_id,
        language=body.language,
        origin=request.headers.get("origin"),
        safe_to_contact=body.safe_to_contact,
    )
    return ChatStarted(**started.__dict__)


@router.get("/availability", response_model=Availability, summary="Is live chat open now")
def availability(session: SessionDep, settings: SettingsDep) -> Availability:
    nxt = service.next_opening(settings=settings)
    in_use = select(Area).where(col(Area.retired_at).is_(None)).order_by(Area.name)
    areas = [{"id": a.id, "name": a.name} for a in session.exec(in_use).all()]
    return Availability(
        open=service.is_open(settings=settings),
        next_opening=nxt.isoformat() if nxt else None,
        next_opening_text={lang: opening_time(nxt, lang) for lang in LANGUAGES} if nxt else None,
        topics=service.TOPICS,
        sensitive_topics=sorted(service.SENSITIVE_TOPICS),
        areas=areas,
        forms_url="/report",
    )


@router.get(
    "/{conversation_id}/transcript",
    response_class=PlainTextResponse,
    summary="Download the visitor's transcript (chat token as a bearer token)",
    responses={200: {"content": {"text/plain": {}}}, **VISITOR_TOKEN_RESPONSES},
)
def transcript(
    conversation_id: TextId, request: Request, session: SessionDep, settings: SettingsDep
) -> PlainTextResponse:
    conversation = visitor_conversation(
        request=request, session=session, settings=settings, conversation_id=conversation_id
    )
    text = transcript_text(
        session=session, conversation=conversation, force_name=settings.force_name, timezone=settings.timezone
    )
    filename = f"chat-{short_reference(conversation.id)}.txt"
    return PlainTextResponse(
        text,
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )
