"""Units of work for group-commit tests: one that holds the writer, one the database refuses."""

from __future__ import annotations

import threading
from typing import Any

from sqlmodel import Session

from contact_store.clock import utcnow
from contact_store.conversations import ALLOCATE_SEQ_SQL, INSERT_MESSAGE_SQL
from contact_store.message_sql import MessageWrite, SqlCursor
from contact_store.models import SenderKind


def hold_the_writer(*, session: Session, running: threading.Event, gate: threading.Event) -> None:
    """Keep the writer busy until `gate` opens, so the next units queue into one batch."""
    running.set()
    gate.wait()


def allocate_then_break_a_constraint(*, cur: SqlCursor, conversation_id: str) -> MessageWrite:
    """A cursor unit that takes a seq, then fails on a foreign key (raised by the database)."""
    seq = cur.one(ALLOCATE_SEQ_SQL, {"id": conversation_id})
    assert seq is not None
    values: dict[str, Any] = {
        "conversation_id": "no-such-conversation",
        "seq": seq[0],
        "client_id": "broken",
        "sender": SenderKind.VISITOR,
        "operator_id": None,
        "body": "never stored",
        "internal": False,
        "created_at": cur.time_in(utcnow()),
    }
    cur.one(INSERT_MESSAGE_SQL, values)
    raise AssertionError("the insert should have failed")
