"""Online reports, their timeline, evidence, in-progress form sessions and idempotency records."""

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Index, UniqueConstraint, false
from sqlmodel import Field, SQLModel

from contact_store.models.base import created_at_field, json_field, utc_field


class ReportStatus(StrEnum):
    RECEIVED = "received"
    IN_PROGRESS = "in_progress"
    AWAITING_INFORMATION = "awaiting_information"
    RESOLVED = "resolved"
    CLOSED = "closed"


OPEN_REPORT_STATUSES = (
    ReportStatus.RECEIVED,
    ReportStatus.IN_PROGRESS,
    ReportStatus.AWAITING_INFORMATION,
)


class Report(SQLModel, table=True):
    __table_args__ = (
        Index("ix_report_status_received_at", "status", "received_at"),
        Index("ix_report_person_id_received_at", "person_id", "received_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(max_length=20, unique=True)
    form_slug: str = Field(max_length=64, index=True)
    answers: dict[str, Any] = json_field()
    summary: str = Field(default="", max_length=300)
    status: str = Field(default=ReportStatus.RECEIVED, max_length=24)
    grade: int | None = Field(default=None, ge=1, le=5)
    # THRIVE: threat, harm, risk, investigation, vulnerability, engagement -> short assessments.
    thrive: dict[str, Any] = json_field()
    sensitive: bool = Field(default=False)
    language: str = Field(default="en", max_length=5)
    channel: str = Field(default="web", max_length=10)  # web | api | chat
    person_id: int | None = Field(default=None, foreign_key="person.id")
    area_id: int | None = Field(default=None, foreign_key="area.id", index=True)
    team_id: int | None = Field(default=None, foreign_key="team.id", index=True)
    assignee_id: int | None = Field(default=None, foreign_key="operator.id", index=True)
    conversation_id: str | None = Field(default=None, foreign_key="conversation.id", max_length=36)
    repeat_contact: bool = Field(default=False)
    # Safeguarding: texts about this report go only to `contact_e164`, and only when the reporter
    # said it is safe to contact them there; no answer is "no" (see contact_store.sms.gate).
    safe_to_contact: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    contact_e164: str | None = Field(default=None, max_length=20)
    received_at: datetime = created_at_field(index=True)
    first_response_at: datetime | None = utc_field()
    resolved_at: datetime | None = utc_field()
    closed_at: datetime | None = utc_field()
    updated_at: datetime = created_at_field()


class ReportEvent(SQLModel, table=True):
    """One line of a report's timeline: a note, a status or grade change, an SMS sent."""

    id: int | None = Field(default=None, primary_key=True)
    report_id: int = Field(foreign_key="report.id", index=True, ondelete="CASCADE")
    kind: str = Field(max_length=20)  # note | status | grade | thrive | assign | sms | inbound_sms
    body: str = Field(default="", max_length=2000)
    data: dict[str, Any] = json_field()
    operator_id: int | None = Field(default=None, foreign_key="operator.id")
    created_at: datetime = created_at_field()


class Evidence(SQLModel, table=True):
    """An uploaded file, stored under a server-generated name outside the web root."""

    id: int | None = Field(default=None, primary_key=True)
    report_id: int | None = Field(default=None, foreign_key="report.id", index=True, ondelete="CASCADE")
    form_session_id: str | None = Field(default=None, max_length=64, index=True)
    stored_name: str = Field(max_length=64, unique=True)
    original_name: str = Field(max_length=255)
    content_type: str = Field(max_length=100)
    size_bytes: int
    sha256: str = Field(max_length=64)
    created_at: datetime = created_at_field()


class FormSession(SQLModel, table=True):
    """Answers of a form journey in progress, kept on the server (never in the browser)."""

    id: str = Field(primary_key=True, max_length=64)
    form_slug: str = Field(max_length=64)
    answers: dict[str, Any] = json_field()
    language: str = Field(default="en", max_length=5)
    # One-time submission token: a second POST with it finds `report_id` and shows that report.
    submit_token: str = Field(max_length=64)
    report_id: int | None = Field(default=None, foreign_key="report.id")
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field(index=True)
    ended_at: datetime | None = utc_field()


class IdempotencyRecord(SQLModel, table=True):
    """The stored answer to a request sent with an Idempotency-Key, replayed on retry."""

    __table_args__ = (UniqueConstraint("scope", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    scope: str = Field(max_length=64)
    key: str = Field(max_length=255)
    request_hash: str = Field(max_length=64)
    status_code: int
    response: dict[str, Any] = json_field()
    created_at: datetime = created_at_field(index=True)
