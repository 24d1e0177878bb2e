"""Provider callbacks: delivery receipts and inbound texts from GOV.UK Notify and Twilio.

Authentication:
- Notify calls with `Authorization: Bearer <FIRSTCONTACT_NOTIFY_CALLBACK_TOKEN>` (the token set on
  the service's callback settings); anything else is refused with 401, and an unset token refuses
  every call.
- Twilio signs each request with `X-Twilio-Signature` (HMAC-SHA1 of the full URL and the posted
  form with the auth token). We check it with twilio's `RequestValidator` against the public URL
  (`FIRSTCONTACT_PUBLIC_BASE_URL` + path + query, as Twilio saw it); failures get 403.

Receipts and inbound texts are idempotent: providers retry, and a replay changes nothing.

Bodies are typed (`NotifyReceipt`, `NotifyInbound`, `TwilioStatus`, `TwilioInbound`): a wrong JSON
type, a missing required field or text that cannot be stored (`contact_store.text.PublicText`)
is a 422 with per-field errors, checked after the caller is authenticated (Notify token, Twilio
signature) and before anything is written.
"""

from __future__ import annotations

import hmac
import logging
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field, ValidationError

from contact_store.errors import Forbidden, NotAuthenticated, ValidationFailed
from contact_store.openapi import error_responses
from contact_store.settings import Settings
from contact_store.sms.inbound import handle_inbound
from contact_store.sms.receipts import apply_receipt
from contact_store.text import PublicText
from contact_store.web import SettingsDep

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1/sms", tags=["sms callbacks"])
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
# Generous bounds for provider fields: ids are UUIDs / 34-character SIDs, statuses short words,
# a long SMS is at most a few thousand characters.
ID_LENGTH = 100
NUMBER_LENGTH = 40
CONTENT_LENGTH = 5000

Id = Annotated[PublicText, Field(max_length=ID_LENGTH)]
Status = Annotated[PublicText, Field(max_length=50)]


class NotifyReceipt(BaseModel):
    """GOV.UK Notify delivery receipt (other fields Notify sends are ignored)."""

    id: Id | None = None
    reference: Id | None = None
    status: Status = ""


class NotifyInbound(BaseModel):
    """GOV.UK Notify inbound text (other fields Notify sends are ignored)."""

    id: Id | None = None
    source_number: Annotated[PublicText, Field(min_length=1, max_length=NUMBER_LENGTH)]
    content: Annotated[PublicText, Field(max_length=CONTENT_LENGTH)] = ""


class TwilioStatus(BaseModel):
    """Twilio status callback form (other fields are ignored but are part of the signature)."""

    MessageSid: Id | None = None
    MessageStatus: Status = ""


class TwilioInbound(BaseModel):
    """Twilio incoming message form (other fields are ignored but are part of the signature)."""

    From: Annotated[PublicText, Field(min_length=1, max_length=NUMBER_LENGTH)]
    Body: Annotated[PublicText, Field(max_length=CONTENT_LENGTH)] = ""
    MessageSid: Id | None = None


FormModel = TypeVar("FormModel", bound=BaseModel)


def _form_body(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` documenting a form body read by hand (the signature needs the raw form)."""
    schema = model.model_json_schema()
    return {
        "requestBody": {
            "required": True,
            "content": {"application/x-www-form-urlencoded": {"schema": schema}},
        }
    }


def _check_notify_token(request: Request, settings: SettingsDep) -> None:
    expected = settings.notify_callback_token
    auth = request.headers.get("authorization", "")
    given = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
    if not expected or not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise NotAuthenticated("Missing or wrong bearer token", code="bad_callback_token")


NotifyAuthenticated = Depends(_check_notify_token)


def _parse(model: type[FormModel], form: dict[str, str]) -> FormModel:
    """The form as `model`, or 422 naming each bad field."""
    try:
        return model.model_validate(form)
    except ValidationError as exc:
        fields = {".".join(str(p) for p in e["loc"]) or "body": e["msg"] for e in exc.errors()}
        raise ValidationFailed("Some fields are missing or not valid", fields=fields) from exc


async def _twilio_form(request: Request, settings: Settings) -> dict[str, str]:
    from twilio.request_validator import RequestValidator

    form = {k: str(v) for k, v in (await request.form()).items()}
    url = settings.public_base_url.rstrip("/") + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    signature = request.headers.get("x-twilio-signature", "")
    if not settings.twilio_auth_token or not signature:
        raise Forbidden("Missing Twilio signature", code="bad_signature")
    if not RequestValidator(settings.twilio_auth_token).validate(url, form, signature):
        raise Forbidden("Invalid Twilio signature", code="bad_signature")
    return form


class Matched(BaseModel):
    matched: bool


class InboundHandled(BaseModel):
    id: int | None
    handled_as: str


@router.post(
    "/notify/receipt",
    response_model=Matched,
    dependencies=[NotifyAuthenticated],
    responses=error_responses(401, 422),
)
async def notify_receipt(request: Request, body: NotifyReceipt) -> Matched:
    """Notify delivery receipt: {id, reference, to, status, ...}."""
    found = await request.app.state.store.run_db(
        apply_receipt, status=body.status, reference=body.reference, provider_message_id=body.id or None
    )
    return Matched(matched=found is not None)


@router.post(
    "/notify/inbound",
    response_model=InboundHandled,
    dependencies=[NotifyAuthenticated],
    responses=error_responses(401, 422),
)
async def notify_inbound(request: Request, settings: SettingsDep, body: NotifyInbound) -> InboundHandled:
    """Notify inbound text: {id, source_number, destination_number, content, date_received}."""
    inbound = await request.app.state.store.run_db(
        handle_inbound,
        settings=settings,
        from_number=body.source_number,
        body=body.content,
        provider="notify",
        provider_message_id=body.id or None,
    )
    return InboundHandled(id=inbound.id, handled_as=inbound.handled_as)


@router.post(
    "/twilio/status",
    status_code=204,
    response_class=Response,
    responses=error_responses(403, 422),
    openapi_extra=_form_body(TwilioStatus),
)
async def twilio_status(
    request: Request,
    settings: SettingsDep,
    ref: Annotated[PublicText | None, Query(max_length=ID_LENGTH, description="our reference")] = None,
) -> Response:
    """Twilio status callback (form: MessageSid, MessageStatus; our reference in ?ref=)."""
    form = _parse(TwilioStatus, await _twilio_form(request, settings))
    await request.app.state.store.run_db(
        apply_receipt, status=form.MessageStatus, reference=ref, provider_message_id=form.MessageSid
    )
    return Response(status_code=204)


@router.post(
    "/twilio/inbound",
    response_class=Response,
    responses={
        200: {"content": {"application/xml": {}}, "description": "Empty TwiML"},
        **error_responses(403, 422),
    },
    openapi_extra=_form_body(TwilioInbound),
)
async def twilio_inbound(request: Request, settings: SettingsDep) -> Response:
    """Twilio incoming message webhook (form: From, Body, MessageSid); answers empty TwiML."""
    form = _parse(TwilioInbound, await _twilio_form(request, settings))
    await request.app.state.store.run_db(
        handle_inbound,
        settings=settings,
        from_number=form.From,
        body=form.Body,
        provider="twilio",
        provider_message_id=form.MessageSid or None,
    )
    return Response(EMPTY_TWIML, media_type="application/xml")


__all__ = ["router"]
