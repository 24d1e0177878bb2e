"""Survey invitations and answers.

Other areas call `schedule_survey` once a contact ends (chat ended / report resolved or closed), in the same
transaction. It records an invitation that is either `scheduled` (due after
`survey_delay_minutes`) or `excluded` with the reason. The outbox worker turns due invitations into
texts (`dispatch_due_invitations`); answers arrive by SMS reply (`sms_flow`), by the signed web link
or by the chat widget (`submit_answers`). Every response copies the contact's team, operator,
channel, topic, POD and reference so results filter and export without joins.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import and_, update
from sqlmodel import Session, col, select

from contact_store.clock import utcnow
from contact_store.errors import Conflict, NotFound, ValidationFailed
from contact_store.i18n import N_, normalise, translator
from contact_store.models import Conversation, Operator, Person, Report, SurveyInvitation, SurveyResponse
from contact_store.models.surveys import InvitationStatus
from contact_store.outbox import queue_sms
from contact_store.people import is_mobile
from contact_store.settings import Settings
from contact_store.sms import gate
from contact_store.surveys.questions import SCORE_FIELDS, questions
from contact_store.text import parse_int, unstorable_reason

logger = logging.getLogger(__name__)

OPEN_STATUSES = (InvitationStatus.SCHEDULED, InvitationStatus.SENT, InvitationStatus.IN_PROGRESS)
TOKEN_SALT = "fc-survey-link"
# Invitations turned into texts per worker pass.
DISPATCH_BATCH = 100


def _context(session: Session, report: Report | None, conversation: Conversation | None) -> dict[str, Any]:
    """What a survey records about the contact it is about, as it stands when the contact ends.

    The team is the contact's own, else the team of the member of staff who handled it (a chat is
    routed by POD and answered by an operator: the operator's team is the team that served it).
    """
    if report is not None:
        ctx = {
            "person_id": report.person_id,
            "report_id": report.id,
            "conversation_id": report.conversation_id,
            "reference": report.reference,
            "team_id": report.team_id,
            "operator_id": report.assignee_id,
            "area_id": report.area_id,
            "topic": report.form_slug,
            "grade": report.grade,
            "sensitive": report.sensitive,
            "contact_at": report.received_at,
            "consent": gate.Consent(report.safe_to_contact, report.contact_e164),
        }
    else:
        assert conversation is not None
        ctx = {
            "person_id": conversation.person_id,
            "report_id": None,
            "conversation_id": conversation.id,
            "reference": None,
            "team_id": conversation.team_id,
            "operator_id": conversation.assignee_id,
            "area_id": conversation.area_id,
            "topic": conversation.topic or None,
            "grade": conversation.grade,
            "sensitive": False,
            "contact_at": conversation.queued_at,
            "consent": gate.Consent(conversation.safe_to_contact, conversation.contact_e164),
        }
    if ctx["team_id"] is None and ctx["operator_id"] is not None:
        staff = session.get(Operator, ctx["operator_id"])
        ctx["team_id"] = staff.team_id if staff is not None else None
    return ctx


def exclusion_reason(
    *,
    session: Session,
    settings: Settings,
    ctx: dict[str, Any],
    person: Person | None,
    number: str | None,
    now: datetime,
) -> str | None:
    """Why this contact must not be surveyed, or None."""
    topic = (ctx.get("topic") or "").lower()
    if topic and topic in {t.lower() for t in settings.survey_excluded_topics}:
        return f"topic:{topic}"[:64]
    if ctx.get("sensitive"):
        return "sensitive"
    if ctx.get("grade") is not None and ctx["grade"] in settings.survey_excluded_grades:
        return f"grade:{ctx['grade']}"
    if person is not None and person.sms_opted_out_at is not None:
        return "opted_out"
    if person is not None and person.under_18:
        return "under_18"
    since = now - timedelta(days=settings.survey_min_days_between)
    recent = select(SurveyInvitation.id).where(
        SurveyInvitation.created_at >= since, SurveyInvitation.status != InvitationStatus.EXCLUDED
    )
    by_person = person is not None and person.id is not None
    if by_person and session.exec(recent.where(SurveyInvitation.person_id == person.id)).first() is not None:  # type: ignore[union-attr]
        return "recent_survey"
    if number and session.exec(recent.where(SurveyInvitation.to_e164 == number)).first() is not None:
        return "recent_survey"
    return None


def schedule_survey(
    *,
    session: Session,
    settings: Settings,
    channel: str,
    report: Report | None = None,
    conversation: Conversation | None = None,
) -> SurveyInvitation:
    """Record a survey invitation for a finished contact: scheduled, or excluded with its reason.

    `channel` is the contact's channel ("chat", "report" or "phone"). Give the report or the
    conversation (a chat that raised a report: give the report). Calling it twice for the same
    contact returns the first invitation.
    """
    if report is None and conversation is None:
        raise ValidationFailed("A survey needs a report or a conversation")
    if report is not None:
        existing = select(SurveyInvitation).where(SurveyInvitation.report_id == report.id)
    else:
        assert conversation is not None
        existing = select(SurveyInvitation).where(SurveyInvitation.conversation_id == conversation.id)
    found = session.exec(existing).first()
    if found is not None:
        return found
    if report is None and conversation is not None:
        # A chat that raised a report is surveyed with that report's reference and topic.
        linked = session.exec(select(Report).where(Report.conversation_id == conversation.id)).first()
        ctx = _context(session, None, conversation)
        if linked is not None:
            ctx["reference"] = linked.reference
            ctx["sensitive"] = linked.sensitive
            ctx["topic"] = ctx["topic"] or linked.form_slug
    else:
        ctx = _context(session, report, None)
    now = utcnow()
    person = session.get(Person, ctx["person_id"]) if ctx["person_id"] else None
    # Texted only to the number this contact said is safe (the web link and the in-chat survey
    # need no number): a contact without that "yes" gets no survey text at all.
    consent: gate.Consent = ctx["consent"]
    number = consent.number if consent.safe and is_mobile(consent.number) else None
    reason = exclusion_reason(
        session=session, settings=settings, ctx=ctx, person=person, number=number, now=now
    )
    invitation = SurveyInvitation(
        person_id=ctx["person_id"],
        to_e164=number,
        channel=channel[:10],
        report_id=ctx["report_id"],
        conversation_id=ctx["conversation_id"],
        reference=ctx["reference"],
        team_id=ctx["team_id"],
        operator_id=ctx["operator_id"],
        area_id=ctx["area_id"],
        topic=ctx["topic"],
        contact_at=ctx["contact_at"],
        status=InvitationStatus.EXCLUDED if reason else InvitationStatus.SCHEDULED,
        excluded_reason=reason,
        due_at=now + timedelta(minutes=settings.survey_delay_minutes),
        created_at=now,
    )
    session.add(invitation)
    session.flush()
    return invitation


def survey_token(*, settings: Settings, invitation_id: int) -> str:
    """The signed, URL-safe token of a survey link (the invitation id only; no personal data)."""
    return URLSafeTimedSerializer(settings.resolved_secret_key(), salt=TOKEN_SALT).dumps(invitation_id)


def survey_link(*, settings: Settings, invitation_id: int, language: str = "en") -> str:
    """The survey's web link; a Welsh contact's opens in Welsh (`?lang=cy`)."""
    token = survey_token(settings=settings, invitation_id=invitation_id)
    suffix = "" if normalise(language) == "en" else f"?lang={normalise(language)}"
    return f"{settings.public_base_url.rstrip('/')}/survey/{token}{suffix}"


def invitation_from_token(*, session: Session, settings: Settings, token: str) -> SurveyInvitation:
    """The invitation a signed link points at; NotFound if the link is bad or expired."""
    serializer = URLSafeTimedSerializer(settings.resolved_secret_key(), salt=TOKEN_SALT)
    try:
        invitation_id = serializer.loads(token, max_age=settings.survey_link_days * 86400)
    except SignatureExpired as exc:
        raise NotFound(N_("This survey link has expired")) from exc
    except BadSignature as exc:
        raise NotFound(N_("This survey link is not valid")) from exc
    invitation = session.get(SurveyInvitation, int(invitation_id))
    if invitation is None or invitation.status == InvitationStatus.EXCLUDED:
        raise NotFound(N_("This survey link is not valid"))
    return invitation


def dispatch_due_invitations(*, session: Session, settings: Settings, now: datetime | None = None) -> int:
    """Turn due scheduled invitations with a mobile number into survey texts; returns how many.

    Each invitation is claimed with a conditional UPDATE (scheduled -> sent), so several workers
    never text the same invitation twice.
    """
    now = now or utcnow()
    due = session.exec(
        select(SurveyInvitation)
        .where(
            col(SurveyInvitation.status) == InvitationStatus.SCHEDULED,
            SurveyInvitation.due_at <= now,
            col(SurveyInvitation.to_e164).is_not(None),
        )
        .order_by(col(SurveyInvitation.due_at))
        .limit(DISPATCH_BATCH)
    ).all()
    count = 0
    for invitation in due:
        claimed = session.execute(
            update(SurveyInvitation)
            .where(
                and_(
                    col(SurveyInvitation.id) == invitation.id,
                    col(SurveyInvitation.status) == InvitationStatus.SCHEDULED,
                )
            )
            .values(status=InvitationStatus.SENT, sent_at=now, next_question=0)
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            continue
        session.refresh(invitation)
        assert invitation.id is not None and invitation.to_e164 is not None
        language = invitation_language(session=session, invitation=invitation)
        message = queue_sms(
            session=session,
            settings=settings,
            to=invitation.to_e164,
            template="survey_invite",
            kind="survey",
            essential=False,
            personalisation={
                "force": settings.force_name,
                "reference": invitation.reference or translator(language)(N_("your contact")),
                "question": questions(settings, language)[0].text,
                "link": survey_link(settings=settings, invitation_id=invitation.id, language=language),
            },
            person_id=invitation.person_id,
            report_id=invitation.report_id,
            conversation_id=invitation.conversation_id,
            survey_invitation_id=invitation.id,
            language=language,
        )
        if message is None or message.status != "queued":
            invitation.status = InvitationStatus.EXPIRED
            if message is None:
                invitation.excluded_reason = "no_mobile"
            else:
                invitation.excluded_reason = message.blocked_reason or "opted_out"
            session.add(invitation)
        count += 1
    session.flush()
    return count


def response_for(*, session: Session, invitation: SurveyInvitation, response_channel: str) -> SurveyResponse:
    """The invitation's response row, made on the first answer with the contact's context copied in."""
    response = session.exec(
        select(SurveyResponse).where(SurveyResponse.invitation_id == invitation.id)
    ).first()
    if response is None:
        response = SurveyResponse(
            invitation_id=invitation.id,
            response_channel=response_channel,
            channel=invitation.channel,
            team_id=invitation.team_id,
            operator_id=invitation.operator_id,
            area_id=invitation.area_id,
            topic=invitation.topic,
            reference=invitation.reference,
        )
        session.add(response)
    return response


def complete(*, session: Session, invitation: SurveyInvitation, response: SurveyResponse) -> None:
    """Mark the survey answered (the response's time is when it was completed)."""
    now = utcnow()
    invitation.status = InvitationStatus.COMPLETED
    invitation.completed_at = now
    invitation.sent_at = invitation.sent_at or now
    response.submitted_at = now
    session.add(invitation)
    session.add(response)
    session.flush()


SCORE_MIN, SCORE_MAX = 1, 5
COMMENT_MAX_LENGTH = 2000


# The message when a score is missing (English message ids; pages translate them).
SCORE_ERRORS = {
    "score_time": N_("Select how satisfied you were with the time it took"),
    "score_resolve": N_("Select how satisfied you were with the ability to resolve your issue"),
    "score_overall": N_("Select how satisfied you were with the overall service"),
}


def invitation_language(*, session: Session, invitation: SurveyInvitation) -> str:
    """The language of the contact a survey is about (its report's, else its chat's)."""
    if invitation.report_id is not None:
        report = session.get(Report, invitation.report_id)
        if report is not None:
            return normalise(report.language)
    if invitation.conversation_id is not None:
        conversation = session.get(Conversation, invitation.conversation_id)
        if conversation is not None:
            return normalise(conversation.language)
    return "en"


def validate_answers(form: dict[str, Any]) -> tuple[dict[str, int], str | None, dict[str, str]]:
    """Scores and comment from a web/widget submission, with GOV.UK-style field errors."""
    scores: dict[str, int] = {}
    errors: dict[str, str] = {}
    for field in SCORE_FIELDS:
        raw = form.get(field)
        value = parse_int(str(raw), low=SCORE_MIN, high=SCORE_MAX) if type(raw) in (str, int) else None
        if value is not None:
            scores[field] = value
        else:
            errors[field] = SCORE_ERRORS[field]
    raw_comment = form.get("comment")
    comment = raw_comment.strip() if isinstance(raw_comment, str) else ""
    if len(comment) > COMMENT_MAX_LENGTH:
        errors["comment"] = N_("Your comments must be 2,000 characters or fewer")
    elif unstorable_reason(comment):
        errors["comment"] = N_("Your comments must not contain control characters")
    return scores, (comment or None), errors


def submit_answers(
    *,
    session: Session,
    invitation: SurveyInvitation,
    scores: dict[str, int],
    comment: str | None,
    response_channel: str,
) -> SurveyResponse:
    """Record a whole survey at once (web page or chat widget)."""
    if invitation.status == InvitationStatus.COMPLETED:
        raise Conflict("This survey has already been answered. Thank you.", code="survey_completed")
    if invitation.status not in OPEN_STATUSES:
        raise NotFound("This survey is closed")
    # Claim the survey atomically before writing the answers: of two answers racing (two tabs, a
    # double submit), the second waits for the first's row lock (PostgreSQL) or its write lock
    # (SQLite), then finds it completed and gets 409, instead of overwriting the first.
    claimed = session.execute(
        update(SurveyInvitation)
        .where(col(SurveyInvitation.id) == invitation.id, col(SurveyInvitation.status).in_(OPEN_STATUSES))
        .values(status=InvitationStatus.COMPLETED)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("This survey has already been answered. Thank you.", code="survey_completed")
    response = response_for(session=session, invitation=invitation, response_channel=response_channel)
    response.response_channel = response_channel
    for field, value in scores.items():
        setattr(response, field, value)
    response.comment = comment
    complete(session=session, invitation=invitation, response=response)
    return response


def mark_offered(*, session: Session, invitation: SurveyInvitation) -> None:
    """The survey was put in front of the visitor (the chat window showed it): from now on the
    invitation is part of its cohort's denominator, answered or not."""
    if invitation.sent_at is None:
        invitation.sent_at = utcnow()
        session.add(invitation)
        session.flush()


def invitation_for_conversation(*, session: Session, conversation_id: str) -> SurveyInvitation | None:
    """The open survey of a chat (for the widget), or None."""
    return session.exec(
        select(SurveyInvitation).where(
            SurveyInvitation.conversation_id == conversation_id,
            col(SurveyInvitation.status).in_(OPEN_STATUSES),
        )
    ).first()
