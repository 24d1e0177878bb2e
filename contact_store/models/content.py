"""Canned responses operators insert into chats and SMS updates."""

from datetime import datetime

from sqlalchemy import JSON
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
    is_active: bool = Field(default=True)  # False: retired (hidden from operators, kept with history)
    # Words an operator might search for that are not in the title or body ("bike").
    keywords: list[str] | None = Field(default=None, sa_type=JSON, nullable=True)
    # The Welsh version, inserted into chats held in Welsh (None: no Welsh version yet).
    title_cy: str | None = Field(default=None, max_length=120)
    body_cy: str | None = Field(default=None, max_length=2000)
    # How often operators inserted it (None before the first time).
    usage_count: int | None = Field(default=None)
    created_at: datetime = created_at_field()
