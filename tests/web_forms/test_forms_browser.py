"""The public forms as people meet them: real Chromium, phone-sized, keyboard, no JavaScript,
quick exit, and axe-core on every page of every form (one browser for the whole module)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Route, expect
from sqlmodel import select

from contact_store.models import FormSession, Person, Report
from tests.conftest import LiveServer
from tests.support.browser import AXE_PATH, assert_no_axe_violations, screenshot
from tests.web_forms.helpers import PNG, current_page_id, full_answers
from web_forms.catalogue import FormDefinition, QuestionType, catalogue

pytestmark = pytest.mark.browser

EXIT_SITE = "https://www.bbc.co.uk/weather"


def stub_exit_site(page: Page) -> None:
    """The quick exit lands on a real website: answer it locally (tests never touch the internet)."""

    def fulfil(route: Route) -> None:
        route.fulfill(status=200, content_type="text/html", body="<title>Weather</title><h1>Weather</h1>")

    page.context.route("https://www.bbc.co.uk/**", fulfil)


def fill_page(page: Page, form: FormDefinition, page_id: str, answers: dict[str, Any]) -> None:
    """Answer the questions of the page on screen."""
    definition = form.page(page_id)
    assert definition is not None
    for q in definition.questions:
        value = answers.get(q.id)
        if value is None:
            continue
        if q.type == QuestionType.DATE:
            year, month, day = value.split("-")
            page.locator(f"#{q.id}-day").fill(day)
            page.locator(f"#{q.id}-month").fill(month)
            page.locator(f"#{q.id}-year").fill(year)
        elif q.type in (QuestionType.RADIOS, QuestionType.CHECKBOXES):
            for v in value if isinstance(value, list) else [value]:
                page.locator(f"input[name='{q.id}'][value='{v}']").check()
        else:
            page.locator(f"#{q.id}").fill(value)


def walk_to_check(
    page: Page,
    form: FormDefinition,
    answers: dict[str, Any],
    *,
    axe: bool = False,
    shots: str = "",
    upload: bool = False,
) -> None:
    """From the first question page, answer every page until "Check your answers"."""
    for step in range(len(form.pages) + 1):
        page_id = current_page_id(page.url)
        if page_id == "check":
            return
        expect(page.locator("main h1")).to_be_visible()
        if axe:
            assert_no_axe_violations(page, context=f"{form.slug}/{page_id}")
        if shots:
            screenshot(page, f"{shots}-{step:02d}-{page_id}")
        if upload and page_id == "evidence":
            # A wrong file first (error state), then a real one (the list with Remove buttons).
            page.locator("#evidence").set_input_files(
                files=[{"name": "notes.png", "mimeType": "image/png", "buffer": b"not an image" * 20}]
            )
            page.get_by_role("button", name="Upload file").click()
            expect(page.locator(".govuk-error-summary")).to_contain_text("must be a JPG, PNG")
            if axe:
                assert_no_axe_violations(page, context=f"{form.slug}/evidence with error")
            page.locator("#evidence").set_input_files(
                files=[{"name": "bike.png", "mimeType": "image/png", "buffer": PNG}]
            )
            page.get_by_role("button", name="Upload file").click()
            page.get_by_role("button", name="Remove bike.png").click()
            expect(page.get_by_text("Files added")).to_have_count(0)
            page.locator("#evidence").set_input_files(
                files=[{"name": "bike.png", "mimeType": "image/png", "buffer": PNG}]
            )
            page.get_by_role("button", name="Upload file").click()
            expect(page.get_by_role("button", name="Remove bike.png")).to_be_visible()
            if axe:
                assert_no_axe_violations(page, context=f"{form.slug}/evidence with a file")
            screenshot(page, f"forms-{form.slug}-evidence-with-file")
        fill_page(page, form, page_id, answers)
        page.get_by_role("button", name="Continue").click()
        page.wait_for_url(lambda url, pid=page_id: not url.split("?")[0].endswith(f"/{pid}"))
    raise AssertionError("did not reach check your answers")


def test_crime_journey_on_a_phone_with_the_keyboard(phone_page: Page, live_server: LiveServer) -> None:
    page = phone_page
    form = catalogue()["crime"]
    page.goto(live_server.base_url + "/")
    expect(page.locator("main")).to_contain_text("If you are in danger now, call 999.")
    page.get_by_role("link", name="Report online").click()
    page.get_by_role("link", name="Report a crime").click()
    expect(page.get_by_role("heading", name="Is someone in danger now? Call 999")).to_be_visible()
    screenshot(page, "forms-crime-start-phone")
    page.get_by_role("button", name="Start now").focus()
    page.keyboard.press("Enter")
    # Continue without answering: the error summary is focused and links to the field.
    page.get_by_role("button", name="Continue").focus()
    page.keyboard.press("Enter")
    summary = page.locator(".govuk-error-summary")
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("Select what kind of crime you are reporting")
    assert page.title().startswith("Error:")
    assert_no_axe_violations(page, context="crime error summary")
    screenshot(page, "forms-crime-error-phone")
    summary.get_by_role("link").click()
    expect(page.locator("#crime_type")).to_be_focused()
    page.keyboard.press("Space")  # select the first radio with the keyboard
    page.get_by_role("button", name="Continue").click()
    answers = full_answers(form) | {"description": "Bike taken from outside the library 🚲 <b>not bold</b>"}
    walk_to_check(page, form, answers, shots="forms-crime-phone")
    expect(page.get_by_role("heading", name="Check your answers before sending your report")).to_be_visible()
    expect(page.locator(".govuk-summary-list")).to_contain_text("<b>not bold</b>")
    screenshot(page, "forms-crime-check-phone")
    page.get_by_role("link", name="Change What happened").click()
    page.locator("#description").fill("Changed: bike taken")
    page.get_by_role("button", name="Continue").click()
    expect(page).to_have_url(re.compile(r"/report/crime/check$"))
    expect(page.locator(".govuk-summary-list")).to_contain_text("Changed: bike taken")
    page.get_by_role("button", name="Send report").click()
    panel = page.locator(".govuk-panel--confirmation")
    expect(panel).to_contain_text("Report sent")
    reference = page.locator(".fc-reference").inner_text()
    assert re.fullmatch(r"FC-\d{4}-[2-9A-Z]{4,}", reference)
    expect(page.get_by_role("heading", name="What happens next")).to_be_visible()
    assert_no_axe_violations(page, context="crime confirmation")
    screenshot(page, "forms-crime-done-phone")
    # Back button and resend: still one report.
    page.go_back()
    with live_server.store.session_scope() as s:
        reports = s.exec(select(Report)).all()
        assert [r.reference for r in reports] == [reference]
        person = s.get(Person, reports[0].person_id)
        assert person is not None and person.phone_e164 == "+447700900123"
        assert reports[0].answers["description"] == "Changed: bike taken"


def test_domestic_abuse_quick_exit_button(page: Page, live_server: LiveServer) -> None:
    stub_exit_site(page)
    page.goto(live_server.base_url + "/report/domestic-abuse")
    expect(page.get_by_role("button", name="Emergency Exit this page")).to_be_visible()
    screenshot(page, "forms-da-start")
    page.get_by_role("button", name="Start now").click()
    page.get_by_label("Yes").check()
    page.get_by_role("button", name="Continue").click()
    expect(page).to_have_url(re.compile("/about$"))
    page.get_by_role("button", name="Emergency Exit this page").click()
    expect(page).to_have_url(EXIT_SITE)
    with live_server.store.session_scope() as s:
        stored = s.exec(select(FormSession)).one()
        assert stored.ended_at is not None and stored.answers == {}
    page.goto(live_server.base_url + "/report/domestic-abuse/about")
    expect(page).to_have_url(re.compile("/report/domestic-abuse$"))


def test_domestic_abuse_quick_exit_with_shift_three_times(page: Page, live_server: LiveServer) -> None:
    stub_exit_site(page)
    page.goto(live_server.base_url + "/report/domestic-abuse")
    page.get_by_role("button", name="Start now").click()
    expect(page).to_have_url(re.compile("/safe-now$"))
    # GOV.UK Frontend marks the component once it listens for the key (a busy machine runs the
    # script later than the page appears: presses before that are not heard).
    expect(page.locator(".govuk-exit-this-page[data-govuk-exit-this-page-init]")).to_be_attached()
    page.locator("body").click(position={"x": 5, "y": 300})
    for _ in range(3):
        page.keyboard.press("Shift")
    expect(page).to_have_url(EXIT_SITE)
    with live_server.store.session_scope() as s:
        assert s.exec(select(FormSession)).one().ended_at is not None


@pytest.fixture
def no_js_page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(java_script_enabled=False, viewport={"width": 390, "height": 844})
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def test_domestic_abuse_without_javascript(no_js_page: Page, live_server: LiveServer) -> None:
    page = no_js_page
    form = catalogue()["domestic-abuse"]
    page.goto(live_server.base_url + "/report/domestic-abuse")
    page.get_by_role("button", name="Start now").click()
    page.get_by_role("button", name="Continue").click()
    expect(page.locator(".govuk-error-summary")).to_contain_text("Select if you are safe right now")
    answers = full_answers(form) | {"safe_to_text": "no"}
    walk_to_check(page, form, answers)
    screenshot(page, "forms-da-check-nojs")
    page.get_by_role("button", name="Send report").click()
    reference = page.locator(".fc-reference").inner_text()
    with live_server.store.session_scope() as s:
        report = s.exec(select(Report)).one()
        assert report.reference == reference and report.sensitive
    # The exit link works without JavaScript too.
    stub_exit_site(page)
    page.get_by_role("button", name="Emergency Exit this page").click()
    expect(page).to_have_url(EXIT_SITE)


def test_crime_without_javascript_in_welsh(no_js_page: Page, live_server: LiveServer) -> None:
    page = no_js_page
    form = catalogue()["crime"]
    page.goto(live_server.base_url + "/report/crime")
    page.get_by_role("link", name="Cymraeg").click()
    expect(page.get_by_role("heading", name="Rhoi gwybod am drosedd")).to_be_visible()
    page.get_by_role("button", name="Dechrau nawr").click()
    answers = full_answers(form)
    for _ in range(len(form.pages) + 1):
        if current_page_id(page.url) == "check":
            break
        fill_page(page, form, current_page_id(page.url), answers)
        page.get_by_role("button", name="Parhau").click()
    expect(page.get_by_role("heading", name="Gwiriwch eich atebion cyn anfon eich adroddiad")).to_be_visible()
    screenshot(page, "forms-crime-check-cy")
    page.get_by_role("button", name="Anfon adroddiad").click()
    expect(page.locator(".govuk-panel__title")).to_have_text("Adroddiad wedi'i anfon")


@pytest.mark.parametrize("slug", list(catalogue()))
def test_axe_on_every_page_of_every_form(page: Page, live_server: LiveServer, slug: str) -> None:
    form = catalogue()[slug]
    stub_exit_site(page)
    # Load axe-core with every page instead of injecting it after each navigation (much faster).
    page.context.add_init_script(path=str(AXE_PATH))
    if slug == "crime":
        page.goto(live_server.base_url + "/")
        assert_no_axe_violations(page, context="home")
        page.goto(live_server.base_url + "/report")
        assert_no_axe_violations(page, context="report index")
    page.goto(f"{live_server.base_url}/report/{slug}")
    assert_no_axe_violations(page, context=f"{slug} start")
    if form.sensitive:
        page.goto(f"{live_server.base_url}/report/{slug}/safety")
        assert_no_axe_violations(page, context=f"{slug} safety")
        page.goto(f"{live_server.base_url}/report/{slug}")
    page.get_by_role("button", name="Start now").click()
    # The first page with an error summary.
    page.get_by_role("button", name="Continue").click()
    expect(page.locator(".govuk-error-summary")).to_be_visible()
    assert_no_axe_violations(page, context=f"{slug} first page with errors")
    walk_to_check(page, form, full_answers(form), axe=True, upload=slug == "crime")
    assert_no_axe_violations(page, context=f"{slug} check your answers")
    page.get_by_role("button", name="Send report").click()
    expect(page.locator(".govuk-panel--confirmation")).to_be_visible()
    assert_no_axe_violations(page, context=f"{slug} confirmation")
