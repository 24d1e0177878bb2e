"""Finding English left on a Welsh page or in a Welsh text.

English words are the words of the catalogue's English message ids that never occur in its Welsh
translations (so "Shift", "JavaScript" and "Ford", used in Welsh too, are not English here). A text
is English-free when none of its words is one of them, after taking out e-mail addresses,
references, postcodes and the allow-list of names.
"""

from __future__ import annotations

import re
from functools import cache

from babel.messages.pofile import read_po

from contact_store.i18n import catalogue_paths

WORD = re.compile(r"[A-Za-zÀ-ÿŵŷŴŶ']+")
# Not translated on purpose: names, numbers and words Welsh uses as they are.
ALLOWED = {"firstcontact", "northshire", "police", "cymraeg", "english", "gov", "uk", "ok"}
# English that the catalogue need not contain to be caught: day and month names (a date or an
# opening time formatted without Babel).
EXTRA_ENGLISH = {
    *("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"),
    *("january", "february", "march", "april", "may", "june", "july", "august"),
    *("september", "october", "november", "december", "today", "tomorrow"),
}
# Things that look like words but are data: e-mail addresses, URLs, references, postcodes.
DATA = re.compile(
    r"\S+@\S+|https?://\S+|\bFC-[0-9A-Z-]+|\b[A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][A-Z]{2}\b|\.(png|jpg)\b",
)


def _words(text: str) -> set[str]:
    return {w.strip("'").lower() for w in WORD.findall(text) if len(w.strip("'")) >= 3}


@cache
def english_only_words() -> frozenset[str]:
    """Words of the English message ids that no Welsh translation uses."""
    po, _ = catalogue_paths("cy")
    with po.open("rb") as fp:
        catalog = read_po(fp, locale="cy")
    english: set[str] = set()
    welsh: set[str] = set()
    for message in catalog:
        if message.id and isinstance(message.id, str) and isinstance(message.string, str):
            english |= _words(re.sub(r"\{\w+\}|\(\(\w+\)\)", " ", message.id))
            welsh |= _words(message.string)
    return frozenset((english | EXTRA_ENGLISH) - welsh - ALLOWED)


def english_words_in(text: str, *, allowed: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """The English words in `text` (sorted), ignoring data and `allowed` words."""
    found = _words(DATA.sub(" ", text)) & english_only_words()
    return sorted(found - {a.lower() for a in allowed})
