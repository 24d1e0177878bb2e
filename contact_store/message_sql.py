"""Storing one chat message in plain DBAPI statements: the live-chat hot path.

Every visitor and staff message is stored here, on the hot path (`store_message` in a group-commit
unit) or inside an ORM unit of work (`store_message_in_session`, e.g. a message that mentions
danger). `conversations.append_message` stays only for what the service writes itself (system
messages, a transfer's handover note), after its caller has checked the rules. At a
fraction of the ORM's CPU: measured, the ORM unit per message (sessions, identity
map, `session.get` of the operator and the conversation, five statements through SQLAlchemy) cost
over 1 ms of the single writer thread, the GIL-bound ceiling of one worker; these are three
statements on the raw cursor.

- One read returns the conversation's state, the staff member's role and name, and any message
  already stored with this `client_id` (a resend gets the original back and stores nothing), then
  the access and status rules run in Python (visitor: not ended; staff: `access.holds_chat`, the
  one chat rule, and active unless it is an internal note).
- The seq comes from the same atomic `UPDATE conversation SET last_seq = last_seq + 1 ...
  RETURNING last_seq`, and the INSERT ... ON CONFLICT (conversation_id, client_id) DO NOTHING
  catches two workers racing with one client_id, as in `append_message`.
- The caller owns the transaction (a SAVEPOINT in a group commit, or its own transaction) and
  publishes the returned events only after it commits.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Dialect

from contact_store.access import holds_chat
from contact_store.clock import utcnow
from contact_store.conversations import (
    ALLOCATE_SEQ_SQL,
    INSERT_MESSAGE_SQL,
    RELEASE_SEQ_SQL,
    StoredMessage,
    staff_channel,
)
from contact_store.errors import AppError, Forbidden, NotFound
from contact_store.events import Event, channels
from contact_store.models import ConversationStatus, SenderKind
from contact_store.types import UTCDateTime

_STATE = (
    "SELECT c.status, c.assignee_id, c.offered_to_id, o.role, o.display_name, m.seq, m.client_id,"
    " m.sender, m.body, m.internal, m.created_at FROM conversation c"
    " LEFT JOIN operator o ON o.id = :operator_id"
    " LEFT JOIN message m ON m.conversation_id = c.id AND m.client_id = :client_id WHERE c.id = :cid"
)
_FIND = (
    "SELECT seq, client_id, sender, body, internal, created_at FROM message"
    " WHERE conversation_id = :cid AND client_id = :client_id"
)
# An operator's first public message also stamps the first response (same transaction as the seq).
_ALLOCATE_SEQ_FIRST_RESPONSE = (
    "UPDATE conversation SET last_seq = last_seq + 1, first_response_at = COALESCE(first_response_at, :now)"
    " WHERE id = :id RETURNING last_seq"
)
# `_insert` in ONE statement (seq allocation, first-response stamp and insert), for the pipelined
# `store_messages`: the same columns and conflict rule as ALLOCATE_SEQ_SQL + INSERT_MESSAGE_SQL.
# The conversation's row is locked FIRST (FOR UPDATE waits for a concurrent writer and then reads
# its committed last_seq), the message inserted with the next seq, and last_seq moved to it only
# if the insert went in: a client_id another worker stored meanwhile returns no row and takes no
# seq (allocating before the insert left a gap in the numbering on such a race, as a rolling
# restart's resends showed: chat.seq_contiguous).
_STORE_ONE_TRIP = (
    "WITH c AS (SELECT last_seq FROM conversation WHERE id = :conversation_id FOR UPDATE),"
    " i AS (INSERT INTO message (conversation_id, seq, client_id, sender, operator_id, body, internal,"
    " created_at) SELECT :conversation_id, c.last_seq + 1, :client_id, :sender, :operator_id, :body,"
    " :internal, :created_at FROM c ON CONFLICT (conversation_id, client_id) DO NOTHING RETURNING seq),"
    " u AS (UPDATE conversation SET last_seq = i.seq, first_response_at ="
    " CASE WHEN :stamp THEN COALESCE(first_response_at, :created_at) ELSE first_response_at END"
    " FROM i WHERE conversation.id = :conversation_id RETURNING conversation.last_seq)"
    " SELECT seq FROM i"
)
_ENDED = (ConversationStatus.ENDED, ConversationStatus.ABANDONED)
_NAMED_PARAM = re.compile(r"(?<![:\w]):(\w+)")


class SqlCursor:
    """A DBAPI cursor that takes `:name` parameters and converts UTC timestamps, on any dialect."""

    def __init__(self, cursor: Any, dialect: Dialect) -> None:
        self.cursor = cursor
        self.dialect = dialect
        self._pyformat = dialect.paramstyle == "pyformat"
        # psycopg 3 pipelines executemany(returning=True); other drivers run statements one by one.
        self.pipelined = dialect.driver == "psycopg"
        processors = _processors(dialect)
        self.time_in: Callable[[datetime], Any] = processors[0]
        self.time_out: Callable[[Any], datetime] = processors[1]

    def one(self, sql: str, params: dict[str, Any]) -> tuple[Any, ...] | None:
        """Run `sql` and return its first row (None if it returned none)."""
        if self._pyformat:
            sql = _as_pyformat(sql)
        self.cursor.execute(sql, params)
        row = self.cursor.fetchone()
        return tuple(row) if row is not None else None

    def run(self, sql: str) -> None:
        """A statement without parameters or rows (SAVEPOINT, RELEASE...)."""
        self.cursor.execute(sql)

    def many(self, sql: str, params: list[dict[str, Any]]) -> list[tuple[Any, ...] | None]:
        """Run `sql` once per parameter set, in order, and return each one's first row. On
        PostgreSQL (psycopg) they travel pipelined: one round trip for all, not one each."""
        if not params:
            return []
        if not self.pipelined:
            return [self.one(sql, p) for p in params]
        self.cursor.executemany(_as_pyformat(sql), params, returning=True)
        rows: list[tuple[Any, ...] | None] = []
        while True:
            row = self.cursor.fetchone()
            rows.append(tuple(row) if row is not None else None)
            if not self.cursor.nextset():
                break
        return rows


_pyformat_cache: dict[str, str] = {}


def _as_pyformat(sql: str) -> str:
    out = _pyformat_cache.get(sql)
    if out is None:
        out = _pyformat_cache[sql] = _NAMED_PARAM.sub(r"%(\1)s", sql)
    return out


_processor_cache: dict[str, tuple[Callable[[datetime], Any], Callable[[Any], datetime]]] = {}


def _processors(dialect: Dialect) -> tuple[Callable[[datetime], Any], Callable[[Any], datetime]]:
    """SQLAlchemy's own conversions for `UTCDateTime`, so values match what the ORM writes."""
    found = _processor_cache.get(dialect.name)
    if found is None:
        column_type = UTCDateTime()
        bind = column_type.bind_processor(dialect)
        result = column_type.result_processor(dialect, None)

        def time_in(value: datetime) -> Any:
            return bind(value) if bind is not None else value

        def time_out(value: Any) -> datetime:
            out = result(value) if result is not None else value
            assert isinstance(out, datetime)
            return out

        found = _processor_cache[dialect.name] = (time_in, time_out)
    return found


