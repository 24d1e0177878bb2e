"""The Welsh catalogue is complete and in step with the code, and Welsh reaches every channel:
pages (`?lang=cy` sticks), error pages, opening times, and texts sent to a Welsh contact."""

from __future__ import annotations

import html
import re
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from chat_server.widget.strings import widget_strings
from contact_store import i18n
from contact_store.i18n import catalogue_paths, opening_time, translator
from contact_store.models import SmsMessage, SurveyInvitation
from contact_store.reports import ReportCreate, file_report
from contact_store.settings import Settings
from contact_store.sms.acks import queue_chat_ack, queue_report_update
from contact_store.sms.inbound import handle_inbound
from contact_store.surveys.service import dispatch_due_invitations, schedule_survey, survey_token
from tests.builders import make_area, make_conversation, make_operator, make_person, make_report, make_team
from tests.support.welsh import english_words_in

REPO = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"\{\w*\}|\(\(\w+\)\)")
PHONE = "+447700900123"


def _text(response: Any) -> str:
    """A page's text as people read it (no tags, scripts or escapes)."""
    return html.unescape(re.sub(r"<(script|style)[^>]*>.*?</\1>|<[^>]+>", " ", response.text, flags=re.S))


def _catalog():  # type: ignore[no-untyped-def]
    po, _ = catalogue_paths("cy")
    with po.open("rb") as fp:
        return read_po(fp, locale="cy")


def test_every_message_has_a_welsh_translation() -> None:
    catalog = _catalog()
    untranslated = [m.id for m in catalog if m.id and (not m.string or m.fuzzy)]
    assert not untranslated, f"{len(untranslated)} message(s) without Welsh (empty or fuzzy): {untranslated}"
    assert not list(catalog.obsolete), f"obsolete entries: run pybabel update: {list(catalog.obsolete)}"
    for m in catalog:
        if m.id:
            assert sorted(PLACEHOLDER.findall(str(m.id))) == sorted(PLACEHOLDER.findall(str(m.string))), m.id


def test_extraction_finds_nothing_missing_from_the_catalogue(tmp_path: Path) -> None:
    """What `pybabel extract` finds in the code today is exactly what the .po holds."""
    pot = tmp_path / "messages.pot"
    CommandLineInterface().run(
        [
            "pybabel",
            "-q",
            "extract",
            "-F",
            str(REPO / "babel.cfg"),
            "-k",
            "N_",
            "-o",
            str(pot),
            str(REPO / "contact_store"),
            str(REPO / "chat_server"),
            str(REPO / "web_forms"),
        ]
    )
    with pot.open("rb") as fp:
        extracted = {m.id for m in read_po(fp) if m.id}
    in_po = {m.id for m in _catalog() if m.id}
    assert len(extracted) > 300
    assert not extracted - in_po, f"not in the .po (run pybabel update): {sorted(extracted - in_po)}"  # type: ignore[type-var]
    assert not in_po - extracted, f"in the .po but no longer in the code: {sorted(in_po - extracted)}"  # type: ignore[type-var]


