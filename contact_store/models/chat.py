"""Conversations (live chats), their messages and their routing history."""

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Index, UniqueConstraint, false
from sqlmodel import Field, SQLModel

from contact_store.models.base import created_at_field, json_field, utc_field


class ConversationStatus(StrEnum):
    QUEUED = "queued"  # waiting for an operator
    OFFERED = "offered"  # offered to one operator, not yet accepted
    ACTIVE = "active"  # an operator holds it
    ENDED = "ended"  # finished after being answered; may still await wrap-up
    ABANDONED = "abandoned"  # the visitor left before an operator answered


WAITING_STATUSES = (ConversationStatus.QUEUED, ConversationStatus.OFFERED)


class SenderKind(StrEnum):
    VISITOR = "visitor"
    OPERATOR = "operator"
    SYSTEM = "system"


class Conversation(SQLModel, table=True):
    __table_args__ = (
        Index("ix_conversation_status_priority_queued_at", "status", "priority", "queued_at"),
        Index("ix_conversation_assignee_id_status", "assignee_id", "status"),
        Index("ix_conversation_person_id_queued_at", "person_id", "queued_at"),
    )

    id: str = Field(primary_key=True, max_length=36)
    # sha256 of the visitor's bearer token: it authorises this conversation only.
    token_hash: str = Field(max_length=64)
    status: str = Field(default=ConversationStatus.QUEUED, max_length=20)
    person_id: int | None = Field(default=None, foreign_key="person.id")
    visitor_name: str = Field(default="", max_length=200)
    topic: str = Field(default="", max_length=64)
    language: str = Field(default="en", max_length=5)
    area_id: int | None = Field(default=None, foreign_key="area.id", index=True)
    team_id: int | None = Field(default=None, foreign_key="team.id", index=True)
    assignee_id: int | None = Field(default=None, foreign_key="operator.id")
    offered_to_id: int | None = Field(default=None, foreign_key="operator.id")
    offered_at: datetime | None = utc_field()
    # Higher first: a danger flag raises it so the chat jumps the queue.
    priority: int = Field(default=0)
    danger_flag: bool = Field(default=False)
    # Allocator for per-conversation message `seq`: incremented atomically in the database.
    last_seq: int = Field(default=0)
    queued_at: datetime = created_at_field(index=True)
    assigned_at: datetime | None = utc_field()
    first_response_at: datetime | None = utc_field()
    ended_at: datetime | None = utc_field()
    abandoned_at: datetime | None = utc_field()
    # Last sign of life from the visitor's websocket: a waiting chat whose visitor has been gone
    # longer than the grace period counts as abandoned (routing sets abandoned_at).
    visitor_seen_at: datetime | None = utc_field()
    wrapped_up_at: datetime | None = utc_field()
    ended_by: str | None = Field(default=None, max_length=20)
    # Wrap-up: outcome, grade 1-5, THRIVE, and the report raised from the chat if any.
    outcome: str | None = Field(default=None, max_length=64)
    grade: int | None = Field(default=None, ge=1, le=5)
    thrive: dict[str, Any] = json_field()
    origin: str | None = Field(default=None, max_length=255)
    # Safeguarding: the pre-chat answer "is it safe to text you on this number?" and that number;
    # texts about this chat go only there and only on "yes" (see contact_store.sms.gate).
    safe_to_contact: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    contact_e164: str | None = Field(default=None, max_length=20)


class Message(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("conversation_id", "seq"),
        UniqueConstraint("conversation_id", "client_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: str = Field(foreign_key="conversation.id", max_length=36, ondelete="CASCADE")
    seq: int
    client_id: str = Field(max_length=64)
    sender: str = Field(max_length=10)
    operator_id: int | None = Field(default=None, foreign_key="operator.id")
    body: str = Field(max_length=4000)
    # Internal notes are for staff only: never sent to the visitor, never in their transcript.
    internal: bool = Field(default=False)
    created_at: datetime = created_at_field()


class ConversationEvent(SQLModel, table=True):
    """Routing history: queued, offered, offer timed out, assigned, transferred, ended, abandoned."""

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: str = Field(foreign_key="conversation.id", max_length=36, index=True, ondelete="CASCADE")
    kind: str = Field(max_length=24)
    operator_id: int | None = Field(default=None, foreign_key="operator.id")
    data: dict[str, Any] = json_field()
    created_at: datetime = created_at_field(index=True)
