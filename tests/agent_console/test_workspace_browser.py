"""The operator workspace in real Chromium: a full shift, XSS shown as text, two operators sharing
one queue, and the wallboard when a chat arrives. Visitors are real websocket clients (sync)."""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from sqlmodel import col, select
from websockets.sync.client import ClientConnection, connect

from contact_store.admission import CHAT_MESSAGES, gate_for
from contact_store.clock import utcnow
from contact_store.models import CannedResponse, Conversation, Message, Report, Role, SmsMessage
from contact_store.sms.inbound import handle_inbound
from contact_store.sms.providers import LogProvider
from contact_store.sms.worker import run_once
from tests.builders import DEFAULT_PASSWORD, make_area, make_operator, make_person, make_report, make_team
from tests.conftest import LiveServer
from tests.support.browser import assert_no_axe_violations, screenshot

pytestmark = pytest.mark.browser
XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'


class Visitor:
    """A visitor: starts a chat over the API and holds its websocket."""

    def __init__(self, server: LiveServer, name: str, **answers: Any) -> None:
        r = httpx.post(server.base_url + "/api/v1/chats", json={"name": name, "topic": "crime"} | answers)
        assert r.status_code == 201, r.text
        self.chat = r.json()
        self.id: str = self.chat["conversation_id"]
        url = f"{server.ws_url}/ws/chat/{self.id}"
        self.ws: ClientConnection = connect(url, origin=server.base_url)  # closed by the test
        self.ws.send(json.dumps({"type": "auth", "token": self.chat["token"]}))
        self.frames: list[dict[str, Any]] = []

    def say(self, body: str) -> None:
        self.ws.send(json.dumps({"type": "message", "client_id": str(uuid.uuid4()), "body": body}))

    def wait_for(self, text: str) -> dict[str, Any]:
        while True:
            frame = json.loads(self.ws.recv(timeout=15))
            self.frames.append(frame)
            if frame.get("type") == "message" and text in frame.get("body", ""):
                return frame

    def wait_frame(self, wanted: Any) -> dict[str, Any]:
        while True:
            frame = json.loads(self.ws.recv(timeout=15))
            self.frames.append(frame)
            if wanted(frame):
                return frame

    def bodies(self) -> str:
        while True:  # drain what has arrived
            try:
                self.frames.append(json.loads(self.ws.recv(timeout=0.5)))
            except TimeoutError:
                break
        return "\n".join(str(f.get("body", "")) for f in self.frames)


