"""Small Core helpers for hot write paths, where ORM unit-of-work overhead costs more than the SQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite


class InsertOrSkip:
    """`INSERT ... ON CONFLICT (columns) DO NOTHING RETURNING id`, built once per dialect.

    Executing it returns the new row's id, or None when a row with the same unique columns exists
    (on PostgreSQL, after waiting for a concurrent transaction that inserted it to finish). The
    transaction is not aborted by the conflict, so no savepoint is needed.
    """

    def __init__(self, table: Any, *conflict_columns: str) -> None:
        self._statements: dict[str, Any] = {
            "sqlite": sqlite.insert(table)
            .on_conflict_do_nothing(index_elements=list(conflict_columns))
            .returning(table.c.id),
            "postgresql": postgresql.insert(table)
            .on_conflict_do_nothing(index_elements=list(conflict_columns))
            .returning(table.c.id),
        }

    def __call__(self, conn: Connection, values: dict[str, Any]) -> int | None:
        found = conn.execute(self._statements[conn.dialect.name], values).scalar()
        return int(found) if found is not None else None
