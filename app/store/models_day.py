"""Tables of the day's input: depots (+docks), vehicles, drivers (+breaks), orders (+windows),
waves.

Capacity, demand and skills are JSON columns on their row rather than child tables: the
dimensions are open-ended (kg, m3, pallets, ...), they are always read and written together
with their vehicle or order, and nothing queries a single dimension in SQL. A child table
would cost a join and one row per dimension (~800 extra rows for the demo day) for no query
it serves; the JSON keeps a row self-contained and its change-log entry readable.

Docks, breaks and windows are ordered parts of their parent, replaced as a whole when the
parent changes; the parent's ``version`` covers them.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.store.base import Base, Versioned

ID = String(64)


class Audited:
    """When and by whom the row last changed (set only when something really changed)."""

    updated_at: Mapped[datetime] = mapped_column(nullable=False)
    updated_by: Mapped[str] = mapped_column(String(200), nullable=False, default="")


class DepotRow(Versioned, Audited, Base):
    __tablename__ = "depot"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    lat: Mapped[float] = mapped_column(Float, nullable=False)
    lon: Mapped[float] = mapped_column(Float, nullable=False)
    timezone: Mapped[str] = mapped_column(String(64), nullable=False, default="UTC")
    address: Mapped[str] = mapped_column(Text, nullable=False, default="")
    travel: Mapped[str] = mapped_column(String(500), nullable=False, default="", server_default="")
    docks: Mapped[list[DockRow]] = relationship(
        order_by="DockRow.position", cascade="all, delete-orphan", lazy="selectin"
    )


class DockRow(Base):
    __tablename__ = "dock"

    depot_id: Mapped[str] = mapped_column(
        ForeignKey("depot.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    id: Mapped[str] = mapped_column(ID, nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    prep_minutes: Mapped[float] = mapped_column(Float, nullable=False, default=10.0)
    post_minutes: Mapped[float] = mapped_column(Float, nullable=False, default=5.0)
    load_minutes_per_order: Mapped[float] = mapped_column(Float, nullable=False, default=1.0)


class VehicleRow(Versioned, Audited, Base):
    __tablename__ = "vehicle"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    depot_id: Mapped[str] = mapped_column(ForeignKey("depot.id"), nullable=False, index=True)
    type_name: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    name: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    capacity: Mapped[dict[str, float]] = mapped_column(nullable=False)
    skills: Mapped[list[str]] = mapped_column(nullable=False)
    cost_per_km: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    cost_per_hour: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    fixed_cost: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)


class DriverRow(Versioned, Audited, Base):
    __tablename__ = "driver"
    __table_args__ = (Index("ix_driver_depot_shift", "depot_id", "shift_start"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    depot_id: Mapped[str] = mapped_column(ForeignKey("depot.id"), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    shift_start: Mapped[datetime] = mapped_column(nullable=False)
    shift_end: Mapped[datetime] = mapped_column(nullable=False)
    skills: Mapped[list[str]] = mapped_column(nullable=False)
    # The vehicle this driver usually takes: a preference, not a reference that must exist.
    vehicle_id: Mapped[str | None] = mapped_column(ID)
    breaks: Mapped[list[BreakRow]] = relationship(
        order_by="BreakRow.position", cascade="all, delete-orphan", lazy="selectin"
    )


class BreakRow(Base):
    __tablename__ = "driver_break"

    driver_id: Mapped[str] = mapped_column(
        ForeignKey("driver.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    earliest: Mapped[datetime] = mapped_column(nullable=False)
    latest: Mapped[datetime] = mapped_column(nullable=False)
    duration_s: Mapped[float] = mapped_column(Float, nullable=False)


class OrderRow(Versioned, Audited, Base):
    __tablename__ = "orders"  # "order" is an SQL keyword
    __table_args__ = (Index("ix_orders_depot_first_window", "depot_id", "first_window_start"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    depot_id: Mapped[str] = mapped_column(ForeignKey("depot.id"), nullable=False)
    lat: Mapped[float] = mapped_column(Float, nullable=False)
    lon: Mapped[float] = mapped_column(Float, nullable=False)
    demand: Mapped[dict[str, float]] = mapped_column(nullable=False)
    service_s: Mapped[float] = mapped_column(Float, nullable=False)
    skills: Mapped[list[str]] = mapped_column(nullable=False)
    priority: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    customer: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    address: Mapped[str] = mapped_column(Text, nullable=False, default="")
    wave: Mapped[str] = mapped_column(String(50), nullable=False, default="")
    received_at: Mapped[datetime | None] = mapped_column()
    # Start of the earliest window, kept beside the windows so a day loads with one index scan.
    first_window_start: Mapped[datetime] = mapped_column(nullable=False)
    # "open", or "cancelled": a cancelled order stays stored (and audited) but is no longer
    # part of the day that is planned; who cancelled it, when and why.
    status: Mapped[str] = mapped_column(String(20), nullable=False, server_default="open")
    status_reason: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    status_by: Mapped[str] = mapped_column(String(200), nullable=False, server_default="")
    status_at: Mapped[datetime | None] = mapped_column()
    windows: Mapped[list[WindowRow]] = relationship(
        order_by="WindowRow.position", cascade="all, delete-orphan", lazy="selectin"
    )


class WindowRow(Base):
    __tablename__ = "order_window"

    order_id: Mapped[str] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    starts_at: Mapped[datetime] = mapped_column(nullable=False)
    ends_at: Mapped[datetime] = mapped_column(nullable=False)


class WaveRow(Versioned, Audited, Base):
    """A release wave of one depot's day: cut-off, departure window, the docks it loads at."""

    __tablename__ = "wave"
    __table_args__ = (Index("ix_wave_depot_day", "depot_id", "day"),)

    key: Mapped[str] = mapped_column(String(200), primary_key=True)  # depot/day/id
    id: Mapped[str] = mapped_column(String(50), nullable=False)
    depot_id: Mapped[str] = mapped_column(ForeignKey("depot.id"), nullable=False)
    day: Mapped[date] = mapped_column(Date, nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    cutoff: Mapped[datetime] = mapped_column(nullable=False)
    depart_from: Mapped[datetime] = mapped_column(nullable=False)
    depart_to: Mapped[datetime] = mapped_column(nullable=False)
    docks: Mapped[list[str]] = mapped_column(nullable=False)
