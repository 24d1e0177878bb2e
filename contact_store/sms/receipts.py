"""Delivery receipts: a provider's callback moves a `sent` row to `delivered` or `failed`.

Receipts are matched by our reference (`fc-sms-<id>`) when the provider echoes it (Notify), else by
the provider's message id. A receipt never moves a row backwards (a late "sent" after "delivered"
is ignored) and applying the same receipt twice changes nothing.
"""

from __future__ import annotations

from sqlmodel import Session, select

from contact_store.clock import utcnow
from contact_store.models import SmsMessage, SmsStatus
from contact_store.sms.providers import row_id_from_reference

# Provider statuses that are final. Notify's "temporary-failure" is final too: Notify already
# retried for 72 hours before reporting it.
DELIVERED_STATUSES = {"delivered"}
FAILED_STATUSES = {"permanent-failure", "temporary-failure", "technical-failure", "undelivered", "failed"}


def apply_receipt(
    *, session: Session, status: str, reference: str | None = None, provider_message_id: str | None = None
) -> SmsMessage | None:
    """Record a delivery receipt; returns the row, or None if no row matches."""
    message: SmsMessage | None = None
    row_id = row_id_from_reference(reference)
    if row_id is not None:
        message = session.get(SmsMessage, row_id)
    if message is None and provider_message_id:
        message = session.exec(
            select(SmsMessage).where(SmsMessage.provider_message_id == provider_message_id)
        ).first()
    if message is None:
        return None
    if provider_message_id and not message.provider_message_id:
        message.provider_message_id = provider_message_id
    status = status.strip().lower()
    if message.status in (SmsStatus.SENT, SmsStatus.SENDING, SmsStatus.QUEUED):
        if status in DELIVERED_STATUSES:
            message.status = SmsStatus.DELIVERED
            message.delivered_at = utcnow()
        elif status in FAILED_STATUSES:
            message.status = SmsStatus.FAILED
            message.last_error = f"provider receipt: {status}"
    session.add(message)
    session.flush()
    return message