@dataclass(frozen=True)
class NewMessage:
    """A message as received on a socket, cleaned; `operator_id` set for staff."""

    conversation_id: str
    client_id: str
    body: str
    operator_id: int | None = None
    internal: bool = False


@dataclass
class MessageWrite:
    """The outcome: the stored (or original) message, and the events to publish after commit."""

    stored: StoredMessage
    created: bool
    events: list[tuple[str, Event]] = field(default_factory=list)


def store_message(*, cur: SqlCursor, message: NewMessage) -> MessageWrite:
    """Store a visitor's (no operator) or staff member's message with the next seq, or find the
    one already stored for its client_id. AppError (ended, not_active, forbidden) stores nothing."""
    sender, operator_name, existing = _checked(cur, message, cur.one(_STATE, _state_params(message)))
    if existing is not None:
        return existing
    return _insert(cur, message, sender, operator_name)


def store_messages(*, cur: SqlCursor, messages: list[NewMessage]) -> list[MessageWrite]:
    """`store_message` for each message, in order, with the same reads, rules and writes, in two
    round trips on PostgreSQL however many there are: every state read pipelined, the rules, then
    every seq allocation + insert pipelined (one statement each). Raises the first refusal; the
    caller (a group commit's straight pass) then rolls back and runs each unit alone. For units
    that only store messages: the conversation rows they read are not changed between the reads
    and the writes except by these same statements (seq), which the writes allocate in order. A
    client_id sent twice in the run is stored once (the second gets the first's write back)."""
    states = cur.many(_STATE, [_state_params(m) for m in messages])
    checked = [_checked(cur, m, state) for m, state in zip(messages, states, strict=True)]
    now = utcnow()
    first: dict[tuple[str, str], int] = {}  # (conversation, client_id) -> the run's first write
    again: dict[int, int] = {}
    todo: list[tuple[int, NewMessage, str]] = []
    for i, (m, (sender, _, existing)) in enumerate(zip(messages, checked, strict=True)):
        if existing is not None:
            continue
        key = (m.conversation_id, m.client_id)
        if key in first:
            again[i] = first[key]
        else:
            first[key] = i
            todo.append((i, m, sender))
    rows = cur.many(_STORE_ONE_TRIP, [_insert_values(cur, m, sender, now, seq=None) for _, m, sender in todo])
    out: dict[int, MessageWrite] = {i: existing for i, (_, _, existing) in enumerate(checked) if existing}
    for (i, m, sender), row in zip(todo, rows, strict=True):
        name = checked[i][1]
        if row is None:  # this client_id was stored meanwhile by another worker
            out[i] = _original(cur, m, name)
        else:
            out[i] = _written(m, sender, name, int(row[0]), now)
    for i, j in again.items():
        out[i] = MessageWrite(_with_name(out[j].stored, checked[i][1]), created=False)
    return [out[i] for i in range(len(messages))]


