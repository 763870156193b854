"""Cancelled orders stay stored; dispatchers' proposals wait for a supervisor.

``orders`` gains a status (``open`` / ``cancelled``) with who set it, when and why: a
cancelled order leaves the planned day but is never deleted. ``proposal`` holds a change a
dispatcher may not make (a move, a fleet re-plan) until a supervisor accepts or rejects it.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 23:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here (not imported from the models), so this revision never changes under us.
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("status", sa.String(length=20), server_default="open", nullable=False)
        )
        batch_op.add_column(
            sa.Column("status_reason", sa.Text(), server_default="", nullable=False)
        )
        batch_op.add_column(
            sa.Column("status_by", sa.String(length=200), server_default="", nullable=False)
        )
        batch_op.add_column(sa.Column("status_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "proposal",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("depot_id", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("author", sa.String(length=200), nullable=False),
        sa.Column("author_role", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("effect", JSON, nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("base_versions", JSON, nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("decided_by", sa.String(length=200), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["depot_id"], ["depot.id"], name=op.f("fk_proposal_depot_id_depot")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_proposal")),
    )
    with op.batch_alter_table("proposal", schema=None) as batch_op:
        batch_op.create_index(
            "ix_proposal_depot_day_status", ["depot_id", "day", "status"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("proposal", schema=None) as batch_op:
        batch_op.drop_index("ix_proposal_depot_day_status")
    op.drop_table("proposal")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_column("status_at")
        batch_op.drop_column("status_by")
        batch_op.drop_column("status_reason")
        batch_op.drop_column("status")
