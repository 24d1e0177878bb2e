"""Every form, from start page to reference, on a phone-sized window with the keyboard alone.

No clicks and no `fill()`: focus moves only with Tab (and arrow keys inside a radio group), text
arrives as key presses, buttons are pressed with Enter. Before the journey the store already holds
an earlier report from the same mobile number, so each new report must be linked to that person
and flagged as a repeat contact (the issue's "done when").
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import select

from contact_store.models import Person, Report
from tests.builders import make_person, make_report
from tests.conftest import LiveServer
from tests.web_forms.helpers import PHONE, current_page_id, full_answers
from web_forms.catalogue import FormDefinition, QuestionType, catalogue

pytestmark = pytest.mark.browser

MAX_TABS = 80  # more tab stops than any page of ours has


def _active_matches(page: Page, script: str, arg: Any = None) -> bool:
    return bool(
        page.evaluate(f"(arg) => {{ const el = document.activeElement; return !!el && ({script}); }}", arg)
    )


def tab_to(page: Page, script: str, arg: Any = None, *, what: str) -> None:
    """Press Tab until the focused element satisfies `script` (a JS expression over `el`, `arg`)."""
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        if _active_matches(page, script, arg):
            return
    raise AssertionError(f"Tab never reached {what} on {page.url}")


def press_button(page: Page, label: str) -> None:
    tab_to(
        page,
        "(el.tagName === 'BUTTON' || el.tagName === 'A') && el.textContent.trim() === arg",
        label,
        what=f"the {label!r} button",
    )
    page.keyboard.press("Enter")


def type_into(page: Page, element_id: str, text: str) -> None:
    tab_to(page, "el.id === arg", element_id, what=f"#{element_id}")
    page.keyboard.type(text)


def choose_radio(page: Page, name: str, value: str) -> None:
    """Tab into the group (focus lands on its first radio), then arrow keys select."""
    tab_to(page, "el.type === 'radio' && el.name === arg", name, what=f"the {name!r} radios")
    for _ in range(MAX_TABS):
        if _active_matches(page, "el.value === arg", value):
            page.keyboard.press("Space")  # selects it if the arrows have not already
            return
        page.keyboard.press("ArrowDown")
    raise AssertionError(f"no radio {name}={value}")


def answer_page_with_keyboard(
    page: Page, form: FormDefinition, page_id: str, answers: dict[str, Any]
) -> None:
    definition = form.page(page_id)
    assert definition is not None, page_id
    for q in definition.questions:
        value = answers.get(q.id)
        if value is None:
            continue
        if q.type == QuestionType.DATE:
            year, month, day = value.split("-")
            for part, text in (("day", day), ("month", month), ("year", year)):
                type_into(page, f"{q.id}-{part}", text)
        elif q.type == QuestionType.RADIOS:
            choose_radio(page, q.id, value)
        elif q.type == QuestionType.CHECKBOXES:
            for v in value:
                tab_to(
                    page,
                    "el.type === 'checkbox' && el.name === arg[0] && el.value === arg[1]",
                    [q.id, v],
                    what=f"checkbox {q.id}={v}",
                )
                page.keyboard.press("Space")
        else:
            type_into(page, q.id, value)
    press_button(page, "Continue")


@pytest.mark.parametrize("slug", list(catalogue()))
def test_every_form_on_a_phone_with_the_keyboard_alone(
    phone_page: Page, live_server: LiveServer, slug: str
) -> None:
    page = phone_page
    form = catalogue()[slug]
    answers = full_answers(form)
    gives_phone = PHONE in answers.values()
    earlier_reference = None
    if gives_phone:
        with live_server.store.session_scope() as s:
            earlier = make_person(s, phone_e164="+447700900123")
            earlier_reference = make_report(s, person_id=earlier.id, form_slug="asb").reference
            earlier_id = earlier.id

    page.goto(f"{live_server.base_url}/report/{slug}")
    expect(page.locator("main")).to_contain_text("999")
    press_button(page, "Start now")
    page.wait_for_url(re.compile(rf"/report/{re.escape(slug)}/[\w-]+$"))
    for _ in range(len(form.pages) + 1):
        page_id = current_page_id(page.url)
        if page_id == "check":
            break
        expect(page.locator("main h1")).to_be_visible()
        answer_page_with_keyboard(page, form, page_id, answers)
        page.wait_for_url(lambda url, pid=page_id: not url.split("?")[0].endswith(f"/{pid}"))
        expect(page.locator(".govuk-error-summary")).to_have_count(0)
    assert current_page_id(page.url) == "check", f"{slug}: did not reach Check your answers"
    press_button(page, "Send report")
    expect(page.locator(".govuk-panel--confirmation")).to_be_visible()
    reference = page.locator(".fc-reference").inner_text()
    assert re.fullmatch(r"FC-\d{4}-[2-9A-Z]{4,}", reference)

    with live_server.store.session_scope() as s:
        report = s.exec(select(Report).where(Report.reference == reference)).one()
        assert report.form_slug == slug and report.sensitive == form.sensitive
        if gives_phone:
            assert report.person_id == earlier_id, "not linked to the earlier contact"
            assert report.repeat_contact, "the earlier report did not make this a repeat contact"
            person = s.get(Person, report.person_id)
            assert person is not None and person.phone_e164 == "+447700900123"
            assert earlier_reference != reference
