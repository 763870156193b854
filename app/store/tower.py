"""What a control tower shows of every depot, read in a few grouped queries.

Per depot, for its own day (its local date of ``now``): orders and vehicles, whether the
day is planned, routes by lifecycle (on the road = released or active), routes at risk (an
open exception on the route's vehicle), open exceptions by severity, each wave's routes
released and completed, stops served so far and how many of them on time (arrived before
the end of the order's last window), and the desks working on it with their outbox.
One query per table, grouped by depot, so ten depots cost what one does.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from app.store.models import (
    DepotRow,
    DeskRow,
    ExceptionRow,
    OrderRow,
    PlanRow,
    RouteRow,
    StopRow,
    VehicleRow,
    WaveRow,
    WindowRow,
)
from app.store.repository import depot_day_bounds
from app.store.repository_orders import CANCELLED

ON_ROAD = ("released", "active")
#: A desk heard from within this many seconds is online.
ONLINE_WITHIN_S = 30.0


@dataclass(frozen=True)
class WaveFigure:
    """A wave's planned stops (their orders' wave) and how many are on released routes."""

    id: str
    cutoff: datetime | None  # None: no wave of that name stored for the day
    stops: int
    out: int  # on released, active or completed routes
    completed: int


@dataclass(frozen=True)
class DeskFigure:
    workstation: str
    user: str
    role: str
    seen_at: datetime
    outbox_pending: int
    online: bool


@dataclass(frozen=True)
class DepotFigures:
    depot_id: str
    name: str
    timezone: str
    day: date
    orders: int = 0
    vehicles: int = 0
    planned: bool = False
    routes: int = 0
    on_road: int = 0
    at_risk: int = 0
    completed: int = 0
    exceptions: dict[str, int] = field(default_factory=dict)  # open, by severity
    waves: tuple[WaveFigure, ...] = ()
    stops_done: int = 0
    on_time: int = 0
    desks: tuple[DeskFigure, ...] = ()

    @property
    def on_time_pct(self) -> float | None:
        return 100.0 * self.on_time / self.stops_done if self.stops_done else None

    @property
    def desks_online(self) -> int:
        return sum(d.online for d in self.desks)


def _local_day(now: datetime, zone: str) -> date:
    try:
        return now.astimezone(ZoneInfo(zone)).date()
    except (KeyError, ValueError):
        return now.date()


def tower_figures(
    session: Session, now: datetime, *, wall: datetime | None = None
) -> list[DepotFigures]:
    """Every depot's figures for its day as of ``now`` (an aware datetime: the day's clock,
    the demo's simulated one there); a desk is online when its heartbeat (written on the
    wall clock) is recent at ``wall`` (default: the wall clock now)."""
    depots = session.execute(
        select(DepotRow.id, DepotRow.name, DepotRow.timezone).order_by(DepotRow.id)
    ).all()
    if not depots:
        return []
    day_of = {d.id: _local_day(now, d.timezone) for d in depots}
    days = set(day_of.values())
    plans = {
        (p.depot_id, p.day): p.id
        for p in session.execute(
            select(PlanRow.id, PlanRow.depot_id, PlanRow.day).where(PlanRow.day.in_(days))
        )
    }
    plan_of = {d: plans[(d, day)] for d, day in day_of.items() if (d, day) in plans}
    depot_of_plan = {p: d for d, p in plan_of.items()}
    plan_ids = list(plan_of.values())

    vehicles = dict(
        session.execute(
            select(VehicleRow.depot_id, func.count()).group_by(VehicleRow.depot_id)
        ).all()
    )
    orders: dict[str, int] = {}
    for d in depots:  # one index range per depot (depot, first window start)
        lo, hi = depot_day_bounds(d.timezone, day_of[d.id])
        orders[d.id] = (
            session.scalar(
                select(func.count())
                .select_from(OrderRow)
                .where(OrderRow.depot_id == d.id, OrderRow.status != CANCELLED)
                .where(OrderRow.first_window_start >= lo, OrderRow.first_window_start < hi)
            )
            or 0
        )

    routes: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    if plan_ids:
        for plan_id, status, count in session.execute(
            select(RouteRow.plan_id, RouteRow.status, func.count())
            .where(RouteRow.plan_id.in_(plan_ids))
            .group_by(RouteRow.plan_id, RouteRow.status)
        ):
            depot_id = depot_of_plan[plan_id]
            routes[depot_id][status] += count

    open_exc = ExceptionRow.resolved_at.is_(None)
    at_risk: dict[str, int] = {}
    if plan_ids:
        at_risk = {
            depot_of_plan[plan_id]: count
            for plan_id, count in session.execute(
                select(RouteRow.plan_id, func.count(func.distinct(RouteRow.id)))
                .join(ExceptionRow, and_(ExceptionRow.vehicle_id == RouteRow.vehicle_id, open_exc))
                .where(RouteRow.plan_id.in_(plan_ids))
                .group_by(RouteRow.plan_id)
            )
        }
    exceptions: dict[str, dict[str, int]] = defaultdict(dict)
    exc_vehicle = select(VehicleRow.id, VehicleRow.depot_id).subquery()
    exc_order = select(OrderRow.id, OrderRow.depot_id).subquery()
    owner = func.coalesce(exc_vehicle.c.depot_id, exc_order.c.depot_id)
    for depot_id, severity, count in session.execute(
        select(owner, ExceptionRow.severity, func.count())
        .select_from(ExceptionRow)
        .outerjoin(exc_vehicle, exc_vehicle.c.id == ExceptionRow.vehicle_id)
        .outerjoin(exc_order, exc_order.c.id == ExceptionRow.order_id)
        .where(open_exc)
        .group_by(owner, ExceptionRow.severity)
    ):
        if depot_id is not None:
            exceptions[depot_id][severity] = count

    # One pass over the plans' stops: per wave and route status, the stops, those served,
    # and those served on time (before the end of one of the order's windows).
    served: dict[str, tuple[int, int]] = {}
    wave_stops: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    if plan_ids:
        in_time = (
            select(WindowRow.order_id)
            .where(WindowRow.order_id == StopRow.order_id,
                   WindowRow.ends_at >= StopRow.actual_arrival)
            .exists()
        )  # fmt: skip
        tally: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for plan_id, wave_id, status, count, arrived, good in session.execute(
            select(
                RouteRow.plan_id, OrderRow.wave, RouteRow.status, func.count(),
                func.count(StopRow.actual_arrival),
                func.sum(case((and_(StopRow.actual_arrival.is_not(None), in_time), 1), else_=0)),
            )
            .select_from(StopRow)
            .join(RouteRow, RouteRow.id == StopRow.route_id)
            .join(OrderRow, OrderRow.id == StopRow.order_id)
            .where(RouteRow.plan_id.in_(plan_ids))
            .group_by(RouteRow.plan_id, OrderRow.wave, RouteRow.status)
        ):  # fmt: skip
            depot_id = depot_of_plan[plan_id]
            wave_stops[depot_id][wave_id or ""][status] = count
            tally[depot_id][0] += int(arrived)
            tally[depot_id][1] += int(good or 0)
        served = {d: (n, ok) for d, (n, ok) in tally.items()}
    cutoffs: dict[tuple[str, str], datetime] = {}
    for w in session.execute(
        select(WaveRow.depot_id, WaveRow.day, WaveRow.id, WaveRow.cutoff).where(
            WaveRow.day.in_(days)
        )
    ):
        if day_of.get(w.depot_id) == w.day:
            cutoffs[(w.depot_id, w.id)] = w.cutoff
    waves: dict[str, list[WaveFigure]] = defaultdict(list)
    for depot_id, by_wave in wave_stops.items():
        for wave_id, by_status in sorted(by_wave.items()):
            if not wave_id:
                continue
            waves[depot_id].append(
                WaveFigure(
                    wave_id, cutoffs.get((depot_id, wave_id)), sum(by_status.values()),
                    sum(by_status.get(s, 0) for s in (*ON_ROAD, "completed")),
                    by_status.get("completed", 0),
                )
            )  # fmt: skip

    desks: dict[str, list[DeskFigure]] = defaultdict(list)
    recent = (wall or datetime.now(UTC)) - timedelta(seconds=ONLINE_WITHIN_S)
    for desk in session.execute(select(DeskRow).order_by(DeskRow.workstation)).scalars():
        seen = desk.seen_at
        desks[desk.depot_id].append(
            DeskFigure(desk.workstation, desk.user, desk.role, seen, desk.outbox_pending,
                       seen >= recent)
        )  # fmt: skip

    out = []
    for d in depots:
        by_status = routes.get(d.id, {})
        done, good = served.get(d.id, (0, 0))
        out.append(
            DepotFigures(
                d.id, d.name, d.timezone, day_of[d.id], orders.get(d.id, 0),
                int(vehicles.get(d.id, 0)), d.id in plan_of, sum(by_status.values()),
                sum(by_status.get(s, 0) for s in ON_ROAD), at_risk.get(d.id, 0),
                by_status.get("completed", 0), dict(exceptions.get(d.id, {})),
                tuple(waves.get(d.id, ())), done, good, tuple(desks.get(d.id, ())),
            )
        )  # fmt: skip
    return out


@dataclass(frozen=True)
class DemoClock:
    """A desk's simulated demo day: where its fleet publishes, and its clock (``start``
    read at the wall-clock moment ``wall``, running ``speedup`` times real time)."""

    broker_url: str
    start: datetime
    wall: datetime
    speedup: float

    def now(self, wall: datetime) -> datetime:
        """The simulated clock's reading at the wall-clock moment ``wall``."""
        return self.start + (wall - self.wall) * self.speedup


