"""`clean_text`: what neither backend can store never reaches the store."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from sqlmodel import Session

from contact_store.conversations import append_message
from contact_store.text import clean_text, is_clean_text
from tests.builders import make_conversation


def test_nul_and_lone_surrogates_go_everything_else_stays() -> None:
    assert clean_text("a\x00b\ud800c\udfffd") == "abcd"
    assert clean_text("Café 😀 \t\n ✓") == "Café 😀 \t\n ✓"
    assert is_clean_text("Café 😀") and not is_clean_text("\ud83d") and not is_clean_text("\x00")


@given(st.text())
def test_clean_text_is_always_utf8_and_idempotent(value: str) -> None:
    cleaned = clean_text(value)
    cleaned.encode("utf-8")
    assert is_clean_text(cleaned) and clean_text(cleaned) == cleaned


def test_a_cleaned_body_is_stored_on_this_backend(session: Session) -> None:
    conv = make_conversation(session)
    stored, _ = append_message(
        session=session,
        conversation_id=conv.id,
        client_id="c",
        sender="visitor",
        body=clean_text("one\x00two\ud800three"),
    )
    session.flush()
    assert stored.body == "onetwothree"
