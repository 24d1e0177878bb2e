"""Text from outside made storable on both backends (SQLite and PostgreSQL).

Python strings can hold what no UTF-8 database column can: lone UTF-16 surrogates (JSON such as
"\\ud800" decodes to one; encoding it to UTF-8 fails) and NUL (PostgreSQL refuses it in text; SQLite
stores it and truncates it in some tools). `clean_text` strips both; `is_clean_text` tells whether
a value (an identifier, where stripping would change its meaning) would come through unchanged.
"""

from __future__ import annotations

import re

# NUL and every surrogate code point. A str never holds a valid surrogate *pair* (json and the
# codecs join pairs into one astral character), so any surrogate left in a str is a lone one.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def clean_text(value: str) -> str:
    """`value` without NUL characters and lone surrogates (the text both backends can store)."""
    return _UNSTORABLE.sub("", value)


def is_clean_text(value: str) -> bool:
    """Whether `value` has nothing `clean_text` would strip."""
    return _UNSTORABLE.search(value) is None
