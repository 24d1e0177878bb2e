"""Contacts that said it is safe to text them: the SMS gate sends nothing about anyone else."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from contact_store.models import Conversation, Report
from tests.builders import make_conversation, make_report

NUMBER_E164 = "+447700900123"


def texting_chat(session: Session, number: str = NUMBER_E164, **kw: Any) -> Conversation:
    """A chat whose visitor said it is safe to text them on `number` (E.164)."""
    return make_conversation(session, safe_to_contact=True, contact_e164=number, **kw)


def texting_report(session: Session, number: str = NUMBER_E164, **kw: Any) -> Report:
    """A report whose reporter said it is safe to text them on `number` (E.164)."""
    return make_report(session, safe_to_contact=True, contact_e164=number, **kw)
