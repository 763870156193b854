"""Initial schema: the day, the plan, telemetry, exceptions, change log, outbox, devices.

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-24 21:09:41.514869
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from sqlalchemy.dialects import postgresql

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here (not imported from the models), so this revision never changes under us.
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class _Xid8(sa.types.UserDefinedType):
    cache_ok = True

    def get_col_spec(self, **kw):
        return "XID8"


def _txid_column() -> sa.Column:
    """The change-log cursor: the writer's xid8 on PostgreSQL; unused (NULL) on SQLite."""
    if op.get_bind().dialect.name == "postgresql":
        return sa.Column("txid", _Xid8(), server_default=sa.text("pg_current_xact_id()"), nullable=True)
    return sa.Column("txid", sa.BigInteger(), nullable=True)


def upgrade() -> None:
    op.create_table('breadcrumb',
    sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
    sa.Column('vehicle_id', sa.String(length=64), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('ts', sa.DateTime(timezone=True), nullable=False),
    sa.Column('lat', sa.Float(), nullable=False),
    sa.Column('lon', sa.Float(), nullable=False),
    sa.Column('speed_kmh', sa.Float(), nullable=True),
    sa.Column('heading_deg', sa.Float(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_breadcrumb')),
    sa.UniqueConstraint('vehicle_id', 'seq', name=op.f('uq_breadcrumb_vehicle_id_seq'))
    )
    with op.batch_alter_table('breadcrumb', schema=None) as batch_op:
        batch_op.create_index('ix_breadcrumb_vehicle_ts', ['vehicle_id', 'ts'], unique=False)

    op.create_table('change_log',
    sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
    _txid_column(),
    sa.Column('entity', sa.String(length=40), nullable=False),
    sa.Column('entity_id', sa.String(length=200), nullable=False),
    sa.Column('operation', sa.String(length=20), nullable=False),
    sa.Column('origin', sa.String(length=200), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('before', JSON, nullable=True),
    sa.Column('after', JSON, nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_change_log'))
    )
    with op.batch_alter_table('change_log', schema=None) as batch_op:
        batch_op.create_index('ix_change_log_entity', ['entity', 'entity_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_change_log_txid'), ['txid'], unique=False)

    op.create_table('depot',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('lat', sa.Float(), nullable=False),
    sa.Column('lon', sa.Float(), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('address', sa.Text(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_depot'))
    )
    op.create_table('exception',
    sa.Column('id', sa.String(length=200), nullable=False),
    sa.Column('type', sa.String(length=40), nullable=False),
    sa.Column('severity', sa.String(length=20), nullable=False),
    sa.Column('vehicle_id', sa.String(length=64), nullable=True),
    sa.Column('order_id', sa.String(length=64), nullable=True),
    sa.Column('detected_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_by', sa.String(length=200), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_by', sa.String(length=200), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('suggested_action', sa.Text(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exception'))
    )
    with op.batch_alter_table('exception', schema=None) as batch_op:
        batch_op.create_index('ix_exception_open', ['resolved_at', 'severity'], unique=False)
        batch_op.create_index(batch_op.f('ix_exception_order_id'), ['order_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_exception_type'), ['type'], unique=False)
        batch_op.create_index(batch_op.f('ix_exception_vehicle_id'), ['vehicle_id'], unique=False)

    op.create_table('outbox',
    sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
    sa.Column('idempotency_key', sa.String(length=200), nullable=False),
    sa.Column('command', JSON, nullable=False),
    sa.Column('base_versions', JSON, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('acked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_outbox_idempotency_key'))
    )
    op.create_table('stop_event',
    sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
    sa.Column('event_id', sa.String(length=200), nullable=False),
    sa.Column('vehicle_id', sa.String(length=64), nullable=False),
    sa.Column('stop_id', sa.String(length=64), nullable=True),
    sa.Column('type', sa.String(length=40), nullable=False),
    sa.Column('ts', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stop_event')),
    sa.UniqueConstraint('event_id', name=op.f('uq_stop_event_event_id'))
    )
    with op.batch_alter_table('stop_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stop_event_stop_id'), ['stop_id'], unique=False)
        batch_op.create_index('ix_stop_event_vehicle_ts', ['vehicle_id', 'ts'], unique=False)

    op.create_table('dock',
    sa.Column('depot_id', sa.String(length=64), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['depot_id'], ['depot.id'], name=op.f('fk_dock_depot_id_depot'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('depot_id', 'position', name=op.f('pk_dock'))
    )
    op.create_table('driver',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('depot_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('shift_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('shift_end', sa.DateTime(timezone=True), nullable=False),
    sa.Column('skills', JSON, nullable=False),
    sa.Column('vehicle_id', sa.String(length=64), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['depot_id'], ['depot.id'], name=op.f('fk_driver_depot_id_depot')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_driver'))
    )
    with op.batch_alter_table('driver', schema=None) as batch_op:
        batch_op.create_index('ix_driver_depot_shift', ['depot_id', 'shift_start'], unique=False)

    op.create_table('orders',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('depot_id', sa.String(length=64), nullable=False),
    sa.Column('lat', sa.Float(), nullable=False),
    sa.Column('lon', sa.Float(), nullable=False),
    sa.Column('demand', JSON, nullable=False),
    sa.Column('service_s', sa.Float(), nullable=False),
    sa.Column('skills', JSON, nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('customer', sa.String(length=200), nullable=False),
    sa.Column('address', sa.Text(), nullable=False),
    sa.Column('wave', sa.String(length=50), nullable=False),
    sa.Column('first_window_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['depot_id'], ['depot.id'], name=op.f('fk_orders_depot_id_depot')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_orders'))
    )
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.create_index('ix_orders_depot_first_window', ['depot_id', 'first_window_start'], unique=False)

    op.create_table('plan',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('depot_id', sa.String(length=64), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['depot_id'], ['depot.id'], name=op.f('fk_plan_depot_id_depot')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plan')),
    sa.UniqueConstraint('depot_id', 'day', name=op.f('uq_plan_depot_id_day'))
    )
    op.create_table('vehicle',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('depot_id', sa.String(length=64), nullable=False),
    sa.Column('type_name', sa.String(length=100), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('capacity', JSON, nullable=False),
    sa.Column('skills', JSON, nullable=False),
    sa.Column('cost_per_km', sa.Float(), nullable=False),
    sa.Column('cost_per_hour', sa.Float(), nullable=False),
    sa.Column('fixed_cost', sa.Float(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['depot_id'], ['depot.id'], name=op.f('fk_vehicle_depot_id_depot')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vehicle'))
    )
    with op.batch_alter_table('vehicle', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_vehicle_depot_id'), ['depot_id'], unique=False)

    op.create_table('device_map',
    sa.Column('device_key', sa.String(length=200), nullable=False),
    sa.Column('vehicle_id', sa.String(length=64), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['vehicle_id'], ['vehicle.id'], name=op.f('fk_device_map_vehicle_id_vehicle'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('device_key', name=op.f('pk_device_map'))
    )
    with op.batch_alter_table('device_map', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_device_map_vehicle_id'), ['vehicle_id'], unique=False)

    op.create_table('driver_break',
    sa.Column('driver_id', sa.String(length=64), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('earliest', sa.DateTime(timezone=True), nullable=False),
    sa.Column('latest', sa.DateTime(timezone=True), nullable=False),
    sa.Column('duration_s', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['driver_id'], ['driver.id'], name=op.f('fk_driver_break_driver_id_driver'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('driver_id', 'position', name=op.f('pk_driver_break'))
    )
    op.create_table('order_window',
    sa.Column('order_id', sa.String(length=64), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_order_window_order_id_orders'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('order_id', 'position', name=op.f('pk_order_window'))
    )
    op.create_table('plan_unassigned',
    sa.Column('plan_id', sa.String(length=64), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.String(length=40), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['plan_id'], ['plan.id'], name=op.f('fk_plan_unassigned_plan_id_plan'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('plan_id', 'position', name=op.f('pk_plan_unassigned'))
    )
    op.create_table('route',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('plan_id', sa.String(length=64), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('vehicle_id', sa.String(length=64), nullable=False),
    sa.Column('driver_id', sa.String(length=64), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('wave', sa.String(length=50), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['driver_id'], ['driver.id'], name=op.f('fk_route_driver_id_driver')),
    sa.ForeignKeyConstraint(['plan_id'], ['plan.id'], name=op.f('fk_route_plan_id_plan'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['vehicle_id'], ['vehicle.id'], name=op.f('fk_route_vehicle_id_vehicle')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_route'))
    )
    with op.batch_alter_table('route', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_route_plan_id'), ['plan_id'], unique=False)

    op.create_table('vehicle_position',
    sa.Column('vehicle_id', sa.String(length=64), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('ts', sa.DateTime(timezone=True), nullable=False),
    sa.Column('lat', sa.Float(), nullable=False),
    sa.Column('lon', sa.Float(), nullable=False),
    sa.Column('speed_kmh', sa.Float(), nullable=True),
    sa.Column('heading_deg', sa.Float(), nullable=True),
    sa.Column('odometer_km', sa.Float(), nullable=True),
    sa.Column('accuracy_m', sa.Float(), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['vehicle_id'], ['vehicle.id'], name=op.f('fk_vehicle_position_vehicle_id_vehicle'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('vehicle_id', name=op.f('pk_vehicle_position'))
    )
    op.create_table('stop',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('route_id', sa.String(length=64), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('locked', sa.Boolean(), nullable=False),
    sa.Column('planned_arrival', sa.DateTime(timezone=True), nullable=True),
    sa.Column('planned_departure', sa.DateTime(timezone=True), nullable=True),
    sa.Column('actual_arrival', sa.DateTime(timezone=True), nullable=True),
    sa.Column('actual_departure', sa.DateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_stop_order_id_orders')),
    sa.ForeignKeyConstraint(['route_id'], ['route.id'], name=op.f('fk_stop_route_id_route'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stop')),
    sa.UniqueConstraint('route_id', 'order_id', name=op.f('uq_stop_route_id_order_id'))
    )
    with op.batch_alter_table('stop', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stop_order_id'), ['order_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_stop_route_id'), ['route_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('stop', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stop_route_id'))
        batch_op.drop_index(batch_op.f('ix_stop_order_id'))

    op.drop_table('stop')
    op.drop_table('vehicle_position')
    with op.batch_alter_table('route', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_route_plan_id'))

    op.drop_table('route')
    op.drop_table('plan_unassigned')
    op.drop_table('order_window')
    op.drop_table('driver_break')
    with op.batch_alter_table('device_map', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_device_map_vehicle_id'))

    op.drop_table('device_map')
    with op.batch_alter_table('vehicle', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_vehicle_depot_id'))

    op.drop_table('vehicle')
    op.drop_table('plan')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index('ix_orders_depot_first_window')

    op.drop_table('orders')
    with op.batch_alter_table('driver', schema=None) as batch_op:
        batch_op.drop_index('ix_driver_depot_shift')

    op.drop_table('driver')
    op.drop_table('dock')
    with op.batch_alter_table('stop_event', schema=None) as batch_op:
        batch_op.drop_index('ix_stop_event_vehicle_ts')
        batch_op.drop_index(batch_op.f('ix_stop_event_stop_id'))

    op.drop_table('stop_event')
    op.drop_table('outbox')
    with op.batch_alter_table('exception', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_exception_vehicle_id'))
        batch_op.drop_index(batch_op.f('ix_exception_type'))
        batch_op.drop_index(batch_op.f('ix_exception_order_id'))
        batch_op.drop_index('ix_exception_open')

    op.drop_table('exception')
    op.drop_table('depot')
    with op.batch_alter_table('change_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_change_log_txid'))
        batch_op.drop_index('ix_change_log_entity')

    op.drop_table('change_log')
    with op.batch_alter_table('breadcrumb', schema=None) as batch_op:
        batch_op.drop_index('ix_breadcrumb_vehicle_ts')

    op.drop_table('breadcrumb')
