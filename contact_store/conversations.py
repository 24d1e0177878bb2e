"""Conversation services shared by the chat server and the console: messages, replay, access.

Guarantees (the basis of the chat protocol in `chat_server/chat/protocol.py`)
----------------------------------------------------------------------------
- `append_message` gives every message the next per-conversation `seq`, allocated by one atomic
  `UPDATE conversation SET last_seq = last_seq + 1 ... RETURNING last_seq` in the caller's
  transaction: safe on SQLite (one writer) and PostgreSQL (the row lock serialises writers), on any
  number of workers. The message is stored in the same transaction, so a seq is never handed out
  without its message, and the event is published only after commit.
- A repeated `client_id` for the same conversation returns the original message and stores nothing
  (checked first, and enforced by the unique constraint for two writers racing).
- `messages_after` replays what is stored after a seq; internal notes only when asked (staff).
- Public events go to `channels.conversation(id)`; internal notes go to `staff_channel(id)` with
  only a bodiless `{"type": "seq"}` marker on the public channel, so visitor sockets can tell a gap
  (missed event: re-read the store) from a note they must not see.
"""

from __future__ import annotations

import hmac
import re
import secrets
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Boolean, Integer, String, bindparam, column, text
from sqlmodel import Session, col, select

from contact_store.access import can_access_conversation
from contact_store.clock import utcnow
from contact_store.errors import Forbidden, Gone, NotFound, ValidationFailed
from contact_store.events import channels, emit
from contact_store.i18n import N_, normalise, translator
from contact_store.models import Conversation, ConversationEvent, Message, Operator, SenderKind
from contact_store.staff import token_hash
from contact_store.text import strip_unstorable, unstorable_reason
from contact_store.types import UTCDateTime

# Control characters other than tab and newline are dropped: they can hide text or break terminals.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
CLIENT_ID_MAX = 64


def staff_channel(conversation_id: str) -> str:
    """Channel for staff-only events of a conversation (internal notes)."""
    return f"conversation:{conversation_id}:staff"


def new_token() -> tuple[str, str]:
    """A fresh visitor token and its sha256 hash (only the hash is stored)."""
    token = secrets.token_urlsafe(32)
    return token, token_hash(token)


def short_reference(conversation_id: str) -> str:
    """A reference a person can read out: the first 8 characters of the id, upper case."""
    return conversation_id.replace("-", "")[:8].upper()


def clean_body(raw: Any, *, max_length: int) -> str:
    """Plain text, trimmed, without control characters (NUL and lone surrogates included: see
    `contact_store.text.strip_unstorable`: a chat must not refuse a message for them), at most
    `max_length` characters."""
    if not isinstance(raw, str):
        raise ValidationFailed("The message must be text", code="bad_body")
    body = _CONTROL.sub("", strip_unstorable(raw).replace("\r\n", "\n")).strip()
    if not body:
        raise ValidationFailed("The message is empty", code="empty")
    if len(body) > max_length:
        raise ValidationFailed(f"Messages can be at most {max_length} characters", code="too_long")
    return body


def clean_client_id(raw: Any) -> str:
    """The client's id for a message, unchanged (it is echoed and stored): 1-64 characters with
    no control characters, NUL or lone surrogates; anything else is refused, never altered."""
    if (
        not isinstance(raw, str)
        or not raw
        or len(raw) > CLIENT_ID_MAX
        or unstorable_reason(raw) is not None
        or _CONTROL.search(raw)
    ):
        raise ValidationFailed("client_id must be a string of 1-64 characters", code="bad_client_id")
    return raw


def token_expires_at(*, conversation: Conversation, ttl_minutes: int) -> datetime | None:
    """When the visitor's token stops working: `ttl_minutes` after the chat ended or was
    abandoned; None while the chat is open."""
    closed_at = conversation.ended_at or conversation.abandoned_at
    return None if closed_at is None else closed_at + timedelta(minutes=ttl_minutes)


