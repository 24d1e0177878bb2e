"""The audit log: who viewed whose personal data and who changed what, searchable by admins.

Every view of a person's details and every change made by staff calls `record()` inside the
request's unit of work, so the audit row commits (or rolls back) with the change it describes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, func, select

from contact_store.models import AuditEvent

# Enough rows for one screen of search results; older ones are reached by narrowing the search.
AUDIT_PAGE_SIZE = 50


def record(
    *,
    session: Session,
    operator_id: int | None,
    action: str,
    object_type: str = "",
    object_id: str | int = "",
    person_id: int | None = None,
    ip: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Write one audit event in the caller's transaction."""
    event = AuditEvent(
        operator_id=operator_id,
        action=action[:64],
        object_type=object_type[:32],
        object_id=str(object_id)[:64],
        person_id=person_id,
        ip_address=(ip or None) and ip[:64],
        detail=detail or {},
    )
    session.add(event)
    session.flush()
    return event


@dataclass(frozen=True)
class AuditQuery:
    operator_id: int | None = None
    action: str = ""
    person_id: int | None = None
    object_type: str = ""
    object_id: str = ""
    since: datetime | None = None
    until: datetime | None = None
    page: int = 1


def search(*, session: Session, query: AuditQuery) -> tuple[list[AuditEvent], int]:
    """Audit events matching the query, newest first, one page at a time; and the total count."""
    stmt = select(AuditEvent)
    if query.operator_id is not None:
        stmt = stmt.where(AuditEvent.operator_id == query.operator_id)
    if query.action:
        stmt = stmt.where(col(AuditEvent.action).startswith(query.action))
    if query.person_id is not None:
        stmt = stmt.where(AuditEvent.person_id == query.person_id)
    if query.object_type:
        stmt = stmt.where(AuditEvent.object_type == query.object_type)
    if query.object_id:
        stmt = stmt.where(AuditEvent.object_id == query.object_id)
    if query.since is not None:
        stmt = stmt.where(col(AuditEvent.at) >= query.since)
    if query.until is not None:
        stmt = stmt.where(col(AuditEvent.at) < query.until)
    total = session.exec(select(func.count()).select_from(stmt.subquery())).one()
    page = max(1, query.page)
    rows = session.exec(
        stmt.order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc())
        .offset((page - 1) * AUDIT_PAGE_SIZE)
        .limit(AUDIT_PAGE_SIZE)
    ).all()
    return list(rows), int(total)
