"""Canned answers: the shipped set (crime-prevention advice, support services), search with
keywords and synonyms, Welsh versions, usage counts, and filling in the operator's name.

Search: every word of the query must match, case-insensitively, somewhere in an answer's title,
body, category, tags or keywords (English and Welsh), where a word also matches any word of its
synonym group (`CannedSynonym`: "bike" finds "cycle theft"). Retired answers (`is_active` false)
never reach operators; they stay, with their history, for the record.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import func, update
from sqlmodel import Session, col, or_, select

from contact_store.models import CannedResponse, CannedSynonym

SHIPPED_SET = Path(__file__).parent / "data" / "canned_responses.json"
SEARCH_LIMIT = 20
SORTS = ("category", "title", "usage")


def load_shipped_canned_responses(*, session: Session) -> int:
    """Add the shipped canned responses that are not there yet (matched by title). Returns how many."""
    rows = json.loads(SHIPPED_SET.read_text(encoding="utf-8"))
    existing = set(session.exec(select(CannedResponse.title)).all())
    added = 0
    for row in rows:
        if row["title"] in existing:
            continue
        session.add(
            CannedResponse(
                title=row["title"],
                body=row["body"],
                category=row["category"],
                tags=row["tags"],
                keywords=row.get("keywords"),
                title_cy=row.get("title_cy"),
                body_cy=row.get("body_cy"),
            )
        )
        added += 1
    session.flush()
    return added


def synonym_groups(*, session: Session) -> list[list[str]]:
    """The synonym table: groups of words that mean the same to a searcher (lower case)."""
    return [[w.lower() for w in row.words] for row in session.exec(select(CannedSynonym)).all()]


def expand(term: str, groups: list[list[str]]) -> set[str]:
    """A search word and every word of each synonym group it belongs to."""
    out = {term}
    for group in groups:
        if term in group:
            out.update(group)
    return out


def haystack(row: CannedResponse) -> str:
    """Everything a search looks in, lower case."""
    parts = [
        row.title,
        row.body,
        row.category,
        *row.tags,
        *(row.keywords or []),
        row.title_cy or "",
        row.body_cy or "",
    ]
    return " ".join(parts).lower()


def matches(row: CannedResponse, terms: list[set[str]]) -> bool:
    text = haystack(row)
    return all(any(word in text for word in alternatives) for alternatives in terms)


def search_canned_responses(
    *,
    session: Session,
    query: str = "",
    language: str = "en",
    visible: Any = None,
    include_retired: bool = False,
    sort: str = "category",
    limit: int | None = SEARCH_LIMIT,
) -> list[CannedResponse]:
    """Canned answers matching `query` (all when empty) for this team.

    `language` is the chat's: every answer is offered (the Welsh version is used where there is
    one, see `text_for`); rows stored as another language only (old data) are left out.
    `visible` is the member of staff's rule (`access.visible_canned_clause`); without it only the
    shared answers (no team) are searched."""
    stmt = select(CannedResponse).where(
        or_(CannedResponse.language == "en", CannedResponse.language == language),
        col(CannedResponse.team_id).is_(None) if visible is None else visible,
    )
    if not include_retired:
        stmt = stmt.where(CannedResponse.is_active == True)  # noqa: E712 (SQL expression)
    orders: dict[str, list[Any]] = {
        "title": [col(CannedResponse.title)],
        "usage": [func.coalesce(col(CannedResponse.usage_count), 0).desc(), col(CannedResponse.title)],
    }
    order = orders.get(sort) or [col(CannedResponse.category), col(CannedResponse.title)]
    results = list(session.exec(stmt.order_by(*order)).all())
    words = [t for t in query.lower().split() if t]
    if words:
        groups = synonym_groups(session=session)
        # Searched here rather than in SQL: the library is small (tens to hundreds) and keywords,
        # tags and synonyms are JSON lists.
        terms = [expand(w, groups) for w in words]
        results = [row for row in results if matches(row, terms)]
    return results[:limit] if limit else results


def text_for(*, canned: CannedResponse, language: str) -> tuple[str, str]:
    """(title, body) in the chat's language: the Welsh version when the chat is in Welsh and there
    is one, else the English."""
    if language == "cy" and canned.body_cy:
        return canned.title_cy or canned.title, canned.body_cy
    return canned.title, canned.body


def render_canned(*, canned: CannedResponse, operator_name: str, language: str = "en") -> str:
    """The canned text in the chat's language with the operator's name filled in."""
    return text_for(canned=canned, language=language)[1].replace("{name}", operator_name)


def count_use(*, session: Session, canned_id: int, visible: Any) -> bool:
    """Count one insertion of an active answer this member of staff is offered (`visible`, from
    `access.visible_canned_clause`): one UPDATE, so concurrent uses never lose a count."""
    result = session.execute(
        update(CannedResponse)
        .where(col(CannedResponse.id) == canned_id, col(CannedResponse.is_active).is_(True), visible)
        .values(usage_count=func.coalesce(col(CannedResponse.usage_count), 0) + 1)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def snapshot(canned: CannedResponse) -> dict[str, object]:
    """An answer as its history keeps it."""
    return {
        "title": canned.title,
        "body": canned.body,
        "category": canned.category,
        "keywords": list(canned.keywords or []),
        "title_cy": canned.title_cy,
        "body_cy": canned.body_cy,
        "team_id": canned.team_id,
        "is_active": canned.is_active,
    }
