"""Survey scheduling (exclusions), dispatch, the SMS conversation and forgiving parsing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, select

from contact_store.clock import utcnow
from contact_store.models import (
    InboundSms,
    SmsMessage,
    SurveyInvitation,
    SurveyResponse,
)
from contact_store.models.surveys import InvitationStatus
from contact_store.settings import Settings
from contact_store.sms.inbound import handle_inbound, is_stop
from contact_store.surveys import schedule_survey
from contact_store.surveys.questions import parse_comment, parse_score
from contact_store.surveys.results import Filters, figure18
from contact_store.surveys.service import (
    dispatch_due_invitations,
    invitation_from_token,
    submit_answers,
)
from tests.builders import make_area, make_conversation, make_operator, make_person, make_report, make_team

PHONE = "+447700900123"


@pytest.mark.parametrize(
    ("text", "score"),
    [
        ("5", 5),
        ("5 stars", 5),
        ("five", 5),
        ("Five!", 5),
        ("4/5", 4),
        (" 4 out of 5 ", 4),
        ("3.", 3),
        ("I'd give it 2", 2),
        ("ONE", 1),
        ("1 star", 1),
        ("5/5", 5),
        ("0", None),
        ("6", None),
        ("10", None),
        ("", None),
        ("great", None),
        ("3 or 4", None),
        ("I waited 5 hours", None),
        ("yes", None),
        ("12345", None),
    ],
)
def test_parse_score_is_forgiving_but_not_reckless(text: str, score: int | None) -> None:
    assert parse_score(text) == score


def test_parse_comment_and_stop_words() -> None:
    assert parse_comment("Skip") is None and parse_comment("no.") is None
    assert parse_comment(" Very helpful ") == "Very helpful"
    assert (
        is_stop("STOP") and is_stop("stop.") and is_stop("Unsubscribe") and not is_stop("stop it now please")
    )


def _resolved_report(session: Session, **kw: object):  # type: ignore[no-untyped-def]
    team = make_team(session)
    area = make_area(session)
    operator = make_operator(session, team_id=team.id)
    person = kw.pop("person", None) or make_person(session, phone_e164=PHONE)
    consent: dict[str, object] = {"safe_to_contact": True, "contact_e164": PHONE}
    return make_report(
        session,
        person_id=person.id,
        team_id=team.id,
        area_id=area.id,
        assignee_id=operator.id,
        status="resolved",
        **(consent | kw),
    )


def test_schedule_records_context_and_delay(session: Session, settings: Settings) -> None:
    report = _resolved_report(session, form_slug="theft")
    invitation = schedule_survey(session=session, settings=settings, channel="report", report=report)
    assert invitation.status == InvitationStatus.SCHEDULED and invitation.excluded_reason is None
    assert invitation.to_e164 == PHONE and invitation.reference == report.reference
    assert (invitation.team_id, invitation.operator_id, invitation.area_id, invitation.topic) == (
        report.team_id,
        report.assignee_id,
        report.area_id,
        "theft",
    )
    delay = invitation.due_at - invitation.created_at
    assert delay == timedelta(minutes=settings.survey_delay_minutes)
    # Idempotent per contact.
    assert (
        schedule_survey(session=session, settings=settings, channel="report", report=report).id
        == invitation.id
    )


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        ({"form_slug": "domestic-abuse"}, "topic:domestic-abuse"),
        ({"sensitive": True}, "sensitive"),
        ({"grade": 1}, "grade:1"),
        ({"person": {"sms_opted_out_at": True}}, "opted_out"),
        ({"person": {"under_18": True}}, "under_18"),
    ],
)
def test_exclusions_are_recorded_with_reason(
    session: Session, settings: Settings, setup: dict, reason: str
) -> None:
    settings.survey_excluded_grades = [1]
    person_kw = setup.pop("person", {})
    if person_kw.get("sms_opted_out_at"):
        person_kw["sms_opted_out_at"] = utcnow()
    person = make_person(session, phone_e164=PHONE, **person_kw)
    report = _resolved_report(session, person=person, **setup)
    invitation = schedule_survey(session=session, settings=settings, channel="report", report=report)
    assert invitation.status == InvitationStatus.EXCLUDED and invitation.excluded_reason == reason
    assert dispatch_due_invitations(session=session, settings=settings, now=utcnow() + timedelta(days=1)) == 0


def test_one_survey_per_person_per_30_days(session: Session, settings: Settings) -> None:
    person = make_person(session, phone_e164=PHONE)
    first = schedule_survey(
        session=session, settings=settings, channel="report", report=_resolved_report(session, person=person)
    )
    second = schedule_survey(
        session=session, settings=settings, channel="report", report=_resolved_report(session, person=person)
    )
    assert first.status == InvitationStatus.SCHEDULED
    assert second.status == InvitationStatus.EXCLUDED and second.excluded_reason == "recent_survey"
    first.created_at = utcnow() - timedelta(days=31)
    session.add(first)
    session.flush()
    third = schedule_survey(
        session=session, settings=settings, channel="report", report=_resolved_report(session, person=person)
    )
    assert third.status == InvitationStatus.SCHEDULED


def test_chat_topic_exclusion_and_linked_report_reference(session: Session, settings: Settings) -> None:
    person = make_person(session, phone_e164=PHONE)
    chat = make_conversation(session, person_id=person.id, topic="domestic-abuse", status="ended")
    excluded = schedule_survey(session=session, settings=settings, channel="chat", conversation=chat)
    assert excluded.excluded_reason == "topic:domestic-abuse"
    other = make_person(session, phone_e164="+447700900124")
    chat2 = make_conversation(session, person_id=other.id, topic="noise", status="ended")
    raised = make_report(session, person_id=other.id, conversation_id=chat2.id)
    invitation = schedule_survey(session=session, settings=settings, channel="chat", conversation=chat2)
    assert invitation.status == InvitationStatus.SCHEDULED and invitation.reference == raised.reference


def test_a_chat_survey_records_the_operators_team_and_the_contacts_date(
    session: Session, settings: Settings
) -> None:
    """A chat routed by POD has no team of its own: the team that served it is the operator's."""
    team = make_team(session, "Digital Team")
    operator = make_operator(session, team_id=team.id)
    person = make_person(session, phone_e164=PHONE)
    chat = make_conversation(
        session, person_id=person.id, topic="noise", status="ended", assignee_id=operator.id
    )
    assert chat.team_id is None
    invitation = schedule_survey(session=session, settings=settings, channel="chat", conversation=chat)
    assert (invitation.team_id, invitation.operator_id) == (team.id, operator.id)
    assert invitation.contact_at == chat.queued_at
    invitation.sent_at = chat.queued_at
    submit_answers(
        session=session,
        invitation=invitation,
        scores={"score_time": 5, "score_resolve": 4, "score_overall": 2},
        comment=None,
        response_channel="widget",
    )
    row, _total = figure18(session=session, filters=Filters(team_id=team.id))
    assert (row.label, row.responses, row.invitations, row.response_rate) == ("Digital Team", 1, 1, 100.0)


