"""Languages of the public pages: English (the message ids) and Welsh (`locale/cy.json`).

Every public string, in templates and in form definitions, is an English message id passed through
`_()`. Translations are data: `locale/<lang>.json` maps each English string to its translation and
is loaded once at start-up. A missing translation falls back to English.

The language is chosen by the `fc_lang` cookie (set by the switch link, `/language?lang=cy`), then
the browser's Accept-Language, then English.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from functools import cache
from pathlib import Path

from babel.dates import format_date

LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGES = ("en", "cy")
DEFAULT_LANGUAGE = "en"
LANGUAGE_COOKIE = "fc_lang"
LANGUAGE_NAMES = {"en": "English", "cy": "Cymraeg"}

Translate = Callable[[str], str]


@cache
def catalogue(lang: str) -> dict[str, str]:
    """The translations for `lang` (empty for English)."""
    path = LOCALE_DIR / f"{lang}.json"
    if lang == DEFAULT_LANGUAGE or not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {k: v for k, v in data.items() if isinstance(v, str) and v}


def translator(lang: str) -> Translate:
    """A function translating English message ids into `lang`."""
    table = catalogue(lang)

    def _(message: str) -> str:
        return table.get(message, message)

    return _


def parse_accept_language(header: str | None) -> str | None:
    """The first supported language in an Accept-Language header, by quality."""
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")[:20]):
        pieces = part.strip().split(";")
        tag = pieces[0].strip().lower().split("-")[0]
        quality = 1.0
        for param in pieces[1:]:
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag in LANGUAGES and quality > 0:
            ranked.append((-quality, position, tag))
    return min(ranked)[2] if ranked else None


def choose_language(*, cookie: str | None, accept_language: str | None) -> str:
    """The page language: the switch cookie, then Accept-Language, then English."""
    if cookie in LANGUAGES:
        return str(cookie)
    return parse_accept_language(accept_language) or DEFAULT_LANGUAGE


def long_date(value: date, lang: str) -> str:
    """A date as people write it: 27 March 2026 / 27 Mawrth 2026."""
    return format_date(value, format="d MMMM y", locale="cy" if lang == "cy" else "en_GB")
