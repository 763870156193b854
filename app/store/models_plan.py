"""Tables of the plan: plans, routes, stops, and the orders a plan leaves out.

One plan per depot and day: saving a plan for a day replaces the previous one. Route ids
are global (``update_route_stops`` takes a route id alone), so a plan's route ids must not
reuse another day's. Stops carry their own version: telemetry moves a stop's status while
a dispatcher may edit the route, and each side's stale write must fail on its own.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.store.base import Base, Versioned
from app.store.models_day import ID, Audited


class PlanRow(Versioned, Audited, Base):
    __tablename__ = "plan"
    __table_args__ = (UniqueConstraint("depot_id", "day"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    depot_id: Mapped[str] = mapped_column(ForeignKey("depot.id"), nullable=False)
    day: Mapped[date] = mapped_column(Date, nullable=False)
    routes: Mapped[list[RouteRow]] = relationship(
        order_by="RouteRow.position",
        cascade="all, delete-orphan",
        lazy="selectin",
        back_populates="plan",
    )
    unassigned: Mapped[list[UnassignedRow]] = relationship(
        order_by="UnassignedRow.position", cascade="all, delete-orphan", lazy="selectin"
    )


class RouteRow(Versioned, Audited, Base):
    __tablename__ = "route"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    plan_id: Mapped[str] = mapped_column(
        ForeignKey("plan.id", ondelete="CASCADE"), nullable=False, index=True
    )
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    vehicle_id: Mapped[str] = mapped_column(ForeignKey("vehicle.id"), nullable=False)
    driver_id: Mapped[str | None] = mapped_column(ForeignKey("driver.id"))
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    wave: Mapped[str] = mapped_column(String(50), nullable=False, default="")
    starts_at: Mapped[datetime | None] = mapped_column()
    ends_at: Mapped[datetime | None] = mapped_column()
    dock_id: Mapped[str | None] = mapped_column(String(64))
    slot_start: Mapped[datetime | None] = mapped_column()
    slot_end: Mapped[datetime | None] = mapped_column()
    plan: Mapped[PlanRow] = relationship(back_populates="routes")
    stops: Mapped[list[StopRow]] = relationship(
        order_by="StopRow.sequence", cascade="all, delete-orphan", lazy="selectin"
    )


class StopRow(Versioned, Base):
    __tablename__ = "stop"
    __table_args__ = (UniqueConstraint("route_id", "order_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    route_id: Mapped[str] = mapped_column(
        ForeignKey("route.id", ondelete="CASCADE"), nullable=False, index=True
    )
    sequence: Mapped[int] = mapped_column(Integer, nullable=False)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), nullable=False, index=True)
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    locked: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    planned_arrival: Mapped[datetime | None] = mapped_column()
    planned_departure: Mapped[datetime | None] = mapped_column()
    actual_arrival: Mapped[datetime | None] = mapped_column()
    actual_departure: Mapped[datetime | None] = mapped_column()


class UnassignedRow(Base):
    __tablename__ = "plan_unassigned"

    plan_id: Mapped[str] = mapped_column(
        ForeignKey("plan.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[str] = mapped_column(ID, nullable=False)
    reason: Mapped[str] = mapped_column(String(40), nullable=False)
    detail: Mapped[str] = mapped_column(Text, nullable=False, default="")


class ProposalRow(Versioned, Base):
    """A change a dispatcher may not make and sends to a supervisor: a move of stops or a
    fleet re-plan, with its effect as shown, until a supervisor accepts or rejects it.

    ``payload`` is what accepting applies (plain JSON: the orders and target route of a
    move; the routes, dropped routes and unassigned orders of a re-plan); ``effect`` is what
    the dispatcher saw (summary line and figures); ``base_versions`` the route versions it
    was made on. The version guards the decision: two supervisors cannot both decide it.
    """

    __tablename__ = "proposal"
    __table_args__ = (Index("ix_proposal_depot_day_status", "depot_id", "day", "status"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    depot_id: Mapped[str] = mapped_column(ForeignKey("depot.id"), nullable=False)
    day: Mapped[date] = mapped_column(Date, nullable=False)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    label: Mapped[str] = mapped_column(Text, nullable=False)
    author: Mapped[str] = mapped_column(String(200), nullable=False)
    author_role: Mapped[str] = mapped_column(String(20), nullable=False)
    created_at: Mapped[datetime] = mapped_column(nullable=False)
    effect: Mapped[dict[str, Any]] = mapped_column(nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(nullable=False)
    base_versions: Mapped[dict[str, int]] = mapped_column(nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    decided_by: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    decided_at: Mapped[datetime | None] = mapped_column()
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")
