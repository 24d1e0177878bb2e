"""Starting a chat: opening hours, the pre-chat answers, the queue entry, the SMS acknowledgement."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session

from chat_server.routing import queue as queue_service
from contact_store import org_cache
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

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


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


def _spans(spec: str) -> list[tuple[time, time | None]]:
    """'08:00-20:00' or '08:00-12:00,13:00-24:00' -> spans; None as the end means midnight."""
    out: list[tuple[time, time | None]] = []
    for part in (spec or "").split(","):
        part = part.strip()
        if not part:
            continue
        start, _, end = part.partition("-")
        s = time.fromisoformat(start.strip())
        e = None if end.strip() in ("24:00", "") else time.fromisoformat(end.strip())
        out.append((s, e))
    return out


def is_open(*, settings: Settings, at: datetime | None = None) -> bool:
    """Whether live chat is open at `at` (now), in the force's time zone, holidays closed."""
    local = (at or utcnow()).astimezone(ZoneInfo(settings.timezone))
    if local.date() in settings.chat_holidays:
        return False
    spec = settings.chat_opening_hours.get(DAYS[local.weekday()], "")
    now_t = local.time()
    return any(s <= now_t and (e is None or now_t < e) for s, e in _spans(spec))


def next_opening(*, settings: Settings, at: datetime | None = None) -> datetime | None:
    """When chat next opens (local time), within a fortnight; None if never configured."""
    local = (at or utcnow()).astimezone(ZoneInfo(settings.timezone))
    for offset in range(15):
        day = local.date() + timedelta(days=offset)
        if day in settings.chat_holidays:
            continue
        for s, _ in sorted(
            _spans(settings.chat_opening_hours.get(DAYS[day.weekday()], "")), key=lambda x: x[0]
        ):
            candidate = datetime.combine(day, s, tzinfo=local.tzinfo)
            if candidate > local:
                return candidate
    return None


def area_for(*, session: Session, postcode: str | None, area_id: int | None) -> int | None:
    """The POD of an explicit choice, else of the postcode's district (longest prefix wins)."""
    if area_id is not None:
        if session.get(Area, area_id) is None:
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
    if not is_open(settings=settings):
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
        safe_to_contact=bool(phone) and (
            safe_to_contact if safe_to_contact is not None else safe_to_contact_default(topic)
        ),
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