def authorise_visitor(
    *, session: Session, conversation_id: str, token: str, ttl_minutes: int
) -> Conversation:
    """The conversation this visitor token opens: Forbidden for any other token (a token opens
    only its own chat), Gone once `ttl_minutes` have passed since the chat ended.

    The one check of a visitor token, for the socket, the transcript and the in-chat survey
    (`check_visitor_token` is its rule, for callers that loaded many conversations at once).
    """
    conv = session.get(Conversation, conversation_id) if may_look_up(conversation_id, token) else None
    return check_visitor_token(conversation=conv, token=token, ttl_minutes=ttl_minutes)


def may_look_up(conversation_id: str, token: str) -> bool:
    """Whether a (conversation id, token) pair is worth a database read at all."""
    return bool(
        conversation_id
        and token
        and len(conversation_id) <= 36
        and not unstorable_reason(conversation_id + token)
    )


def check_visitor_token(*, conversation: Conversation | None, token: str, ttl_minutes: int) -> Conversation:
    """`authorise_visitor`'s rule on a conversation already read (None: no such chat)."""
    if conversation is None or not hmac.compare_digest(conversation.token_hash, token_hash(token)):
        raise Forbidden("This chat link is not valid", code="forbidden")
    expires_at = token_expires_at(conversation=conversation, ttl_minutes=ttl_minutes)
    if expires_at is not None and utcnow() >= expires_at:
        raise Gone("This chat has ended and is no longer available", code="chat_expired")
    return conversation


def can_operator_access(*, operator: Operator, conversation: Conversation) -> bool:
    """Operators see chats they hold or are offered; supervisors and above see every chat (the
    rule lives in `contact_store.access`, shared with the list clause)."""
    return can_access_conversation(staff=operator, conversation=conversation)


def get_for_operator(*, session: Session, operator: Operator, conversation_id: str) -> Conversation:
    conv = session.get(Conversation, conversation_id)
    if conv is None:
        raise NotFound("No such chat")
    if not can_operator_access(operator=operator, conversation=conv):
        raise Forbidden("This chat is not yours")
    return conv


@dataclass(frozen=True)
class StoredMessage:
    seq: int
    client_id: str
    sender: str
    body: str
    internal: bool
    sent_at: datetime
    operator_id: int | None = None
    operator_name: str | None = None

    def frame(self, conversation_id: str | None = None) -> dict[str, Any]:
        """The wire form (`message` frame); staff frames carry the conversation id and `internal`."""
        out: dict[str, Any] = {
            "type": "message",
            "seq": self.seq,
            "client_id": self.client_id,
            "sender": self.sender,
            "body": self.body,
            "sent_at": self.sent_at.isoformat(),
        }
        if self.sender == SenderKind.OPERATOR and self.operator_name:
            out["operator"] = {"display_name": self.operator_name}
        if conversation_id is not None:
            out["conversation_id"] = conversation_id
            out["internal"] = self.internal
        return out


def _stored(msg: Message, operator_name: str | None = None) -> StoredMessage:
    return StoredMessage(
        seq=msg.seq,
        client_id=msg.client_id,
        sender=msg.sender,
        body=msg.body,
        internal=msg.internal,
        sent_at=msg.created_at,
        operator_id=msg.operator_id,
        operator_name=operator_name,
    )


