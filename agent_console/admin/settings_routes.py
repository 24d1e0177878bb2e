"""Admin pages for the force's settings (name, colour, numbers, chat hours, danger phrases, the
survey) and the text-message wording in English and Welsh, with a preview and segment count.

All routes are admin-only (AdminOnly); every POST checks CSRF; every change writes a history
version and an audit event in the same transaction and reaches every worker through the bus
(contact_store/administration).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from agent_console.admin import org
from agent_console.admin.forms import CsrfField, LongText, ShortText
from agent_console.admin.forms import audit_change as _audit
from agent_console.common import render
from contact_store.administration import config
from contact_store.errors import NotFound
from contact_store.opening_hours import DAY_NAMES, DAYS, spec_problem
from contact_store.outbox import SMS_TEMPLATES, render_template, template_text
from contact_store.sms.segments import count_segments
from contact_store.text import PublicText
from contact_store.web import AdminOnly, SessionDep, SettingsDep, check_csrf

router = APIRouter(prefix="/console/admin", include_in_schema=False)
LANGUAGES = {"en": "English", "cy": "Welsh"}
# Example values for the preview of a text message (a long reference, as real ones are).
PREVIEW_VALUES = {
    "reference": "FC-2611-AB12",
    "target": "24 hours",
    "message": "An officer will call you tomorrow morning.",
    "question": "How satisfied were you with the time it took to answer your contact?",
    "link": "https://example.police.uk/s/abc123",
}


# ---------- the force's settings ----------

SECTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "force": ("The force", ("force_name", "force_brand_colour", "force_phone_non_emergency")),
    "chat-hours": ("Live chat opening hours", ("chat_opening_hours", "chat_holidays")),
    "danger": ("Danger phrases", ("danger_phrases",)),
    "survey": (
        "Satisfaction survey",
        ("survey_questions", "survey_excluded_topics", "survey_excluded_grades"),
    ),
}


# The form field that shows a setting's error (the summary links to it).
FIELD_OF = {"chat_opening_hours": "hours_mon", "survey_questions": "question_0"}


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _form_values(settings: Any) -> dict[str, Any]:
    """What the settings forms show: the values in force, as text."""
    return {
        "force_name": settings.force_name,
        "force_brand_colour": settings.force_brand_colour,
        "force_phone_non_emergency": settings.force_phone_non_emergency,
        "hours": {d: settings.chat_opening_hours.get(d, "") for d in DAYS},
        "chat_holidays": "\n".join(d.isoformat() for d in settings.chat_holidays),
        "danger_phrases": "\n".join(settings.danger_phrases),
        "survey_questions": list(settings.survey_questions),
        "survey_excluded_topics": "\n".join(settings.survey_excluded_topics),
        "survey_excluded_grades": ", ".join(str(g) for g in settings.survey_excluded_grades),
    }


def _settings_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    values: dict[str, Any],
    errors: dict[str, str],
    section: str = "",
    status: int = 200,
) -> Response:
    overridden = set(config.load(session=session))
    return render(
        request,
        "agent_console/admin/settings.html",
        nav="settings",
        values=values,
        errors=errors,
        section=section,
        overridden=overridden,
        days=list(zip(DAYS, DAY_NAMES, strict=True)),
        status=status,
    )


@router.get("/settings")
def settings_page(request: Request, ctx: AdminOnly, session: SessionDep, settings: SettingsDep) -> Response:
    return _settings_page(request, session, settings, _form_values(settings), {})


def _read_section(section: str, form: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The submitted values of one section by setting key, and field errors."""
    errors: dict[str, str] = {}
    wanted: dict[str, Any] = {}
    if section == "force":
        wanted = {k: form.get(k, "").strip() for k in SECTIONS["force"][1]}
        if not wanted["force_name"] or len(wanted["force_name"]) > 100:
            errors["force_name"] = "Enter the force's name, 100 characters or fewer"
        if not re.fullmatch(r"#[0-9a-fA-F]{6}", wanted["force_brand_colour"]):
            errors["force_brand_colour"] = "Enter the colour as # and six hexadecimal digits, like #0b3d91"
        if not wanted["force_phone_non_emergency"] or len(wanted["force_phone_non_emergency"]) > 30:
            errors["force_phone_non_emergency"] = "Enter the non-emergency number, like 101"
    elif section == "chat-hours":
        hours = {d: " ".join(form.get(f"hours_{d}", "").split()) for d in DAYS}
        for d in DAYS:
            problem = spec_problem(hours[d])
            if problem:
                errors[f"hours_{d}"] = problem
        days, bad = org.parse_days(form.get("chat_holidays", ""))
        if bad:
            errors["chat_holidays"] = "Enter closed days as dates like 2026-12-25, one a line"
        wanted = {"chat_opening_hours": hours, "chat_holidays": days}
    elif section == "danger":
        phrases = _lines(form.get("danger_phrases", ""))
        if not phrases:
            errors["danger_phrases"] = "Enter at least one danger phrase, one a line"
        elif any(len(p) > 100 for p in phrases) or len(phrases) > 500:
            errors["danger_phrases"] = "Enter up to 500 phrases of 100 characters or fewer"
        wanted = {"danger_phrases": phrases}
    elif section == "survey":
        questions = [form.get(f"question_{i}", "").strip() for i in range(4)]
        for i, q in enumerate(questions):
            if not q or len(q) > 300:
                errors[f"question_{i}"] = f"Enter question {i + 1}, 300 characters or fewer"
        grades_text = [g for g in form.get("survey_excluded_grades", "").replace(",", " ").split() if g]
        if any(not g.isdigit() or not 1 <= int(g) <= 5 for g in grades_text):
            errors["survey_excluded_grades"] = "Enter grades from 1 to 5, separated by commas"
        topics = [t.lower() for t in _lines(form.get("survey_excluded_topics", ""))]
        wanted = {
            "survey_questions": questions,
            "survey_excluded_topics": topics,
            "survey_excluded_grades": sorted({int(g) for g in grades_text if g.isdigit()}),
        }
    for key, value in wanted.items():  # the setting's own rules (types, lengths) once more
        field = FIELD_OF.get(key, key)
        _, problem = config.check(key, value)
        if problem and field not in errors:
            errors[field] = problem
    return wanted, errors


