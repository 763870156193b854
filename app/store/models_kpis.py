"""Tables of the day after: KPI values kept per day for trends, the ETAs the desk showed,
what each vehicle's trail added up to, KPI settings (targets, costs) and learned profiles.

``kpi_value`` rows of a depot's day are replaced as a whole each time the day's KPIs are
saved (live ones marked ``final`` False, the day's last ones True). ``eta_sample`` is
append-only (one row per stop and sampling moment). ``kpi_track`` holds, per vehicle and
day, the running totals of its breadcrumbs (so a day's KPIs never read its millions of
fixes twice). ``kpi_setting`` and ``learned_profile`` are mutable and versioned.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Boolean, Date, Float, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.store.base import Base, Versioned
from app.store.models_day import ID
from app.store.models_live import BigId


class KpiValueRow(Base):
    """One KPI of one scope (the day, a route, driver, vehicle or wave) of a depot's day."""

    __tablename__ = "kpi_value"
    __table_args__ = (
        UniqueConstraint("depot_id", "day", "name", "scope", "key"),
        Index("ix_kpi_value_trend", "depot_id", "name", "scope", "day"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    depot_id: Mapped[str] = mapped_column(ID, nullable=False)
    day: Mapped[date] = mapped_column(Date, nullable=False)
    name: Mapped[str] = mapped_column(String(60), nullable=False)
    scope: Mapped[str] = mapped_column(String(10), nullable=False)
    key: Mapped[str] = mapped_column(String(64), nullable=False)
    value: Mapped[float | None] = mapped_column(Float)
    numerator: Mapped[float] = mapped_column(Float, nullable=False)
    denominator: Mapped[float] = mapped_column(Float, nullable=False)
    unit: Mapped[str] = mapped_column(String(20), nullable=False)
    final: Mapped[bool] = mapped_column(Boolean, nullable=False)
    computed_at: Mapped[datetime] = mapped_column(nullable=False)


class EtaSampleRow(Base):
    """An ETA the desk showed for a stop at ``predicted_at`` (sampled every few minutes)."""

    __tablename__ = "eta_sample"
    __table_args__ = (
        UniqueConstraint("order_id", "predicted_at"),
        Index("ix_eta_sample_day", "depot_id", "day"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    depot_id: Mapped[str] = mapped_column(ID, nullable=False)
    day: Mapped[date] = mapped_column(Date, nullable=False)
    order_id: Mapped[str] = mapped_column(ID, nullable=False)
    route_id: Mapped[str] = mapped_column(ID, nullable=False)
    vehicle_id: Mapped[str] = mapped_column(ID, nullable=False)
    predicted_at: Mapped[datetime] = mapped_column(nullable=False)
    eta: Mapped[datetime] = mapped_column(nullable=False)
    p90: Mapped[datetime | None] = mapped_column()


class KpiTrackRow(Base):
    """What a vehicle's breadcrumbs of a day add up to, through ``through`` (its newest)."""

    __tablename__ = "kpi_track"

    depot_id: Mapped[str] = mapped_column(ID, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    vehicle_id: Mapped[str] = mapped_column(ID, primary_key=True)
    through: Mapped[datetime] = mapped_column(nullable=False)
    fixes: Mapped[int] = mapped_column(Integer, nullable=False)
    state: Mapped[dict[str, Any]] = mapped_column(nullable=False)


class KpiSettingRow(Versioned, Base):
    """A KPI target (``target:NAME``) or a cost by vehicle type (``cost:TYPE``) of a depot
    (``depot_id`` empty: every depot)."""

    __tablename__ = "kpi_setting"

    depot_id: Mapped[str] = mapped_column(ID, primary_key=True)
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(nullable=False)
    updated_at: Mapped[datetime] = mapped_column(nullable=False)
    updated_by: Mapped[str] = mapped_column(String(200), nullable=False)


class LearnedProfileRow(Versioned, Base):
    """Service times and travel factors learned from a depot's recorded days."""

    __tablename__ = "learned_profile"

    depot_id: Mapped[str] = mapped_column(ID, primary_key=True)
    trained_at: Mapped[datetime] = mapped_column(nullable=False)
    first_day: Mapped[date] = mapped_column(Date, nullable=False)
    last_day: Mapped[date] = mapped_column(Date, nullable=False)
    days: Mapped[int] = mapped_column(Integer, nullable=False)
    service: Mapped[dict[str, Any]] = mapped_column(nullable=False)
    travel: Mapped[dict[str, Any]] = mapped_column(nullable=False)
