"""Turning a form's clean answers into a report (shared by the HTML journey and the JSON API)."""

from __future__ import annotations

from typing import Any

from contact_store.reports import ReportCreate
from web_forms.catalogue import FormDefinition, QuestionType
from web_forms.i18n import translator
from web_forms.journey.answers import display_answer, visible_pages


def summary_line(form: FormDefinition, values: dict[str, Any]) -> str:
    """The triage list's one line: the form title, then the answers the definition names."""
    english = translator("en")
    questions = form.questions
    parts = [form.title]
    for qid in form.summary:
        value = values.get(qid)
        if value in (None, "", []):
            continue
        shown = display_answer(questions[qid], value, "en", english)
        parts.append(", ".join(shown) if isinstance(shown, list) else shown)
    return " – ".join(parts)


def report_create(
    *, form: FormDefinition, values: dict[str, Any], channel: str, language: str
) -> ReportCreate:
    """The report to file for these answers (only answers of pages the journey showed are kept)."""
    shown = {q.id for page in visible_pages(form, values) for q in page.questions}
    answers = {
        k: v for k, v in values.items() if k in shown and form.questions[k].type != QuestionType.EVIDENCE
    }
    ident = form.identity

    def pick(qid: str | None) -> Any:
        return answers.get(qid) if qid else None

    # Nothing is texted without a "yes" to "is it safe for us to text you on this number?"; the
    # question defaults to "no" on sensitive forms (the catalogue enforces it).
    safe_to_contact = ident.sms_ok is not None and pick(ident.sms_ok) == "yes"
    return ReportCreate(
        form_slug=form.slug,
        answers=answers,
        summary=summary_line(form, answers),
        channel=channel,
        language=language,
        sensitive=form.sensitive,
        grade=form.grade,
        team_name=form.team,
        name=pick(ident.name),
        phone=pick(ident.phone),
        email=pick(ident.email),
        postcode=pick(ident.postcode),
        area_postcode=pick(form.area_postcode),
        safe_to_contact=safe_to_contact,
        response_time=form.sms_response_time or form.response_time,
    )
