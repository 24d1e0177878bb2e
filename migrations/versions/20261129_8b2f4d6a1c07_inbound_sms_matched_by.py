"""inboundsms.matched_by (+ who matched it, when): how an inbound text found its contact

Existing texts keep what they had: those attached to a report or chat are marked
`reply_thread` (the closest of the new rules to the old "latest open contact"), the others
that were contacts become `unmatched` so staff see them in "Texts to match".

Revision ID: 8b2f4d6a1c07
Revises: 5e1c0a7d9b31
Create Date: 2026-11-29 04:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import contact_store.types

revision: str = "8b2f4d6a1c07"
down_revision: str | None = "5e1c0a7d9b31"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("inboundsms", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("matched_by", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True)
        )
        batch_op.add_column(sa.Column("matched_by_operator_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("matched_at", contact_store.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index("ix_inboundsms_matched_by", ["matched_by"], unique=False)
        batch_op.create_foreign_key(
            "fk_inboundsms_matched_by_operator_id_operator", "operator", ["matched_by_operator_id"], ["id"]
        )
    op.execute(
        """
        UPDATE inboundsms SET matched_by = CASE
            WHEN report_id IS NOT NULL OR conversation_id IS NOT NULL THEN 'reply_thread'
            ELSE 'unmatched' END
        WHERE handled_as = 'contact' AND matched_by IS NULL
        """
    )


def downgrade() -> None:
    with op.batch_alter_table("inboundsms", schema=None) as batch_op:
        batch_op.drop_constraint("fk_inboundsms_matched_by_operator_id_operator", type_="foreignkey")
        batch_op.drop_index("ix_inboundsms_matched_by")
        batch_op.drop_column("matched_at")
        batch_op.drop_column("matched_by_operator_id")
        batch_op.drop_column("matched_by")
