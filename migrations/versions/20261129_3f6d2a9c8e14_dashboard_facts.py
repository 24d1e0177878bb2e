"""dashboard fact tables: fact_contact_day and fact_build_state

Revision ID: 3f6d2a9c8e14
Revises: 5afe7e47c0de
Create Date: 2026-11-29 07:30:00

Expand-only: two new tables, filled by the fact builder (`firstcontact facts` or the maintenance
loop); the previous release never reads them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from contact_store.types import UTCDateTime

revision: str = "3f6d2a9c8e14"
down_revision: str | None = "5afe7e47c0de"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copy of contact_store.models.facts.MEASURE_COLUMNS at this revision.
MEASURE_COLUMNS = (
    "offered",
    "answered",
    "abandoned",
    "short_abandoned",
    "in_target",
    "answer_seconds",
    "handled",
    "active_seconds",
    "wrap_seconds",
    "transfers",
    "held_seconds",
    "busy_seconds",
    "texts",
    "delivered",
    "failed",
    "blocked",
    "invited",
    "responded",
    "time_n",
    "time_top",
    "time_sum",
    "resolve_n",
    "resolve_top",
    "resolve_sum",
    "overall_n",
    "overall_top",
    "overall_sum",
)


def upgrade() -> None:
    op.create_table(
        "fact_contact_day",
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("dim", sa.String(length=10), nullable=False),
        sa.Column("dim_value", sa.String(length=64), nullable=False),
        *(sa.Column(name, sa.Float(), nullable=False, server_default="0") for name in MEASURE_COLUMNS),
        sa.PrimaryKeyConstraint(
            "local_date", "channel", "team_id", "dim", "dim_value", name=op.f("pk_fact_contact_day")
        ),
    )
    op.create_index(
        "ix_fact_contact_day_dim_channel_local_date", "fact_contact_day", ["dim", "channel", "local_date"]
    )
    op.create_table(
        "fact_build_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_event_id", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("report_event_id", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("survey_response_id", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("built_at", UTCDateTime(), nullable=True),
        sa.Column("backfill_to", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fact_build_state")),
    )


def downgrade() -> None:
    op.drop_table("fact_build_state")
    op.drop_index("ix_fact_contact_day_dim_channel_local_date", table_name="fact_contact_day")
    op.drop_table("fact_contact_day")
