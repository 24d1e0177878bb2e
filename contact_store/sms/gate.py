"""The one gate every text passes: consent, country and the per-recipient daily cap.

Protocol
--------
Every text the platform queues is an outbox row about one contact (a report, else a chat). Before
the row is written (`contact_store.outbox.queue_sms`, and the Core fast path of
`contact_store.reports.file_report` through `apply`) and again when the worker has claimed it,
just before the provider is called (`contact_store.sms.worker.claim_due`, through `recheck`), the
gate asks, in this order, and the first "no" blocks the text:

1. consent (`not_safe_to_contact`): the contact said it is safe to contact them (`safe_to_contact`)
   and the text goes to the number they said it about (`contact_e164`). No contact, no answer,
   "no", or another number (say, the phone an earlier contact of the same person gave) is a "no".
   Consent can be withdrawn after queueing; the worker's re-check sees it.
2. country (`country_not_allowed`): the number starts with one of `sms_allowed_prefixes`
   (default UK mobiles, `+447`). The public forms and the chat start refuse other countries where
   the number is typed (`number_country_allowed`); this catches numbers that got in another way.
3. cap (`recipient_daily_cap`): at most `sms_max_per_recipient_per_day` texts to one number in the
   24 hours before the row was created, across every template. Counted in the store (rows that
   are not blocked or cancelled, created earlier, i.e. with a smaller id), so every worker and
   host shares it. Two transactions racing at queue time may both pass; the worker's re-check
   counts only rows with a smaller id, so the rows beyond the cap are blocked before sending.

A blocked text is kept: `status = blocked` with `blocked_reason`, never sent, shown in the SMS log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Any

import phonenumbers
from sqlalchemy import Connection, bindparam, func, select

from contact_store.models import Conversation, Report, SmsMessage, SmsStatus
from contact_store.settings import Settings

# "Per day" is the 24 hours before a text: a rolling window cannot be reset by waiting for midnight.
CAP_WINDOW = timedelta(hours=24)
# Rows that never reach a phone do not count towards the cap.
NOT_COUNTED = (SmsStatus.BLOCKED, SmsStatus.CANCELLED)


class BlockReason(StrEnum):
    NOT_SAFE_TO_CONTACT = "not_safe_to_contact"
    COUNTRY_NOT_ALLOWED = "country_not_allowed"
    RECIPIENT_DAILY_CAP = "recipient_daily_cap"


# What staff read in the SMS log and beside a refused send.
REASON_LABELS = {
    BlockReason.NOT_SAFE_TO_CONTACT: "Not safe to text: the person did not say it is safe on this number",
    BlockReason.COUNTRY_NOT_ALLOWED: "Number outside the countries this force texts",
    BlockReason.RECIPIENT_DAILY_CAP: "Daily limit of texts to this number reached",
}


@dataclass(frozen=True)
class Consent:
    """A contact's answer: is it safe to contact them, and on which number."""

    safe: bool
    number: str | None

    def allows(self, to_e164: str) -> bool:
        return self.safe and bool(self.number) and self.number == to_e164


NO_CONSENT = Consent(False, None)

_report: Any = Report.__table__  # type: ignore[attr-defined]
_conversation: Any = Conversation.__table__  # type: ignore[attr-defined]
_sms: Any = SmsMessage.__table__  # type: ignore[attr-defined]
_REPORT_CONSENT = select(_report.c.safe_to_contact, _report.c.contact_e164).where(
    _report.c.id == bindparam("id")
)
_CONVERSATION_CONSENT = select(_conversation.c.safe_to_contact, _conversation.c.contact_e164).where(
    _conversation.c.id == bindparam("id")
)
_counted = (
    _sms.c.to_e164 == bindparam("to"),
    _sms.c.created_at >= bindparam("since"),
    _sms.c.status.not_in([str(s) for s in NOT_COUNTED]),
)
_TEXTS_TO_NUMBER = select(func.count()).select_from(_sms).where(*_counted)
_TEXTS_TO_NUMBER_BEFORE = select(func.count()).select_from(_sms).where(*_counted, _sms.c.id < bindparam("id"))
_ROW = select(_sms.c.to_e164, _sms.c.report_id, _sms.c.conversation_id, _sms.c.created_at).where(
    _sms.c.id == bindparam("id")
)


