"""Provider callbacks: delivery receipts and inbound texts from GOV.UK Notify and Twilio.

Authentication:
- Notify calls with `Authorization: Bearer <FIRSTCONTACT_NOTIFY_CALLBACK_TOKEN>` (the token set on
  the service's callback settings); anything else is refused with 401, and an unset token refuses
  every call.
- Twilio signs each request with `X-Twilio-Signature` (HMAC-SHA1 of the full URL and the posted
  form with the auth token). We check it with twilio's `RequestValidator` against the public URL
  (`FIRSTCONTACT_PUBLIC_BASE_URL` + path + query, as Twilio saw it); failures get 403.

Receipts and inbound texts are idempotent: providers retry, and a replay changes nothing.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from contact_store.errors import Forbidden, NotAuthenticated, ValidationFailed
from contact_store.settings import Settings
from contact_store.sms.inbound import handle_inbound
from contact_store.sms.receipts import apply_receipt
from contact_store.web import SettingsDep

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1/sms", tags=["sms callbacks"])
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def _check_notify_token(request: Request, settings: Settings) -> None:
    expected = settings.notify_callback_token
    auth = request.headers.get("authorization", "")
    given = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
    if not expected or not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise NotAuthenticated("Missing or wrong bearer token", code="bad_callback_token")


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as exc:
        raise ValidationFailed("The body must be JSON") from exc
    if not isinstance(body, dict):
        raise ValidationFailed("The body must be a JSON object")
    return body


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


@router.post("/notify/receipt")
async def notify_receipt(request: Request, settings: SettingsDep) -> Response:
    """Notify delivery receipt: {id, reference, to, status, ...}."""
    _check_notify_token(request, settings)
    body = await _json(request)
    store = request.app.state.store
    found = await store.run_db(
        apply_receipt,
        status=str(body.get("status", "")),
        reference=body.get("reference"),
        provider_message_id=str(body["id"]) if body.get("id") else None,
    )
    return JSONResponse({"matched": found is not None})


@router.post("/notify/inbound")
async def notify_inbound(request: Request, settings: SettingsDep) -> Response:
    """Notify inbound text: {id, source_number, destination_number, content, date_received}."""
    _check_notify_token(request, settings)
    body = await _json(request)
    if not body.get("source_number"):
        raise ValidationFailed("source_number is required", fields={"source_number": "Required"})
    inbound = await request.app.state.store.run_db(
        handle_inbound,
        settings=settings,
        from_number=str(body["source_number"]),
        body=str(body.get("content", "")),
        provider="notify",
        provider_message_id=str(body["id"]) if body.get("id") else None,
    )
    return JSONResponse({"id": inbound.id, "handled_as": inbound.handled_as})


@router.post("/twilio/status")
async def twilio_status(request: Request, settings: SettingsDep) -> Response:
    """Twilio status callback (form: MessageSid, MessageStatus; our reference in ?ref=)."""
    form = await _twilio_form(request, settings)
    await request.app.state.store.run_db(
        apply_receipt,
        status=form.get("MessageStatus", ""),
        reference=request.query_params.get("ref"),
        provider_message_id=form.get("MessageSid"),
    )
    return Response(status_code=204)


@router.post("/twilio/inbound")
async def twilio_inbound(request: Request, settings: SettingsDep) -> Response:
    """Twilio incoming message webhook (form: From, Body, MessageSid); answers empty TwiML."""
    form = await _twilio_form(request, settings)
    if not form.get("From"):
        raise ValidationFailed("From is required", fields={"From": "Required"})
    await request.app.state.store.run_db(
        handle_inbound,
        settings=settings,
        from_number=form["From"],
        body=form.get("Body", ""),
        provider="twilio",
        provider_message_id=form.get("MessageSid") or None,
    )
    return Response(EMPTY_TWIML, media_type="application/xml")


__all__ = ["router"]
