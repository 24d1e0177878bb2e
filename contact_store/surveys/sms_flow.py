"""The survey as a text conversation: one question per text, forgiving parsing, a clear re-ask.

State lives on the invitation: `next_question` is the index of the question awaiting an answer.
Scores go into the invitation's SurveyResponse as they arrive; the comment completes it.
"""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, col, select

from contact_store.clock import utcnow
from contact_store.models import SurveyInvitation
from contact_store.models.surveys import InvitationStatus
from contact_store.outbox import queue_sms
from contact_store.settings import Settings
from contact_store.surveys.questions import parse_comment, parse_score, questions
from contact_store.surveys.service import complete, invitation_language, response_for


def active_invitation_for(*, session: Session, settings: Settings, number: str) -> SurveyInvitation | None:
    """The survey this number is answering by text (sent recently and not finished), or None."""
    since = utcnow() - timedelta(days=settings.survey_reply_days)
    return session.exec(
        select(SurveyInvitation)
        .where(
            SurveyInvitation.to_e164 == number,
            col(SurveyInvitation.status).in_([InvitationStatus.SENT, InvitationStatus.IN_PROGRESS]),
            SurveyInvitation.sent_at >= since,  # type: ignore[operator]
        )
        .order_by(col(SurveyInvitation.sent_at).desc())
    ).first()


def _text(
    session: Session, settings: Settings, invitation: SurveyInvitation, template: str, **values: str
) -> None:
    assert invitation.to_e164 is not None
    language = invitation_language(session=session, invitation=invitation)
    queue_sms(
        session=session,
        settings=settings,
        to=invitation.to_e164,
        template=template,
        kind="survey",
        essential=False,
        personalisation={"force": settings.force_name, **values},
        person_id=invitation.person_id,
        report_id=invitation.report_id,
        conversation_id=invitation.conversation_id,
        survey_invitation_id=invitation.id,
        language=language,
    )


def handle_survey_reply(
    *, session: Session, settings: Settings, invitation: SurveyInvitation, body: str
) -> str:
    """Apply one text to the survey; returns "answered", "reask" or "completed"."""
    qs = questions(settings, invitation_language(session=session, invitation=invitation))
    index = min(invitation.next_question, len(qs) - 1)
    question = qs[index]
    response = response_for(session=session, invitation=invitation, response_channel="sms")
    if question.kind == "score":
        score = parse_score(body)
        if score is None:
            _text(session, settings, invitation, "survey_reask", question=question.text)
            session.flush()
            return "reask"
        setattr(response, question.field, score)
        invitation.next_question = index + 1
        invitation.status = InvitationStatus.IN_PROGRESS
        session.add(invitation)
        session.add(response)
        following = qs[index + 1]
        template = "survey_question" if following.kind == "score" else "survey_comment"
        _text(session, settings, invitation, template, question=following.text)
        session.flush()
        return "answered"
    response.comment = parse_comment(body)
    invitation.next_question = len(qs)
    complete(session=session, invitation=invitation, response=response)
    _text(session, settings, invitation, "survey_thanks")
    return "completed"