def test_a_contact_not_safe_to_text_gets_no_survey_text(session: Session, settings: Settings) -> None:
    """The invitation stays open for the web link / in-chat survey, but nothing is texted."""
    for consent in ({"safe_to_contact": False}, {"contact_e164": "+447700900999"}):
        report = _resolved_report(session, person=make_person(session, phone_e164=PHONE), **consent)
        invitation = schedule_survey(session=session, settings=settings, channel="report", report=report)
        assert invitation.status == InvitationStatus.SCHEDULED
        expected = None if consent.get("safe_to_contact") is False else "+447700900999"
        assert invitation.to_e164 == expected  # never the person's other number
        session.delete(invitation)
        session.flush()
    report = _resolved_report(session, safe_to_contact=False)
    invitation = schedule_survey(session=session, settings=settings, channel="report", report=report)
    assert dispatch_due_invitations(session=session, settings=settings, now=invitation.due_at) == 0
    assert session.exec(select(SmsMessage).where(SmsMessage.report_id == report.id)).all() == []


def _dispatched(session: Session, settings: Settings) -> SurveyInvitation:
    report = _resolved_report(session)
    invitation = schedule_survey(session=session, settings=settings, channel="report", report=report)
    assert dispatch_due_invitations(session=session, settings=settings) == 0  # not due yet
    assert dispatch_due_invitations(session=session, settings=settings, now=invitation.due_at) == 1
    assert (
        dispatch_due_invitations(session=session, settings=settings, now=invitation.due_at) == 0
    )  # once only
    session.refresh(invitation)
    return invitation