def sign_in(page: Page, server: LiveServer, username: str, path: str = "/console/workspace") -> None:
    page.goto(server.base_url + path)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_a_full_shift(page: Page, browser: Browser, live_server: LiveServer) -> None:
    with live_server.store.session_scope() as s:
        team = make_team(s, name="Digital Team")
        area = make_area(s, name="East", postcode_prefixes=["BB"])
        make_area(s, name="West", postcode_prefixes=["FY"])
        make_operator(s, username="dana", display_name="Dana Ops", team_id=team.id, max_concurrent_chats=3)
        make_operator(s, username="kim", display_name="Kim Colleague", team_id=team.id)
        make_operator(s, username="mona", display_name="Mona Manager", role=Role.MANAGER)
        s.add(
            CannedResponse(
                title="Bike security",
                body="Hi, I'm {name}. Mark your bike frame.",
                category="advice",
                tags=["cycle"],
            )
        )
        person = make_person(s, name="Pat Public", phone_e164="+447700900123")
        make_report(
            s, person_id=person.id, summary="Earlier shed break-in", received_at=utcnow() - timedelta(days=3)
        )
        online = make_report(
            s,
            person_id=person.id,
            team_id=team.id,
            area_id=area.id,
            summary="Bike stolen from shed",
            received_at=utcnow() - timedelta(hours=2),
            safe_to_contact=True,
            contact_e164="+447700900123",
        )
        online_ref, online_id = online.reference, online.id
    robin = Visitor(live_server, "Robin <b>Tester</b>", mobile="07700 900123", postcode="BB1 1AA")
    robin.say(XSS)
    lee = Visitor(live_server, "Lee", postcode="FY1 1AA")
    lee.say("Someone is trying car doors on my street")

    sign_in(page, live_server, "dana")
    expect(page.get_by_text("Connected as Dana Ops")).to_be_visible()
    expect(page.get_by_text("Alt + A")).to_be_visible()
    # The queue, filtered by POD.
    expect(page.locator("#fcws-queue li")).to_have_count(2)
    page.get_by_label("Show chats from").select_option(label="West")
    expect(page.locator("#fcws-queue li")).to_have_count(1)
    expect(page.locator("#fcws-queue")).to_contain_text("Lee")
    page.get_by_label("Show chats from").select_option(label="All PODs")
    # Accept two chats: one with the keyboard shortcut, one by button.
    page.keyboard.press("Alt+A")
    expect(page.get_by_role("tab")).to_have_count(1)
    expect(page.locator("#fcws-queue li")).to_have_count(1)
    page.get_by_role("button", name="Accept chat with").first.click()
    expect(page.get_by_role("tab")).to_have_count(2)
    robin_tab = page.get_by_role("tab", name="Robin <b>Tester</b>")
    robin_tab.click()
    robin_panel = page.locator(f"#fcws-panel-{robin.id}")
    expect(robin_panel.locator(".fcws-msg--visitor")).to_contain_text(XSS)
    assert page.evaluate("window.__xss") is None
    assert robin_panel.locator(".fcws-msg--visitor img, .fcws-msg--visitor b").count() == 0
    # The person panel: history and badges.
    person_box = robin_panel.locator(".fcws-person")
    expect(person_box).to_contain_text("Earlier shed break-in")
    expect(person_box.get_by_text("Repeat contact")).to_be_visible()
    expect(person_box.get_by_text("Double demand")).to_be_visible()
    # A canned answer with Alt+C, edited and sent.
    page.keyboard.press("Alt+C")
    page.get_by_label("Search by title or tag").fill("cycle")
    page.get_by_role("button", name="Use Bike security").click()
    box = robin_panel.get_by_label("Message to Robin <b>Tester</b>")
    expect(box).to_have_value("Hi, I'm Dana Ops. Mark your bike frame.")
    box.press("End")
    box.type(" Thanks.")
    robin_panel.get_by_role("button", name="Send", exact=True).click()
    robin.wait_for("Hi, I'm Dana Ops. Mark your bike frame. Thanks.")
    # An internal note: marked for staff, never sent to the visitor.
    robin_panel.get_by_label("Internal note (never shown to the visitor)").check()
    robin_panel.get_by_label("Internal note (staff only)").fill("Check PNC for bike thefts in BB1")
    robin_panel.get_by_role("button", name="Send", exact=True).click()
    expect(robin_panel.locator(".fcws-msg--internal")).to_contain_text("Check PNC")
    expect(robin_panel.get_by_label("Message to Robin <b>Tester</b>")).to_be_visible()  # label back
    expect(page.locator(f"#fcws-panel-{lee.id}")).to_be_hidden()
    page.evaluate("window.scrollTo(0, 0)")
    assert_no_axe_violations(page, context="workspace with two chats")
    screenshot(page, "workspace")

    # Transfer Lee's chat to Kim, with a note; Kim's console opens it.
    kim_ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    kim = kim_ctx.new_page()
    sign_in(kim, live_server, "kim")
    expect(kim.get_by_text("Connected as Kim Colleague")).to_be_visible()
    expect(kim.locator("#fcws-announce")).to_have_text("Your status is away")
    page.keyboard.press("Alt+N")
    lee_panel = page.locator(f"#fcws-panel-{lee.id}")
    expect(lee_panel).to_be_visible()
    lee_panel.get_by_text("Transfer this chat").click()
    lee_panel.get_by_label("Transfer to").select_option(label="Kim Colleague (away)")
    lee_panel.get_by_label("Note for the colleague").fill("Wants a patrol tonight")
    lee_panel.get_by_role("button", name="Transfer").click()
    expect(lee_panel.get_by_text("This chat was transferred to Kim Colleague.")).to_be_visible()
    expect(page.get_by_role("tab", name="Lee (transferred to Kim Colleague)")).to_be_visible()
    expect(kim.get_by_role("tab", name="Lee")).to_be_visible()
    # The visitor's header names the operator they now talk to.
    lee.wait_frame(lambda f: f.get("type") == "assigned" and f["operator"]["display_name"] == "Kim Colleague")
    expect(kim.locator(".fcws-msg--internal")).to_contain_text("Wants a patrol tonight")
    kim_ctx.close()

    # End Robin's chat, then wrap it up into a report (the wrap-up opens in a new tab).
    page.get_by_role("tab", name="Robin <b>Tester</b>").click()
    page.once("dialog", lambda d: d.accept())
    robin_panel.get_by_role("button", name="End chat").click()
    expect(robin_panel.get_by_text("This chat has ended.")).to_be_visible()
    wrap_link = robin_panel.get_by_role("link", name="Wrap up this chat")
    expect(wrap_link).to_be_focused()
    with page.context.expect_page() as opened:
        wrap_link.click()
    page = opened.value
    page.get_by_role("button", name="Save wrap-up").click()
    expect(page.get_by_role("alert")).to_contain_text("Select an outcome")
    assert_no_axe_violations(page, context="wrap-up errors")
    screenshot(page, "workspace-wrap-up-errors")
    page.get_by_label("Outcome").select_option("report raised")
    page.get_by_label("3 – Non-urgent").check()
    page.get_by_label("Vulnerability").fill("None identified")
    page.get_by_label("Raise a report from this chat").check()
    page.get_by_label("Report summary").fill("Bike stolen, frame marked")
    page.get_by_role("button", name="Save wrap-up").click()
    reference = page.locator("#fcws-report-reference").inner_text()
    assert reference.startswith("FC-")
    assert_no_axe_violations(page, context="wrap-up done")
    screenshot(page, "workspace-wrap-up-done")

    # Triage the online report and text the reporter an update.
    page.goto(f"{live_server.base_url}/console/reports/{online_id}")
    page.get_by_role("button", name="Claim this report").click()
    expect(page.locator("#report-assignee")).to_have_text("Dana Ops")
    page.get_by_label("Your report has been passed to an officer").check()
    page.get_by_role("button", name="Send text").click()
    expect(page.locator(".fc-timeline")).to_contain_text(f"update on {online_ref}")

    assert "Check PNC" not in robin.bodies()
    assert "Wants a patrol" not in lee.bodies()
    with live_server.store.session_scope() as s:
        raised = s.exec(select(Report).where(Report.reference == reference)).one()
        assert raised.conversation_id == robin.id
        assert s.get(Conversation, lee.id).assignee_id is not None  # type: ignore[union-attr]
        assert s.exec(select(SmsMessage).where(SmsMessage.report_id == online_id)).first() is not None
        notes = s.exec(
            select(Message).where(Message.conversation_id == robin.id, col(Message.internal).is_(True))
        ).all()
        assert [n.body for n in notes] == ["Check PNC for bike thefts in BB1"]
        raised_id = raised.id

    # Issue 11's done-when, on the same run. The chat-raised report: a readable transcript (speaker,
    # time, text), its POD, and the internal note only as a staff note.
    page.goto(f"{live_server.base_url}/console/reports/{raised_id}")
    expect(page.locator("#main-content")).to_contain_text(
        "Dana Ops: Hi, I'm Dana Ops. Mark your bike frame. Thanks."
    )
    expect(page.locator("#main-content")).to_contain_text("Visitor: " + XSS)
    expect(page.locator("#main-content")).to_contain_text("East")
    expect(page.locator(".fc-timeline")).to_contain_text("Note from the chat")
    assert "{'seq'" not in page.content()
    # Texts go out (the worker), then two replies come in: one quoting the chat report's reference
    # lands on it; one with no reference lands on the contact of the last text sent (the update).
    run_once(store=live_server.store, settings=live_server.settings, provider=LogProvider(), worker_id="t")
    with live_server.store.session_scope() as s:
        quoted = handle_inbound(
            session=s,
            settings=live_server.settings,
            from_number="07700 900123",
            body=f"About {reference.lower()}: I found the frame number",
            provider="log",
        )
        plain = handle_inbound(
            session=s,
            settings=live_server.settings,
            from_number="07700 900123",
            body="Thanks!",
            provider="log",
        )
        assert (quoted.report_id, quoted.matched_by) == (raised_id, "reference")
        assert (plain.report_id, plain.matched_by) == (online_id, "reply_thread")
    # The chat's survey, answered in the chat window, counts for the operator's team (<= 100%).
    auth = {"Authorization": f"Bearer {robin.chat['token']}"}
    survey = f"{live_server.base_url}/api/v1/chats/{robin.id}/survey"
    assert httpx.get(survey, headers=auth).status_code == 200
    answers = {"score_time": 5, "score_resolve": 4, "score_overall": 5}
    assert httpx.post(survey, json=answers, headers=auth).status_code == 201
    mgr_ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    manager = mgr_ctx.new_page()
    sign_in(manager, live_server, "mona", "/console/surveys")
    row = manager.get_by_role("row", name="Digital Team")
    expect(row).to_contain_text("1 of 1 invited")
    expect(row).to_contain_text("100%")
    mgr_ctx.close()
    robin.ws.close()
    lee.ws.close()


