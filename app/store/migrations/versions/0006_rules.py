"""Standing rules: the rules (standard and per depot), their saved versions, the pause
switch, and every firing.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here (not imported from the models), so this revision never changes under us.
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "rule",
        sa.Column("key", sa.String(length=140), nullable=False),
        sa.Column("rule_id", sa.String(length=64), nullable=False),
        sa.Column("depot_key", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("mode", sa.String(length=20), nullable=False),
        sa.Column("body", JSON, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_rule")),
        sa.UniqueConstraint("depot_key", "rule_id", name=op.f("uq_rule_depot_key_rule_id")),
    )
    op.create_table(
        "rule_version",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=140), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("body", JSON, nullable=False),
        sa.Column("saved_at", TS, nullable=False),
        sa.Column("saved_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rule_version")),
        sa.UniqueConstraint("key", "version", name=op.f("uq_rule_version_key_version")),
    )
    op.create_table(
        "rule_switch",
        sa.Column("depot_key", sa.String(length=64), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("depot_key", name=op.f("pk_rule_switch")),
    )
    op.create_table(
        "rule_firing",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("depot_id", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("rule_key", sa.String(length=140), nullable=False),
        sa.Column("rule_id", sa.String(length=64), nullable=False),
        sa.Column("rule_version", sa.Integer(), nullable=False),
        sa.Column("mode", sa.String(length=20), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("vehicle_id", sa.String(length=64), nullable=True),
        sa.Column("order_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("effect", JSON, nullable=False),
        sa.Column("lateness_before_s", sa.Float(), nullable=True),
        sa.Column("lateness_after_s", sa.Float(), nullable=True),
        sa.Column("command_id", sa.String(length=200), nullable=True),
        sa.Column("undone_at", TS, nullable=True),
        sa.Column("undone_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rule_firing")),
    )
    with op.batch_alter_table("rule_firing", schema=None) as batch_op:
        batch_op.create_index("ix_rule_firing_day", ["depot_id", "day", "at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("rule_firing", schema=None) as batch_op:
        batch_op.drop_index("ix_rule_firing_day")
    op.drop_table("rule_firing")
    op.drop_table("rule_switch")
    op.drop_table("rule_version")
    op.drop_table("rule")