def _state_params(message: NewMessage) -> dict[str, Any]:
    return {
        "cid": message.conversation_id,
        "client_id": message.client_id,
        "operator_id": message.operator_id,
    }


def _checked(
    cur: SqlCursor, message: NewMessage, state: tuple[Any, ...] | None
) -> tuple[str, str | None, MessageWrite | None]:
    """The rules on the state row: the sender kind, the staff member's name, and the original
    message when this client_id is already stored. AppError when the message is refused."""
    if state is None:
        raise NotFound("No such chat")
    status, assignee_id, offered_to_id, role, operator_name = state[:5]
    existing = _message_from(cur, state[5:]) if state[5] is not None else None
    if message.operator_id is None:
        sender = SenderKind.VISITOR
    else:
        sender = SenderKind.OPERATOR
        if role is None:
            raise NotFound("No such operator")
        holders = {"assignee_id": assignee_id, "offered_to_id": offered_to_id}
        if not holds_chat(role=role, staff_id=message.operator_id, holders=holders):
            raise Forbidden("This chat is not yours")
    if existing is not None:
        return sender, operator_name, MessageWrite(_with_name(existing, operator_name), created=False)
    if message.operator_id is None and status in _ENDED:
        raise AppError("This chat has ended", code="ended", status_code=409)
    if message.operator_id is not None and status != ConversationStatus.ACTIVE and not message.internal:
        raise AppError("This chat is not active", code="not_active", status_code=409)
    return sender, operator_name, None


def store_message_in_session(*, session: Any, message: NewMessage) -> MessageWrite:
    """`store_message` inside an ORM unit of work (its events published after that commit): for
    the rarer messages that need more in the same transaction (a visitor's message that mentions
    danger flags and requeues the chat). Same statements, same rules: there is one write path."""
    from contact_store.events import emit

    conn = session.connection()
    write = store_message(cur=SqlCursor(conn.connection.cursor(), conn.dialect), message=message)
    for channel, event in write.events:
        emit(session, channel, event)
    return write


def _stamps_first_response(message: NewMessage, sender: str) -> bool:
    return sender == SenderKind.OPERATOR and not message.internal


def _insert_values(
    cur: SqlCursor, message: NewMessage, sender: str, now: datetime, *, seq: int | None
) -> dict[str, Any]:
    values = {
        "conversation_id": message.conversation_id,
        "client_id": message.client_id,
        "sender": sender,
        "operator_id": message.operator_id,
        "body": message.body,
        "internal": message.internal,
        "created_at": cur.time_in(now),
    }
    if seq is None:  # _STORE_ONE_TRIP allocates it
        values["stamp"] = _stamps_first_response(message, sender)
    else:
        values["seq"] = seq
    return values


def _original(cur: SqlCursor, message: NewMessage, operator_name: str | None) -> MessageWrite:
    """The message another writer stored with this client_id since our read (PostgreSQL only):
    it is the original."""
    found = cur.one(_FIND, {"cid": message.conversation_id, "client_id": message.client_id})
    if found is None:
        raise NotFound("No such chat")
    return MessageWrite(_with_name(_message_from(cur, found), operator_name), created=False)


def _insert(cur: SqlCursor, message: NewMessage, sender: str, operator_name: str | None) -> MessageWrite:
    now = utcnow()
    cid = message.conversation_id
    if _stamps_first_response(message, sender):
        row = cur.one(_ALLOCATE_SEQ_FIRST_RESPONSE, {"id": cid, "now": cur.time_in(now)})
    else:
        row = cur.one(ALLOCATE_SEQ_SQL, {"id": cid})
    if row is None:
        raise NotFound("No such chat")
    seq = int(row[0])
    if cur.one(INSERT_MESSAGE_SQL, _insert_values(cur, message, sender, now, seq=seq)) is None:
        cur.one(RELEASE_SEQ_SQL, {"id": cid, "seq": seq})  # no gap: see RELEASE_SEQ_SQL
        return _original(cur, message, operator_name)
    return _written(message, sender, operator_name, seq, now)


def _written(
    message: NewMessage, sender: str, operator_name: str | None, seq: int, now: datetime
) -> MessageWrite:
    """The write of a message newly stored with `seq`, and its events."""
    cid = message.conversation_id
    stored = StoredMessage(
        seq,
        message.client_id,
        sender,
        message.body,
        message.internal,
        now,
        message.operator_id,
        operator_name,
    )
    if message.internal:
        events = [
            (staff_channel(cid), stored.frame(cid)),
            (channels.conversation(cid), {"type": "seq", "seq": seq}),
        ]
    else:
        events = [(channels.conversation(cid), stored.frame(cid))]
    return MessageWrite(stored, created=True, events=events)


def _message_from(cur: SqlCursor, row: tuple[Any, ...]) -> StoredMessage:
    seq, client_id, sender, body, internal, created_at = row
    return StoredMessage(int(seq), client_id, sender, body, bool(internal), cur.time_out(created_at))


def _with_name(stored: StoredMessage, operator_name: str | None) -> StoredMessage:
    return replace(stored, operator_name=operator_name)
