"""Signing staff in quickly for endpoint tests: a real server-side session, set as the cookie."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session

from contact_store.models import Operator, Role
from contact_store.settings import Settings
from contact_store.staff import start_session
from contact_store.web import SESSION_COOKIE
from tests.builders import make_operator


def sign_in_as(
    client: TestClient, session: Session, settings: Settings, role: str = Role.OPERATOR, **kw: Any
) -> tuple[Operator, str]:
    """Make an operator with this role, start a session, put its cookie on the client; (op, csrf)."""
    op = make_operator(session, role=role, **kw)
    issued = start_session(session=session, settings=settings, operator=op)
    session.commit()
    client.cookies.set(SESSION_COOKIE, issued.token)
    return op, issued.csrf_token
