"""Validating and normalising answers against a form definition (shared by HTML and JSON).

Raw answers come as strings (text inputs, radios), lists (checkboxes) and, for dates, either
`{"day","month","year"}` parts (HTML) or an ISO `YYYY-MM-DD` string (API). Clean answers are
JSON-ready: strings, lists of option values, ISO dates, E.164 phone numbers, formatted postcodes.
Error messages are English message ids, translated by the caller's `_`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any

import phonenumbers

from contact_store.clock import utcnow
from contact_store.people import normalise_email, normalise_phone
from contact_store.settings import Settings
from contact_store.sms import gate
from contact_store.text import parse_int, unstorable_reason
from web_forms.catalogue import FormDefinition, Page, Question, QuestionType
from web_forms.i18n import N_, Translate, long_date

# C0 controls (except tab and newline) and DEL: never meaningful in a report, and NUL breaks
# PostgreSQL text columns.
CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
POSTCODE = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?)([0-9][A-Z]{2})$")
# Our references (FC-2611-7Q4K) and other forces' crime numbers (letters, digits, / and -).
REFERENCE = re.compile(r"^[A-Z0-9][A-Z0-9/-]{3,29}$")
EARLIEST_YEAR = 1900

RawAnswers = Mapping[str, Any]


def _name(q: Question, _: Translate) -> str:
    label = _(q.summary_label or q.label)
    return label[:1].lower() + label[1:] if label[:2] != label[:2].upper() else label


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def page_shown(page: Page, values: Mapping[str, Any]) -> bool:
    """True when the answers so far make this page part of the journey."""
    if page.when is None:
        return True
    answer = values.get(page.when.question)
    chosen = set(answer) if isinstance(answer, list) else {answer}
    return bool(chosen & set(page.when.in_))


def visible_pages(form: FormDefinition, values: Mapping[str, Any]) -> list[Page]:
    """The pages this journey shows, given the answers so far."""
    return [page for page in form.pages if page_shown(page, values)]


def _clean_text(q: Question, raw: Any, _: Translate) -> tuple[str | None, str | None]:
    if raw is None:
        raw = ""
    if not isinstance(raw, str):
        return None, _("Enter text for {name}").format(name=_name(q, _))
    text = raw.replace("\r\n", "\n").replace("\r", "\n")
    if q.type != QuestionType.TEXTAREA:
        text = text.replace("\n", " ").replace("\t", " ")
    text = text.strip()
    if CONTROL_CHARS.search(text) or unstorable_reason(text):
        return None, _("{name} must not contain control characters").format(name=_cap(_name(q, _)))
    if len(text) > q.limit:
        return None, _("{name} must be {limit} characters or fewer").format(
            name=_cap(_name(q, _)), limit=q.limit
        )
    return text, None


def _parse_date(raw: Any, _: Translate, q: Question) -> tuple[str | None, str | None]:
    if isinstance(raw, str) and raw.strip():
        parts = raw.strip().split("-")
        if len(parts) != 3:
            return None, _("The date must be a real date")
        year, month, day = parts
    elif isinstance(raw, Mapping):
        day, month, year = (str(raw.get(k) or "").strip() for k in ("day", "month", "year"))
        if not (day or month or year):
            return None, None
        missing = [_(n) for n, v in ((N_("day"), day), (N_("month"), month), (N_("year"), year)) if not v]
        if missing:
            return None, _("The date must include a {parts}").format(parts=_(" and ").join(missing))
    else:
        return None, None
    year_n, month_n, day_n = (parse_int(part, high=9999) for part in (year, month, day))
    if year_n is None or month_n is None or day_n is None or len(year) != 4:
        return None, _("The date must be a real date")
    try:
        value = date(year_n, month_n, day_n)
    except ValueError:
        return None, _("The date must be a real date")
    if value.year < EARLIEST_YEAR:
        return None, _("The date must be after 1900")
    if q.past_only and value > utcnow().date():
        return None, _("The date must be today or in the past")
    return value.isoformat(), None


def clean_answer(q: Question, raw: Any, _: Translate, *, settings: Settings) -> tuple[Any, str | None]:
    """(clean value or None when unanswered, error message or None)."""
    if q.default is not None and _is_blank(raw):
        raw = q.default
    value, error = _clean_answer(q, raw, _)
    if error and value is None and q.error_required and _is_blank(raw):
        return None, _(q.error_required)
    if q.type == QuestionType.PHONE and value is not None:
        return _phone_in_allowed_country(value, _, settings)
    return value, error


def _phone_in_allowed_country(phone: str, _: Translate, settings: Settings) -> tuple[str | None, str | None]:
    """Refuse a number from a country the force does not text (issue #10: no texting anywhere)."""
    if gate.number_country_allowed(settings=settings, e164=phone):
        return phone, None
    if gate.only_uk(settings):
        return None, _("Enter a UK phone number, like 07700 900 982")
    return None, _("Enter a phone number in a country we can contact, like 07700 900 982")


def _is_blank(raw: Any) -> bool:
    if isinstance(raw, str):
        return not raw.strip()
    if isinstance(raw, Mapping):
        return not any(str(v or "").strip() for v in raw.values())
    return raw in (None, [])


def _clean_answer(q: Question, raw: Any, _: Translate) -> tuple[Any, str | None]:
    if q.type == QuestionType.EVIDENCE:
        return None, None
    if q.type == QuestionType.DATE:
        value, error = _parse_date(raw, _, q)
        if error:
            return None, error
        if value is None and q.required:
            return None, _("Enter the date")
        return value, None
    if q.type == QuestionType.CHECKBOXES:
        items = raw if isinstance(raw, list) else ([] if raw in (None, "") else [raw])
        allowed = [o.value for o in q.options]
        if any(not isinstance(i, str) or i not in allowed for i in items):
            return None, _("Select an option from the list")
        chosen = [v for v in allowed if v in items]
        if not chosen and q.required:
            return None, _("Select at least one option")
        return chosen or None, None
    if q.type == QuestionType.RADIOS:
        if raw in (None, ""):
            return None, (_("Select an option") if q.required else None)
        if not isinstance(raw, str) or raw not in {o.value for o in q.options}:
            return None, _("Select an option from the list")
        return raw, None
    text, error = _clean_text(q, raw, _)
    if error:
        return None, error
    if not text:
        return None, (_("Enter {name}").format(name=_name(q, _)) if q.required else None)
    if q.type == QuestionType.PHONE:
        phone = normalise_phone(text)
        return (phone, None) if phone else (None, _("Enter a UK phone number, like 07700 900 982"))
    if q.type == QuestionType.EMAIL:
        email = normalise_email(text)
        if not email:
            return None, _("Enter an email address in the correct format, like name@example.com")
        return email, None
    if q.type == QuestionType.POSTCODE:
        compact = re.sub(r"\s+", "", text).upper()
        match = POSTCODE.match(compact)
        if not match:
            return None, _("Enter a real postcode, like PR1 2AB")
        return f"{match.group(1)} {match.group(2)}", None
    if q.type == QuestionType.REFERENCE:
        ref = re.sub(r"\s+", "", text).upper()
        if not REFERENCE.match(ref):
            return None, _("Enter a reference number in the correct format, like FC-2611-7Q4K")
        return ref, None
    return text, None


def raw_from_form(page: Page, form_data: Mapping[str, Any]) -> dict[str, Any]:
    """The raw answers of one page from a submitted HTML form (`getlist` for checkboxes)."""
    raw: dict[str, Any] = {}
    for q in page.questions:
        if q.type == QuestionType.DATE:
            raw[q.id] = {part: form_data.get(f"{q.id}-{part}", "") for part in ("day", "month", "year")}
        elif q.type == QuestionType.CHECKBOXES:
            getlist = getattr(form_data, "getlist", None)
            raw[q.id] = list(getlist(q.id)) if getlist else form_data.get(q.id, [])
        elif q.type != QuestionType.EVIDENCE:
            value = form_data.get(q.id)
            raw[q.id] = value if isinstance(value, str) else None
    return raw


def validate_page(
    page: Page, raw: RawAnswers, _: Translate, *, settings: Settings
) -> tuple[dict[str, Any], dict[str, str]]:
    """Clean answers and per-field errors for one page."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for q in page.questions:
        value, error = clean_answer(q, raw.get(q.id), _, settings=settings)
        if error:
            errors[q.id] = error
        elif value is not None:
            values[q.id] = value
    return values, errors


def validate_all(
    form: FormDefinition, raw: RawAnswers, _: Translate, *, settings: Settings
) -> tuple[dict[str, Any], dict[str, str]]:
    """Clean answers of every page the answers make visible, and per-field errors (the API)."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    known = set(form.questions)
    for key in raw:
        if key not in known:
            errors[str(key)[:64]] = _("This is not a question on this form")
    for page in form.pages:
        if not page_shown(page, values):  # given the answers of the pages before it
            continue
        page_values, page_errors = validate_page(page, raw, _, settings=settings)
        values.update(page_values)
        errors.update(page_errors)
    return values, errors


def display_answer(q: Question, value: Any, lang: str, _: Translate) -> str | list[str]:
    """An answer as "Check your answers" shows it."""
    if value in (None, "", []):
        return _("Not given")
    labels = {o.value: _(o.label) for o in q.options}
    if q.type == QuestionType.RADIOS:
        return labels.get(value, str(value))
    if q.type == QuestionType.CHECKBOXES:
        return [labels.get(v, str(v)) for v in value]
    if q.type == QuestionType.DATE:
        try:
            return long_date(date.fromisoformat(value), lang)
        except (TypeError, ValueError):
            return str(value)
    if q.type == QuestionType.PHONE:
        return _national(str(value))
    return str(value)


def _national(e164: str) -> str:
    """A UK number as people write it (07700 900123); other countries in international form."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    style = (
        phonenumbers.PhoneNumberFormat.NATIONAL
        if number.country_code == 44
        else (phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    )
    return phonenumbers.format_number(number, style)


def date_parts(value: Any) -> dict[str, str]:
    """Day, month and year of a stored ISO date, for re-filling a date input."""
    if isinstance(value, str) and value.count("-") == 2:
        year, month, day = value.split("-")
        return {"day": str(int(day)), "month": str(int(month)), "year": year}
    return {"day": "", "month": "", "year": ""}
