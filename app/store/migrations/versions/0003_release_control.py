"""Release control: waves, dock loading rates, order arrival, route dock slots, and the
history of transitions, dock scans, gate overrides, route messages and acknowledgements.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here (not imported from the models), so this revision never changes under us.
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("dock", schema=None) as batch_op:
        batch_op.add_column(sa.Column("prep_minutes", sa.Float(), nullable=False, server_default="10"))
        batch_op.add_column(sa.Column("post_minutes", sa.Float(), nullable=False, server_default="5"))
        batch_op.add_column(
            sa.Column("load_minutes_per_order", sa.Float(), nullable=False, server_default="1")
        )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("received_at", TS, nullable=True))
    with op.batch_alter_table("route", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dock_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("slot_start", TS, nullable=True))
        batch_op.add_column(sa.Column("slot_end", TS, nullable=True))

    op.create_table(
        "wave",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("id", sa.String(length=50), nullable=False),
        sa.Column("depot_id", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("cutoff", TS, nullable=False),
        sa.Column("depart_from", TS, nullable=False),
        sa.Column("depart_to", TS, nullable=False),
        sa.Column("docks", JSON, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["depot_id"], ["depot.id"], name=op.f("fk_wave_depot_id_depot")),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_wave")),
    )
    with op.batch_alter_table("wave", schema=None) as batch_op:
        batch_op.create_index("ix_wave_depot_day", ["depot_id", "day"], unique=False)

    op.create_table(
        "route_transition",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("route_id", sa.String(length=64), nullable=False),
        sa.Column("plan_id", sa.String(length=64), nullable=False),
        sa.Column("depot_id", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("wave", sa.String(length=50), nullable=False),
        sa.Column("from_status", sa.String(length=20), nullable=False),
        sa.Column("to_status", sa.String(length=20), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("route_version", sa.Integer(), nullable=True),
        sa.Column("planned_departure", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_route_transition")),
        sa.UniqueConstraint(
            "route_id", "to_status", "at", name=op.f("uq_route_transition_route_id_to_status_at")
        ),
    )
    with op.batch_alter_table("route_transition", schema=None) as batch_op:
        batch_op.create_index("ix_route_transition_day", ["depot_id", "day"], unique=False)

    op.create_table(
        "dock_scan",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(length=200), nullable=False),
        sa.Column("depot_id", sa.String(length=64), nullable=False),
        sa.Column("dock_id", sa.String(length=64), nullable=False),
        sa.Column("route_id", sa.String(length=64), nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("scanned", sa.Integer(), nullable=True),
        sa.Column("expected", sa.Integer(), nullable=True),
        sa.Column("ts", TS, nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dock_scan")),
        sa.UniqueConstraint("event_id", name=op.f("uq_dock_scan_event_id")),
    )
    with op.batch_alter_table("dock_scan", schema=None) as batch_op:
        batch_op.create_index("ix_dock_scan_route", ["route_id", "ts"], unique=False)

    op.create_table(
        "gate_override",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("route_id", sa.String(length=64), nullable=False),
        sa.Column("plan_id", sa.String(length=64), nullable=False),
        sa.Column("check_name", sa.String(length=40), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("orders", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gate_override")),
        sa.UniqueConstraint("key", name=op.f("uq_gate_override_key")),
    )
    with op.batch_alter_table("gate_override", schema=None) as batch_op:
        batch_op.create_index("ix_gate_override_route", ["route_id"], unique=False)

    op.create_table(
        "route_publication",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("route_id", sa.String(length=64), nullable=False),
        sa.Column("vehicle_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("topic", sa.String(length=300), nullable=False),
        sa.Column("published_at", TS, nullable=False),
        sa.Column("stops", sa.Integer(), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_route_publication")),
    )
    with op.batch_alter_table("route_publication", schema=None) as batch_op:
        batch_op.create_index("ix_route_publication_route", ["route_id", "version"], unique=False)

    op.create_table(
        "route_ack",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(length=200), nullable=False),
        sa.Column("route_id", sa.String(length=64), nullable=False),
        sa.Column("vehicle_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("ts", TS, nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_route_ack")),
        sa.UniqueConstraint("event_id", name=op.f("uq_route_ack_event_id")),
    )
    with op.batch_alter_table("route_ack", schema=None) as batch_op:
        batch_op.create_index("ix_route_ack_route", ["route_id"], unique=False)


def downgrade() -> None:
    for table in ("route_ack", "route_publication", "gate_override", "dock_scan",
                  "route_transition", "wave"):  # fmt: skip
        op.drop_table(table)
    with op.batch_alter_table("route", schema=None) as batch_op:
        batch_op.drop_column("slot_end")
        batch_op.drop_column("slot_start")
        batch_op.drop_column("dock_id")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_column("received_at")
    with op.batch_alter_table("dock", schema=None) as batch_op:
        batch_op.drop_column("load_minutes_per_order")
        batch_op.drop_column("post_minutes")
        batch_op.drop_column("prep_minutes")
