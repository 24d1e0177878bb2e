"""surveyinvitation.contact_at: the date of the contact a survey is about (the cohort)

Survey results are reported per cohort: the invitations for contacts in a period, by the
contact's date. Existing invitations take it from their report (received) or chat (queued),
falling back to when the invitation was made.

Revision ID: 5e1c0a7d9b31
Revises: c4a7e1f0b2d9
Create Date: 2026-11-29 04:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import contact_store.types

revision: str = "5e1c0a7d9b31"
down_revision: str | None = "c4a7e1f0b2d9"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("surveyinvitation", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("contact_at", contact_store.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index("ix_surveyinvitation_contact_at", ["contact_at"], unique=False)
    # Expand: backfill from the contact itself (same SQL on SQLite and PostgreSQL).
    op.execute(
        """
        UPDATE surveyinvitation SET contact_at = COALESCE(
            (SELECT report.received_at FROM report WHERE report.id = surveyinvitation.report_id),
            (SELECT conversation.queued_at FROM conversation
              WHERE conversation.id = surveyinvitation.conversation_id),
            surveyinvitation.created_at)
        WHERE contact_at IS NULL
        """
    )


def downgrade() -> None:
    with op.batch_alter_table("surveyinvitation", schema=None) as batch_op:
        batch_op.drop_index("ix_surveyinvitation_contact_at")
        batch_op.drop_column("contact_at")