def consent_of(conn: Connection, *, report_id: int | None, conversation_id: str | None) -> Consent:
    """The consent of the contact a text is about: its report's, else its chat's, else none."""
    if report_id is not None:
        row = conn.execute(_REPORT_CONSENT, {"id": report_id}).first()
    elif conversation_id is not None:
        row = conn.execute(_CONVERSATION_CONSENT, {"id": conversation_id}).first()
    else:
        return NO_CONSENT
    return Consent(bool(row[0]), row[1]) if row is not None else NO_CONSENT


def prefix_allowed(*, settings: Settings, e164: str) -> bool:
    """True when a text may go to this number's prefix (`sms_allowed_prefixes`)."""
    return any(e164.startswith(prefix.replace(" ", "")) for prefix in settings.sms_allowed_prefixes)


def allowed_country_codes(settings: Settings) -> set[int]:
    """The country calling codes of the allowed prefixes (+447 -> 44)."""
    codes: set[int] = set()
    for prefix in settings.sms_allowed_prefixes:
        digits = prefix.replace(" ", "").lstrip("+")
        for size in (1, 2, 3):  # calling codes are prefix-free and 1-3 digits long
            if digits[:size].isdigit() and int(digits[:size]) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
                codes.add(int(digits[:size]))
                break
    return codes


@lru_cache(maxsize=4096)
def _country_code(e164: str) -> int | None:
    """The calling code of an E.164 number (parsing is pure and costs about 0.1 ms)."""
    try:
        return phonenumbers.parse(e164, None).country_code
    except phonenumbers.NumberParseException:
        return None


def number_country_allowed(*, settings: Settings, e164: str) -> bool:
    """True when a number the public gives is in a country this force texts (checked where typed)."""
    code = _country_code(e164)
    return code is not None and code in allowed_country_codes(settings)


def only_uk(settings: Settings) -> bool:
    """True when the force texts UK numbers only (the public's error messages say "UK")."""
    return allowed_country_codes(settings) <= {44}


def block_reason(
    conn: Connection,
    *,
    settings: Settings,
    to_e164: str,
    consent: Consent,
    created_at: datetime,
    row_id: int | None = None,
) -> BlockReason | None:
    """Why this text must not be sent, or None. `row_id`: an existing row (count only earlier rows)."""
    if not consent.allows(to_e164):
        return BlockReason.NOT_SAFE_TO_CONTACT
    if not prefix_allowed(settings=settings, e164=to_e164):
        return BlockReason.COUNTRY_NOT_ALLOWED
    params: dict[str, Any] = {"to": to_e164, "since": created_at - CAP_WINDOW}
    if row_id is None:
        sent = conn.execute(_TEXTS_TO_NUMBER, params).scalar_one()
    else:
        sent = conn.execute(_TEXTS_TO_NUMBER_BEFORE, params | {"id": row_id}).scalar_one()
    if sent >= settings.sms_max_per_recipient_per_day:
        return BlockReason.RECIPIENT_DAILY_CAP
    return None


def apply(
    conn: Connection, *, settings: Settings, values: dict[str, Any], consent: Consent | None = None
) -> dict[str, Any]:
    """Gate a new outbox row's values in place: a refused text becomes `blocked` with its reason.

    `consent`: the contact's answer when the caller has just written it (the report fast path);
    otherwise it is read from the row's report or chat.
    """
    if consent is None:
        consent = consent_of(
            conn, report_id=values.get("report_id"), conversation_id=values.get("conversation_id")
        )
    reason = block_reason(
        conn, settings=settings, to_e164=values["to_e164"], consent=consent, created_at=values["created_at"]
    )
    if reason is not None:
        values["status"] = SmsStatus.BLOCKED
        values["blocked_reason"] = str(reason)
    return values


def recheck(conn: Connection, *, settings: Settings, row_id: int) -> BlockReason | None:
    """The gate again for a queued row about to be sent (consent may have been withdrawn)."""
    row = conn.execute(_ROW, {"id": row_id}).one()
    consent = consent_of(conn, report_id=row.report_id, conversation_id=row.conversation_id)
    return block_reason(
        conn,
        settings=settings,
        to_e164=row.to_e164,
        consent=consent,
        created_at=row.created_at,
        row_id=row_id,
    )


def contact_number(*, settings: Settings, consent: Consent) -> str | None:
    """The number staff may text for a contact, or None (what the console shows as "not safe")."""
    if consent.safe and consent.number and prefix_allowed(settings=settings, e164=consent.number):
        return consent.number
    return None
