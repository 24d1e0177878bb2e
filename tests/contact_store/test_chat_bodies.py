"""Chat bodies lose what neither backend can store (`strip_unstorable`) and are then stored."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from sqlmodel import Session

from contact_store.conversations import append_message, clean_body
from contact_store.errors import ValidationFailed
from tests.builders import make_conversation


@given(st.text(max_size=200))
def test_a_cleaned_body_is_always_utf8(value: str) -> None:
    try:
        body = clean_body(value, max_length=2000)
    except ValidationFailed:
        return  # empty after cleaning: refused, nothing stored
    body.encode("utf-8")
    assert "\x00" not in body


def test_a_body_with_nul_and_lone_surrogates_is_stored_without_them(session: Session) -> None:
    conv = make_conversation(session)
    stored, _ = append_message(
        session=session,
        conversation_id=conv.id,
        client_id="c",
        sender="visitor",
        body=clean_body("one\x00two\ud800three 😀", max_length=2000),
    )
    session.flush()
    assert stored.body == "onetwothree 😀"