@dataclass(frozen=True)
class DemoDesk:
    """Another desk of the depot heard from recently, and the demo it drives (if any)."""

    workstation: str
    user: str
    demo: DemoClock | None

    @property
    def name(self) -> str:
        return f"{self.user}@{self.workstation}"


def beat(
    session: Session,
    *,
    workstation: str,
    user: str,
    role: str,
    depot_id: str,
    now: datetime,
    outbox_pending: int,
    demo: DemoClock | None = None,
) -> None:
    """This desk is alive: its depot, user and outbox, as of ``now``; the demo fleet it
    drives (None: none)."""
    row = session.get(DeskRow, (workstation, user))
    if row is None:
        row = DeskRow(workstation=workstation, user=user)
        session.add(row)
    row.role, row.depot_id = role, depot_id
    row.seen_at, row.outbox_pending = now, outbox_pending
    row.demo_broker_url = demo.broker_url if demo is not None else None
    row.demo_clock_start = demo.start if demo is not None else None
    row.demo_clock_wall = demo.wall if demo is not None else None
    row.demo_speedup = demo.speedup if demo is not None else None


def other_desks(
    session: Session, depot_id: str, now: datetime, *, workstation: str, user: str
) -> list[DemoDesk]:
    """The other desks of ``depot_id`` online at ``now`` (heard from within
    ``ONLINE_WITHIN_S``), those driving a demo fleet first, the longest-running demo first."""
    recent = now - timedelta(seconds=ONLINE_WITHIN_S)
    rows = session.execute(
        select(DeskRow).where(DeskRow.depot_id == depot_id, DeskRow.seen_at >= recent)
    ).scalars()
    out = []
    for row in rows:
        if (row.workstation, row.user) == (workstation, user):
            continue
        demo = None
        if row.demo_broker_url and row.demo_clock_start and row.demo_clock_wall:
            demo = DemoClock(row.demo_broker_url, row.demo_clock_start, row.demo_clock_wall,
                             row.demo_speedup or 1.0)  # fmt: skip
        out.append(DemoDesk(row.workstation, row.user, demo))
    far = datetime.max.replace(tzinfo=now.tzinfo)
    out.sort(key=lambda d: (d.demo is None, d.demo.wall if d.demo else far, d.name))
    return out
