"""Desks: each workstation's heartbeat (depot, user, outbox), for the control tower.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 02:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "desk",
        sa.Column("workstation", sa.String(length=200), nullable=False),
        sa.Column("user", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=40), nullable=False),
        sa.Column("depot_id", sa.String(length=64), nullable=False),
        sa.Column("seen_at", TS, nullable=False),
        sa.Column("outbox_pending", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("workstation", name=op.f("pk_desk")),
    )
    with op.batch_alter_table("desk") as batch:
        batch.create_index(batch.f("ix_desk_depot_id"), ["depot_id"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        # Every desk writes its own heartbeat without a command (like telemetry).
        op.execute(
            "INSERT INTO dispatch_sec.open_table VALUES ('desk') ON CONFLICT DO NOTHING"
        )
        op.execute("SELECT dispatch_sec.secure_schema()")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DELETE FROM dispatch_sec.open_table WHERE name = 'desk'")
    with op.batch_alter_table("desk") as batch:
        batch.drop_index(batch.f("ix_desk_depot_id"))
    op.drop_table("desk")
