"""console administration: setting overrides, change history, POD hours, the living canned library

Revision ID: a7d3c9e1f2b4
Revises: 3f6d2a9c8e14
Create Date: 2026-11-29 07:30:00

Expand-only: three new tables and nullable columns; the previous release ignores them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from contact_store.types import UTCDateTime

revision: str = "a7d3c9e1f2b4"
down_revision: str | None = "3f6d2a9c8e14"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "configoverride",
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("value", sa.JSON(), nullable=True),
        sa.Column("updated_by", sa.Integer(), nullable=True),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["updated_by"], ["operator.id"], name="fk_configoverride_updated_by_operator", ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("key", name="pk_configoverride"),
    )
    op.create_table(
        "changehistory",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("object_type", sa.String(length=32), nullable=False),
        sa.Column("object_id", sa.String(length=80), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("changed_by", sa.Integer(), nullable=True),
        sa.Column("changed_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["changed_by"], ["operator.id"], name="fk_changehistory_changed_by_operator", ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_changehistory"),
        sa.UniqueConstraint(
            "object_type", "object_id", "version", name="uq_changehistory_object_type_object_id_version"
        ),
    )
    op.create_index("ix_changehistory_changed_at", "changehistory", ["changed_at"], unique=False)
    op.create_table(
        "cannedsynonym",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("words", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_cannedsynonym"),
    )
    with op.batch_alter_table("area", schema=None) as batch_op:
        batch_op.add_column(sa.Column("opening_hours", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("closed_days", sa.JSON(), nullable=True))
    with op.batch_alter_table("cannedresponse", schema=None) as batch_op:
        batch_op.add_column(sa.Column("keywords", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("title_cy", sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column("body_cy", sa.String(length=2000), nullable=True))
        batch_op.add_column(sa.Column("usage_count", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cannedresponse", schema=None) as batch_op:
        for name in ("usage_count", "body_cy", "title_cy", "keywords"):
            batch_op.drop_column(name)
    with op.batch_alter_table("area", schema=None) as batch_op:
        batch_op.drop_column("closed_days")
        batch_op.drop_column("opening_hours")
    op.drop_table("cannedsynonym")
    op.drop_index("ix_changehistory_changed_at", table_name="changehistory")
    op.drop_table("changehistory")
    op.drop_table("configoverride")
