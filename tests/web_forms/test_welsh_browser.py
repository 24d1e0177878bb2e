"""A Welsh speaker meets no English (real Chromium): every form's every page with valid answers to
the confirmation, the error states, check answers, the hosted chat page and the widget (pre-chat,
queue, chat, end, survey), the chat when closed, the survey by web link and the error pages.

Each page's visible text (with visually hidden text, the title and accessible names) is checked by
`tests.support.welsh.english_words_in`; screenshots go to test-results/screenshots/welsh-*.png.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from playwright.sync_api import ConsoleMessage, Page, expect
from sqlmodel import Session, select

from chat_server.routing import service as routing
from contact_store.clock import utcnow
from contact_store.models import Conversation, Operator, OperatorStatus, SurveyInvitation
from contact_store.surveys.service import survey_token
from tests.builders import make_operator, make_report
from tests.conftest import LiveServer
from tests.support.browser import assert_no_axe_violations, screenshot
from tests.support.welsh import english_words_in
from tests.web_forms.helpers import PHONE, current_page_id, full_answers
from web_forms.catalogue import FormDefinition, QuestionType, catalogue

pytestmark = pytest.mark.browser

# Names the test types or the store holds (not translatable): allowed on a Welsh page.
NAMES = {"sam", "enghraifft", "dana", "robin", "rhywbeth"}
VISIBLE_TEXT = """() => {
  const names = [...document.querySelectorAll('[aria-label],[title],[placeholder],[alt]')]
    .map(e => ['aria-label', 'title', 'placeholder', 'alt'].map(a => e.getAttribute(a)).join(' '));
  const options = [...document.querySelectorAll('option')].map(o => o.textContent);
  return [document.title, document.body.innerText, ...names, ...options].join('\\n');
}"""


def assert_welsh(page: Page, name: str) -> None:
    """No English word on the page; a screenshot to look at."""
    screenshot(page, f"welsh-{name}")
    text = page.evaluate(VISIBLE_TEXT)
    english = english_words_in(text, allowed=NAMES)
    assert not english, f"English on {name} ({page.url}): {english}\n---\n{text}"


def welsh_answers(form: FormDefinition) -> dict[str, Any]:
    """Valid answers, typed in Welsh where they are free text."""
    answers = full_answers(form)
    for qid, q in form.questions.items():
        if qid not in answers:
            continue
        if q.type == QuestionType.TEXTAREA:
            answers[qid] = "Aeth rhywun â fy meic o'r tu allan i'r siop."
        elif q.type == QuestionType.TEXT:
            answers[qid] = "Sam Enghraifft" if "name" in qid else "Rhywbeth"
    return answers


# Wrong answers that each type refuses with its own message.
INVALID = {
    QuestionType.DATE: {"day": "31", "month": "2", "year": "2026"},
    QuestionType.POSTCODE: "DIM",
    QuestionType.PHONE: "123",
    QuestionType.EMAIL: "dim-cyfeiriad",
    QuestionType.REFERENCE: "?",
}


def fill(page: Page, form: FormDefinition, page_id: str, answers: dict[str, Any], *, invalid: bool) -> bool:
    """Answer the page's questions (or give the wrong answers); True if anything was filled."""
    definition = form.page(page_id)
    assert definition is not None
    filled = False
    for q in definition.questions:
        value = INVALID.get(q.type) if invalid else answers.get(q.id)
        if value is None:
            continue
        filled = True
        if q.type == QuestionType.DATE:
            parts = (
                value
                if isinstance(value, dict)
                else dict(zip(("year", "month", "day"), value.split("-"), strict=True))
            )
            for part in ("day", "month", "year"):
                page.locator(f"#{q.id}-{part}").fill(parts[part])
        elif q.type in (QuestionType.RADIOS, QuestionType.CHECKBOXES):
            for v in value if isinstance(value, list) else [value]:
                page.locator(f"input[name='{q.id}'][value='{v}']").check()
        else:
            page.locator(f"#{q.id}").fill(value)
    return filled


def needs_answer(form: FormDefinition, page_id: str) -> bool:
    definition = form.page(page_id)
    assert definition is not None
    return any(
        q.required and q.default is None and q.type != QuestionType.EVIDENCE for q in definition.questions
    ) or any(q.type in INVALID for q in definition.questions)


