"""Staff accounts and sign-in sessions: argon2 passwords, server-side sessions, lock-out.

A session token is a random 256-bit string given to the browser (cookie) or API client (bearer);
the store keeps only its sha256, so a database leak does not leak live sessions. Sessions end on
sign-out, after `session_idle_minutes` without use, or `session_absolute_hours` after sign-in.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session, select

from contact_store.clock import utcnow
from contact_store.db import Store
from contact_store.errors import AppError, NotAuthenticated
from contact_store.models import ROLE_RANK, Operator, Role, StaffSession, Team
from contact_store.settings import Settings
from contact_store.throttle import ConcurrencyGate

_hasher = PasswordHasher()
# Verified against when the username is unknown, so timing does not reveal which usernames exist.
_DUMMY_HASH = _hasher.hash("not-a-real-password")
MIN_PASSWORD_LENGTH = 10
# Sign-ins waiting for a password-check slot, per slot: beyond this a sign-in is answered "busy" at
# once, so a flood holds a few threads for at most `sign_in_hash_wait_seconds`, never the pool.
HASH_WAITING_PER_SLOT = 4
# Retry-After for a "busy" answer: a password check takes well under a second.
BUSY_RETRY_AFTER_S = 2.0


def hash_password(password: str) -> str:
    """An argon2id hash of the password."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when the password matches the hash."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@lru_cache
def _hash_gate(slots: int, wait_s: float) -> ConcurrencyGate:
    return ConcurrencyGate(slots, max_waiting=slots * HASH_WAITING_PER_SLOT, wait_s=wait_s)


def hash_gate(settings: Settings) -> ConcurrencyGate:
    """This process's bound on password checks running at once (each argon2 check takes 64 MiB)."""
    return _hash_gate(max(1, settings.sign_in_hash_concurrency), settings.sign_in_hash_wait_seconds)


def normalise_username(username: str) -> str:
    """The form usernames are stored, looked up and throttled in."""
    return username.strip().lower()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_operator(
    *,
    session: Session,
    username: str,
    password: str,
    role: str = Role.OPERATOR,
    display_name: str | None = None,
    team_name: str | None = None,
    max_concurrent_chats: int | None = None,
) -> Operator:
    """Add a member of staff."""
    username = normalise_username(username)
    if not username or len(username) > 64:
        raise AppError("Username must be 1 to 64 characters", fields={"username": "Enter a username"})
    if role not in ROLE_RANK:
        raise AppError(f"Role must be one of {', '.join(ROLE_RANK)}", fields={"role": "Unknown role"})
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AppError(
            f"Password must be at least {MIN_PASSWORD_LENGTH} characters",
            fields={"password": "Password too short"},
        )
    if session.exec(select(Operator).where(Operator.username == username)).first():
        raise AppError(f"Username {username} is taken", status_code=409, fields={"username": "Taken"})
    team_id = None
    if team_name:
        team = session.exec(select(Team).where(Team.name == team_name)).first()
        if team is None:
            raise AppError(f"No team called {team_name}", fields={"team": "Unknown team"})
        if team.retired_at is not None:
            raise AppError(f"The team {team_name} is retired", fields={"team": "Retired team"})
        team_id = team.id
    operator = Operator(
        username=username,
        display_name=display_name or username,
        password_hash=hash_password(password),
        role=role,
        team_id=team_id,
        max_concurrent_chats=max_concurrent_chats,
    )
    session.add(operator)
    session.flush()
    return operator


@dataclass(frozen=True)
class IssuedSession:
    token: str
    csrf_token: str
    staff_session: StaffSession
    operator: Operator


@dataclass(frozen=True)
class SignInOutcome:
    """The result of checking credentials. Failures are returned, not raised, so the caller's
    unit of work still commits the failure count (raising would roll it back).

    `code` is "bad_credentials" for an unknown username, a wrong password, a disabled or a locked
    account alike (same message, and a password check each: nothing tells them apart), or "busy"
    when no password-check slot came free (answer 429 with `Retry-After: retry_after`)."""

    operator: Operator | None
    error: str = ""
    code: str = ""
    retry_after: float = 0.0


def wrong_credentials(settings: Settings) -> SignInOutcome:
    """The one answer to every failed sign-in (unknown user, wrong password, disabled, locked)."""
    return SignInOutcome(
        None,
        "The username or password is not right. After "
        f"{settings.sign_in_max_failures} wrong attempts an account cannot sign in for "
        f"{settings.sign_in_lockout_minutes} minutes.",
        "bad_credentials",
    )


