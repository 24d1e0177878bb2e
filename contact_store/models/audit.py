"""The audit log: every view of a person's details and every change made by staff."""

from datetime import datetime
from typing import Any

from sqlmodel import Field, SQLModel

from contact_store.models.base import created_at_field, json_field


class AuditEvent(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = created_at_field(index=True)
    operator_id: int | None = Field(default=None, foreign_key="operator.id", index=True)
    action: str = Field(max_length=64, index=True)  # e.g. person.view, report.update, operator.add
    object_type: str = Field(default="", max_length=32)
    object_id: str = Field(default="", max_length=64)
    person_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    ip_address: str | None = Field(default=None, max_length=64)
    detail: dict[str, Any] = json_field()
