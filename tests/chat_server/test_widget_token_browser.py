"""The widget keeps the chat token out of every URL, and says so when a chat has expired
(real Chromium: every request and websocket the page opens is logged)."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import timedelta

import pytest
from playwright.sync_api import Page, WebSocket, expect
from sqlmodel import Session, select

from chat_server.routing import service as routing
from contact_store.clock import travel, utcnow
from contact_store.models import Conversation, Operator, OperatorStatus
from tests.builders import make_operator
from tests.conftest import LiveServer
from tests.support.browser import assert_no_axe_violations, screenshot

pytestmark = pytest.mark.browser

TOKEN_OF_THE_CHAT = """() => {
  const key = Object.keys(sessionStorage).find((k) => k.startsWith("fc-chat:"));
  return key ? JSON.parse(sessionStorage.getItem(key)).token : null;
}"""


class Traffic:
    """Every URL the page requests (HTTP and websocket) and the frames sent on each socket."""

    def __init__(self, page: Page) -> None:
        self.urls: list[str] = []
        self.sent: dict[int, list[str]] = defaultdict(list)
        page.on("request", lambda r: self.urls.append(r.url))
        page.on("websocket", self.on_socket)

    def on_socket(self, ws: WebSocket) -> None:
        self.urls.append(ws.url)
        n = len(self.sent)
        self.sent[n] = []
        ws.on("framesent", lambda payload: self.sent[n].append(str(payload)))


def start(page: Page, server: LiveServer, name: str = "Robin") -> None:
    page.goto(server.base_url + "/chat")
    page.get_by_label("Your name").fill(name)
    page.get_by_label("What is your chat about?").select_option("crime")
    page.get_by_role("button", name="Start chat").click()
    expect(page.get_by_text("You are number 1 in the queue.")).to_be_visible()


def test_no_url_the_hosted_chat_requests_carries_the_token(page: Page, live_server: LiveServer) -> None:
    with live_server.store.session_scope() as s:
        op_id = make_operator(
            s, username="dana", display_name="Dana", status=OperatorStatus.AVAILABLE, last_seen_at=utcnow()
        ).id
    traffic = Traffic(page)
    start(page, live_server)
    page.get_by_label("Your message").fill("My bike was taken")
    page.keyboard.press("Enter")
    expect(page.locator(".fcw-msg--visitor .fcw-state")).to_have_text("Sent")

    def answer(*, session: Session) -> None:
        conv = session.exec(select(Conversation)).one()
        op = session.get(Operator, op_id)
        assert op is not None
        routing.claim(session=session, settings=live_server.settings, conversation_id=conv.id, operator=op)

    live_server.store.run_in_session(answer)
    expect(page.get_by_text("You are chatting with Dana.")).to_be_visible()
    page.reload()  # a second socket, signed in the same way; nothing lost
    expect(page.locator(".fcw-msg--visitor .fcw-text")).to_have_text(["My bike was taken"])
    with page.expect_download() as during:
        page.get_by_role("button", name="Download transcript").click()
    assert "You: My bike was taken" in open(during.value.path(), encoding="utf-8").read()  # noqa: SIM115

    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="End chat").click()
    form = page.get_by_role("form", name="Tell us how we did")
    expect(form.get_by_role("radio")).to_have_count(15)
    for group in form.get_by_role("group").all():
        group.get_by_label("5 – Very satisfied").check()
    form.get_by_role("button", name="Send answers").click()
    expect(page.get_by_role("status").filter(has_text="Thank you for your feedback.")).to_be_visible()
    with page.expect_download() as after:
        page.get_by_role("button", name="Download transcript").click()
    assert "My bike was taken" in open(after.value.path(), encoding="utf-8").read()  # noqa: SIM115

    token = page.evaluate(TOKEN_OF_THE_CHAT)
    assert isinstance(token, str) and len(token) > 20
    paths = [u.split("?")[0] for u in traffic.urls]
    assert any(p.endswith("/transcript") for p in paths) and any(p.endswith("/survey") for p in paths)
    assert sum("/ws/chat/" in u for u in traffic.urls) == 2
    for url in traffic.urls:
        assert token not in url and "token" not in url.lower(), url
    assert len(traffic.sent) == 2
    for frames in traffic.sent.values():
        first = json.loads(frames[0])  # the first frame, every time: the token and the last seq held
        assert first["type"] == "auth" and first["token"] == token and isinstance(first["after_seq"], int)


def test_an_ended_chat_whose_transcript_is_refused_says_so(page: Page, live_server: LiveServer) -> None:
    start(page, live_server, name="Alex")
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="End chat").click()
    expect(page.get_by_text("The chat has ended.")).to_be_focused()
    with travel(timedelta(minutes=live_server.settings.chat_token_ttl_after_end_minutes, seconds=30)):
        page.get_by_role("button", name="Download transcript").click()  # refused: 410
        expired = page.get_by_role("status").filter(has_text="This chat is no longer available.")
        expect(expired).to_be_focused()
        expect(page.get_by_role("button", name="Download transcript")).to_have_count(0)


def test_a_chat_past_its_token_expiry_says_so(page: Page, live_server: LiveServer) -> None:
    start(page, live_server, name="Sam")
    page.goto("about:blank")  # the visitor goes away; the chat ends without them

    def end(*, session: Session) -> None:
        conv = session.exec(select(Conversation)).one()
        routing.end(session=session, conversation_id=conv.id, by="operator")

    live_server.store.run_in_session(end)
    with travel(timedelta(minutes=live_server.settings.chat_token_ttl_after_end_minutes, seconds=30)):
        page.goto(live_server.base_url + "/chat")  # the socket is refused with 4410
        expect(page.get_by_text("The chat has ended.")).to_be_visible()
        expired = page.get_by_role("status").filter(has_text="This chat is no longer available.")
        expect(expired).to_be_visible()
        expect(page.get_by_role("form", name="Tell us how we did")).to_have_count(0)
        assert_no_axe_violations(page, context="hosted chat, expired")
        screenshot(page, "chat-hosted-expired")
        expect(page.get_by_role("button", name="Download transcript")).to_have_count(0)
        page.reload()  # remembered as ended and expired
        expect(expired).to_be_visible()
        page.get_by_role("button", name="Start a new chat").click()
        expect(page.get_by_label("Your name")).to_have_value("")