@router.post("/settings/{section}")
def save_settings(
    request: Request,
    section: str,
    ctx: AdminOnly,
    session: SessionDep,
    settings: SettingsDep,
    csrf_token: CsrfField = "",
    force_name: ShortText = "",
    force_brand_colour: ShortText = "",
    force_phone_non_emergency: ShortText = "",
    hours_mon: ShortText = "",
    hours_tue: ShortText = "",
    hours_wed: ShortText = "",
    hours_thu: ShortText = "",
    hours_fri: ShortText = "",
    hours_sat: ShortText = "",
    hours_sun: ShortText = "",
    chat_holidays: LongText = "",
    danger_phrases: Annotated[PublicText, Form(max_length=50_000)] = "",
    question_0: LongText = "",
    question_1: LongText = "",
    question_2: LongText = "",
    question_3: LongText = "",
    survey_excluded_topics: LongText = "",
    survey_excluded_grades: ShortText = "",
) -> Response:
    check_csrf(ctx, csrf_token)
    if section not in SECTIONS:
        raise NotFound("There is no such settings section")
    form = {k: v for k, v in locals().items() if isinstance(v, str) and k not in ("section", "csrf_token")}
    wanted, errors = _read_section(section, form)
    if errors:
        values = _form_values(settings)
        if section == "chat-hours":
            values["hours"] = {d: form.get(f"hours_{d}", "") for d in DAYS}
            values["chat_holidays"] = form.get("chat_holidays", "")
        elif section == "survey":
            values["survey_questions"] = [form.get(f"question_{i}", "") for i in range(4)]
            values["survey_excluded_topics"] = form.get("survey_excluded_topics", "")
            values["survey_excluded_grades"] = form.get("survey_excluded_grades", "")
        else:
            values.update(
                {
                    k: form.get(k, "")
                    for k in (
                        "force_name",
                        "force_brand_colour",
                        "force_phone_non_emergency",
                        "danger_phrases",
                    )
                    if k in form
                }
            )
        return _settings_page(request, session, settings, values, errors, section=section, status=422)
    changed = {}
    for key, value in wanted.items():
        checked, _ = config.check(key, value)
        before = config.effective(settings=settings, key=key)
        if config.save(
            session=session, settings=settings, key=key, value=checked, operator_id=ctx.operator.id
        ):
            changed[key] = {"from": before, "to": checked}
    if changed:
        _audit(session, ctx, request, "setting.update", "setting", section, {"changes": changed})
    return RedirectResponse(f"/console/admin/settings#{section}", status_code=303)


