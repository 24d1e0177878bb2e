"""The boundary rules for public text and integers (contact_store.text)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from contact_store.text import (
    MAX_DB_INT,
    MAX_JSON_DEPTH,
    DbId,
    Page,
    PublicJson,
    PublicText,
    UnstorableText,
    check_json,
    clean_text,
    parse_decimal,
    parse_int,
    strip_unstorable,
    unstorable_reason,
)


class Model(BaseModel):
    text: PublicText = ""
    data: PublicJson = None
    id: DbId = 1
    page: Page = 1


@pytest.mark.parametrize("bad", ["\ud800", "a\udfffb", "nul\x00", "\x00"])
def test_unstorable_text_is_refused_everywhere(bad: str) -> None:
    assert unstorable_reason(bad)
    with pytest.raises(UnstorableText):
        clean_text(bad)
    with pytest.raises(ValidationError) as raised:
        Model(text=bad)
    assert raised.value.errors()[0]["loc"] == ("text",)
    with pytest.raises(UnstorableText):
        check_json({"ok": [1, {"deep": bad}]})
    with pytest.raises(UnstorableText):
        check_json({bad: 1})


@given(st.text())
def test_clean_text_accepts_exactly_what_utf8_and_postgresql_store(text: str) -> None:
    storable = "\x00" not in text and _encodes(text)
    assert (unstorable_reason(text) is None) == storable
    cleaned = strip_unstorable(text)
    assert unstorable_reason(cleaned) is None
    assert cleaned.encode("utf-8").decode("utf-8") == cleaned
    if storable:
        assert clean_text(text) == text == cleaned


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def test_json_nesting_is_bounded() -> None:
    value: object = "leaf"
    for _ in range(MAX_JSON_DEPTH):
        value = [value]
    assert check_json(value) == value
    with pytest.raises(UnstorableText):
        check_json([value])


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("12", 12),
        (" 7 ", 7),
        ("0", 0),
        ("٣", None),
        ("²", None),
        ("1_000", None),
        ("+5", None),
        ("-1", None),
        ("", None),
        (None, None),
        ("9" * 30, None),
        (str(MAX_DB_INT), MAX_DB_INT),
        (str(MAX_DB_INT + 1), None),
        ("1.0", None),
    ],
)
def test_parse_int_takes_ascii_digits_within_bounds(raw: str | None, expected: int | None) -> None:
    assert parse_int(raw) == expected


def test_parse_int_negative_only_when_allowed() -> None:
    assert parse_int("-3", low=-10, high=10) == -3
    assert parse_int("11", low=-10, high=10) is None


@pytest.mark.parametrize("field", ["id", "page"])
@pytest.mark.parametrize("bad", [0, -1, 2**64, "٣", "9" * 40])
def test_bounded_integers(field: str, bad: object) -> None:
    with pytest.raises(ValidationError):
        Model(**{field: bad})
    assert Model(id=MAX_DB_INT).id == MAX_DB_INT


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("12", 12.0),
        ("12.5", 12.5),
        (" 3 ", 3.0),
        ("١٢", None),
        ("nan", None),
        ("inf", None),
        ("1e3", None),
        ("1_0", None),
        ("", None),
        (None, None),
        ("1000", None),
    ],
)
def test_parse_decimal_takes_ascii_numbers_within_bounds(raw: str | None, expected: float | None) -> None:
    assert parse_decimal(raw, low=0, high=100) == expected