def test_two_operators_never_take_the_same_chat(
    page: Page, browser: Browser, live_server: LiveServer
) -> None:
    with live_server.store.session_scope() as s:
        make_operator(s, username="ann", display_name="Ann", max_concurrent_chats=2)
        make_operator(s, username="ben", display_name="Ben", max_concurrent_chats=2)
        make_operator(s, role=Role.SUPERVISOR, username="sue", display_name="Sue")
    # The wallboard changes when a chat arrives.
    sup_ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    wall = sup_ctx.new_page()
    sign_in(wall, live_server, "sue", "/console/wallboard")
    expect(wall.locator("#live-status")).to_have_text("live")
    expect(wall.locator('[data-field="waiting"]')).to_have_text("0")
    visitors = [Visitor(live_server, f"Visitor {i}") for i in range(4)]
    expect(wall.locator('[data-field="waiting"]')).to_have_text("4")

    ben_ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    ben = ben_ctx.new_page()
    sign_in(page, live_server, "ann")
    sign_in(ben, live_server, "ben")
    for p in (page, ben):
        expect(p.locator("#fcws-queue li")).to_have_count(4)
    # Both press accept on the same first chat, again and again, until each is full.
    for _ in range(6):
        for p in (page, ben):
            if p.get_by_role("tab").count() < 2:
                p.keyboard.press("Alt+A")
        if page.get_by_role("tab").count() == 2 and ben.get_by_role("tab").count() == 2:
            break
        page.wait_for_timeout(300)
    expect(page.get_by_role("tab")).to_have_count(2)
    expect(ben.get_by_role("tab")).to_have_count(2)
    ann_ids = {t.get_attribute("id") for t in page.get_by_role("tab").all()}
    ben_ids = {t.get_attribute("id") for t in ben.get_by_role("tab").all()}
    assert not ann_ids & ben_ids
    expect(wall.locator('[data-field="waiting"]')).to_have_text("0")
    with live_server.store.session_scope() as s:
        rows = s.exec(select(Conversation.assignee_id)).all()
        assert sorted(rows.count(x) for x in set(rows)) == [2, 2]
    ben_ctx.close()
    sup_ctx.close()
    for v in visitors:
        v.ws.close()