@dataclass(frozen=True)
class _Account:
    """What a password check needs of an account, read before the check."""

    operator_id: int
    password_hash: str


def _account(*, session: Session, username: str) -> _Account | None:
    operator = session.exec(select(Operator).where(Operator.username == normalise_username(username))).first()
    return _Account(operator.id or 0, operator.password_hash) if operator is not None else None


def authenticate(
    *,
    session: Session,
    settings: Settings,
    username: str,
    password: str,
    store: Store | None = None,
) -> SignInOutcome:
    """Check credentials; counts failures and locks the account for a while after too many.

    At most `sign_in_hash_concurrency` password checks run at once in this process; a locked or
    unknown account is checked too (against the dummy hash), so the answer and its time are the
    same as for a wrong password. With `store` (the web handlers), the account is read in its own
    short unit of work and the password checked outside any transaction (on SQLite a transaction
    holds the one write lock: a slow check inside it would stall every writer); the outcome is
    recorded in `session`."""
    if store is not None:
        account = store.run_in_session(_account, username=username)
    else:
        account = _account(session=session, username=username)
    with hash_gate(settings).slot() as admitted:
        if not admitted:
            return SignInOutcome(
                None, "Sign-in is busy. Wait a moment and try again.", "busy", retry_after=BUSY_RETRY_AFTER_S
            )
        matches = verify_password(account.password_hash if account else _DUMMY_HASH, password)
    wrong = wrong_credentials(settings)
    now = utcnow()
    operator = session.get(Operator, account.operator_id) if account else None
    if operator is None or (operator.locked_until and operator.locked_until > now):
        return wrong
    if not matches or not operator.is_active:
        operator.failed_sign_ins += 1
        if operator.failed_sign_ins >= settings.sign_in_max_failures:
            operator.locked_until = now + timedelta(minutes=settings.sign_in_lockout_minutes)
            operator.failed_sign_ins = 0
        session.add(operator)
        session.flush()
        return wrong
    operator.failed_sign_ins = 0
    operator.locked_until = None
    session.add(operator)
    return SignInOutcome(operator)


def start_session(
    *,
    session: Session,
    settings: Settings,
    operator: Operator,
    kind: str = "cookie",
    ip_address: str | None = None,
    user_agent: str | None = None,
) -> IssuedSession:
    """A new session with a fresh token (never reuse one from before sign-in)."""
    now = utcnow()
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    staff_session = StaffSession(
        token_hash=token_hash(token),
        operator_id=operator.id or 0,
        kind=kind,
        csrf_token=csrf,
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(hours=settings.session_absolute_hours),
        ip_address=ip_address,
        user_agent=(user_agent or "")[:255] or None,
    )
    session.add(staff_session)
    operator.last_seen_at = now
    session.add(operator)
    session.flush()
    return IssuedSession(token=token, csrf_token=csrf, staff_session=staff_session, operator=operator)


# Touching last_seen_at on every request would make every read a write; a minute is precise enough.
LAST_SEEN_RESOLUTION = timedelta(seconds=60)


def resolve_session(*, session: Session, settings: Settings, token: str) -> tuple[StaffSession, Operator]:
    """The live session and operator for a token, or NotAuthenticated."""
    if not token:
        raise NotAuthenticated("Sign in to continue")
    now = utcnow()
    row = session.exec(select(StaffSession).where(StaffSession.token_hash == token_hash(token))).first()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        raise NotAuthenticated("Your session has ended. Sign in again.")
    if now - row.last_seen_at > timedelta(minutes=settings.session_idle_minutes):
        row.revoked_at = now
        session.add(row)
        raise NotAuthenticated("You were signed out after a period of inactivity.", code="session_idle")
    operator = session.get(Operator, row.operator_id)
    if operator is None or not operator.is_active:
        raise NotAuthenticated("This account is disabled.")
    if now - row.last_seen_at > LAST_SEEN_RESOLUTION:
        row.last_seen_at = now
        session.add(row)
    return row, operator


def end_session(*, session: Session, token: str) -> None:
    """Sign out: the token stops working at once."""
    row = session.exec(select(StaffSession).where(StaffSession.token_hash == token_hash(token))).first()
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()
        session.add(row)


def has_role(operator: Operator, minimum: str) -> bool:
    """True when the operator's role is at least `minimum` (operator < supervisor < manager < admin)."""
    return ROLE_RANK.get(Role(operator.role), 0) >= ROLE_RANK[Role(minimum)]
