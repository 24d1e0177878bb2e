from datetime import timedelta

import pytest
from sqlmodel import Session

from contact_store import staff
from contact_store.errors import AppError, NotAuthenticated
from contact_store.settings import Settings
from tests.builders import DEFAULT_PASSWORD, make_operator


def test_passwords_are_argon2_hashed(session: Session) -> None:
    op = make_operator(session)
    assert op.password_hash.startswith("$argon2id$")
    assert staff.verify_password(op.password_hash, DEFAULT_PASSWORD)
    assert not staff.verify_password(op.password_hash, "wrong")


def test_short_password_and_duplicate_username_refused(session: Session) -> None:
    make_operator(session, username="dup")
    with pytest.raises(AppError):
        make_operator(session, username="dup")
    with pytest.raises(AppError, match="at least"):
        staff.create_operator(session=session, username="x", password="short")


def test_lockout_after_repeated_failures(session: Session, settings: Settings) -> None:
    op = make_operator(session)
    for _ in range(settings.sign_in_max_failures):
        out = staff.authenticate(session=session, settings=settings, username=op.username, password="nope")
        assert out.operator is None
    out = staff.authenticate(
        session=session, settings=settings, username=op.username, password=DEFAULT_PASSWORD
    )
    assert out.operator is None  # locked: even the right password is refused
    assert out == staff.wrong_credentials(settings)  # ...exactly as a wrong password is


def test_unknown_user_gets_the_same_message(session: Session, settings: Settings) -> None:
    out = staff.authenticate(session=session, settings=settings, username="ghost", password="x")
    assert out.operator is None and out.code == "bad_credentials"
    assert out == staff.wrong_credentials(settings)


def test_session_lifecycle(session: Session, settings: Settings) -> None:
    op = make_operator(session)
    issued = staff.start_session(session=session, settings=settings, operator=op)
    row, who = staff.resolve_session(session=session, settings=settings, token=issued.token)
    assert who.id == op.id and row.token_hash != issued.token
    # Idle too long: refused.
    row.last_seen_at = row.last_seen_at - timedelta(minutes=settings.session_idle_minutes + 1)
    session.add(row)
    with pytest.raises(NotAuthenticated):
        staff.resolve_session(session=session, settings=settings, token=issued.token)
    # Absolute timeout and sign-out.
    second = staff.start_session(session=session, settings=settings, operator=op)
    second.staff_session.expires_at = second.staff_session.created_at
    with pytest.raises(NotAuthenticated):
        staff.resolve_session(session=session, settings=settings, token=second.token)
    third = staff.start_session(session=session, settings=settings, operator=op)
    staff.end_session(session=session, token=third.token)
    with pytest.raises(NotAuthenticated):
        staff.resolve_session(session=session, settings=settings, token=third.token)
