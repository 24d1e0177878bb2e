"""Answers that complete each form, for journeys and API tests."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from web_forms.catalogue import FormDefinition, QuestionType, catalogue
from web_forms.journey.answers import visible_pages

PHONE = "07700 900123"  # Ofcom drama range: never a real person
# The smallest valid PNG (1x1 pixel).
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4"
    b"\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
)


def sample_answer(form: FormDefinition, qid: str) -> Any:
    """A valid answer for a question (API form: dates ISO, checkboxes lists)."""
    q = form.questions[qid]
    if q.type == QuestionType.DATE:
        return "2026-03-27"
    if q.type == QuestionType.RADIOS:
        return q.options[0].value
    if q.type == QuestionType.CHECKBOXES:
        return [q.options[0].value]
    if q.type == QuestionType.PHONE:
        return PHONE
    if q.type == QuestionType.EMAIL:
        return "someone@example.com"
    if q.type == QuestionType.POSTCODE:
        return "PR1 2AB"
    if q.type == QuestionType.REFERENCE:
        return "FC-2611-7Q4K"
    if q.type == QuestionType.EVIDENCE:
        return None
    if q.type == QuestionType.TEXTAREA:
        return "Someone took my bike from outside the shop."
    return "Sam Example" if "name" in qid else "Something"


def full_answers(form: FormDefinition) -> dict[str, Any]:
    """Answers for every page (choosing the first option makes conditional pages appear or not)."""
    answers: dict[str, Any] = {}
    for page in form.pages:
        if page not in visible_pages(form, answers):
            continue
        for q in page.questions:
            value = sample_answer(form, q.id)
            if value is not None:
                answers[q.id] = value
    return answers


def form_fields(form: FormDefinition, page_id: str, answers: dict[str, Any]) -> dict[str, Any]:
    """The HTML form fields posting `answers` for one page."""
    page = form.page(page_id)
    assert page is not None
    data: dict[str, Any] = {}
    for q in page.questions:
        value = answers.get(q.id)
        if value is None:
            continue
        if q.type == QuestionType.DATE:
            year, month, day = value.split("-")
            data.update({f"{q.id}-day": day, f"{q.id}-month": month, f"{q.id}-year": year})
        else:
            data[q.id] = value
    return data


def complete_journey(client: TestClient, slug: str, answers: dict[str, Any] | None = None) -> str:
    """Start a form, answer every page over HTML and stop at "Check your answers"; returns its URL."""
    form = catalogue()[slug]
    answers = answers if answers is not None else full_answers(form)
    response = client.post(f"/report/{slug}/start", follow_redirects=False)
    assert response.status_code == 303
    location = response.headers["location"]
    for _ in range(len(form.pages) + 1):
        if location.endswith("/check"):
            return location
        page_id = location.rsplit("/", 1)[-1]
        response = client.post(location, data=form_fields(form, page_id, answers), follow_redirects=False)
        assert response.status_code == 303, response.text[:2000]
        location = response.headers["location"]
    raise AssertionError("journey did not reach check your answers")


def current_page_id(url: str) -> str:
    """The journey page a URL shows (`/report/crime/when?change=1` -> `when`)."""
    return url.split("?")[0].rstrip("/").rsplit("/", 1)[-1]
