"""Languages of the public pages: the one `_` API lives in `contact_store.i18n` (gettext catalogues
in `web_forms/locale/<lang>/LC_MESSAGES/messages.po`); this module names it for the public pages."""

from __future__ import annotations

from contact_store.i18n import (
    DEFAULT_LANGUAGE,
    LANGUAGE_COOKIE,
    LANGUAGE_NAMES,
    LANGUAGES,
    N_,
    Translate,
    choose_language,
    long_date,
    parse_accept_language,
    translator,
)

__all__ = [
    "DEFAULT_LANGUAGE",
    "LANGUAGES",
    "LANGUAGE_COOKIE",
    "LANGUAGE_NAMES",
    "N_",
    "Translate",
    "choose_language",
    "long_date",
    "parse_accept_language",
    "translator",
]
