"""Form sessions: a journey's answers kept on the server, and its one-time submission.

Protocol
--------
- Starting a form creates a `FormSession`; the browser holds only an opaque random token in a
  cookie scoped to that form's path. The row's id is the SHA-256 of the token, so a database read
  never yields a usable cookie. Answers never go to the browser except as the values of the page
  being shown.
- Every "Check your answers" page carries the session's one-time `submit_token`. Submitting locks
  the form session row (FOR UPDATE on PostgreSQL; SQLite's BEGIN IMMEDIATE serialises writers), so a
  double click, a retry or the back button finds `report_id` already set and shows that report
  instead of filing a second one.
- A submitted session is ended and its answers wiped (the report holds them now). Ending a session
  early (quick exit) wipes its answers and deletes its uploaded files.
- Sessions idle for longer than `FORM_SESSION_IDLE` are treated as gone.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlmodel import Session, and_, col, or_, select

from contact_store import evidence as evidence_service
from contact_store.clock import utcnow
from contact_store.models import FormSession
from contact_store.reports import file_report
from contact_store.settings import Settings
from web_forms.catalogue import FormDefinition, Page
from web_forms.journey.answers import visible_pages
from web_forms.journey.submission import report_create

# Long enough to write a careful account, short enough not to keep abandoned answers for days.
FORM_SESSION_IDLE = timedelta(hours=4)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start(*, session: Session, form: FormDefinition, language: str) -> tuple[FormSession, str]:
    """A new form session and the token for its cookie."""
    token = secrets.token_urlsafe(32)
    form_session = FormSession(
        id=_hash(token),
        form_slug=form.slug,
        answers={"values": {}, "pages": []},
        language=language,
        submit_token=secrets.token_urlsafe(24),
    )
    session.add(form_session)
    session.flush()
    return form_session, token


def find(
    *,
    session: Session,
    form: FormDefinition,
    token: str | None,
    include_ended: bool = False,
    lock: bool = False,
) -> FormSession | None:
    """The live form session for this cookie token and form, or None."""
    if not token or len(token) > 100:
        return None
    query = select(FormSession).where(FormSession.id == _hash(token), FormSession.form_slug == form.slug)
    if lock:
        query = query.with_for_update()
    form_session = session.exec(query).first()
    if form_session is None:
        return None
    if form_session.ended_at is not None and not include_ended:
        return None
    if form_session.ended_at is None and utcnow() - form_session.updated_at > FORM_SESSION_IDLE:
        return None
    return form_session


def values(form_session: FormSession) -> dict[str, Any]:
    return dict(form_session.answers.get("values", {}))


def completed_pages(form_session: FormSession) -> list[str]:
    return list(form_session.answers.get("pages", []))


def save_page(
    *, session: Session, form_session: FormSession, page: Page, page_values: dict[str, Any]
) -> None:
    """Keep one page's clean answers (answers left blank are removed)."""
    current = values(form_session)
    for q in page.questions:
        current.pop(q.id, None)
    current.update(page_values)
    done = completed_pages(form_session)
    if page.id not in done:
        done.append(page.id)
    form_session.answers = {"values": current, "pages": done}
    form_session.updated_at = utcnow()
    session.add(form_session)
    session.flush()


def next_page(form: FormDefinition, form_session: FormSession, after: Page | None) -> Page | None:
    """The first visible page not yet answered, else (in order) the page after `after`; None: check."""
    current = values(form_session)
    pages = visible_pages(form, current)
    done = set(completed_pages(form_session))
    if after is None:
        return next((p for p in pages if p.id not in done), None)
    later = pages[pages.index(after) + 1 :] if after in pages else pages
    return next((p for p in later if p.id not in done), None) or next(
        (p for p in pages if p.id not in done), None
    )


def previous_page(form: FormDefinition, form_session: FormSession, page: Page) -> Page | None:
    """The visible page before `page`, for the back link."""
    pages = visible_pages(form, values(form_session))
    if page not in pages:
        return None
    index = pages.index(page)
    return pages[index - 1] if index > 0 else None


def end(*, session: Session, form_session: FormSession, upload_dir: Path) -> None:
    """End a journey now: wipe its answers and delete files not yet submitted."""
    evidence_service.discard_for_form_session(
        session=session, upload_dir=upload_dir, form_session_id=form_session.id
    )
    form_session.answers = {}
    form_session.ended_at = utcnow()
    session.add(form_session)
    session.flush()


def submit(
    *, session: Session, settings: Settings, form: FormDefinition, form_session: FormSession, language: str
) -> int:
    """File the report once; its id. The caller locked `form_session` and checked the one-time
    token."""
    if form_session.report_id is not None:
        return form_session.report_id
    report_in = report_create(form=form, values=values(form_session), channel="web", language=language)
    report = file_report(session=session, settings=settings, report_in=report_in)
    evidence_service.attach_to_report(session=session, form_session_id=form_session.id, report_id=report.id)
    form_session.report_id = report.id
    form_session.answers = {}
    form_session.ended_at = utcnow()
    session.add(form_session)
    session.flush()
    return report.id


def submit_once(
    *,
    session: Session,
    settings: Settings,
    form: FormDefinition,
    token: str | None,
    submit_token: str,
    language: str,
) -> str:
    """The final POST of a journey as one unit of work; returns where to send the browser:
    `"done"` (filed now, or already filed by an earlier POST), `"check"` (stale or forged
    submit token, or unanswered pages) or `""` (no live journey: the start page).

    Safe to run again from the start (group commit reruns a batch when another unit fails): it
    only touches the database.
    """
    form_session = find(session=session, form=form, token=token, include_ended=True, lock=True)
    if form_session is None:
        return ""
    if form_session.report_id is not None:
        return "done"
    if form_session.ended_at is not None:
        return ""
    if submit_token != form_session.submit_token or next_page(form, form_session, None):
        return "check"
    submit(session=session, settings=settings, form=form, form_session=form_session, language=language)
    return "done"


def purge_idle(*, session: Session, upload_dir: Path, keep_ended: timedelta = timedelta(days=1)) -> int:
    """Delete abandoned journeys (idle past FORM_SESSION_IDLE) with their unsubmitted files, and
    ended sessions older than `keep_ended`. For a periodic worker; returns how many were deleted."""
    now = utcnow()
    stale = session.exec(
        select(FormSession).where(
            or_(
                and_(
                    col(FormSession.ended_at).is_(None), col(FormSession.updated_at) < now - FORM_SESSION_IDLE
                ),
                col(FormSession.ended_at) < now - keep_ended,
            )
        )
    ).all()
    for form_session in stale:
        evidence_service.discard_for_form_session(
            session=session, upload_dir=upload_dir, form_session_id=form_session.id
        )
        session.delete(form_session)
    session.flush()
    return len(stale)
