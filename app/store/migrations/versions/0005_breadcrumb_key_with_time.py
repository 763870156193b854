"""A breadcrumb is unique by vehicle, seq and time: a restarted tracker's seqs come again.

A tracker whose counter restarts (a reboot) sends seq 0, 1, 2… again; with
``(vehicle_id, seq)`` unique, every fix after the restart that reused a seq of the morning
was silently dropped by the idempotent insert. The time joins the key; a QoS 1 duplicate
(same seq, same time) is still written once.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 23:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("breadcrumb", schema=None) as batch_op:
        batch_op.drop_constraint("uq_breadcrumb_vehicle_id_seq", type_="unique")
        batch_op.create_unique_constraint(
            batch_op.f("uq_breadcrumb_vehicle_id_seq_ts"), ["vehicle_id", "seq", "ts"]
        )


def downgrade() -> None:
    with op.batch_alter_table("breadcrumb", schema=None) as batch_op:
        batch_op.drop_constraint("uq_breadcrumb_vehicle_id_seq_ts", type_="unique")
        batch_op.create_unique_constraint(
            batch_op.f("uq_breadcrumb_vehicle_id_seq"), ["vehicle_id", "seq"]
        )
