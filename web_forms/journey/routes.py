"""HTML handlers of the form journey (thin: answers and sessions live in the services).

Pages: /report (index), /report/{slug} (start), /report/{slug}/{page} (one question page),
/report/{slug}/check, /report/{slug}/done, /report/{slug}/exit (quick exit), /report/{slug}/safety.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from contact_store import evidence as evidence_service
from contact_store.errors import NotFound, RateLimited, ValidationFailed
from contact_store.group_commit import run_db, run_grouped
from contact_store.models import FormSession, Report
from contact_store.settings import Settings
from contact_store.text import parse_int
from contact_store.throttle import retry_after_header
from contact_store.web import SessionDep, SettingsDep, get_settings_dep, get_store
from web_forms.catalogue import FormDefinition, Page, QuestionType, catalogue
from web_forms.deps import get_form, submission_wait
from web_forms.i18n import N_, Translate, translator
from web_forms.journey import service
from web_forms.journey.answers import date_parts, display_answer, raw_from_form, validate_page, visible_pages
from web_forms.pages import page_language, render

router = APIRouter(tags=["public"], include_in_schema=False)

FORM_COOKIE = "fc_form"
# Where "Exit this page" lands: a neutral, busy site that gives nothing away.
EXIT_URL = "https://www.bbc.co.uk/weather"
# Form fields a question page may carry beyond its questions (buttons, removal of a file).
MAX_EXTRA_FIELDS = 20
TOO_MANY_REPORTS = N_(
    "You have sent a lot of reports in a short time. Your answers are saved: wait a minute, "
    "then select Send report again."
)


def _token(request: Request) -> str | None:
    return request.cookies.get(FORM_COOKIE)


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})


def _base(form: FormDefinition) -> str:
    return f"/report/{form.slug}"


@router.get("/report")
def index(request: Request) -> Response:
    """Report online: every form in the catalogue."""
    return render(request, "web_forms/index.html", forms=list(catalogue().values()))


@router.get("/report/{slug}")
def start_page(request: Request, slug: str) -> Response:
    """A form's start page: the emergency gate first, then what the form is for."""
    form = get_form(slug)
    return render(request, "web_forms/start.html", form=form)


@router.get("/report/{slug}/safety")
def safety_page(request: Request, slug: str) -> Response:
    """How to stay safe using this service: quick exit, browsing history, shared devices."""
    form = get_form(slug)
    return render(request, "web_forms/safety.html", form=form, no_store=True)


@router.post("/report/{slug}/start")
def start(request: Request, slug: str, session: SessionDep, settings: SettingsDep) -> Response:
    """Begin a journey: a new server-side form session, then the first page."""
    form = get_form(slug)
    form_session, token = service.start(session=session, form=form, language=page_language(request))
    first = service.next_page(form, form_session, None)
    response = _redirect(f"{_base(form)}/{first.id if first else 'check'}")
    response.set_cookie(
        FORM_COOKIE,
        token,
        path=_base(form),
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
    )
    return response


@router.get("/report/{slug}/exit")
def quick_exit(request: Request, slug: str, session: SessionDep, settings: SettingsDep) -> Response:
    """Quick exit: end the form session (answers and files gone), then leave for a neutral site."""
    form = get_form(slug)
    form_session = service.find(session=session, form=form, token=_token(request))
    if form_session is not None:
        service.end(session=session, form_session=form_session, upload_dir=settings.upload_dir)
    response = RedirectResponse(EXIT_URL, status_code=303, headers={"Cache-Control": "no-store"})
    response.delete_cookie(FORM_COOKIE, path=_base(form))
    return response


def _check_rows(
    session: Session, form: FormDefinition, form_session: FormSession, lang: str
) -> list[dict[str, Any]]:
    _ = translator(lang)
    current = service.values(form_session)
    rows = []
    for page in visible_pages(form, current):
        for q in page.questions:
            if q.type == QuestionType.EVIDENCE:
                files = evidence_service.list_for_form_session(
                    session=session, form_session_id=form_session.id
                )
                value: str | list[str] = [f.original_name for f in files] or _("None")
            else:
                value = display_answer(q, current.get(q.id), lang, _)
            anchor = "" if page.single else f"#{q.id}"
            rows.append(
                {
                    "key": _(q.summary_label or q.label),
                    "value": value,
                    "href": f"{_base(form)}/{page.id}?change=1{anchor}",
                }
            )
    return rows


def _check_values(
    *, session: Session, form: FormDefinition, token: str | None, lang: str
) -> str | dict[str, Any]:
    """What the check-answers page shows, or the URL to go to when the journey is not there yet."""
    form_session = service.find(session=session, form=form, token=token)
    if form_session is None:
        return _base(form)
    missing = service.next_page(form, form_session, None)
    if missing is not None:
        return f"{_base(form)}/{missing.id}"
    return {
        "rows": _check_rows(session, form, form_session, lang),
        "submit_token": form_session.submit_token,
        "back_href": f"{_base(form)}/{visible_pages(form, service.values(form_session))[-1].id}",
    }


