"""`authorise_visitor`: the one check of a chat visitor's token (socket, transcript, survey)."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
from sqlmodel import Session

from contact_store.clock import travel, utcnow
from contact_store.conversations import authorise_visitor, token_expires_at
from contact_store.errors import Forbidden, Gone
from tests.builders import make_conversation

TTL = 60


def open_with(session: Session, conversation_id: str, token: str) -> str:
    return authorise_visitor(
        session=session, conversation_id=conversation_id, token=token, ttl_minutes=TTL
    ).id


@pytest.fixture
def token() -> str:
    return secrets.token_urlsafe(32)


def test_an_open_chat_opens_with_its_token_only(session: Session, token: str) -> None:
    chat = make_conversation(session, token=token)
    other = make_conversation(session)
    assert open_with(session, chat.id, token) == chat.id
    for cid, tok in [(other.id, token), (chat.id, ""), (chat.id, token + "x"), ("", token), ("nope", token)]:
        with pytest.raises(Forbidden):
            open_with(session, cid, tok)


@pytest.mark.parametrize("cid", ["\x00", "\ud800", "x" * 37])
def test_ids_that_cannot_be_looked_up_are_refused_before_the_database(
    session: Session, token: str, cid: str
) -> None:
    with pytest.raises(Forbidden):
        open_with(session, cid, token)
    with pytest.raises(Forbidden):
        open_with(session, make_conversation(session).id, "\ud800")


def test_an_open_chat_never_expires(session: Session, token: str) -> None:
    chat = make_conversation(session, token=token, status="active")
    assert token_expires_at(conversation=chat, ttl_minutes=TTL) is None
    with travel(timedelta(days=365)):
        assert open_with(session, chat.id, token) == chat.id


@pytest.mark.parametrize("field", ["ended_at", "abandoned_at"])
def test_the_token_works_until_ttl_after_the_end_then_is_gone(
    session: Session, token: str, field: str
) -> None:
    closed = utcnow()
    chat = make_conversation(session, token=token, status="ended", **{field: closed})
    assert token_expires_at(conversation=chat, ttl_minutes=TTL) == closed + timedelta(minutes=TTL)
    with travel(timedelta(minutes=TTL) - timedelta(seconds=1)):
        assert open_with(session, chat.id, token) == chat.id
    with travel(timedelta(minutes=TTL)), pytest.raises(Gone) as exc:
        open_with(session, chat.id, token)
    assert exc.value.status_code == 410 and exc.value.code == "chat_expired"
    with travel(timedelta(minutes=TTL)), pytest.raises(Forbidden):  # a wrong token is still just wrong
        open_with(session, chat.id, "not-the-token")


def test_a_zero_ttl_closes_the_token_with_the_chat(session: Session, token: str) -> None:
    chat = make_conversation(session, token=token, status="ended", ended_at=utcnow() - timedelta(seconds=1))
    with pytest.raises(Gone):
        authorise_visitor(session=session, conversation_id=chat.id, token=token, ttl_minutes=0)
