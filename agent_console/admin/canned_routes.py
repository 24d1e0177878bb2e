"""The canned answer library: every member of staff may browse it (search, categories, usage,
sortable); admins add, edit and retire answers and edit the synonym table.

Every change writes a history version (object type "canned" / "synonym") and an audit event in
the same transaction; every POST checks CSRF. Retired answers are hidden from operators (the
workspace search) but listed here for admins, with their history.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import col, or_, select

from agent_console.admin.forms import CsrfField, ShortText, audit_change
from agent_console.common import render
from contact_store import canned
from contact_store.access import visible_canned_clause
from contact_store.administration.history import record_version
from contact_store.errors import NotFound
from contact_store.models import CannedResponse, CannedSynonym, Role, Team
from contact_store.staff import has_role
from contact_store.text import DbId, PublicText
from contact_store.web import AdminOnly, CurrentStaff, SessionDep, StaffContext, check_csrf

router = APIRouter(include_in_schema=False)
BodyText = Annotated[PublicText, Form(max_length=4000)]


def _words(text: str) -> list[str]:
    return list(dict.fromkeys(w.strip().lower() for w in text.replace("\n", ",").split(",") if w.strip()))


@router.get("/console/canned")
def library(
    request: Request,
    ctx: CurrentStaff,
    session: SessionDep,
    q: Annotated[PublicText, Query(max_length=100)] = "",
    sort: Annotated[PublicText, Query(max_length=10)] = "category",
    retired: Annotated[PublicText, Query(max_length=3)] = "",
) -> Response:
    is_admin = has_role(ctx.operator, Role.ADMIN)
    sort = sort if sort in canned.SORTS else "category"
    rows = canned.search_canned_responses(
        session=session,
        query=q,
        visible=visible_canned_clause(ctx.operator, every_team_for_admins=True),
        include_retired=is_admin and retired == "yes",
        sort=sort,
        limit=None,
    )
    return render(
        request,
        "agent_console/canned/library.html",
        nav="canned",
        rows=rows,
        q=q,
        sort=sort,
        retired=retired == "yes",
        is_admin=is_admin,
        teams={t.id: t.label for t in session.exec(select(Team)).all()},
    )


def _values(row: CannedResponse | None) -> dict[str, Any]:
    return {
        "title": row.title if row else "",
        "body": row.body if row else "",
        "category": row.category if row else "",
        "keywords": ", ".join(row.keywords or []) if row else "",
        "title_cy": (row.title_cy or "") if row else "",
        "body_cy": (row.body_cy or "") if row else "",
        "team_id": row.team_id if row else None,
    }


def _team_choices(session: SessionDep, row: CannedResponse | None) -> list[Team]:
    """Teams in use, and the retired team the answer already has (kept until changed)."""
    current = row.team_id if row else None
    in_use = or_(col(Team.retired_at).is_(None), col(Team.id) == current)
    return list(session.exec(select(Team).where(in_use).order_by(Team.name)).all())


def _form(
    request: Request,
    session: SessionDep,
    row: CannedResponse | None,
    values: dict[str, Any],
    errors: dict[str, str],
    status: int = 200,
) -> Response:
    categories = sorted(set(session.exec(select(CannedResponse.category)).all()))
    return render(
        request,
        "agent_console/canned/form.html",
        nav="canned",
        row=row,
        values=values,
        errors=errors,
        categories=categories,
        teams=_team_choices(session, row),
        status=status,
    )


def _row_or_404(session: SessionDep, canned_id: int) -> CannedResponse:
    row = session.get(CannedResponse, canned_id)
    if row is None:
        raise NotFound("There is no such canned answer")
    return row


@router.get("/console/canned/new")
def new_page(request: Request, ctx: AdminOnly, session: SessionDep) -> Response:
    return _form(request, session, None, _values(None), {})


@router.get("/console/canned/{canned_id}")
def edit_page(request: Request, canned_id: DbId, ctx: AdminOnly, session: SessionDep) -> Response:
    row = _row_or_404(session, canned_id)
    return _form(request, session, row, _values(row), {})


def _record(
    session: SessionDep,
    ctx: StaffContext,
    request: Request,
    action: str,
    row: CannedResponse,
    before: dict[str, object] | None,
) -> None:
    """A history version and an audit event for a change to an answer (none when nothing changed)."""
    if record_version(
        session=session,
        object_type="canned",
        object_id=row.id or 0,
        before=before,
        after=canned.snapshot(row),
        operator_id=ctx.operator.id,
    ):
        audit_change(session, ctx, request, action, "canned", row.id, {"title": row.title})


@router.post("/console/canned")
@router.post("/console/canned/{canned_id}")
def save(
    request: Request,
    ctx: AdminOnly,
    session: SessionDep,
    canned_id: DbId | None = None,
    csrf_token: CsrfField = "",
    title: ShortText = "",
    body: BodyText = "",
    category: ShortText = "",
    keywords: Annotated[PublicText, Form(max_length=1000)] = "",
    title_cy: ShortText = "",
    body_cy: BodyText = "",
    team_id: Annotated[PublicText, Form(max_length=12)] = "",
) -> Response:
    check_csrf(ctx, csrf_token)
    row = _row_or_404(session, canned_id) if canned_id is not None else None
    chosen_team = int(team_id) if team_id.isdigit() else None
    values: dict[str, Any] = {
        "title": title,
        "body": body,
        "category": category,
        "keywords": keywords,
        "title_cy": title_cy,
        "body_cy": body_cy,
        "team_id": chosen_team,
    }
    errors: dict[str, str] = {}
    if not title.strip() or len(title.strip()) > 120:
        errors["title"] = "Enter a title of 120 characters or fewer"
    if not body.strip() or len(body.strip()) > 2000:
        errors["body"] = "Enter the answer, 2,000 characters or fewer"
    category_slug = "-".join(category.lower().split())
    if not category_slug or len(category_slug) > 40:
        errors["category"] = "Enter a category of 40 characters or fewer, like crime-prevention"
    words = _words(keywords)
    if len(words) > 30 or any(len(w) > 40 for w in words):
        errors["keywords"] = "Enter up to 30 keywords of 40 characters or fewer, separated by commas"
    if len(title_cy.strip()) > 120:
        errors["title_cy"] = "Enter a Welsh title of 120 characters or fewer"
    if len(body_cy.strip()) > 2000:
        errors["body_cy"] = "Enter the Welsh answer in 2,000 characters or fewer"
    if title_cy.strip() and not body_cy.strip():
        errors["body_cy"] = "Enter the Welsh answer, or remove the Welsh title"
    team = chosen_team
    if team is not None and team not in {t.id for t in _team_choices(session, row)}:
        errors["team_id"] = "Choose a team from the list"
    if errors:
        return _form(request, session, row, values, errors, status=422)
    before = canned.snapshot(row) if row else None
    row = row or CannedResponse(title=title.strip(), body=body.strip())
    row.title, row.body, row.category = title.strip(), body.strip(), category_slug
    row.keywords = words or None
    row.title_cy, row.body_cy = title_cy.strip() or None, body_cy.strip() or None
    row.team_id = team
    session.add(row)
    session.flush()
    _record(session, ctx, request, "canned.add" if before is None else "canned.update", row, before)
    return RedirectResponse("/console/canned", status_code=303)


@router.post("/console/canned/{canned_id}/{action}")
def retire_or_restore(
    request: Request,
    canned_id: DbId,
    action: str,
    ctx: AdminOnly,
    session: SessionDep,
    csrf_token: CsrfField = "",
) -> Response:
    check_csrf(ctx, csrf_token)
    if action not in ("retire", "restore"):
        raise NotFound("There is no such action")
    row = _row_or_404(session, canned_id)
    wanted = action == "restore"
    if row.is_active != wanted:
        before = canned.snapshot(row)
        row.is_active = wanted
        session.add(row)
        session.flush()
        _record(session, ctx, request, f"canned.{action}", row, before)
    return RedirectResponse("/console/canned" + ("" if wanted else "?retired=yes"), status_code=303)


# ---------- synonyms ----------


@router.get("/console/canned-synonyms")
def synonyms_page(request: Request, ctx: AdminOnly, session: SessionDep) -> Response:
    groups = session.exec(select(CannedSynonym).order_by(col(CannedSynonym.id))).all()
    return render(
        request,
        "agent_console/canned/synonyms.html",
        nav="canned",
        groups=groups,
        values={"words": ""},
        errors={},
    )


@router.post("/console/canned-synonyms")
@router.post("/console/canned-synonyms/{group_id}")
def save_synonyms(
    request: Request,
    ctx: AdminOnly,
    session: SessionDep,
    group_id: DbId | None = None,
    csrf_token: CsrfField = "",
    words: Annotated[PublicText, Form(max_length=1000)] = "",
) -> Response:
    """Add a group, change one, or (no words) delete it."""
    check_csrf(ctx, csrf_token)
    group = session.get(CannedSynonym, group_id) if group_id is not None else None
    if group_id is not None and group is None:
        raise NotFound("There is no such synonym group")
    wanted = _words(words)
    errors: dict[str, str] = {}
    field = f"words-{group_id}" if group_id is not None else "words"
    if group is None and len(wanted) < 2:
        errors[field] = (
            "Enter at least two words that mean the same, separated by commas, like bike, bicycle, cycle"
        )
    elif len(wanted) == 1:
        errors[field] = "Enter at least two words, or none to delete the group"
    elif len(wanted) > 20 or any(len(w) > 40 for w in wanted):
        errors[field] = "Enter up to 20 words of 40 characters or fewer"
    if errors:
        groups = session.exec(select(CannedSynonym).order_by(col(CannedSynonym.id))).all()
        return render(
            request,
            "agent_console/canned/synonyms.html",
            nav="canned",
            groups=groups,
            values={"words": words, "group_id": group_id},
            errors=errors,
            status=422,
        )
    before = list(group.words) if group else None
    if group is not None and not wanted:
        session.delete(group)
        session.flush()
        after = None
        key = group_id
    else:
        group = group or CannedSynonym()
        group.words = wanted
        session.add(group)
        session.flush()
        after, key = wanted, group.id
    if record_version(
        session=session,
        object_type="synonym",
        object_id=key or 0,
        before=before,
        after=after,
        operator_id=ctx.operator.id,
    ):
        audit_change(
            session, ctx, request, "synonym.update", "synonym", key or "", {"before": before, "after": after}
        )
    return RedirectResponse("/console/canned-synonyms", status_code=303)