# The hot path is plain SQL built once (constructing SQLAlchemy statements per message cost more
# than running them); the same text runs on SQLite (3.35+) and PostgreSQL.
_FIND_BY_CLIENT_ID = text(
    "SELECT seq, client_id, sender, body, internal, created_at FROM message "
    "WHERE conversation_id = :cid AND client_id = :client_id"
).columns(
    column("seq", Integer),
    column("client_id", String),
    column("sender", String),
    column("body", String),
    column("internal", Boolean),
    column("created_at", UTCDateTime),
)
# Shared with the DBAPI hot path in `message_sql.py`: one allocator, one insert, whichever path.
ALLOCATE_SEQ_SQL = "UPDATE conversation SET last_seq = last_seq + 1 WHERE id = :id RETURNING last_seq"
INSERT_MESSAGE_SQL = (
    "INSERT INTO message (conversation_id, seq, client_id, sender, operator_id, body, internal, created_at) "
    "VALUES (:conversation_id, :seq, :client_id, :sender, :operator_id, :body, :internal, :created_at) "
    "ON CONFLICT (conversation_id, client_id) DO NOTHING RETURNING id"
)
# A seq allocated for an insert that found the client_id already stored (another worker's resend
# won the race) is given back at once: this transaction has held the conversation's row lock since
# it allocated, so nobody has taken a later seq, and messages stay numbered 1..n with no gap.
RELEASE_SEQ_SQL = (
    "UPDATE conversation SET last_seq = last_seq - 1 WHERE id = :id AND last_seq = :seq RETURNING last_seq"
)
_ALLOCATE_SEQ = text(ALLOCATE_SEQ_SQL)
_RELEASE_SEQ = text(RELEASE_SEQ_SQL)
_INSERT_MESSAGE = text(INSERT_MESSAGE_SQL).bindparams(
    bindparam("created_at", type_=UTCDateTime), bindparam("internal", type_=Boolean)
)
_FIRST_RESPONSE = text(
    "UPDATE conversation SET first_response_at = :now WHERE id = :id AND first_response_at IS NULL"
).bindparams(bindparam("now", type_=UTCDateTime))


def _find_by_client_id(session: Session, conversation_id: str, client_id: str) -> StoredMessage | None:
    row = session.execute(_FIND_BY_CLIENT_ID, {"cid": conversation_id, "client_id": client_id}).first()
    if row is None:
        return None
    return StoredMessage(row[0], row[1], row[2], row[3], bool(row[4]), row[5])


def allocate_seq(*, session: Session, conversation_id: str) -> int:
    """The next seq of a conversation, atomically in the database (row lock until commit)."""
    row = session.execute(_ALLOCATE_SEQ, {"id": conversation_id}).first()
    if row is None:
        raise NotFound("No such chat")
    return int(row[0])


def _insert_ignoring_duplicate(session: Session, values: dict[str, Any]) -> bool:
    """INSERT ... ON CONFLICT (conversation_id, client_id) DO NOTHING; True if the row went in."""
    return session.execute(_INSERT_MESSAGE, values).first() is not None


def append_message(
    *,
    session: Session,
    conversation_id: str,
    client_id: str,
    sender: str,
    body: str,
    operator: Operator | None = None,
    internal: bool = False,
) -> tuple[StoredMessage, bool]:
    """Store a message with the next seq (or find the one already stored for `client_id`).

    Returns (message, created). Events are emitted for publication after commit.
    """
    operator_name = operator.display_name if operator is not None else None
    existing = _find_by_client_id(session, conversation_id, client_id)
    if existing is not None:
        return replace(existing, operator_name=operator_name), False
    seq = allocate_seq(session=session, conversation_id=conversation_id)
    now = utcnow()
    operator_id = operator.id if operator is not None else None
    values: dict[str, Any] = {
        "conversation_id": conversation_id,
        "seq": seq,
        "client_id": client_id,
        "sender": sender,
        "operator_id": operator_id,
        "body": body,
        "internal": internal,
        "created_at": now,
    }
    if not _insert_ignoring_duplicate(session, values):
        # Another worker stored this client_id between our check and insert (PostgreSQL only:
        # SQLite's BEGIN IMMEDIATE serialises). Its row is the original; ours never existed, and
        # its seq is given back (RELEASE_SEQ_SQL); nothing is duplicated.
        session.execute(_RELEASE_SEQ, {"id": conversation_id, "seq": seq})
        existing = _find_by_client_id(session, conversation_id, client_id)
        if existing is None:
            raise NotFound("No such chat")
        return replace(existing, operator_name=operator_name), False
    stored = StoredMessage(seq, client_id, sender, body, internal, now, operator_id, operator_name)
    if sender == SenderKind.OPERATOR and not internal:
        session.execute(_FIRST_RESPONSE, {"now": now, "id": conversation_id})
    if internal:
        emit(session, staff_channel(conversation_id), stored.frame(conversation_id))
        emit(session, channels.conversation(conversation_id), {"type": "seq", "seq": seq})
    else:
        event = stored.frame(conversation_id)
        emit(session, channels.conversation(conversation_id), event)
    return stored, True


