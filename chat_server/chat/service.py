"""Starting a chat: opening hours, the pre-chat answers, the queue entry, the SMS acknowledgement."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session

from chat_server.routing import queue as queue_service
from contact_store import opening_hours, org_cache
from contact_store.chat_topics import SENSITIVE_TOPICS, TOPICS
from contact_store.clock import utcnow
from contact_store.conversations import new_token, record_event, short_reference
from contact_store.errors import Conflict, ValidationFailed
from contact_store.events import channels, emit
from contact_store.models import Area, Conversation, ConversationStatus
from contact_store.people import find_or_create_person, normalise_email, normalise_phone
from contact_store.settings import Settings
from contact_store.sms import gate
from contact_store.sms.acks import queue_chat_ack

DAYS = opening_hours.DAYS


def clean_mobile(*, settings: Settings, mobile: str) -> tuple[str | None, str | None]:
    """(the mobile in E.164, None) or (None, the visitor's error): a mobile in a country we text."""
    phone = normalise_phone(mobile, mobile_only=True)
    if phone is not None and gate.prefix_allowed(settings=settings, e164=phone):
        return phone, None
    if gate.only_uk(settings):
        return None, "Enter a UK mobile number, like 07700 900123"
    return None, "Enter a mobile number in a country we can text, like 07700 900123"


def safe_to_contact_default(topic: str) -> bool:
    """The answer to "is it safe to text you?" when the visitor gave none: no for sensitive topics."""
    return topic not in SENSITIVE_TOPICS


def _area_hours(session: Session, area_id: int | None) -> tuple[dict[str, str], list[date]] | None:
    """A POD's own opening hours and closed days, when it has them (from the organisation cache)."""
    return org_cache.snapshot(session).area_hours.get(area_id) if area_id is not None else None


def is_open(
    *,
    settings: Settings,
    at: datetime | None = None,
    area_hours: tuple[dict[str, str], list[date]] | None = None,
) -> bool:
    """Whether live chat is open at `at` (now), in the force's time zone, holidays closed; a POD
    with its own hours (`area_hours`) uses those instead of the service's."""
    hours, closed = area_hours or (settings.chat_opening_hours, settings.chat_holidays)
    return opening_hours.is_open(hours=hours, closed=closed, timezone=settings.timezone, at=at or utcnow())


def next_opening(*, settings: Settings, at: datetime | None = None) -> datetime | None:
    """When chat next opens (local time), within a fortnight; None if never configured."""
    return opening_hours.next_opening(
        hours=settings.chat_opening_hours,
        closed=settings.chat_holidays,
        timezone=settings.timezone,
        at=at or utcnow(),
    )


def area_for(*, session: Session, postcode: str | None, area_id: int | None) -> int | None:
    """The POD of an explicit choice, else of the postcode's district (longest prefix wins);
    retired PODs are neither a choice nor a match."""
    if area_id is not None:
        chosen = session.get(Area, area_id)
        if chosen is None or chosen.retired_at is not None:
            raise ValidationFailed(
                "Choose an area from the list", fields={"area_id": "Choose an area from the list"}
            )
        return area_id
    return org_cache.snapshot(session).area_id(postcode)


@dataclass(frozen=True)
class StartedChat:
    conversation_id: str
    token: str
    reference: str
    queue_position: int
    # None when nobody is staffing the queue right now (no made-up estimate).
    estimated_wait_seconds: int | None


def start_chat(
    *,
    session: Session,
    settings: Settings,
    name: str,
    topic: str,
    mobile: str | None = None,
    email: str | None = None,
    postcode: str | None = None,
    area_id: int | None = None,
    language: str = "en",
    origin: str | None = None,
    safe_to_contact: bool | None = None,
) -> StartedChat:
    """Validate the pre-chat answers, queue the chat, link the person, queue the SMS receipt.

    `safe_to_contact`: the visitor's answer to "is it safe for us to text you on this number?"
    (None: not answered, which is "no" for sensitive topics). The receipt passes the SMS gate, so
    without a "yes" it is recorded as blocked and never sent.
    """
    early_area = area_id if area_id is not None else org_cache.snapshot(session).area_id(postcode)
    if not is_open(settings=settings, area_hours=_area_hours(session, early_area)):
        raise Conflict("Live chat is closed now. You can report online instead.", code="closed")
    errors: dict[str, str] = {}
    name = " ".join((name or "").split())
    if not name:
        errors["name"] = "Enter your name"
    elif len(name) > 200:
        errors["name"] = "Name must be 200 characters or fewer"
    if topic not in TOPICS:
        errors["topic"] = "Choose what your chat is about"
    phone = None
    if mobile and mobile.strip():
        phone, mobile_problem = clean_mobile(settings=settings, mobile=mobile)
        if mobile_problem:
            errors["mobile"] = mobile_problem
    email_norm = None
    if email and email.strip():
        email_norm = normalise_email(email)
        if email_norm is None:
            errors["email"] = "Enter an email address in the correct format, like name@example.com"
    if postcode and len(postcode) > 10:
        errors["postcode"] = "Enter a real postcode, like PR1 2AB"
    if errors:
        raise ValidationFailed("Check your answers", fields=errors)
    resolved_area = area_for(session=session, postcode=postcode, area_id=area_id)
    person, _ = find_or_create_person(
        session=session, name=name, phone=phone, email=email_norm, postcode=postcode
    )
    token, token_hash = new_token()
    conv = Conversation(
        id=str(uuid.uuid4()),
        token_hash=token_hash,
        status=ConversationStatus.QUEUED,
        person_id=person.id if person else None,
        visitor_name=name,
        topic=topic,
        language="cy" if language == "cy" else "en",
        area_id=resolved_area,
        origin=(origin or "")[:255] or None,
        visitor_seen_at=utcnow(),
        safe_to_contact=bool(phone)
        and (safe_to_contact if safe_to_contact is not None else safe_to_contact_default(topic)),
        contact_e164=phone,
    )
    session.add(conv)
    session.flush()
    reference = short_reference(conv.id)
    record_event(session=session, conversation_id=conv.id, kind="queued", area_id=resolved_area, topic=topic)
    queue_chat_ack(session=session, settings=settings, conversation=conv, reference=reference)
    emit(session, channels.QUEUE, {"type": "queue.changed", "reason": "queued", "conversation_id": conv.id})
    position = queue_service.position_of(session=session, conversation=conv)
    wait = queue_service.wait_model(session=session, settings=settings).estimate(position)
    return StartedChat(conv.id, token, reference, position, wait)
