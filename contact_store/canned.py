"""Canned responses: the shipped set (crime-prevention advice, support services), search, and
filling in the operator's name."""

from __future__ import annotations

import json
from pathlib import Path

from sqlmodel import Session, col, or_, select

from contact_store.models import CannedResponse

SHIPPED_SET = Path(__file__).parent / "data" / "canned_responses.json"
SEARCH_LIMIT = 20


def load_shipped_canned_responses(*, session: Session) -> int:
    """Add the shipped canned responses that are not there yet (matched by title). Returns how many."""
    rows = json.loads(SHIPPED_SET.read_text(encoding="utf-8"))
    existing = set(session.exec(select(CannedResponse.title)).all())
    added = 0
    for row in rows:
        if row["title"] in existing:
            continue
        session.add(
            CannedResponse(title=row["title"], body=row["body"], category=row["category"], tags=row["tags"])
        )
        added += 1
    session.flush()
    return added


def search_canned_responses(
    *, session: Session, query: str = "", language: str = "en", team_id: int | None = None
) -> list[CannedResponse]:
    """Active canned responses whose title, tags or category match `query` (all when empty)."""
    stmt = select(CannedResponse).where(
        CannedResponse.is_active == True,  # noqa: E712 (SQL expression)
        CannedResponse.language == language,
        or_(col(CannedResponse.team_id).is_(None), CannedResponse.team_id == team_id),
    )
    results = list(session.exec(stmt.order_by(col(CannedResponse.category), col(CannedResponse.title))).all())
    terms = [t for t in query.lower().split() if t]
    if not terms:
        return results[:SEARCH_LIMIT]

    def matches(row: CannedResponse) -> bool:
        haystack = " ".join([row.title, row.category, *row.tags]).lower()
        return all(term in haystack for term in terms)

    # Tags are a JSON list, searched here rather than in SQL: the set is small (tens to hundreds).
    return [row for row in results if matches(row)][:SEARCH_LIMIT]


def render_canned(*, canned: CannedResponse, operator_name: str) -> str:
    """The canned text with the operator's name filled in."""
    return canned.body.replace("{name}", operator_name)