# What the service itself says in a chat, in the visitor's language (the widget offers English and
# Welsh). Operators see the same text.
# Messages from the service itself, in the chat's language (English message ids of the catalogue).
SYSTEM_TEXTS: dict[str, str] = {
    "joined": N_("{name} has joined the chat."),
    "ended_by_visitor": N_("The chat was ended by the visitor."),
    "ended_by_operator": N_("The chat was ended by the operator."),
    "ended_visitor_left": N_("The chat closed because the visitor left."),
    "danger": N_(
        "If you are in danger now, or someone is hurt, call 999 now. "
        "If you cannot speak, call 999 and press 55 when asked. "
        "We have moved your chat to the front of the queue."
    ),
    "transferring": N_("You are being transferred to a colleague. Please stay in the chat."),
}


def system_text(key: str, language: str, **params: str) -> str:
    """A system message in `language` (English when there is no translation)."""
    return translator(normalise(language))(SYSTEM_TEXTS[key]).format(**params)


def system_message(*, session: Session, conversation_id: str, key: str, **params: str) -> StoredMessage:
    """Append a message from the service itself (joins, endings, the 999 advice), in the chat's language."""
    language = session.execute(
        select(Conversation.language).where(col(Conversation.id) == conversation_id)
    ).scalar_one_or_none()
    stored, _ = append_message(
        session=session,
        conversation_id=conversation_id,
        client_id=f"system-{uuid.uuid4()}",
        sender=SenderKind.SYSTEM,
        body=system_text(key, language or "en", **params),
    )
    return stored


def messages_after(
    *,
    session: Session,
    conversation_id: str,
    after_seq: int,
    include_internal: bool = False,
    limit: int = 5000,
) -> list[StoredMessage]:
    """Stored messages with seq > after_seq, in seq order (internal notes only for staff)."""
    query = (
        select(Message, Operator.display_name)
        .join(Operator, col(Message.operator_id) == col(Operator.id), isouter=True)
        .where(Message.conversation_id == conversation_id, Message.seq > after_seq)
        .order_by(col(Message.seq))
        .limit(limit)
    )
    if not include_internal:
        query = query.where(col(Message.internal).is_(False))
    return [_stored(m, name) for m, name in session.exec(query).all()]


def record_event(
    *, session: Session, conversation_id: str, kind: str, operator_id: int | None = None, **data: Any
) -> None:
    """A routing-history row (queued, offered, assigned, ended, abandoned...) for dashboards."""
    session.add(
        ConversationEvent(conversation_id=conversation_id, kind=kind, operator_id=operator_id, data=data)
    )


# The transcript's labels (the widget's own words), in the chat's language.
_TRANSCRIPT_WORDS = {
    "title": N_("{force} live chat"),
    "reference": N_("Reference"),
    "started": N_("Started"),
    "you": N_("You"),
    "operator": N_("Operator"),
}


def transcript_text(*, session: Session, conversation: Conversation, force_name: str, timezone: str) -> str:
    """The visitor's transcript as plain text in the chat's language and the force's local time
    (no internal notes). The report raised from a chat has its own, for staff (`wrapup`)."""
    _ = translator(normalise(conversation.language))
    words = {key: _(text) for key, text in _TRANSCRIPT_WORDS.items()}
    tz = ZoneInfo(timezone)
    lines = [
        words["title"].format(force=force_name),
        f"{words['reference']}: {short_reference(conversation.id)}",
        f"{words['started']}: {conversation.queued_at.astimezone(tz):%Y-%m-%d %H:%M %Z}",
        "",
    ]
    for m in messages_after(session=session, conversation_id=conversation.id, after_seq=0):
        who = {"visitor": words["you"], "system": force_name}.get(
            m.sender, m.operator_name or words["operator"]
        )
        lines.append(f"[{m.sent_at.astimezone(tz):%H:%M}] {who}: {m.body}")
    return "\n".join(lines) + "\n"