@router.post("/settings/{section}/reset")
def reset_settings(
    request: Request,
    section: str,
    ctx: AdminOnly,
    session: SessionDep,
    settings: SettingsDep,
    csrf_token: CsrfField = "",
) -> Response:
    """Return a section to the environment's values (removing the overrides)."""
    check_csrf(ctx, csrf_token)
    if section not in SECTIONS:
        raise NotFound("There is no such settings section")
    removed = [
        k
        for k in SECTIONS[section][1]
        if config.save(session=session, settings=settings, key=k, value=None, operator_id=ctx.operator.id)
    ]
    if removed:
        _audit(session, ctx, request, "setting.reset", "setting", section, {"removed": removed})
    return RedirectResponse(f"/console/admin/settings#{section}", status_code=303)


# ---------- text-message templates ----------


def _sms_rows(settings: Any) -> list[dict[str, Any]]:
    rows = []
    for name in SMS_TEMPLATES:
        for lang, label in LANGUAGES.items():
            rows.append(
                {
                    "name": name,
                    "language": lang,
                    "label": label,
                    "text": template_text(name, texts=settings.sms_templates, language=lang),
                    "changed": settings.sms_templates.get(name if lang == "en" else f"{name}.{lang}")
                    is not None,
                }
            )
    return rows


@router.get("/sms-templates")
def sms_templates_page(request: Request, ctx: AdminOnly, settings: SettingsDep) -> Response:
    return render(request, "agent_console/admin/sms_templates.html", nav="settings", rows=_sms_rows(settings))


def _check_template(name: str, language: str) -> None:
    if name not in SMS_TEMPLATES or language not in LANGUAGES:
        raise NotFound("There is no such text-message template")


def _preview(text: str, settings: Any) -> tuple[str | None, Any, str | None]:
    try:
        body = render_template(text, {"force": settings.force_name, **PREVIEW_VALUES})
    except Exception as exc:  # a placeholder the template cannot fill
        return None, None, getattr(exc, "message", str(exc))
    return body, count_segments(body), None


def _sms_form(
    request: Request,
    settings: Any,
    name: str,
    language: str,
    text: str,
    errors: dict[str, str],
    status: int = 200,
) -> Response:
    body, segments, _ = _preview(text, settings) if not errors else (None, None, None)
    return render(
        request,
        "agent_console/admin/sms_template_form.html",
        nav="settings",
        name=name,
        language=language,
        language_label=LANGUAGES[language],
        text=text,
        shipped=SMS_TEMPLATES[name],
        placeholders=[f"(({p}))" for p in sorted({"force", *PREVIEW_VALUES})],
        preview=body,
        segments=segments,
        errors=errors,
        status=status,
    )


@router.get("/sms-templates/{name}/{language}")
def sms_template_page(
    request: Request, name: str, language: str, ctx: AdminOnly, settings: SettingsDep
) -> Response:
    _check_template(name, language)
    return _sms_form(
        request,
        settings,
        name,
        language,
        template_text(name, texts=settings.sms_templates, language=language),
        {},
    )


@router.post("/sms-templates/{name}/{language}")
def save_sms_template(
    request: Request,
    name: str,
    language: str,
    ctx: AdminOnly,
    session: SessionDep,
    settings: SettingsDep,
    csrf_token: CsrfField = "",
    text: LongText = "",
    action: Annotated[PublicText, Form(max_length=10)] = "save",
) -> Response:
    check_csrf(ctx, csrf_token)
    _check_template(name, language)
    key = config.sms_key(name, language)
    if action == "reset":
        if config.save(session=session, settings=settings, key=key, value=None, operator_id=ctx.operator.id):
            _audit(session, ctx, request, "sms_template.reset", "sms_template", key, {})
        return RedirectResponse("/console/admin/sms-templates", status_code=303)
    text = text.strip()
    errors: dict[str, str] = {}
    _, segments, problem = _preview(text, settings)
    if not text:
        errors["text"] = "Enter the text of the message"
    elif problem:
        errors["text"] = f"{problem}: use only the placeholders listed"
    elif segments.length > 918:
        errors["text"] = "The text is too long: keep it within 6 segments (918 characters)"
    if errors or action == "preview":
        return _sms_form(request, settings, name, language, text, errors, status=422 if errors else 200)
    before = config.effective(settings=settings, key=key)
    if config.save(session=session, settings=settings, key=key, value=text, operator_id=ctx.operator.id):
        _audit(
            session, ctx, request, "sms_template.update", "sms_template", key, {"from": before, "to": text}
        )
    return RedirectResponse("/console/admin/sms-templates", status_code=303)
