"""JSON API for integrators (a force website, a mobile app): definitions and submissions."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse

from contact_store.admission import FORM_SUBMISSIONS, gate_for
from contact_store.group_commit import run_grouped
from contact_store.openapi import error_responses
from contact_store.text import PublicText
from contact_store.web import get_settings_dep, get_store
from web_forms.api import service
from web_forms.api.schemas import FormList, FormSummary, SubmissionIn, SubmissionOut
from web_forms.catalogue import catalogue
from web_forms.deps import check_rate, get_form

router = APIRouter(prefix="/api/v1/forms", tags=["forms"])

# A submission is text answers only: bodies over REQUEST_BODY_MAX_BYTES are refused while they
# stream (chat_server/body_limit.py); files go through the web form.


@router.get("", response_model=FormList)
def list_forms() -> FormList:
    """Every form this service accepts."""
    return FormList(
        forms=[
            FormSummary(
                slug=f.slug,
                title=f.title,
                description=f.description,
                sensitive=f.sensitive,
                url=f"/report/{f.slug}",
                definition=f"/api/v1/forms/{f.slug}",
            )
            for f in catalogue().values()
        ]
    )


@router.get("/{slug}", responses=error_responses(404))
def form_definition(slug: str) -> dict[str, Any]:
    """A form's full definition: pages, questions, types, validation and conditions."""
    return get_form(slug).public()


@router.post(
    "/{slug}/submissions",
    status_code=201,
    response_model=SubmissionOut,
    responses=error_responses(
        404, 409, 413, 422, 429, descriptions={409: "The Idempotency-Key was already used with other answers"}
    ),
)
async def submit(
    request: Request,
    slug: str,
    submission: SubmissionIn,
    idempotency_key: Annotated[PublicText | None, Header(max_length=255)] = None,
) -> JSONResponse:
    """File a report (201 with its reference). Retry safely with the same Idempotency-Key.

    Async on purpose: validation is CPU only, and the write is group-committed with other
    submissions (`contact_store.group_commit`, which commits); no threadpool hop.
    """
    form = get_form(slug)
    await check_rate(request, "Too many submissions from this address. Wait and try again.")
    checked = service.check(
        form=form,
        answers=submission.answers,
        language=submission.language,
        settings=get_settings_dep(request),
    )
    # 429 busy with Retry-After at once past the worker's bound, instead of queueing without bound.
    with gate_for(request.app, FORM_SUBMISSIONS).admit("The service is busy. Wait and try again."):
        result = await run_grouped(
            get_store(request),
            service.file_checked,
            settings=get_settings_dep(request),
            form=form,
            checked=checked,
            idempotency_key=(idempotency_key or "").strip() or None,
        )
    headers = {"Idempotent-Replayed": "true"} if result.replayed else None
    return JSONResponse(result.body, status_code=result.status_code, headers=headers)