def test_an_offer_beeps_and_alerts_and_alt_a_accepts_it(page: Page, live_server: LiveServer) -> None:
    with live_server.store.session_scope() as s:
        make_operator(s, username="olu", display_name="Olu")
    sign_in(page, live_server, "olu")
    expect(page.get_by_text("Connected as Olu")).to_be_visible()
    page.get_by_label("Your status").select_option("available")
    page.get_by_role("button", name="Set status").click()
    expect(page.locator("#fcws-announce")).to_have_text("Your status is available")
    visitor = Visitor(live_server, "Sam")
    alert = page.get_by_role("alert").filter(has_text="A new chat is offered to you.")
    expect(alert).to_be_visible()
    assert page.evaluate("window.FCWorkspace.beeps") == 1
    assert page.title().startswith("New chat offered")
    expect(page.locator("#fcws-queue li")).to_have_count(1)
    page.keyboard.press("Alt+A")
    expect(page.get_by_role("tab", name="Sam")).to_be_visible()
    expect(alert).to_have_count(0)
    # The accepted chat left the queue list as its tab opened, not at the next queue update.
    assert page.locator("#fcws-queue li").count() == 0
    expect(page.locator("#fcws-queue-summary")).to_have_text("No chats waiting.")
    visitor.ws.close()


def test_a_message_refused_busy_is_kept_and_resent_by_the_workspace(
    page: Page, live_server: LiveServer
) -> None:
    """The workspace, like the widget, keeps a message the worker refused `busy` and resends the
    same client_id after `retry_after`: the operator's words are stored once, nothing is lost."""
    with live_server.store.session_scope() as s:
        make_operator(s, username="bo", display_name="Bo")
    visitor = Visitor(live_server, "Ash")
    visitor.say("Is anyone there?")
    sign_in(page, live_server, "bo")
    expect(page.get_by_text("Connected as Bo")).to_be_visible()
    page.get_by_role("button", name="Accept chat with").first.click()
    panel = page.locator(f"#fcws-panel-{visitor.id}")
    gate = gate_for(live_server.app, CHAT_MESSAGES)
    saved = gate.limit, gate.retry_after
    gate.limit, gate.retry_after = 1, 0.5
    try:
        with gate.admit():  # the worker's one place is taken: the next message is refused busy
            panel.get_by_label("Message to Ash").fill("Hello Ash, I am here to help")
            panel.get_by_role("button", name="Send", exact=True).click()
            deadline = time.monotonic() + 10
            while gate.refused == 0 and time.monotonic() < deadline:
                page.wait_for_timeout(50)
            assert gate.refused >= 1
    finally:
        gate.limit, gate.retry_after = saved
    assert visitor.wait_for("Hello Ash, I am here to help")["sender"] == "operator"
    with live_server.store.session_scope() as s:
        bodies = s.exec(select(Message.body).where(Message.conversation_id == visitor.id)).all()
        assert list(bodies).count("Hello Ash, I am here to help") == 1
    expect(panel.locator(".fcws-msg--operator")).to_contain_text("Hello Ash, I am here to help")
    expect(panel.locator(".fcws-msg--operator .fcws-meta")).not_to_contain_text("not sent")
    visitor.ws.close()