@pytest.mark.parametrize("slug", list(catalogue()))
def test_every_form_in_welsh(page: Page, live_server: LiveServer, slug: str) -> None:
    form = catalogue()[slug]
    base = live_server.base_url
    if slug == "crime":
        page.goto(base + "/?lang=cy")
        assert_welsh(page, "home")
    page.goto(f"{base}/report?lang=cy")
    assert_welsh(page, "report-index")
    page.goto(f"{base}/report/{slug}")  # no ?lang=: the choice sticks
    expect(page.locator("html")).to_have_attribute("lang", "cy")
    assert_welsh(page, f"{slug}-start")
    if form.sensitive:
        page.goto(f"{base}/report/{slug}/safety")
        assert_welsh(page, f"{slug}-safety")
        page.goto(f"{base}/report/{slug}")
    page.get_by_role("button", name="Dechrau nawr").click()
    answers = welsh_answers(form)
    for step in range(len(form.pages) + 1):
        page_id = current_page_id(page.url)
        if page_id == "check":
            break
        expect(page.locator("main h1")).to_be_visible()
        assert_welsh(page, f"{slug}-{step:02d}-{page_id}")
        if needs_answer(form, page_id):
            fill(page, form, page_id, answers, invalid=True)
            page.get_by_role("button", name="Parhau").click()
            expect(page.locator(".govuk-error-summary")).to_be_visible()
            assert_welsh(page, f"{slug}-{step:02d}-{page_id}-errors")
        if page_id == "evidence":
            page.locator("#evidence").set_input_files(
                files=[{"name": "nodiadau.png", "mimeType": "image/png", "buffer": b"nid llun" * 20}]
            )
            page.get_by_role("button", name="Uwchlwytho ffeil").click()
            expect(page.locator(".govuk-error-summary")).to_be_visible()
            assert_welsh(page, f"{slug}-evidence-errors")
        fill(page, form, page_id, answers, invalid=False)
        page.get_by_role("button", name="Parhau").click()
        page.wait_for_url(lambda url, pid=page_id: not url.split("?")[0].endswith(f"/{pid}"))
    expect(page.get_by_role("heading", name="Gwiriwch eich atebion cyn anfon eich adroddiad")).to_be_visible()
    assert_welsh(page, f"{slug}-check")
    page.get_by_role("button", name="Anfon adroddiad").click()
    expect(page.locator(".govuk-panel--confirmation")).to_be_visible()
    assert_welsh(page, f"{slug}-done")
    if slug == "crime":
        assert_no_axe_violations(page, context="Welsh confirmation")


def _answer_chat(live_server: LiveServer, op_id: int) -> str:
    def answer(*, session: Session) -> str:
        conv = session.exec(select(Conversation)).one()
        op = session.get(Operator, op_id)
        assert op is not None
        routing.claim(session=session, settings=live_server.settings, conversation_id=conv.id, operator=op)
        return conv.id

    return live_server.store.run_in_session(answer)  # type: ignore[no-any-return]


def test_hosted_chat_and_its_survey_in_welsh(page: Page, live_server: LiveServer) -> None:
    with live_server.store.session_scope() as s:
        op_id = make_operator(
            s, username="dana", display_name="Dana", status=OperatorStatus.AVAILABLE, last_seen_at=utcnow()
        ).id
    assert op_id is not None
    page.goto(live_server.base_url + "/chat?lang=cy")
    expect(page.get_by_label("Eich enw")).to_be_visible()
    assert_welsh(page, "chat-prechat")
    assert_no_axe_violations(page, context="Welsh hosted chat page")
    page.get_by_role("button", name="Dechrau sgwrs").click()
    expect(page.locator(".fcw-error-summary")).to_be_visible()
    assert_welsh(page, "chat-prechat-errors")
    page.get_by_label("Eich enw").fill("Robin")
    page.get_by_label("Rhif ffôn symudol (dewisol)").fill(PHONE)
    page.get_by_label("Am beth mae eich sgwrs?").select_option("crime")
    page.get_by_role("button", name="Dechrau sgwrs").click()
    expect(page.get_by_text("Rydych yn rhif 1 yn y ciw.")).to_be_visible()
    assert_welsh(page, "chat-queue")
    _answer_chat(live_server, op_id)
    expect(page.get_by_text("Rydych yn sgwrsio gyda Dana.")).to_be_visible()
    expect(page.get_by_text("Mae Dana wedi ymuno â'r sgwrs.")).to_be_visible()
    page.get_by_label("Eich neges").fill("Mae rhywun wedi dwyn fy meic")
    page.get_by_role("button", name="Anfon", exact=True).click()
    expect(page.locator(".fcw-msg--visitor .fcw-state")).to_have_text("Wedi anfon")
    assert_welsh(page, "chat-talking")
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Gorffen sgwrs").click()
    expect(page.get_by_text("Mae'r sgwrs wedi dod i ben.")).to_be_focused()
    form = page.get_by_role("form", name="Dywedwch wrthym sut wnaethom ni")
    expect(form.get_by_role("radio")).to_have_count(15)
    assert_welsh(page, "chat-survey")
    form.get_by_role("button", name="Anfon atebion").click()
    expect(page.locator(".fcw-error-summary")).to_be_focused()
    assert_welsh(page, "chat-survey-errors")
    for group in form.get_by_role("group").all():
        group.get_by_label("4 – Bodlon").check()
    form.get_by_role("button", name="Anfon atebion").click()
    expect(page.get_by_role("status").filter(has_text="Diolch am eich adborth.")).to_be_focused()
    assert_welsh(page, "chat-survey-thanks")


