"""Public input at the boundary: the one text rule and the one integer rule every request obeys.

Text
----
Every string the public (or a provider, or staff) sends passes through this module before it is
stored, hashed or compared. The rule is what BOTH databases can store:

- a lone UTF-16 surrogate (U+D800-U+DFFF, which JSON's `\\ud800` escape and Python's str allow but
  UTF-8 does not) cannot be encoded at all: hashing, logging or storing it fails;
- NUL (U+0000) is refused by PostgreSQL text columns (SQLite would store it, so the two backends
  would disagree).

Decision: such text is REJECTED with a field error, never silently altered, because it is always
either an attack or a broken client and a person can fix what they typed. (Callers that must keep
a conversation going, e.g. a chat frame, may use `strip_unstorable` instead and say so.)
Other control characters are a matter for each domain (report answers refuse them, chat strips
them); this module only guarantees "storable and encodable on either backend".

API:
- `PublicText`: `Annotated[str, AfterValidator(...)]` for pydantic models and FastAPI params
  (a 422 with the field's name when the text is not storable).
- `PublicJson`: any JSON value whose strings (keys included) all obey the rule, nested at most
  `MAX_JSON_DEPTH` deep.
- `clean_text(value)`: the same check for hand-read form fields; returns the value or raises
  `UnstorableText` (a ValueError) whose message can be shown next to the field.
- `unstorable_reason(value)`: the message, or None when the text is fine.
- `strip_unstorable(value)`: the text without surrogates and NULs.

Integers
--------
Python's `int()` accepts non-ASCII digits ('٣' is 3) and numbers of any size, and `str.isdigit()`
is true for '²' (which `int()` then refuses). The database's id and counter columns are INTEGER,
signed 32-bit on PostgreSQL (`MAX_DB_INT`). So:

- `DbId` (1 .. MAX_DB_INT), `Seq` (0 .. MAX_DB_INT), `Page` (1 .. 1,000,000), `Count` (0 .. MAX_DB_INT):
  bounded `Annotated[int, Ge(..), Le(..)]` types for path, query, form and JSON params;
- `TextId`: a string id (uuid, slug) from a path or body: storable, at most 100 characters;
- `parse_int(raw, low=..., high=...)`: ASCII digits only (an optional leading '-' when `low` < 0),
  within bounds, else None. Use it wherever a string is turned into a number by hand;
  `parse_decimal` is the same for numbers with a decimal point.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

from annotated_types import Ge, Le, MaxLen
from pydantic import AfterValidator

# Every id and counter column is `sa.Integer()` in the migrations: 32-bit signed on PostgreSQL
# (SQLite would take 64 bits). A larger number can never name a row, and PostgreSQL refuses it.
MAX_DB_INT = 2**31 - 1
MAX_PAGE = 1_000_000  # no listing has more pages; larger numbers are typos or probes
MAX_COUNT = MAX_DB_INT
# Deeper nesting is never a legitimate answer and makes recursive code (ours, json.dumps) fail.
MAX_JSON_DEPTH = 32

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_ASCII_INT = re.compile(r"-?[0-9]+")
_ASCII_DECIMAL = re.compile(r"-?[0-9]{1,15}(\.[0-9]{1,15})?")

SURROGATE_MESSAGE = "must not contain invalid characters (a lone surrogate)"
NUL_MESSAGE = "must not contain a NUL character"


class UnstorableText(ValueError):
    """Text that neither backend can store; the message is shown next to the field."""


def unstorable_reason(value: str) -> str | None:
    """Why this text cannot be stored ("must not ..."), or None when it can."""
    found = _UNSTORABLE.search(value)
    if found is None:
        return None
    return NUL_MESSAGE if found.group() == "\x00" else SURROGATE_MESSAGE


def clean_text(value: str) -> str:
    """The text unchanged when it can be stored on either backend, else `UnstorableText`."""
    reason = unstorable_reason(value)
    if reason is not None:
        raise UnstorableText(f"Text {reason}")
    return value


def strip_unstorable(value: str) -> str:
    """The text without lone surrogates and NULs (for callers that must not refuse)."""
    return _UNSTORABLE.sub("", value)


def check_json(value: Any, depth: int = 0) -> Any:
    """`value` unchanged when every string in it (keys too) is storable and it is not too deep."""
    if depth > MAX_JSON_DEPTH:
        raise UnstorableText(f"Value is nested more than {MAX_JSON_DEPTH} levels deep")
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str):
                clean_text(key)
            check_json(item, depth + 1)
    elif isinstance(value, list | tuple):
        for item in value:
            check_json(item, depth + 1)
    return value


def parse_int(raw: str | None, *, low: int = 0, high: int = MAX_DB_INT) -> int | None:
    """An integer from ASCII digits within [low, high], or None (never an exception)."""
    if raw is None:
        return None
    text = raw.strip()
    if len(text) > 20 or not _ASCII_INT.fullmatch(text):
        return None
    value = int(text)
    return value if low <= value <= high else None


def parse_decimal(raw: str | None, *, low: float, high: float) -> float | None:
    """A number written in ASCII digits with an optional decimal point, within [low, high], or None
    (never NaN, infinity, '1e3', '1_0' or other digits, all of which `float()` accepts)."""
    if raw is None:
        return None
    text = raw.strip()
    if not _ASCII_DECIMAL.fullmatch(text):
        return None
    value = float(text)
    return value if low <= value <= high else None


PublicText = Annotated[str, AfterValidator(clean_text)]
PublicJson = Annotated[Any, AfterValidator(check_json)]

# Plain annotated-types bounds (not pydantic.Field) so they work in models and in FastAPI's
# Path/Query/Form params alike: `report_id: DbId`, `page: Page = 1`.
DbId = Annotated[int, Ge(1), Le(MAX_DB_INT)]
Seq = Annotated[int, Ge(0), Le(MAX_DB_INT)]
Page = Annotated[int, Ge(1), Le(MAX_PAGE)]
Count = Annotated[int, Ge(0), Le(MAX_COUNT)]
# A string id from a URL or body (a conversation's uuid, a slug): storable text of bounded length.
TextId = Annotated[str, MaxLen(100), AfterValidator(clean_text)]

__all__ = [
    "MAX_DB_INT",
    "MAX_JSON_DEPTH",
    "MAX_PAGE",
    "Count",
    "DbId",
    "Page",
    "PublicJson",
    "PublicText",
    "Seq",
    "TextId",
    "UnstorableText",
    "check_json",
    "clean_text",
    "parse_decimal",
    "parse_int",
    "strip_unstorable",
    "unstorable_reason",
]
