"""Desks: one row per user at a workstation, and the demo fleet a desk drives.

Two people may work at one machine (a supervisor and a dispatcher, each in their own
account): the heartbeat is kept per workstation *and* user, so neither overwrites the
other's. A desk that simulates the demo fleet advertises its broker and its simulated
clock (the moment it read at a wall-clock moment, and its speed-up); the other desks of
that depot on the same database follow it instead of simulating a second fleet.

The desk table stays open on PostgreSQL (every desk writes its own heartbeat, no command).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 05:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("desk") as batch:
        batch.add_column(sa.Column("demo_broker_url", sa.String(length=1000), nullable=True))
        batch.add_column(sa.Column("demo_clock_start", TS, nullable=True))
        batch.add_column(sa.Column("demo_clock_wall", TS, nullable=True))
        batch.add_column(sa.Column("demo_speedup", sa.Float(), nullable=True))
        batch.drop_constraint("pk_desk", type_="primary")
        batch.create_primary_key("pk_desk", ["workstation", "user"])


def downgrade() -> None:
    op.execute(
        'DELETE FROM desk WHERE EXISTS (SELECT 1 FROM desk AS newer WHERE newer.workstation '
        '= desk.workstation AND newer.seen_at > desk.seen_at)'
    )
    with op.batch_alter_table("desk") as batch:
        batch.drop_constraint("pk_desk", type_="primary")
        batch.create_primary_key("pk_desk", ["workstation"])
        batch.drop_column("demo_speedup")
        batch.drop_column("demo_clock_wall")
        batch.drop_column("demo_clock_start")
        batch.drop_column("demo_broker_url")
