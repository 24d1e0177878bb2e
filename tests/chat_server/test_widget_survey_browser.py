"""The widget offers the satisfaction survey in-line when an answered chat ends (Chromium + axe)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import Session, select

from chat_server.routing import service as routing
from contact_store.clock import utcnow
from contact_store.models import Conversation, Operator, OperatorStatus, SurveyInvitation, SurveyResponse
from tests.builders import make_operator
from tests.conftest import LiveServer
from tests.support.browser import assert_no_axe_violations, screenshot

pytestmark = pytest.mark.browser

Q_TIME = "How satisfied were you with the time it took to answer your contact?"
Q_RESOLVE = "How satisfied were you with the ability of the call handler to resolve your issue?"
Q_OVERALL = "How satisfied were you with the overall service provided by the call handler?"


def test_answered_chat_ends_with_the_survey_in_the_widget(page: Page, live_server: LiveServer) -> None:
    with live_server.store.session_scope() as s:
        op_id = make_operator(
            s, username="dana", display_name="Dana", status=OperatorStatus.AVAILABLE, last_seen_at=utcnow()
        ).id
    page.goto(live_server.base_url + "/chat/demo")
    page.get_by_role("button", name="Chat with us").click()
    page.get_by_label("Your name").fill("Robin")
    page.get_by_label("Mobile number (optional)").fill("07700 900123")
    page.get_by_label("What is your chat about?").select_option("crime")
    page.get_by_role("button", name="Start chat").click()
    expect(page.get_by_text("You are number 1 in the queue.")).to_be_visible()

    def answer(*, session: Session) -> str:
        conv = session.exec(select(Conversation)).one()
        op = session.get(Operator, op_id)
        assert op is not None
        routing.claim(session=session, settings=live_server.settings, conversation_id=conv.id, operator=op)
        return conv.id

    cid = live_server.store.run_in_session(answer)
    expect(page.get_by_text("You are chatting with Dana.")).to_be_visible()

    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="End chat").click()
    expect(page.get_by_text("The chat has ended.")).to_be_focused()
    form = page.get_by_role("form", name="Tell us how we did")
    expect(form).to_be_visible()
    for q in (Q_TIME, Q_RESOLVE, Q_OVERALL):
        expect(form.get_by_role("group", name=q).get_by_role("radio")).to_have_count(5)
    assert_no_axe_violations(page, context="widget survey")

    # Nothing chosen: an error summary linking to each question, focus on it.
    form.get_by_role("button", name="Send answers").click()
    summary = page.locator(".fcw-error-summary")
    expect(summary).to_be_focused()
    expect(summary.get_by_role("link")).to_have_count(3)
    summary.get_by_role("link", name="Select how satisfied you were with the time it took").click()
    expect(page.get_by_role("group", name=Q_TIME).get_by_label("1 – Very dissatisfied")).to_be_focused()
    assert_no_axe_violations(page, context="widget survey errors")

    page.get_by_role("group", name=Q_TIME).get_by_label("4 – Satisfied").check()
    # Welsh, and back: the answer so far is kept.
    page.get_by_role("button", name="Cymraeg").click()
    welsh = page.get_by_role("group", name="Pa mor fodlon oeddech chi â'r amser a gymerodd i ateb")
    expect(welsh.get_by_label("4 – Bodlon")).to_be_checked()
    expect(page.get_by_role("button", name="Anfon atebion")).to_be_visible()
    assert_no_axe_violations(page, context="widget survey in Welsh")
    screenshot(page, "chat-widget-survey-cy")
    page.get_by_role("button", name="English").click()

    page.get_by_role("group", name=Q_RESOLVE).get_by_label("5 – Very satisfied").check()
    page.get_by_role("group", name=Q_OVERALL).get_by_label("3 – Neither").check()
    page.get_by_label("Finally, good and bad").fill("<b>Quick</b> and kind")
    screenshot(page, "chat-widget-survey")
    page.get_by_role("button", name="Send answers").click()
    thanks = page.get_by_role("status").filter(has_text="Thank you for your feedback.")
    expect(thanks).to_be_focused()
    expect(page.get_by_role("form", name="Tell us how we did")).to_have_count(0)
    assert_no_axe_violations(page, context="widget survey answered")

    with live_server.store.session_scope() as s:
        invite = s.exec(select(SurveyInvitation).where(SurveyInvitation.conversation_id == cid)).one()
        assert invite.status == "completed" and invite.channel == "chat"
        response = s.exec(select(SurveyResponse).where(SurveyResponse.invitation_id == invite.id)).one()
        assert response.response_channel == "widget" and response.channel == "chat"
        assert (response.score_time, response.score_resolve, response.score_overall) == (4, 5, 3)
        assert response.comment == "<b>Quick</b> and kind" and response.operator_id == op_id

    # A reload remembers it was answered: no second survey.
    page.reload()
    expect(page.get_by_text("The chat has ended.")).to_be_visible()
    expect(page.get_by_text("Thank you for your feedback.")).to_be_visible()
    expect(page.get_by_role("form", name="Tell us how we did")).to_have_count(0)
