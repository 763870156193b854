"""Tables of release control: route transitions, dock scans, gate overrides, what was sent
to drivers and what they acknowledged.

All append-only history (no version): the route row's own ``status`` and ``version`` hold
where a route stands; these rows say when it got there, who moved it, what the dock
scanned, which red check a supervisor let pass and why, and which route version each
driver's device was sent and confirmed. Scans and acknowledgements are idempotent by the
sender's ``event_id``; a transition is unique per route, status and moment, so two desks
recording the same scan-driven transition store it once.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.store.base import Base
from app.store.models_day import ID
from app.store.models_live import BigId


class RouteTransitionRow(Base):
    """A route moved from one lifecycle status to another, at ``at``, by ``actor``."""

    __tablename__ = "route_transition"
    __table_args__ = (
        UniqueConstraint("route_id", "to_status", "at"),
        Index("ix_route_transition_day", "depot_id", "day"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    route_id: Mapped[str] = mapped_column(ID, nullable=False)
    plan_id: Mapped[str] = mapped_column(ID, nullable=False)
    depot_id: Mapped[str] = mapped_column(ID, nullable=False)
    day: Mapped[date] = mapped_column(Date, nullable=False)
    wave: Mapped[str] = mapped_column(String(50), nullable=False, default="")
    from_status: Mapped[str] = mapped_column(String(20), nullable=False)
    to_status: Mapped[str] = mapped_column(String(20), nullable=False)
    at: Mapped[datetime] = mapped_column(nullable=False)
    actor: Mapped[str] = mapped_column(String(200), nullable=False)
    source: Mapped[str] = mapped_column(String(20), nullable=False)  # command, dock, telemetry
    reason: Mapped[str] = mapped_column(Text, nullable=False, default="")
    route_version: Mapped[int | None] = mapped_column(Integer)
    planned_departure: Mapped[datetime | None] = mapped_column()


class DockScanRow(Base):
    """What a dock reported (or a person marked) about a route's loading."""

    __tablename__ = "dock_scan"
    __table_args__ = (Index("ix_dock_scan_route", "route_id", "ts"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(200), nullable=False, unique=True)
    depot_id: Mapped[str] = mapped_column(ID, nullable=False)
    dock_id: Mapped[str] = mapped_column(ID, nullable=False)
    route_id: Mapped[str] = mapped_column(ID, nullable=False)
    order_id: Mapped[str | None] = mapped_column(ID)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)  # loaded unloaded count complete
    scanned: Mapped[int | None] = mapped_column(Integer)
    expected: Mapped[int | None] = mapped_column(Integer)
    ts: Mapped[datetime] = mapped_column(nullable=False)
    received_at: Mapped[datetime] = mapped_column(nullable=False)
    source: Mapped[str] = mapped_column(String(20), nullable=False)  # mqtt, manual
    actor: Mapped[str] = mapped_column(String(200), nullable=False, default="")


class GateOverrideRow(Base):
    """A supervisor let a red check pass for a route, with a written reason. It holds while
    the route serves the same orders (``orders``, in sequence)."""

    __tablename__ = "gate_override"
    __table_args__ = (Index("ix_gate_override_route", "route_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200), nullable=False, unique=True)
    route_id: Mapped[str] = mapped_column(ID, nullable=False)
    plan_id: Mapped[str] = mapped_column(ID, nullable=False)
    check_name: Mapped[str] = mapped_column(String(40), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    actor: Mapped[str] = mapped_column(String(200), nullable=False)
    role: Mapped[str] = mapped_column(String(20), nullable=False)
    at: Mapped[datetime] = mapped_column(nullable=False)
    orders: Mapped[list[str]] = mapped_column(nullable=False)


class RoutePublicationRow(Base):
    """A route message sent to a vehicle's driver (retained): which version, when."""

    __tablename__ = "route_publication"
    __table_args__ = (Index("ix_route_publication_route", "route_id", "version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    route_id: Mapped[str] = mapped_column(ID, nullable=False)
    vehicle_id: Mapped[str] = mapped_column(ID, nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)  # route, withdrawn
    topic: Mapped[str] = mapped_column(String(300), nullable=False)
    published_at: Mapped[datetime] = mapped_column(nullable=False)
    stops: Mapped[int] = mapped_column(Integer, nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(nullable=False)


class RouteAckRow(Base):
    """A driver's device confirmed it has a route version (``route_ack``)."""

    __tablename__ = "route_ack"
    __table_args__ = (Index("ix_route_ack_route", "route_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(200), nullable=False, unique=True)
    route_id: Mapped[str] = mapped_column(ID, nullable=False)
    vehicle_id: Mapped[str] = mapped_column(ID, nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    ts: Mapped[datetime] = mapped_column(nullable=False)
    received_at: Mapped[datetime] = mapped_column(nullable=False)
