"""Languages of the public side: English (the message ids) and Welsh, from gettext catalogues.

Protocol for every public string, wherever it lives (Python, Jinja2 templates, the form definitions
in `web_forms/catalogue/forms`, the widget's strings, text-message templates):
- it is written in English and is its own message id;
- it is marked for extraction: `_("...")` / `N_("...")` in Python and templates (`N_` only marks,
  for constants translated later), or it is a form-definition text (see `babel.cfg`);
- at run time it goes through `translator(lang)`, a gettext lookup in the catalogue of `lang`.

The catalogue is `web_forms/locale/<lang>/LC_MESSAGES/messages.po` (the translators' file, in git).
It is read through its compiled `.mo` when that is newer than the `.po` (`pybabel compile`, run by
`scripts/setup.sh` and the wheel build); otherwise the `.po` is compiled in memory at start-up, so a
checkout without a compile step still speaks Welsh. Fuzzy entries are never used (gettext rule).
A missing translation falls back to English; `tests/web_forms/test_welsh_catalogue.py` fails on one.

The catalogue sits beside the public pages that own most of its messages; this module reads it as
data (no import of `web_forms`), so the store's text messages and the server's error pages use
the same catalogue.

Language of a request: `?lang=` on any URL (remembered in the `fc_lang` cookie by
`chat_server`'s middleware), then the cookie, then Accept-Language, then English.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from datetime import date, datetime
from functools import cache
from pathlib import Path

from babel.dates import format_date, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

logger = logging.getLogger(__name__)

LOCALE_DIR = Path(__file__).resolve().parent.parent / "web_forms" / "locale"
DOMAIN = "messages"
LANGUAGES = ("en", "cy")
DEFAULT_LANGUAGE = "en"
LANGUAGE_COOKIE = "fc_lang"
LANGUAGE_NAMES = {"en": "English", "cy": "Cymraeg"}
# Babel locales for dates and times.
BABEL_LOCALES = {"en": "en_GB", "cy": "cy_GB"}

Translate = Callable[[str], str]


def N_(message: str) -> str:
    """Mark a string for extraction without translating it (translated where it is shown)."""
    return message


def normalise(lang: str | None) -> str:
    """A supported language code (English for anything else)."""
    return lang if lang is not None and lang in LANGUAGES else DEFAULT_LANGUAGE


def catalogue_paths(lang: str, locale_dir: Path = LOCALE_DIR) -> tuple[Path, Path]:
    """The `.po` and `.mo` files of `lang`."""
    folder = locale_dir / lang / "LC_MESSAGES"
    return folder / f"{DOMAIN}.po", folder / f"{DOMAIN}.mo"


@cache
def translations(lang: str) -> NullTranslations:
    """The gettext translations of `lang`: the compiled `.mo` if fresh, else the `.po` compiled now."""
    if lang == DEFAULT_LANGUAGE:
        return NullTranslations()
    po, mo = catalogue_paths(lang)
    if mo.is_file() and (not po.is_file() or mo.stat().st_mtime >= po.stat().st_mtime):
        with mo.open("rb") as fp:
            return Translations(fp, domain=DOMAIN)
    if not po.is_file():
        logger.warning("no catalogue for language %s: English is shown", lang)
        return NullTranslations()
    with po.open("rb") as fp:
        catalog = read_po(fp, locale=lang)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)  # fuzzy entries are left out, as pybabel compile does
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


@cache
def translator(lang: str) -> Translate:
    """A function translating English message ids into `lang` (`_`)."""
    if normalise(lang) == DEFAULT_LANGUAGE:
        return _identity
    gettext = translations(lang).gettext

    def _(message: str) -> str:
        return gettext(message) if message else message

    return _


def _identity(message: str) -> str:
    return message


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


def choose_language(*, cookie: str | None, accept_language: str | None, query: str | None = None) -> str:
    """The page language: `?lang=`, then the switch cookie, then Accept-Language, then English."""
    if query in LANGUAGES:
        return str(query)
    if cookie in LANGUAGES:
        return str(cookie)
    return parse_accept_language(accept_language) or DEFAULT_LANGUAGE


def long_date(value: date, lang: str) -> str:
    """A date as people write it: 27 March 2026 / 27 Mawrth 2026."""
    return format_date(value, format="d MMMM y", locale=BABEL_LOCALES[normalise(lang)])


def _welsh_adverbial_day(day: str) -> str:
    """"Dydd Llun" as "on Monday" mid-sentence: lower case and soft mutated ("ddydd Llun")."""
    day = day[:1].lower() + day[1:]
    return "d" + day if day.startswith("dydd") else day


_ADVERBIAL = {"cy": _welsh_adverbial_day}


def opening_time(value: datetime, lang: str) -> str:
    """When something opens, as a phrase: "Monday at 08:00" / "ddydd Llun am 08:00" (local time)."""
    lang = normalise(lang)
    locale = BABEL_LOCALES[lang]
    day = format_date(value.date(), format="EEEE", locale=locale)
    day = _ADVERBIAL.get(lang, lambda d: d)(day)
    time = format_time(value.time(), format="HH:mm", locale=locale)
    _ = translator(lang)
    return _("{day} at {time}").format(day=day, time=time)