def test_a_stale_or_missing_mo_is_compiled_from_the_po(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "cy" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    po, _ = catalogue_paths("cy")
    (folder / "messages.po").write_bytes(po.read_bytes())
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    i18n.translations.cache_clear()
    try:
        assert i18n.translations("cy").gettext("Back") == "Yn ôl"  # compiled in memory
    finally:
        i18n.translations.cache_clear()


def test_welsh_day_names_in_opening_times() -> None:
    monday = datetime(2026, 11, 30, 8, 0, tzinfo=ZoneInfo("Europe/London"))
    assert opening_time(monday, "cy") == "ddydd Llun am 08:00"
    assert opening_time(monday, "en") == "Monday at 08:00"
    strings = widget_strings("cy", non_emergency_number="101")
    closed = strings["closed"] + " " + strings["closedNext"].format(when=opening_time(monday, "cy"))
    assert closed == "Mae sgwrs fyw ar gau nawr. Bydd yn agor eto ddydd Llun am 08:00."
    assert not english_words_in(closed)


def test_availability_gives_the_opening_time_in_both_languages(
    client: TestClient, settings: Settings
) -> None:
    settings.chat_opening_hours = dict.fromkeys(settings.chat_opening_hours, "") | {"mon": "08:00-20:00"}
    body = client.get("/api/v1/chats/availability").json()
    assert body["open"] is False
    assert body["next_opening_text"]["cy"].startswith("ddydd Llun am 08:00")
    assert body["next_opening_text"]["en"] == "Monday at 08:00"


def test_widget_words_are_all_welsh() -> None:
    strings = widget_strings("cy", non_emergency_number="101")
    flat = [v for v in strings.values() if isinstance(v, str) and v not in ("English", "en")]
    for value in strings.values():
        if isinstance(value, dict):
            flat += value.values()
        elif isinstance(value, list):
            flat += value
    problems = {text: english_words_in(text) for text in flat if english_words_in(text)}
    assert not problems


def test_lang_in_any_url_sticks(client: TestClient) -> None:
    page = client.get("/report/fraud?lang=cy")
    assert page.status_code == 200 and page.headers["content-language"] == "cy"
    assert "Pa fath o dwyll" not in page.text  # the start page, not the question
    assert "fc_lang=cy" in page.headers["set-cookie"]
    # The choice sticks: the next page, without ?lang=, is Welsh too.
    index = client.get("/report")
    assert index.headers["content-language"] == "cy" and "Rhoi gwybod am dwyll" in index.text
    # The switch link comes back to the same page (without the old ?lang=).
    assert 'href="/language?lang=en&amp;next=%2Freport"' in index.text
    chat = client.get("/chat")
    assert chat.headers["content-language"] == "cy" and 'data-lang="cy"' in chat.text
    assert client.get("/report?lang=en").headers["content-language"] == "en"
    assert client.get("/report").headers["content-language"] == "en"


def test_error_pages_in_welsh(client: TestClient, app: FastAPI) -> None:
    missing = client.get("/no-such-page?lang=cy")
    assert missing.status_code == 404 and "Heb ddod o hyd i'r dudalen" in _text(missing)
    not_allowed = client.post("/report?lang=cy")
    assert not_allowed.status_code == 405 and "Ni chaniateir y weithred hon" in _text(not_allowed)
    no_form = client.get("/report/no-such-form?lang=cy")
    assert no_form.status_code == 404 and "Does dim ffurflen yn y cyfeiriad hwn" in _text(no_form)
    invalid = client.post("/report/crime/submit?lang=cy", data={"submit_token": "x" * 200})
    assert invalid.status_code == 422 and "Doedd rhywfaint o'r wybodaeth" in _text(invalid)

    @app.get("/broken-for-test")
    def broken() -> None:
        raise RuntimeError("boom")

    quiet = TestClient(app, raise_server_exceptions=False)  # the app is already started by `client`
    quiet.cookies.set("fc_lang", "cy")
    failed = quiet.get("/broken-for-test")
    assert failed.status_code == 500 and "Mae'n ddrwg gennym, mae problem gyda'r gwasanaeth" in _text(failed)
    for page in (missing, not_allowed, no_form, invalid, failed):
        assert not english_words_in(_text(page)), english_words_in(_text(page))


def _welsh_report(session: Session, settings: Settings) -> SmsMessage:
    filed = file_report(
        session=session,
        settings=settings,
        report_in=ReportCreate(
            form_slug="fraud",
            answers={},
            summary="Twyll",
            phone="07700 900123",
            safe_to_contact=True,
            language="cy",
            response_time="5 working days",
        ),
    )
    return session.exec(select(SmsMessage).where(SmsMessage.report_id == filed.id)).one()


def test_texts_to_a_welsh_contact_are_in_welsh(session: Session, settings: Settings) -> None:
    ack = _welsh_report(session, settings)
    assert "diolch am eich adroddiad" in ack.body
    assert "5 diwrnod gwaith" in ack.body and "ffoniwch 999" in ack.body
    chat = make_conversation(session, language="cy", safe_to_contact=True, contact_e164=PHONE)
    chat_ack = queue_chat_ack(session=session, settings=settings, conversation=chat, reference="FC-2611-ABCD")
    report = make_report(session, language="cy", safe_to_contact=True, contact_e164=PHONE)
    update = queue_report_update(
        session=session,
        settings=settings,
        report=report,
        message="Mae gennym ni ddrwgdybiedig.",
        operator_id=None,
    )
    assert chat_ack is not None and update is not None
    assert "sgwrs fyw" in chat_ack.body and "diweddariad ar" in update.body
    for text in (ack, chat_ack, update):
        assert not english_words_in(text.body), text.body
    # An English contact still gets English.
    english = make_report(session, language="en", safe_to_contact=True, contact_e164="+447700900456")
    text = queue_report_update(
        session=session, settings=settings, report=english, message="Hi", operator_id=None
    )
    assert text is not None and " update on " in text.body


def test_survey_by_text_in_welsh(session: Session, settings: Settings) -> None:
    team, area = make_team(session), make_area(session)
    person = make_person(session, phone_e164=PHONE)
    report = make_report(
        session,
        person_id=person.id,
        team_id=team.id,
        area_id=area.id,
        assignee_id=make_operator(session, team_id=team.id).id,
        status="resolved",
        safe_to_contact=True,
        contact_e164=PHONE,
        language="cy",
    )
    invitation = schedule_survey(session=session, settings=settings, channel="report", report=report)
    assert dispatch_due_invitations(session=session, settings=settings, now=invitation.due_at) == 1
    # Welsh answers: a score in words ("pedwar"), nonsense, then the rest; "dim" skips the comment.
    for body in ["pump", "ofnadwy", "pedwar", "3", "dim"]:
        handle_inbound(
            session=session, settings=settings, from_number="07700 900123", body=body, provider="log"
        )
    session.refresh(invitation)
    assert invitation.status == "completed"
    rows = session.exec(
        select(SmsMessage).where(SmsMessage.survey_invitation_id == invitation.id).order_by(SmsMessage.id)  # type: ignore[arg-type]
    ).all()
    bodies = [r.body for r in rows]
    assert "Pa mor fodlon oeddech chi â'r amser" in bodies[0] and "?lang=cy" in bodies[0]
    assert "doedden ni ddim yn deall" in bodies[2] and bodies[-1].endswith(
        "diolch am eich adborth. Mae'n ein helpu i wella."
    )
    for body in bodies:
        assert not english_words_in(body), body


def test_survey_web_link_in_welsh(client: TestClient, session: Session, settings: Settings) -> None:
    report = make_report(session, language="cy")
    invitation = SurveyInvitation(
        channel="report", report_id=report.id, reference=report.reference, status="sent"
    )
    session.add(invitation)
    session.flush()
    assert invitation.id is not None
    url = f"/survey/{survey_token(settings=settings, invitation_id=invitation.id)}"
    form = client.get(url + "?lang=cy")
    assert (
        form.status_code == 200
        and "Pa mor fodlon oeddech chi" in _text(form)
        and "Bodlon iawn" in _text(form)
    )
    errors = client.post(url, data={"comment": ""})
    assert errors.status_code == 422 and "Dewiswch pa mor fodlon oeddech chi" in _text(errors)
    done = client.post(
        url, data={"score_time": "5", "score_resolve": "4", "score_overall": "4", "comment": ""}
    )
    assert "Diolch am eich adborth" in _text(done)
    for page in (form, errors, done):
        assert not english_words_in(_text(page)), english_words_in(_text(page))


def test_a_message_without_welsh_falls_back_to_english() -> None:
    assert translator("cy")("A sentence nobody has translated") == "A sentence nobody has translated"
    assert translator("fr")("Back") == "Back" and translator("cy")("Back") == "Yn ôl"
