"""What administrators change in the console: setting overrides, the version history of every
administered object, and the canned-answer synonym table."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, UniqueConstraint
from sqlmodel import Field, SQLModel

from contact_store.models.base import created_at_field, json_field


class ConfigOverride(SQLModel, table=True):
    """A setting an administrator changed: overrides the environment's value (the default)."""

    key: str = Field(primary_key=True, max_length=80)
    value: Any = Field(default=None, sa_type=JSON, nullable=True)
    updated_by: int | None = Field(default=None, foreign_key="operator.id", ondelete="SET NULL")
    updated_at: datetime = created_at_field()


class ChangeHistory(SQLModel, table=True):
    """One version of an administered object (GOV.UK Notify's *_history tables, in one table).

    `after` is the object as it was from `changed_at` until the next version; `before` the one it
    replaced (None when it was created; `after` None when it was deleted or the override removed).
    """

    __table_args__ = (UniqueConstraint("object_type", "object_id", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    object_type: str = Field(max_length=32)
    object_id: str = Field(max_length=80)
    version: int = Field(ge=1)
    before: Any = Field(default=None, sa_type=JSON, nullable=True)
    after: Any = Field(default=None, sa_type=JSON, nullable=True)
    changed_by: int | None = Field(default=None, foreign_key="operator.id", ondelete="SET NULL")
    changed_at: datetime = created_at_field(index=True)


class CannedSynonym(SQLModel, table=True):
    """Words that mean the same to someone searching canned answers ("bike", "bicycle", "cycle")."""

    id: int | None = Field(default=None, primary_key=True)
    words: list[str] = json_field(default_factory=list)
    created_at: datetime = created_at_field()
