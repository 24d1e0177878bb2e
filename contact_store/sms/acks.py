"""Acknowledgements and operator updates: the texts other areas queue, with their wording in one place.

Call these inside the transaction that creates the report / chat / update (HMIC: acknowledge every
contact automatically). A text about a contact goes to the number given with that contact
(`contact_e164`), never to another number the person once gave, and passes the gate
(`contact_store.sms.gate`): without a "yes, it is safe to text me" it is recorded as blocked.
They return None when there is no mobile number to text.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from contact_store.i18n import translator
from contact_store.models import Conversation, Report, SmsMessage
from contact_store.outbox import queue_sms, sms_values
from contact_store.settings import Settings


def report_ack_personalisation(
    *, settings: Settings, reference: str, target: str | None, language: str = "en"
) -> dict[str, Any]:
    """What fills the `report_ack` template, in `language` (the form's response time, e.g.
    "5 working days", is a message id of the catalogue)."""
    _ = translator(language)
    hours = settings.report_target_hours
    default = _("{hours} hours").format(hours=hours) if hours != 1 else _("1 hour")
    return {
        "force": settings.force_name,
        "reference": reference,
        "target": _(target) if target else default,
    }


def report_ack_values(
    *,
    settings: Settings,
    report_id: int,
    reference: str,
    person_id: int | None,
    phone: str,
    target: str | None = None,
    language: str = "en",
) -> dict[str, Any] | None:
    """The outbox row acknowledging a new report (for writers that insert rows themselves, after
    passing it through `gate.apply`)."""
    return sms_values(
        to=phone,
        template="report_ack",
        kind="ack",
        report_id=report_id,
        person_id=person_id,
        personalisation=report_ack_personalisation(
            settings=settings, reference=reference, target=target, language=language
        ),
        language=language,
        texts=settings.sms_templates,
    )


def queue_chat_ack(
    *, session: Session, settings: Settings, conversation: Conversation, reference: str
) -> SmsMessage | None:
    """The acknowledgement of a live chat, with the reference the visitor was given."""
    if not conversation.contact_e164:
        return None
    return queue_sms(
        session=session,
        settings=settings,
        to=conversation.contact_e164,
        template="chat_ack",
        kind="ack",
        conversation_id=conversation.id,
        person_id=conversation.person_id,
        personalisation={"force": settings.force_name, "reference": reference},
        language=conversation.language,
    )


def queue_report_update(
    *, session: Session, settings: Settings, report: Report, message: str, operator_id: int | None
) -> SmsMessage | None:
    """An operator's update on a report (essential: sent even to numbers that opted out of surveys)."""
    if not report.contact_e164:
        return None
    return queue_sms(
        session=session,
        settings=settings,
        to=report.contact_e164,
        template="report_update",
        kind="update",
        report_id=report.id,
        person_id=report.person_id,
        operator_id=operator_id,
        personalisation={"force": settings.force_name, "reference": report.reference, "message": message},
        language=report.language,
    )
