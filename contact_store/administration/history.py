"""Versions of administered objects: one row per change, with who, when, before and after."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, col, func, select

from contact_store.models import ChangeHistory

# Versions shown on one history page; older ones are reached with the "in force on" date.
HISTORY_PAGE_SIZE = 100


def record_version(
    *,
    session: Session,
    object_type: str,
    object_id: str | int,
    before: Any,
    after: Any,
    operator_id: int | None,
) -> ChangeHistory | None:
    """Write the next version of an object, unless nothing changed (None). A race for the same
    version number fails on the unique key, so two versions are never numbered alike."""
    if before == after:
        return None
    key = str(object_id)
    latest = session.exec(
        select(func.max(ChangeHistory.version)).where(
            ChangeHistory.object_type == object_type, ChangeHistory.object_id == key
        )
    ).one()
    row = ChangeHistory(
        object_type=object_type,
        object_id=key,
        version=int(latest or 0) + 1,
        before=before,
        after=after,
        changed_by=operator_id,
    )
    session.add(row)
    session.flush()
    return row


def versions(*, session: Session, object_type: str, object_id: str | int) -> list[ChangeHistory]:
    """Every version of one object, newest first."""
    return list(
        session.exec(
            select(ChangeHistory)
            .where(ChangeHistory.object_type == object_type, ChangeHistory.object_id == str(object_id))
            .order_by(col(ChangeHistory.version).desc())
            .limit(HISTORY_PAGE_SIZE)
        ).all()
    )


def version_at(
    *, session: Session, object_type: str, object_id: str | int, at: datetime
) -> ChangeHistory | None:
    """The version in force at `at`: the newest written at or before it (None: none yet)."""
    return session.exec(
        select(ChangeHistory)
        .where(
            ChangeHistory.object_type == object_type,
            ChangeHistory.object_id == str(object_id),
            col(ChangeHistory.changed_at) <= at,
        )
        .order_by(col(ChangeHistory.version).desc())
        .limit(1)
    ).first()


def recent(*, session: Session, object_type: str = "") -> list[ChangeHistory]:
    """The latest changes (of one kind of object, or of all), newest first."""
    stmt = select(ChangeHistory)
    if object_type:
        stmt = stmt.where(ChangeHistory.object_type == object_type)
    return list(
        session.exec(
            stmt.order_by(col(ChangeHistory.changed_at).desc(), col(ChangeHistory.id).desc()).limit(
                HISTORY_PAGE_SIZE
            )
        ).all()
    )
