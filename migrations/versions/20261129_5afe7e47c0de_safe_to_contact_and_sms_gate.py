"""safe to contact on reports and chats; blocked texts and the per-recipient cap index

Revision ID: 5afe7e47c0de
Revises: 8b2f4d6a1c07
Create Date: 2026-11-29 04:30:00

Existing contacts keep the decision the platform already made for them: a report or chat that
was acknowledged by text said it was safe to text that number (the acknowledgement's number);
every other contact is "not safe to contact" until it says otherwise.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5afe7e47c0de"
down_revision: str | None = "8b2f4d6a1c07"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BACKFILL = """
UPDATE {table} SET safe_to_contact = TRUE, contact_e164 = (
    SELECT s.to_e164 FROM smsmessage s
    WHERE s.{key} = {table}.id AND s.kind = 'ack' AND s.to_e164 <> ''
    ORDER BY s.id LIMIT 1
)
WHERE EXISTS (
    SELECT 1 FROM smsmessage s WHERE s.{key} = {table}.id AND s.kind = 'ack' AND s.to_e164 <> ''
)
"""


def upgrade() -> None:
    for table in ("report", "conversation"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            # A literal default ('0' is false on both backends) lets SQLite add the column in place;
            # an expression would make batch mode copy the table, which its foreign keys refuse.
            batch_op.add_column(
                sa.Column("safe_to_contact", sa.Boolean(), server_default="0", nullable=False)
            )
            batch_op.add_column(sa.Column("contact_e164", sa.String(length=20), nullable=True))
    with op.batch_alter_table("smsmessage", schema=None) as batch_op:
        batch_op.add_column(sa.Column("blocked_reason", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_smsmessage_to_e164_created_at", ["to_e164", "created_at"], unique=False)
    op.execute(_BACKFILL.format(table="report", key="report_id"))
    op.execute(_BACKFILL.format(table="conversation", key="conversation_id"))


def downgrade() -> None:
    with op.batch_alter_table("smsmessage", schema=None) as batch_op:
        batch_op.drop_index("ix_smsmessage_to_e164_created_at")
        batch_op.drop_column("blocked_reason")
    for table in ("conversation", "report"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("contact_e164")
            batch_op.drop_column("safe_to_contact")
