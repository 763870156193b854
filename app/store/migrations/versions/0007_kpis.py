"""The day after: KPI values per day (for trends), the ETAs the desk showed, what each
vehicle's trail added up to, KPI targets and costs, and the profiles learned from history.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 01:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here (not imported from the models), so this revision never changes under us.
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "kpi_value",
        sa.Column("id", BIGID, autoincrement=True, nullable=False),
        sa.Column("depot_id", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("scope", sa.String(length=10), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("numerator", sa.Float(), nullable=False),
        sa.Column("denominator", sa.Float(), nullable=False),
        sa.Column("unit", sa.String(length=20), nullable=False),
        sa.Column("final", sa.Boolean(), nullable=False),
        sa.Column("computed_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kpi_value")),
        sa.UniqueConstraint(
            "depot_id", "day", "name", "scope", "key",
            name=op.f("uq_kpi_value_depot_id_day_name_scope_key"),
        ),
    )  # fmt: skip
    op.create_index("ix_kpi_value_trend", "kpi_value", ["depot_id", "name", "scope", "day"])
    op.create_table(
        "eta_sample",
        sa.Column("id", BIGID, autoincrement=True, nullable=False),
        sa.Column("depot_id", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("route_id", sa.String(length=64), nullable=False),
        sa.Column("vehicle_id", sa.String(length=64), nullable=False),
        sa.Column("predicted_at", TS, nullable=False),
        sa.Column("eta", TS, nullable=False),
        sa.Column("p90", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_eta_sample")),
        sa.UniqueConstraint(
            "order_id", "predicted_at", name=op.f("uq_eta_sample_order_id_predicted_at")
        ),
    )
    op.create_index("ix_eta_sample_day", "eta_sample", ["depot_id", "day"])
    op.create_table(
        "kpi_track",
        sa.Column("depot_id", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("vehicle_id", sa.String(length=64), nullable=False),
        sa.Column("through", TS, nullable=False),
        sa.Column("fixes", sa.Integer(), nullable=False),
        sa.Column("state", JSON, nullable=False),
        sa.PrimaryKeyConstraint("depot_id", "day", "vehicle_id", name=op.f("pk_kpi_track")),
    )
    op.create_table(
        "kpi_setting",
        sa.Column("depot_id", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("value", JSON, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("depot_id", "key", name=op.f("pk_kpi_setting")),
    )
    op.create_table(
        "learned_profile",
        sa.Column("depot_id", sa.String(length=64), nullable=False),
        sa.Column("trained_at", TS, nullable=False),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("service", JSON, nullable=False),
        sa.Column("travel", JSON, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("depot_id", name=op.f("pk_learned_profile")),
    )


def downgrade() -> None:
    op.drop_table("learned_profile")
    op.drop_table("kpi_setting")
    op.drop_table("kpi_track")
    op.drop_index("ix_eta_sample_day", table_name="eta_sample")
    op.drop_table("eta_sample")
    op.drop_index("ix_kpi_value_trend", table_name="kpi_value")
    op.drop_table("kpi_value")
