"""conversation.visitor_seen_at for abandonment after the visitor leaves

Revision ID: c4a7e1f0b2d9
Revises: 740eab2d3fc7
Create Date: 2026-11-25 19:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import contact_store.types

revision: str = "c4a7e1f0b2d9"
down_revision: str | None = "740eab2d3fc7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("visitor_seen_at", contact_store.types.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.drop_column("visitor_seen_at")
