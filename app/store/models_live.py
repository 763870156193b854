"""Tables of the live day and of sharing: telemetry, exceptions, change log, outbox, devices.

Breadcrumbs, stop events and change-log rows are append-only (no version). The latest
position is one row per vehicle, upserted. Breadcrumbs and stop events keep the vehicle id
as received (no foreign key): they are history and outlive a vehicle's removal.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    FetchedValue,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.store.base import Base, Versioned
from app.store.models_day import ID
from app.store.types import TxId

# An auto-increment 64-bit key; SQLite only auto-increments INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class VehiclePositionRow(Versioned, Base):
    """The latest fix of each vehicle (one row per vehicle, upserted)."""

    __tablename__ = "vehicle_position"

    vehicle_id: Mapped[str] = mapped_column(
        ForeignKey("vehicle.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    ts: Mapped[datetime] = mapped_column(nullable=False)
    lat: Mapped[float] = mapped_column(Float, nullable=False)
    lon: Mapped[float] = mapped_column(Float, nullable=False)
    speed_kmh: Mapped[float | None] = mapped_column(Float)
    heading_deg: Mapped[float | None] = mapped_column(Float)
    odometer_km: Mapped[float | None] = mapped_column(Float)
    accuracy_m: Mapped[float | None] = mapped_column(Float)
    received_at: Mapped[datetime] = mapped_column(nullable=False)


class BreadcrumbRow(Base):
    """Every accepted fix, appended in batches; ``(vehicle_id, seq, ts)`` is unique (a
    tracker that restarts its counter sends the same seqs again, at later times)."""

    __tablename__ = "breadcrumb"
    __table_args__ = (
        UniqueConstraint("vehicle_id", "seq", "ts"),
        Index("ix_breadcrumb_vehicle_ts", "vehicle_id", "ts"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    vehicle_id: Mapped[str] = mapped_column(ID, nullable=False)
    seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    ts: Mapped[datetime] = mapped_column(nullable=False)
    lat: Mapped[float] = mapped_column(Float, nullable=False)
    lon: Mapped[float] = mapped_column(Float, nullable=False)
    speed_kmh: Mapped[float | None] = mapped_column(Float)
    heading_deg: Mapped[float | None] = mapped_column(Float)


class StopEventRow(Base):
    """A stop event from a vehicle (arrived, delivered, failed, ...), idempotent by event id."""

    __tablename__ = "stop_event"
    __table_args__ = (Index("ix_stop_event_vehicle_ts", "vehicle_id", "ts"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(200), nullable=False, unique=True)
    vehicle_id: Mapped[str] = mapped_column(ID, nullable=False)
    # The stop as the vehicle names it (the order id of the stop); breaks have none.
    stop_id: Mapped[str | None] = mapped_column(ID, index=True)
    type: Mapped[str] = mapped_column(String(40), nullable=False)
    ts: Mapped[datetime] = mapped_column(nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False, default="")
    received_at: Mapped[datetime] = mapped_column(nullable=False)


class ExceptionRow(Versioned, Base):
    """Trouble spotted by a rule or a sync, with its detected/acknowledged/resolved times."""

    __tablename__ = "exception"
    __table_args__ = (Index("ix_exception_open", "resolved_at", "severity"),)

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    type: Mapped[str] = mapped_column(String(40), nullable=False, index=True)
    severity: Mapped[str] = mapped_column(String(20), nullable=False)
    vehicle_id: Mapped[str | None] = mapped_column(ID, index=True)
    order_id: Mapped[str | None] = mapped_column(ID, index=True)
    detected_at: Mapped[datetime] = mapped_column(nullable=False)
    acknowledged_at: Mapped[datetime | None] = mapped_column()
    acknowledged_by: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    resolved_at: Mapped[datetime | None] = mapped_column()
    resolved_by: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    detail: Mapped[str] = mapped_column(Text, nullable=False, default="")
    suggested_action: Mapped[str] = mapped_column(Text, nullable=False, default="")


class ChangeLogRow(Base):
    """One row per change, written in the changing transaction.

    Followers read it with a cursor. On PostgreSQL ``txid`` is the writer's ``xid8``
    (``pg_current_xact_id()``, a server default): a follower that remembers
    ``pg_snapshot_xmin(pg_current_snapshot())`` misses no row committed out of order.
    On SQLite writers are serialised and ``id`` is the cursor (``txid`` stays NULL).
    """

    __tablename__ = "change_log"
    __table_args__ = (Index("ix_change_log_entity", "entity", "entity_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # Filled by the server (a default on PostgreSQL), so inserts leave it out.
    txid: Mapped[int | None] = mapped_column(TxId(), server_default=FetchedValue(), index=True)
    entity: Mapped[str] = mapped_column(String(40), nullable=False)
    entity_id: Mapped[str] = mapped_column(String(200), nullable=False)
    operation: Mapped[str] = mapped_column(String(20), nullable=False)
    origin: Mapped[str] = mapped_column(String(200), nullable=False)
    actor: Mapped[str] = mapped_column(String(200), nullable=False)
    at: Mapped[datetime] = mapped_column(nullable=False)
    before: Mapped[dict[str, Any] | None] = mapped_column()
    after: Mapped[dict[str, Any] | None] = mapped_column()


class OutboxRow(Versioned, Base):
    """A command waiting to reach the shared database (replayed in ``id`` order)."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), nullable=False, unique=True)
    command: Mapped[dict[str, Any]] = mapped_column(nullable=False)
    base_versions: Mapped[dict[str, Any]] = mapped_column(nullable=False)
    created_at: Mapped[datetime] = mapped_column(nullable=False)
    sent_at: Mapped[datetime | None] = mapped_column()
    acked_at: Mapped[datetime | None] = mapped_column()
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_error: Mapped[str] = mapped_column(Text, nullable=False, default="")


class DeviceMapRow(Versioned, Base):
    """A tracker device (e.g. OwnTracks ``user/device``) and the vehicle it rides in."""

    __tablename__ = "device_map"

    device_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    vehicle_id: Mapped[str] = mapped_column(
        ForeignKey("vehicle.id", ondelete="CASCADE"), nullable=False, index=True
    )
    updated_at: Mapped[datetime] = mapped_column(nullable=False)
