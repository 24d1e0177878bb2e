"""The public pages' unit of work, with SQLite writers queued in-process.

SQLite has one writer at a time and the store starts every transaction with BEGIN IMMEDIATE.
Threads of one worker that find the lock taken wait in SQLite's busy handler, which sleeps in
growing steps (up to 100 ms each): under load a few unlucky requests wait seconds. Here the
threads of this worker queue on a lock instead, taken before the transaction starts and released
after it commits, so they are served in turn without sleeping. PostgreSQL needs no such gate
(row locks and the unique constraints do the work), so there it is a no-op. Cross-process
writers (several workers on one SQLite file) still meet SQLite's own lock and busy timeout.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session

from contact_store.db import Store

_GATE_ATTRIBUTE = "_web_forms_sqlite_write_gate"
_gate_creation = threading.Lock()


def write_gate(store: Store) -> AbstractContextManager[object]:
    """The lock SQLite transactions of this store queue on (a no-op for other databases)."""
    if store.engine.dialect.name != "sqlite":
        return nullcontext()
    gate: threading.Lock | None = getattr(store, _GATE_ATTRIBUTE, None)
    if gate is None:
        with _gate_creation:
            gate = getattr(store, _GATE_ATTRIBUTE, None) or threading.Lock()
            setattr(store, _GATE_ATTRIBUTE, gate)
    return gate


@contextmanager
def unit_of_work(store: Store) -> Iterator[Session]:
    """A session that commits on success and rolls back on error, inside the write gate."""
    with write_gate(store), store.session_scope() as session:
        yield session


def forms_session(request: Request) -> Iterator[Session]:
    """The request's unit of work (like `SessionDep`, committed before the response is sent)."""
    with unit_of_work(request.app.state.store) as session:
        yield session


FormsSessionDep = Annotated[Session, Depends(forms_session, scope="function")]
