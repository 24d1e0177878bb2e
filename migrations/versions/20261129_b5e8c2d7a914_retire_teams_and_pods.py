"""retire teams and PODs: a nullable retired_at on team and area

Revision ID: b5e8c2d7a914
Revises: a7d3c9e1f2b4
Create Date: 2026-11-29 14:00:00

Expand-only: two nullable columns. NULL means "in use", so every existing row stays in use and
the previous release (which neither reads nor writes them) keeps working during the upgrade.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from contact_store.types import UTCDateTime

revision: str = "b5e8c2d7a914"
down_revision: str | None = "a7d3c9e1f2b4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("team", "area"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("retired_at", UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    for table in ("area", "team"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("retired_at")
