"""What the administration pages' forms share: field types and the audit of a change."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Form, Request
from sqlmodel import Session

from contact_store import audit
from contact_store.text import PublicText
from contact_store.web import CSRF_FORM_FIELD, StaffContext, client_ip

CsrfField = Annotated[PublicText, Form(alias=CSRF_FORM_FIELD, max_length=200)]
ShortText = Annotated[PublicText, Form(max_length=200)]
LongText = Annotated[PublicText, Form(max_length=5000)]


def audit_change(
    session: Session,
    ctx: StaffContext,
    request: Request,
    action: str,
    kind: str,
    key: object,
    detail: dict[str, Any],
) -> None:
    """One audit event for an administrator's change (in the change's transaction)."""
    audit.record(
        session=session,
        operator_id=ctx.operator.id,
        action=action,
        object_type=kind,
        object_id=str(key),
        ip=client_ip(request),
        detail=detail,
    )
