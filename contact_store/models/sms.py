"""The SMS outbox (rows written in the same transaction as their cause) and inbound texts."""

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from contact_store.models.base import created_at_field, json_field, utc_field


class SmsStatus(StrEnum):
    QUEUED = "queued"  # due at next_attempt_at
    SENDING = "sending"  # claimed by a worker
    SENT = "sent"  # accepted by the provider
    DELIVERED = "delivered"  # delivery receipt said so
    FAILED = "failed"  # permanent failure, or deadline passed
    CANCELLED = "cancelled"  # e.g. number opted out before sending
    BLOCKED = "blocked"  # refused by the gate (blocked_reason says why); never sent


class SmsMessage(SQLModel, table=True):
    __table_args__ = (
        Index("ix_smsmessage_status_next_attempt_at", "status", "next_attempt_at"),
        # The per-recipient daily cap counts a number's texts of the last 24 hours.
        Index("ix_smsmessage_to_e164_created_at", "to_e164", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    to_e164: str = Field(max_length=20)
    body: str = Field(max_length=918)  # at most 6 concatenated GSM segments
    template: str = Field(default="", max_length=64)
    personalisation: dict[str, Any] = json_field()
    kind: str = Field(default="update", max_length=20)  # ack | update | survey | reply
    # Essential texts (acknowledgements, updates) still go to opted-out numbers; surveys do not.
    essential: bool = Field(default=True)
    status: str = Field(default=SmsStatus.QUEUED, max_length=12)
    attempts: int = Field(default=0)
    next_attempt_at: datetime = created_at_field()
    deadline_at: datetime | None = utc_field()
    claimed_by: str | None = Field(default=None, max_length=64)
    claimed_at: datetime | None = utc_field()
    provider: str | None = Field(default=None, max_length=20)
    provider_message_id: str | None = Field(default=None, max_length=100, index=True)
    last_error: str | None = Field(default=None, max_length=500)
    # Why the gate refused this text (contact_store.sms.gate.BlockReason), when status is blocked.
    blocked_reason: str | None = Field(default=None, max_length=64)
    person_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    report_id: int | None = Field(default=None, foreign_key="report.id", index=True)
    conversation_id: str | None = Field(default=None, foreign_key="conversation.id", max_length=36)
    survey_invitation_id: int | None = Field(default=None, foreign_key="surveyinvitation.id")
    operator_id: int | None = Field(default=None, foreign_key="operator.id")
    created_at: datetime = created_at_field(index=True)
    sent_at: datetime | None = utc_field()
    delivered_at: datetime | None = utc_field()


class InboundSms(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    from_e164: str = Field(max_length=20, index=True)
    body: str = Field(max_length=2000)
    provider: str = Field(max_length=20)
    provider_message_id: str | None = Field(default=None, max_length=100, unique=True)
    person_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    report_id: int | None = Field(default=None, foreign_key="report.id")
    conversation_id: str | None = Field(default=None, foreign_key="conversation.id", max_length=36)
    survey_invitation_id: int | None = Field(default=None, foreign_key="surveyinvitation.id")
    handled_as: str | None = Field(default=None, max_length=20)  # survey | stop | contact
    # How a `contact` text found its contact: reference | reply_thread | unmatched | staff
    # (`contact_store.sms.inbound`); unmatched texts wait in triage's "Texts to match".
    matched_by: str | None = Field(default=None, max_length=20, index=True)
    matched_by_operator_id: int | None = Field(default=None, foreign_key="operator.id")
    matched_at: datetime | None = utc_field()
    received_at: datetime = created_at_field(index=True)