@router.get("/report/{slug}/check")
def check_answers(request: Request, slug: str, session: SessionDep) -> Response:
    """Check your answers, with a Change link for each."""
    form = get_form(slug)
    values = _check_values(session=session, form=form, token=_token(request), lang=page_language(request))
    if isinstance(values, str):
        return _redirect(values)
    return render(request, "web_forms/check.html", form=form, no_store=True, **values)


async def _too_many_reports(request: Request, form: FormDefinition, wait: float) -> Response:
    """Over the address's submission limit: the check page again (answers kept) with the error
    summary, 429 and Retry-After; nothing is filed."""
    lang = page_language(request)
    values = await run_db(get_store(request), _check_values, form=form, token=_token(request), lang=lang)
    if isinstance(values, str):
        raise RateLimited(TOO_MANY_REPORTS, headers={"Retry-After": retry_after_header(wait)})
    response = render(
        request,
        "web_forms/check.html",
        status_code=429,
        form=form,
        error_list=[("send-report", translator(lang)(TOO_MANY_REPORTS))],
        no_store=True,
        **values,
    )
    response.headers["Retry-After"] = retry_after_header(wait)
    return response


@router.post("/report/{slug}/submit")
async def submit(
    request: Request,
    slug: str,
    submit_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Send the report, once: a repeated POST (back button, double click) shows the same report.

    Async on purpose: the unit of work (`service.submit_once`) is group-committed with other
    submissions (`contact_store.group_commit`, which commits); no threadpool hop.
    """
    form = get_form(slug)
    wait = await submission_wait(request)
    if wait > 0:
        return await _too_many_reports(request, form, wait)
    where = await run_grouped(
        get_store(request),
        service.submit_once,
        settings=get_settings_dep(request),
        form=form,
        token=_token(request),
        submit_token=submit_token,
        language=page_language(request),
    )
    return _redirect(f"{_base(form)}/{where}" if where else _base(form))


@router.get("/report/{slug}/done")
def confirmation(request: Request, slug: str, session: SessionDep) -> Response:
    """The confirmation panel with the reference and what happens next."""
    form = get_form(slug)
    form_session = service.find(session=session, form=form, token=_token(request), include_ended=True)
    report = session.get(Report, form_session.report_id) if form_session and form_session.report_id else None
    if report is None:
        return _redirect(_base(form))
    response = render(request, "web_forms/done.html", form=form, reference=report.reference, no_store=True)
    if form.sensitive:
        # On a shared device, the browser history must not lead back to proof of a report.
        response.delete_cookie(FORM_COOKIE, path=_base(form))
    return response


def _fields(page: Page, stored: dict[str, Any], raw: dict[str, Any] | None) -> dict[str, Any]:
    """What each input shows: the raw submission when re-rendering errors, else the stored answer."""
    fields: dict[str, Any] = {}
    for q in page.questions:
        if raw is not None:
            fields[q.id] = raw.get(q.id)
        elif q.type == QuestionType.DATE:
            fields[q.id] = date_parts(stored.get(q.id))
        else:
            fields[q.id] = stored.get(q.id)
        if fields[q.id] in (None, "") and q.default is not None:
            fields[q.id] = q.default  # e.g. "safe to text?" shows "no" selected on sensitive forms
    return fields


def _question_page(
    request: Request,
    session: Session,
    settings: Settings,
    form: FormDefinition,
    page: Page,
    form_session: FormSession,
    *,
    change: bool,
    raw: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
) -> Response:
    previous = service.previous_page(form, form_session, page)
    back = _base(form) if previous is None else f"{_base(form)}/{previous.id}"
    if change:
        back = f"{_base(form)}/check"
    files = (
        evidence_service.list_for_form_session(session=session, form_session_id=form_session.id)
        if any(q.type == QuestionType.EVIDENCE for q in page.questions)
        else []
    )
    # The summary links to the first input of each field (a date's day box).
    ordered_errors = [
        (f"{q.id}-day" if q.type == QuestionType.DATE else q.id, errors[q.id])
        for q in page.questions
        if errors and q.id in errors
    ]
    return render(
        request,
        "web_forms/question.html",
        form=form,
        page=page,
        fields=_fields(page, service.values(form_session), raw),
        errors=errors or {},
        error_list=ordered_errors,
        back_href=back,
        change=change,
        files=files,
        max_files=settings.upload_max_files,
        max_mb=settings.upload_max_bytes // (1024 * 1024),
        accept=",".join(f".{e}" for e in evidence_service.ALLOWED_EXTENSIONS),
        no_store=True,
    )


@router.get("/report/{slug}/{page_id}")
def show_page(
    request: Request, slug: str, page_id: str, session: SessionDep, settings: SettingsDep
) -> Response:
    """One page of questions, filled with the answers given so far."""
    form = get_form(slug)
    page = form.page(page_id)
    if page is None:
        raise NotFound(N_("There is no page at this address"))
    form_session = service.find(session=session, form=form, token=_token(request))
    if form_session is None:
        return _redirect(_base(form))
    if page not in visible_pages(form, service.values(form_session)):
        return _redirect(f"{_base(form)}/check")
    change = request.query_params.get("change") == "1"
    return _question_page(request, session, settings, form, page, form_session, change=change)


def _store_files(
    session: Session, settings: Settings, form_session: FormSession, data: FormData, qid: str, _: Translate
) -> str | None:
    for item in data.getlist(qid):
        if not isinstance(item, UploadFile) or not item.filename:
            continue
        try:
            evidence_service.store_upload(
                session=session,
                upload_dir=settings.upload_dir,
                stream=item.file,
                original_name=item.filename,
                form_session_id=form_session.id,
                max_bytes=settings.upload_max_bytes,
                max_files=settings.upload_max_files,
            )
        except ValidationFailed as exc:
            return _upload_problem(exc.code, settings, _)
    return None


def _upload_problem(code: str, settings: Settings, _: Translate) -> str:
    """The message, in the page's language, for a refused upload."""
    if code == "file_count":
        return _("You can upload up to {count} files").format(count=settings.upload_max_files)
    if code == "file_size":
        return _("The selected file must be smaller than {size}MB").format(
            size=settings.upload_max_bytes // (1024 * 1024)
        )
    if code == "file_empty":
        return _("The selected file is empty")
    return _("The selected file must be a JPG, PNG, HEIC, PDF, MP4 or MOV")


def _save_page(
    request: Request,
    session: Session,
    settings: Settings,
    form: FormDefinition,
    page: Page,
    data: FormData,
) -> Response:
    form_session = service.find(session=session, form=form, token=_token(request))
    if form_session is None:
        return _redirect(_base(form))
    change = request.query_params.get("change") == "1"
    _ = translator(page_language(request))
    evidence_q = next((q for q in page.questions if q.type == QuestionType.EVIDENCE), None)
    if evidence_q is not None:
        removing = data.get("remove")
        evidence_id = parse_int(removing, low=1) if isinstance(removing, str) else None
        if evidence_id is not None:
            evidence_service.remove_upload(
                session=session,
                upload_dir=settings.upload_dir,
                form_session_id=form_session.id,
                evidence_id=evidence_id,
            )
            return _question_page(request, session, settings, form, page, form_session, change=change)
        problem = _store_files(session, settings, form_session, data, evidence_q.id, _)
        if problem:
            errors = {evidence_q.id: problem}
            return _question_page(
                request, session, settings, form, page, form_session, change=change, raw={}, errors=errors
            )
        if data.get("action") == "upload":
            return _question_page(request, session, settings, form, page, form_session, change=change)
    raw = raw_from_form(page, data)
    page_values, errors = validate_page(page, raw, _, settings=settings)
    if errors:
        return _question_page(
            request, session, settings, form, page, form_session, change=change, raw=raw, errors=errors
        )
    service.save_page(session=session, form_session=form_session, page=page, page_values=page_values)
    upcoming = service.next_page(form, form_session, None if change else page)
    return _redirect(f"{_base(form)}/{upcoming.id if upcoming else 'check'}")


def _save_page_in_unit_of_work(
    request: Request, settings: Settings, form: FormDefinition, page: Page, data: FormData
) -> Response:
    # The body was read first: no transaction (nor SQLite write lock) is held while a client uploads.
    with request.app.state.store.session_scope() as session:
        return _save_page(request, session, settings, form, page, data)


@router.post("/report/{slug}/{page_id}")
async def save_page(request: Request, slug: str, page_id: str, settings: SettingsDep) -> Response:
    """Validate one page: errors re-render it with a summary and every answer kept."""
    form = get_form(slug)
    page = form.page(page_id)
    if page is None:
        raise NotFound(N_("There is no page at this address"))
    # Bodies over upload_max_files x upload_max_bytes never get here (chat_server/body_limit.py).
    data = await request.form(
        max_files=settings.upload_max_files, max_fields=len(page.questions) * 3 + MAX_EXTRA_FIELDS
    )
    try:
        return await run_in_threadpool(_save_page_in_unit_of_work, request, settings, form, page, data)
    finally:
        await data.close()