def test_dispatch_queues_a_non_essential_invite_with_a_signed_link(
    session: Session, settings: Settings
) -> None:
    invitation = _dispatched(session, settings)
    assert invitation.status == InvitationStatus.SENT
    (text,) = session.exec(select(SmsMessage).where(SmsMessage.survey_invitation_id == invitation.id)).all()
    assert text.kind == "survey" and text.essential is False and text.status == "queued"
    assert settings.survey_questions[0] in text.body and "/survey/" in text.body
    token = text.body.split("/survey/")[1].split()[0]
    assert invitation_from_token(session=session, settings=settings, token=token).id == invitation.id


def _texts(session: Session, invitation: SurveyInvitation) -> list[str]:
    rows = session.exec(
        select(SmsMessage).where(SmsMessage.survey_invitation_id == invitation.id).order_by(SmsMessage.id)  # type: ignore[arg-type]
    ).all()
    return [r.body for r in rows]


def test_survey_answered_by_text_one_question_at_a_time(session: Session, settings: Settings) -> None:
    invitation = _dispatched(session, settings)
    for body in ["5 stars", "it was rubbish", "four", "3/5", "Quick and kind =1+1"]:
        handle_inbound(
            session=session, settings=settings, from_number="07700 900123", body=body, provider="log"
        )
    session.refresh(invitation)
    assert invitation.status == InvitationStatus.COMPLETED
    response = session.exec(select(SurveyResponse).where(SurveyResponse.invitation_id == invitation.id)).one()
    assert (response.score_time, response.score_resolve, response.score_overall) == (5, 4, 3)
    assert response.comment == "Quick and kind =1+1" and response.response_channel == "sms"
    assert response.reference == invitation.reference and response.team_id == invitation.team_id
    texts = _texts(session, invitation)
    assert "did not understand" in texts[2] and settings.survey_questions[1] in texts[2]
    assert "thank you for your feedback" in texts[-1]
    handled = session.exec(select(InboundSms.handled_as).where(InboundSms.from_e164 == PHONE)).all()
    assert set(handled) == {"survey"}


def test_stop_opts_out_and_cancels_pending_survey_texts(session: Session, settings: Settings) -> None:
    invitation = _dispatched(session, settings)
    inbound = handle_inbound(
        session=session, settings=settings, from_number=PHONE, body="STOP", provider="log"
    )
    assert inbound.handled_as == "stop"
    session.refresh(invitation)
    assert invitation.status == InvitationStatus.EXPIRED
    (text,) = session.exec(select(SmsMessage).where(SmsMessage.survey_invitation_id == invitation.id)).all()
    assert text.status == "cancelled"
    from contact_store.models import Person

    assert session.get(Person, invitation.person_id).sms_opted_out_at is not None  # type: ignore[union-attr]


def test_stop_from_an_unknown_number_is_remembered(session: Session, settings: Settings) -> None:
    handle_inbound(
        session=session, settings=settings, from_number="07700 900555", body="Stop", provider="log"
    )
    report = make_report(session, person_id=None)
    from contact_store.sms.inbound import person_for_number

    person = person_for_number(session=session, number="+447700900555")
    assert person is not None and person.sms_opted_out_at is not None
    report.person_id = person.id
    assert (
        schedule_survey(session=session, settings=settings, channel="report", report=report).excluded_reason
        == "opted_out"
    )
