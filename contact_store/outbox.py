"""Queueing texts: a row in the SMS outbox, written in the caller's transaction.

This module only *queues*. Sending (the worker, providers, retries, receipts) builds on these rows:
a row is due when `status = queued` and `next_attempt_at <= now`. Every row passes the gate
(`contact_store.sms.gate`: consent of the contact, allowed country, per-recipient daily cap) as it
is written; a refused text is kept as `blocked` with its reason and never sent.

Every text is written in the language of the contact it is about (`language`, the report's or the
chat's): a template's English wording is its message id in the gettext catalogue
(`contact_store.i18n`), so the Welsh is in `web_forms/locale/cy/LC_MESSAGES/messages.po`.

Templates use GOV.UK Notify's `((placeholder))` syntax so the same text works with the Notify
provider's personalisation and with the `log` and Twilio providers, which render it here.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from contact_store.clock import utcnow
from contact_store.errors import ValidationFailed
from contact_store.i18n import N_, normalise, translator
from contact_store.models import Person, SmsMessage, SmsStatus
from contact_store.people import is_mobile, normalise_phone
from contact_store.settings import Settings
from contact_store.sms import gate

# 6 concatenated GSM-7 segments of 153 characters: longer texts are costly and arrive garbled.
MAX_SMS_LENGTH = 918
DEFAULT_DEADLINE = timedelta(hours=24)

SMS_TEMPLATES: dict[str, str] = {
    "report_ack": N_(
        "((force)): thank you for your report. Your reference is ((reference)). "
        "We aim to respond within ((target)). In an emergency call 999."
    ),
    "chat_ack": N_(
        "((force)): thank you for contacting us by live chat. Your reference is ((reference)). "
        "In an emergency call 999."
    ),
    "report_update": N_("((force)) update on ((reference)): ((message))"),
    "free_text": "((message))",
    # Surveys (non-essential: never sent to a number that replied STOP).
    "survey_invite": N_(
        "((force)): please tell us about your recent contact (ref ((reference))). ((question)) "
        "Reply 1 (very dissatisfied) to 5 (very satisfied), or answer online: ((link)) "
        "Reply STOP to opt out."
    ),
    "survey_question": N_("((question)) Reply 1 (very dissatisfied) to 5 (very satisfied)."),
    "survey_comment": N_("((question)) Reply with your comments, or SKIP."),
    "survey_reask": N_(
        "Sorry, we did not understand that. ((question)) "
        "Please reply with one number from 1 (very dissatisfied) to 5 (very satisfied)."
    ),
    "survey_thanks": N_("((force)): thank you for your feedback. It helps us improve."),
}

_PLACEHOLDER = re.compile(r"\(\(([a-z_]+)\)\)")


def template_text(template: str, *, texts: dict[str, str] | None = None, language: str = "en") -> str:
    """The wording of a template in `language`: an administrator's (or the environment's) text for
    this language (`Settings.sms_templates`, keys "name" and "name.cy"), else the shipped wording
    translated by the catalogue (English for an unknown language). A name that is not a template is
    itself the text."""
    texts = texts or {}
    language = normalise(language)
    if language != "en" and f"{template}.{language}" in texts:
        return texts[f"{template}.{language}"]
    if language == "en" and texts.get(template):
        return texts[template]
    english = SMS_TEMPLATES.get(template)
    return translator(language)(english) if english is not None else template


def render_template(
    template: str,
    personalisation: dict[str, Any],
    *,
    texts: dict[str, str] | None = None,
    language: str = "en",
) -> str:
    """Fill `((placeholders))` of the template in `language`; a missing value is an error, not a
    blank in a text to the public."""

    def _fill(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in personalisation:
            raise ValidationFailed(f"Missing value for (({key}))", fields={key: "Missing"})
        return str(personalisation[key])

    return _PLACEHOLDER.sub(_fill, template_text(template, texts=texts, language=language))


def sms_values(
    *,
    to: str,
    template: str,
    personalisation: dict[str, Any],
    kind: str,
    essential: bool = True,
    person_id: int | None = None,
    report_id: int | None = None,
    conversation_id: str | None = None,
    survey_invitation_id: int | None = None,
    operator_id: int | None = None,
    due_at: datetime | None = None,
    opted_out: bool = False,
    texts: dict[str, str] | None = None,
    language: str = "en",
) -> dict[str, Any] | None:
    """The outbox row's column values for a text to a mobile, or None when it cannot receive texts.

    Not gated yet: writers pass these values through `gate.apply` before inserting them.
    Non-essential texts (surveys) to a number that sent STOP (`opted_out`) are kept as `cancelled`,
    so the decision is visible in the SMS log.
    """
    number = normalise_phone(to)
    if number is None or not is_mobile(number):
        return None
    body = render_template(template, personalisation, texts=texts, language=language)
    if len(body) > MAX_SMS_LENGTH:
        raise ValidationFailed(
            f"The text is {len(body)} characters; the most is {MAX_SMS_LENGTH}",
            fields={"message": f"Use {MAX_SMS_LENGTH} characters or fewer"},
        )
    now = utcnow()
    return {
        "to_e164": number,
        "body": body,
        "template": template if template in SMS_TEMPLATES else "",
        "personalisation": personalisation,
        "kind": kind,
        "essential": essential,
        "status": SmsStatus.CANCELLED if opted_out and not essential else SmsStatus.QUEUED,
        "attempts": 0,
        "next_attempt_at": due_at or now,
        "deadline_at": (due_at or now) + DEFAULT_DEADLINE,
        "person_id": person_id,
        "report_id": report_id,
        "conversation_id": conversation_id,
        "survey_invitation_id": survey_invitation_id,
        "operator_id": operator_id,
        "created_at": now,
    }


def queue_sms(
    *,
    session: Session,
    settings: Settings,
    to: str,
    template: str,
    personalisation: dict[str, Any],
    kind: str,
    essential: bool = True,
    person_id: int | None = None,
    report_id: int | None = None,
    conversation_id: str | None = None,
    survey_invitation_id: int | None = None,
    operator_id: int | None = None,
    due_at: datetime | None = None,
    language: str = "en",
) -> SmsMessage | None:
    """Queue a text through the gate, in `language` (the contact's). Returns None when the number
    cannot receive texts.

    A text the gate refuses is kept as `blocked` with its reason; non-essential texts (surveys) to
    a number that sent STOP are kept as `cancelled`. Both are visible in the SMS log.
    """
    opted_out = False
    if not essential and person_id is not None:
        person = session.get(Person, person_id)
        opted_out = person is not None and person.sms_opted_out_at is not None
    values = sms_values(
        to=to,
        template=template,
        personalisation=personalisation,
        kind=kind,
        essential=essential,
        person_id=person_id,
        report_id=report_id,
        conversation_id=conversation_id,
        survey_invitation_id=survey_invitation_id,
        operator_id=operator_id,
        due_at=due_at,
        opted_out=opted_out,
        texts=settings.sms_templates,
        language=language,
    )
    if values is None:
        return None
    session.flush()  # the gate reads the contact's consent with Core: it must see pending changes
    gate.apply(session.connection(), settings=settings, values=values)
    message = SmsMessage(**values)
    session.add(message)
    session.flush()
    return message
