"""The public survey: a short accessible page from a signed link, and the chat widget's survey API.

Web link: `/survey/<token>` where token = itsdangerous URLSafeTimedSerializer(secret key,
salt "fc-survey-link") of the invitation id, valid for `survey_link_days`.

Widget API (for the chat widget when a chat ends), authorised by the chat's visitor token
(`Authorization: Bearer <visitor token>`, `contact_store.web.visitor_conversation`: 401 without it,
403 for another chat's token, 410 `chat_expired` once `chat_token_ttl_after_end_minutes` have passed
since the chat ended):
- `GET /api/v1/chats/{id}/survey?lang=en|cy` -> 200 {"questions": [{"field", "text", "kind"}...],
  "scale": {"1".."5": words}} worded in `lang` (default: the chat's language) when the chat has an
  open survey; 404 when there is none (excluded, already answered, or not scheduled).

Web link pages are in the visitor's language like every public page; the link in a Welsh text
carries `?lang=cy`.
- `POST /api/v1/chats/{id}/survey` with {"score_time": 1-5, "score_resolve": 1-5,
  "score_overall": 1-5, "comment": "..."} -> 201 {"status": "completed"}; 422 with field errors;
  409 if already answered (also when two answers race: the loser's unique-constraint conflict is
  answered 409 by the one mapping in chat_server.errors). The SMS invitation is then never sent.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from annotated_types import Ge, Le
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from contact_store.errors import Conflict, NotFound, ValidationFailed
from contact_store.i18n import N_, normalise, translator
from contact_store.models.surveys import InvitationStatus
from contact_store.openapi import error_responses
from contact_store.surveys.questions import questions, score_labels
from contact_store.surveys.service import (
    COMMENT_MAX_LENGTH,
    OPEN_STATUSES,
    SCORE_MAX,
    SCORE_MIN,
    invitation_for_conversation,
    invitation_from_token,
    mark_offered,
    submit_answers,
    validate_answers,
)
from contact_store.text import PublicText, TextId
from contact_store.web import VISITOR_TOKEN_RESPONSES, SessionDep, SettingsDep, visitor_conversation
from web_forms.pages import page_language, render

router = APIRouter(tags=["surveys"])

Score = Annotated[int, Ge(SCORE_MIN), Le(SCORE_MAX)]


class SurveyAnswersIn(BaseModel):
    """A whole survey from the chat widget: three 1-5 scores and an optional comment."""

    model_config = ConfigDict(extra="forbid")

    score_time: Score
    score_resolve: Score
    score_overall: Score
    comment: Annotated[PublicText, Field(max_length=COMMENT_MAX_LENGTH)] | None = None


class SurveyQuestion(BaseModel):
    field: str
    text: str
    kind: str


class SurveyQuestions(BaseModel):
    questions: list[SurveyQuestion]
    scale: dict[str, str]


class SurveyCompleted(BaseModel):
    status: Literal["completed"]


def _render(request: Request, name: str, status: int = 200, **values: Any) -> Response:
    """A survey page in the visitor's language (`?lang=` from the text's link, the cookie...)."""
    lang = page_language(request)
    if "questions" in values:
        values["labels"] = score_labels(lang)
    if "errors" in values:
        _ = translator(lang)
        values["errors"] = {k: _(v) for k, v in values["errors"].items()}
    template = f"web_forms/surveys/{name}"
    return render(request, template, status_code=status, no_store=True, lang=lang, **values)


@router.get("/survey/{token}", response_class=HTMLResponse, include_in_schema=False)
def survey_page(request: Request, token: str, session: SessionDep, settings: SettingsDep) -> Response:
    invitation = invitation_from_token(session=session, settings=settings, token=token)
    if invitation.status == InvitationStatus.COMPLETED:
        return _render(request, "done.html", already=True)
    if invitation.status not in OPEN_STATUSES:
        raise NotFound(N_("This survey is closed"))
    return _render(
        request,
        "form.html",
        questions=questions(settings, page_language(request)),
        values={},
        errors={},
        reference=invitation.reference,
    )


@router.post("/survey/{token}", response_class=HTMLResponse, include_in_schema=False)
async def survey_submit(request: Request, token: str, settings: SettingsDep) -> Response:
    form = {k: str(v) for k, v in (await request.form()).items()}
    store = request.app.state.store

    def _work(*, session: Any) -> tuple[str, dict[str, Any]]:
        invitation = invitation_from_token(session=session, settings=settings, token=token)
        if invitation.status == InvitationStatus.COMPLETED:
            return "done", {"already": True}
        scores, comment, errors = validate_answers(form)
        if errors:
            return "form", {"errors": errors, "reference": invitation.reference}
        submit_answers(
            session=session, invitation=invitation, scores=scores, comment=comment, response_channel="web"
        )
        return "done", {"already": False}

    outcome, values = await store.run_db(_work)
    if outcome == "form":
        return _render(
            request,
            "form.html",
            status=422,
            questions=questions(settings, page_language(request)),
            values=form,
            **values,
        )
    return _render(request, "done.html", **values)


@router.get(
    "/api/v1/chats/{conversation_id}/survey",
    response_model=SurveyQuestions,
    responses={**VISITOR_TOKEN_RESPONSES, **error_responses(404, 422)},
)
def widget_survey(
    request: Request,
    conversation_id: TextId,
    session: SessionDep,
    settings: SettingsDep,
    lang: Annotated[str | None, Query(max_length=5, description="en or cy (default: the chat's)")] = None,
) -> Response:
    """The chat's survey, worded in `lang` (the widget's current language) or the chat's language."""
    conversation = visitor_conversation(
        request=request, session=session, settings=settings, conversation_id=conversation_id
    )
    invitation = invitation_for_conversation(session=session, conversation_id=conversation.id)
    if invitation is None:
        raise NotFound("There is no survey for this chat", code="no_survey")
    mark_offered(session=session, invitation=invitation)
    language = normalise(lang or conversation.language)
    return JSONResponse(
        {
            "questions": [
                {"field": q.field, "text": q.text, "kind": q.kind} for q in questions(settings, language)
            ],
            "scale": {str(k): v for k, v in score_labels(language).items()},
        }
    )


@router.post(
    "/api/v1/chats/{conversation_id}/survey",
    status_code=201,
    response_model=SurveyCompleted,
    responses={**VISITOR_TOKEN_RESPONSES, **error_responses(404, 409, 422)},
)
async def widget_survey_submit(
    request: Request, conversation_id: TextId, answers: SurveyAnswersIn, settings: SettingsDep
) -> Response:
    scores, comment, errors = validate_answers(answers.model_dump())
    if errors:
        raise ValidationFailed("Some answers are missing or not valid", fields=errors)

    def _work(*, session: Any) -> None:
        conversation = visitor_conversation(
            request=request, session=session, settings=settings, conversation_id=conversation_id
        )
        invitation = invitation_for_conversation(session=session, conversation_id=conversation.id)
        if invitation is None:
            from sqlmodel import select

            from contact_store.models import SurveyInvitation

            done = session.exec(
                select(SurveyInvitation).where(
                    SurveyInvitation.conversation_id == conversation.id,
                    SurveyInvitation.status == InvitationStatus.COMPLETED,
                )
            ).first()
            if done is not None:
                raise Conflict("This survey has already been answered", code="survey_completed")
            raise NotFound("There is no survey for this chat", code="no_survey")
        submit_answers(
            session=session, invitation=invitation, scores=scores, comment=comment, response_channel="widget"
        )

    await request.app.state.store.run_db(_work)
    return JSONResponse({"status": "completed"}, status_code=201)
