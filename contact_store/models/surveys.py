"""Satisfaction survey invitations and responses (the Essex questions)."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from contact_store.models.base import created_at_field, utc_field


class InvitationStatus(StrEnum):
    SCHEDULED = "scheduled"
    SENT = "sent"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    EXPIRED = "expired"
    EXCLUDED = "excluded"


class SurveyInvitation(SQLModel, table=True):
    __table_args__ = (Index("ix_surveyinvitation_status_due_at", "status", "due_at"),)

    id: int | None = Field(default=None, primary_key=True)
    person_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    to_e164: str | None = Field(default=None, max_length=20)
    channel: str = Field(max_length=10)  # chat | report | phone
    report_id: int | None = Field(default=None, foreign_key="report.id")
    conversation_id: str | None = Field(default=None, foreign_key="conversation.id", max_length=36)
    reference: str | None = Field(default=None, max_length=36)
    team_id: int | None = Field(default=None, foreign_key="team.id")
    operator_id: int | None = Field(default=None, foreign_key="operator.id")
    area_id: int | None = Field(default=None, foreign_key="area.id")
    topic: str | None = Field(default=None, max_length=64)
    # When the contact itself happened (report received / chat queued): the survey's cohort.
    contact_at: datetime | None = utc_field(index=True)
    status: str = Field(default=InvitationStatus.SCHEDULED, max_length=12)
    excluded_reason: str | None = Field(default=None, max_length=64)
    # Index of the next question to ask by SMS (0-based); answers so far live in the response.
    next_question: int = Field(default=0)
    due_at: datetime = created_at_field()
    sent_at: datetime | None = utc_field()
    completed_at: datetime | None = utc_field()
    created_at: datetime = created_at_field()


class SurveyResponse(SQLModel, table=True):
    """One person's answers. Scores are 1-5 (None = not answered); the context is copied in so
    results can be filtered and exported without joins."""

    __table_args__ = (Index("ix_surveyresponse_team_id_submitted_at", "team_id", "submitted_at"),)

    id: int | None = Field(default=None, primary_key=True)
    invitation_id: int | None = Field(default=None, foreign_key="surveyinvitation.id", unique=True)
    score_time: int | None = Field(default=None, ge=1, le=5)
    score_resolve: int | None = Field(default=None, ge=1, le=5)
    score_overall: int | None = Field(default=None, ge=1, le=5)
    comment: str | None = Field(default=None, max_length=2000)
    response_channel: str = Field(max_length=10)  # sms | web | widget
    channel: str = Field(max_length=10)  # the contact's channel: chat | report | phone
    team_id: int | None = Field(default=None, foreign_key="team.id")
    operator_id: int | None = Field(default=None, foreign_key="operator.id")
    area_id: int | None = Field(default=None, foreign_key="area.id")
    topic: str | None = Field(default=None, max_length=64)
    reference: str | None = Field(default=None, max_length=36)
    submitted_at: datetime = created_at_field(index=True)
