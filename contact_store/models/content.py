"""Canned responses operators insert into chats and SMS updates."""

from datetime import datetime

from sqlmodel import Field, SQLModel

from contact_store.models.base import created_at_field, json_field


class CannedResponse(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=120, index=True)
    body: str = Field(max_length=2000)
    category: str = Field(default="general", max_length=40)  # e.g. crime-prevention, support
    tags: list[str] = json_field(default_factory=list)
    language: str = Field(default="en", max_length=5)
    team_id: int | None = Field(default=None, foreign_key="team.id")
    is_active: bool = Field(default=True)
    created_at: datetime = created_at_field()
