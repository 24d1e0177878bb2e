"""Metadata, naming convention and small field helpers shared by every table."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON
from sqlmodel import Field, SQLModel

from contact_store.clock import utcnow
from contact_store.types import UTCDateTime

# Stable constraint names so Alembic can alter them on SQLite (batch mode) and PostgreSQL alike.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION
metadata = SQLModel.metadata


def created_at_field(*, index: bool = False) -> Any:
    """A non-null UTC timestamp defaulting to now."""
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=index)


def utc_field(*, index: bool = False) -> Any:
    """An optional UTC timestamp."""
    return Field(default=None, sa_type=UTCDateTime, nullable=True, index=index)


def json_field(*, default_factory: Any = dict) -> Any:
    """A JSON column (JSON on SQLite, JSON on PostgreSQL)."""
    return Field(default_factory=default_factory, sa_type=JSON, nullable=False)


__all__ = ["NAMING_CONVENTION", "created_at_field", "datetime", "json_field", "metadata", "utc_field"]