def test_closed_chat_in_welsh_gives_the_day_in_welsh(page: Page, live_server: LiveServer) -> None:
    hours = dict(live_server.settings.chat_opening_hours)
    live_server.settings.chat_opening_hours = dict.fromkeys(hours, "") | {"mon": "08:00-20:00"}
    try:
        page.goto(live_server.base_url + "/chat?lang=cy")
        expect(page.get_by_text("Mae sgwrs fyw ar gau nawr.")).to_be_visible()
        expect(page.get_by_text("Bydd yn agor eto ddydd Llun am 08:00.")).to_be_visible()
        assert_welsh(page, "chat-closed")
    finally:
        live_server.settings.chat_opening_hours = hours


def test_survey_by_web_link_in_welsh(page: Page, live_server: LiveServer) -> None:
    with live_server.store.session_scope() as s:
        report = make_report(s, language="cy")
        invitation = SurveyInvitation(
            channel="report", report_id=report.id, reference=report.reference, status="sent"
        )
        s.add(invitation)
        s.flush()
        assert invitation.id is not None
        token = survey_token(settings=live_server.settings, invitation_id=invitation.id)
    page.goto(f"{live_server.base_url}/survey/{token}?lang=cy")
    assert_welsh(page, "survey-form")
    assert_no_axe_violations(page, context="Welsh survey page")
    page.get_by_role("button", name="Anfon eich atebion").click()
    expect(page.locator(".govuk-error-summary")).to_be_visible()
    assert_welsh(page, "survey-errors")
    for field in ("score_time", "score_resolve", "score_overall"):
        page.locator(f"input[name='{field}'][value='5']").check()
    page.get_by_role("button", name="Anfon eich atebion").click()
    expect(page.locator(".govuk-panel--confirmation")).to_be_visible()
    assert_welsh(page, "survey-done")


def test_error_pages_in_welsh(page: Page, live_server: LiveServer) -> None:
    page.goto(live_server.base_url + "/dim-tudalen?lang=cy")
    expect(page.get_by_role("heading", name="Heb ddod o hyd i'r dudalen")).to_be_visible()
    assert_welsh(page, "error-404")
    assert_no_axe_violations(page, context="Welsh 404 page")
    page.goto(live_server.base_url + "/report/dim-ffurflen")
    assert_welsh(page, "error-404-form")
    # A form posted to a page that takes none (405), and a submission with a broken field (422).
    for path, name in (("/report", "error-405"), ("/report/crime/submit", "error-422")):
        page.goto(live_server.base_url + "/report")
        page.evaluate(
            """([path]) => {
                 const f = document.createElement('form'); f.method = 'post'; f.action = path;
                 const i = document.createElement('input'); i.name = 'submit_token';
                 i.value = 'x'.repeat(200); f.appendChild(i); document.body.appendChild(f); f.submit(); }""",
            [path],
        )
        page.wait_for_load_state()
        expect(page.locator("main h1")).to_be_visible()
        assert_welsh(page, name)


@contextmanager
def force_website(live_server: LiveServer, lang: str) -> Iterator[str]:
    """A real web server on another port (another origin, not in allowed_origins) whose page
    embeds the widget; yields the page's URL."""
    body = (
        f"<!doctype html><html lang='{lang}'><head><title>Heddlu</title></head><body><main><h1>Cysylltu</h1>"
        f"<div id='chat'></div></main><script src='{live_server.base_url}/chat/widget.js' data-lang='{lang}' "
        "data-mode='inline' data-target='#chat' defer></script></body></html>"
    ).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/contact"
    finally:
        server.shutdown()
        server.server_close()


def console_errors(page: Page) -> list[str]:
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("console", on_console)
    return errors


def test_widget_on_a_website_not_in_allowed_origins(page: Page, live_server: LiveServer) -> None:
    """Not "Connecting…" for ever: the visitor is told, and offered 101 and the online forms; the
    force's web team is told in the browser console which setting to change."""
    errors = console_errors(page)
    with force_website(live_server, "en") as url:
        page.goto(url)
        origin = url.rsplit("/", 1)[0]
        expect(page.get_by_text("Live chat is not available on this website.")).to_be_visible()
        expect(
            page.get_by_text("To contact us, call 101 (in an emergency, call 999), or report online.")
        ).to_be_visible()
        expect(page.get_by_role("link", name="Report online instead")).to_have_attribute(
            "href", live_server.base_url + "/report"
        )
        expect(page.get_by_text("Connecting…")).to_have_count(0)
        screenshot(page, "widget-foreign-origin")
    told = [e for e in errors if "ALLOWED_ORIGINS" in e]
    assert told and origin in told[0] and "FIRSTCONTACT_ALLOWED_ORIGINS" in told[0], errors


def test_widget_on_a_website_not_in_allowed_origins_in_welsh(page: Page, live_server: LiveServer) -> None:
    with force_website(live_server, "cy") as url:
        page.goto(url)
        expect(page.get_by_text("Nid yw sgwrs fyw ar gael ar y wefan hon.")).to_be_visible()
        assert_welsh(page, "widget-foreign-origin")
