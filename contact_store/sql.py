"""Small Core helpers for hot write paths, where ORM unit-of-work overhead costs more than the SQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite


class InsertOrSkip:
    """`INSERT ... ON CONFLICT (columns) DO NOTHING RETURNING id`, built once per dialect.

    Executing it returns the new row's id, or None when a row with the same unique columns exists
    (on PostgreSQL, after waiting for a concurrent transaction that inserted it to finish). The
    transaction is not aborted by the conflict, so no savepoint is needed.

    `values` fixes some columns to SQL expressions (e.g. a guarded foreign key); `returning` adds
    columns to the RETURNING clause, read with `row()`.
    """

    def __init__(
        self,
        table: Any,
        *conflict_columns: str,
        values: dict[str, Any] | None = None,
        returning: tuple[Any, ...] = (),
    ) -> None:
        self._statements: dict[str, Any] = {}
        for name, dialect in (("sqlite", sqlite), ("postgresql", postgresql)):
            statement = dialect.insert(table)
            if values:
                statement = statement.values(**values)
            self._statements[name] = statement.on_conflict_do_nothing(
                index_elements=list(conflict_columns)
            ).returning(table.c.id, *returning)

    def row(self, conn: Connection, values: dict[str, Any]) -> Row[Any] | None:
        """The RETURNING row of the new row, or None when it already existed."""
        return conn.execute(self._statements[conn.dialect.name], values).first()

    def __call__(self, conn: Connection, values: dict[str, Any]) -> int | None:
        found = self.row(conn, values)
        return int(found[0]) if found is not None else None


def existing_id(table: Any, param: str, *, in_use: bool = False) -> Any:
    """`(SELECT id FROM table WHERE id = :param)`: the id if that row still exists, else NULL.

    For ids taken from a per-process cache (`org_cache`): a row deleted by another process since
    then must not fail the insert on its foreign key; the column is left empty instead. With
    `in_use`, a row retired since (`retired_at` set: teams and PODs) is left out the same way, so
    new work never lands on it from a stale cache or an old chat's team.
    """
    query = select(table.c.id).where(table.c.id == bindparam(param))
    if in_use:
        query = query.where(table.c.retired_at.is_(None))
    return query.scalar_subquery()
