"""Domain day -> index-level Problem, and solver routes -> domain routes.

A ``DayContext`` is built once per plan state (one travel-matrix call) and then answers
many cheap questions: evaluate a stop sequence, price an insertion, convert routes.
Times in the problem are seconds from midnight of the day in the depot's time zone.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from engine.evaluate import RouteEvaluation, evaluate
from engine.model import (
    DayInput,
    Driver,
    Location,
    Order,
    Plan,
    Route,
    RouteStatus,
    Stop,
    StopStatus,
    Vehicle,
)
from engine.problem import BreakSpec, NodeSpec, Problem, VehicleSpec
from engine.travel import TravelModel

log = logging.getLogger(__name__)

DEFAULT_COST_PER_KM = 1.0
PRIORITY_STEP = 0.5  # each priority level makes leaving an order out this much dearer


@dataclass(frozen=True)
class VehicleState:
    """Where a vehicle is now: it can leave ``location`` at ``available_at``.

    ``on_board``: what it still carries (then the remaining stops must fit in that);
    without it, the remaining capacity is the capacity minus what it already delivered.
    """

    vehicle_id: str
    location: Location
    available_at: datetime
    on_board: Mapping[str, float] | None = None


@dataclass(frozen=True)
class Snapshot:
    """A running day: its input, the current plan, the time now and the vehicles' states.

    Stops whose status is done are history; an ``ARRIVED`` stop is where its vehicle is.
    A vehicle without a state starts at the depot (at ``now`` or its shift start), so give
    every vehicle that is out on the road its state.
    Stops with ``locked`` set (or listed in ``locked``) stay on their vehicle; with
    ``keep_locked_order`` they also keep their order.
    """

    day: DayInput
    plan: Plan
    now: datetime | None = None
    vehicles: Mapping[str, VehicleState] = field(default_factory=dict)
    locked: frozenset[str] = frozenset()
    keep_locked_order: bool = False


@dataclass(frozen=True)
class RouteReport:
    """A domain-level route evaluation: ETAs, lateness and load per stop, and totals."""

    order_ids: tuple[str, ...]
    etas: tuple[datetime, ...]
    waiting_s: tuple[float, ...]
    late_s: dict[str, float]
    loads: tuple[tuple[float, ...], ...]
    capacity_excess: dict[str, float]
    shift_overrun_s: float
    end: datetime
    distance_m: float
    duration_s: float
    feasible: bool


def _pair_drivers(
    day: DayInput, vehicles: Sequence[Vehicle], plan: Plan | None
) -> dict[str, Driver | None]:
    drivers = [d for d in day.drivers if d.depot_id in {v.depot_id for v in vehicles}]
    by_id = {d.id: d for d in drivers}
    out: dict[str, Driver | None] = {}
    taken: set[str] = set()
    if plan is not None:
        for r in plan.routes:
            if r.driver_id in by_id:
                out[r.vehicle_id] = by_id[r.driver_id]
                taken.add(r.driver_id)
    for d in drivers:
        if d.id not in taken and d.vehicle_id and d.vehicle_id not in out:
            out[d.vehicle_id] = d
            taken.add(d.id)
    free = [d for d in drivers if d.id not in taken]
    for v in vehicles:
        if v.id not in out:
            out[v.id] = free.pop(0) if free else None
    return out


def _slotted_departures(plan: Plan, history: set[str]) -> dict[str, datetime]:
    """vehicle id -> planned departure of its route when the route holds a dock slot and
    has not started serving (a re-plan keeps the departure its loading allows)."""
    return {
        r.vehicle_id: r.start
        for r in plan.routes
        if r.dock_id and r.start is not None and not any(o in history for o in r.order_ids)
    }


class DayContext:
    """One depot's day as a Problem, with the maps back to orders, vehicles and clock time."""

    def __init__(
        self,
        snapshot: Snapshot,
        travel: TravelModel,
        depot_id: str,
        extra_orders: Sequence[Order] = (),
    ) -> None:
        day, plan = snapshot.day, snapshot.plan
        self.day, self.snapshot = day, snapshot
        self.depot = day.depot(depot_id)
        tz = ZoneInfo(self.depot.timezone)
        self.origin = datetime(day.day.year, day.day.month, day.day.day, tzinfo=tz)
        self.orders = {o.id: o for o in (*day.orders, *extra_orders) if o.depot_id == depot_id}
        status = {s.order_id: s for r in plan.routes for s in r.stops}
        self.history = {
            oid for oid, s in status.items() if s.status.is_done or s.status == StopStatus.ARRIVED
        }
        vehicles = [v for v in day.vehicles if v.depot_id == depot_id]
        drivers = _pair_drivers(day, vehicles, plan)
        no_drivers = not any(drivers.values())
        self.vehicles = [v for v in vehicles if drivers[v.id] is not None or no_drivers]
        for v in vehicles:
            if v not in self.vehicles:
                log.info("vehicle %s has no driver today; not planned", v.id)
        self.drivers = [drivers[v.id] for v in self.vehicles]
        now = self.seconds(snapshot.now) if snapshot.now is not None else None
        positioned = [v for v in self.vehicles if v.id in snapshot.vehicles]
        points = [self.depot.location] + [snapshot.vehicles[v.id].location for v in positioned]
        self.client_ids = [oid for oid in self.orders if oid not in self.history]
        points += [self.orders[oid].location for oid in self.client_ids]
        depart = snapshot.now if snapshot.now is not None else None
        mats = travel.matrices(points, depart)
        first_client = 1 + len(positioned)
        self.node_of = {oid: first_client + i for i, oid in enumerate(self.client_ids)}
        self.order_of = {n: oid for oid, n in self.node_of.items()}
        dims = list(day.dimensions)
        for thing in (*self.orders.values(),):
            dims += [d for d in thing.demand if d not in dims]
        for v in self.vehicles:
            dims += [d for d in v.capacity if d not in dims]
        self.dimensions = tuple(dims)
        nodes = [NodeSpec(name=self.depot.id)] + [NodeSpec(name=f"{v.id} now") for v in positioned]
        nodes += [self._node(self.orders[oid]) for oid in self.client_ids]
        any_cost = any(v.cost_per_km or v.cost_per_hour for v in self.vehicles)
        pos_node = {v.id: 1 + i for i, v in enumerate(positioned)}
        delivered = self._delivered(plan)
        specs = []
        departs = _slotted_departures(plan, self.history)
        for v, d in zip(self.vehicles, self.drivers, strict=True):
            state = snapshot.vehicles.get(v.id)
            earliest = self.seconds(d.shift_start) if d else 0.0
            if v.id in departs:  # loaded at a dock slot: it cannot leave before loading ends
                earliest = max(earliest, self.seconds(departs[v.id]))
            latest = self.seconds(d.shift_end) if d else 86400.0
            if now is not None:
                earliest = max(earliest, now)
            if state is not None:
                earliest = max(earliest, self.seconds(state.available_at))
            cap = tuple(v.capacity.get(x, 0.0) for x in dims)
            if state is not None and state.on_board is not None:
                used = tuple(
                    max(0.0, c - state.on_board.get(x, 0.0)) for c, x in zip(cap, dims, strict=True)
                )
            else:
                got = delivered.get(v.id, {})
                used = tuple(got.get(x, 0.0) for x in dims)
            brk = None
            if d and d.breaks:
                b = d.breaks[0]
                if now is None or self.seconds(b.latest) >= now:
                    brk = BreakSpec(
                        self.seconds(b.earliest), self.seconds(b.latest), b.duration.total_seconds()
                    )
            skills = v.skills | (d.skills if d else frozenset())
            specs.append(
                VehicleSpec(
                    start=pos_node.get(v.id, 0),
                    end=0,
                    capacity=cap,
                    earliest=earliest,
                    latest=max(latest, earliest),
                    skills=skills,
                    distance_cost=(v.cost_per_km if any_cost else DEFAULT_COST_PER_KM) / 1000.0,
                    time_cost=v.cost_per_hour / 3600.0,
                    fixed_cost=v.fixed_cost,
                    break_=brk,
                    initial_load=used,
                    name=v.id,
                )
            )
        self.vehicle_index = {v.id: k for k, v in enumerate(self.vehicles)}
        self.big = self._big_penalty(mats.distance_m, mats.duration_s, specs)
        nodes = [self._with_penalty(n, i) for i, n in enumerate(nodes)]
        current = {s.order_id: r.vehicle_id for r in plan.routes for s in r.stops}
        locks, sequences = {}, {}
        locked_stops = {s.order_id for r in plan.routes for s in r.stops if s.locked} | set(
            snapshot.locked
        )
        initial: list[tuple[int, ...]] = [() for _ in self.vehicles]
        for r in plan.routes:
            k = self.vehicle_index.get(r.vehicle_id)
            if k is None:
                continue
            initial[k] = tuple(
                self.node_of[s.order_id] for s in r.stops if s.order_id in self.node_of
            )
            seq = [self.node_of[o] for o in r.order_ids if o in locked_stops and o in self.node_of]
            if snapshot.keep_locked_order and len(seq) > 1:
                sequences[k] = tuple(seq)
        for oid in locked_stops:
            if oid in self.node_of and current.get(oid) in self.vehicle_index:
                locks[self.node_of[oid]] = self.vehicle_index[current[oid]]
        self.problem = Problem(
            distance=mats.distance_m,
            duration=mats.duration_s,
            nodes=tuple(nodes),
            vehicles=tuple(specs),
            clients=tuple(self.node_of.values()),
            dimensions=self.dimensions,
            locks=locks,
            sequences=sequences,
            initial_routes=tuple(initial) if plan.routes else None,
        )

    # --- conversions -------------------------------------------------------------------
    def seconds(self, moment: datetime) -> float:
        return (moment - self.origin).total_seconds()

    def clock(self, seconds: float) -> datetime:
        return self.origin + timedelta(seconds=seconds)

    def _node(self, order: Order) -> NodeSpec:
        wins = tuple((self.seconds(w.start), self.seconds(w.end)) for w in order.windows)
        demand = tuple(order.demand.get(x, 0.0) for x in self.dimensions)
        return NodeSpec(
            demand=demand,
            windows=wins,
            service=order.service_time.total_seconds(),
            skills=order.skills,
            name=order.id,
        )

    def _with_penalty(self, node: NodeSpec, index: int) -> NodeSpec:
        if index not in self.order_of:
            return node
        order = self.orders[self.order_of[index]]
        pen = self.big * (1.0 + PRIORITY_STEP * max(0, order.priority))
        return NodeSpec(node.demand, node.windows, node.service, node.skills, pen, node.name)

    @staticmethod
    def _big_penalty(dist: np.ndarray, dur: np.ndarray, specs: Sequence[VehicleSpec]) -> float:
        dmax = float(dist.max()) if dist.size else 0.0
        tmax = float(dur.max()) if dur.size else 0.0
        worst = max(
            (v.fixed_cost + 2 * (v.distance_cost * dmax + v.time_cost * tmax) for v in specs),
            default=1.0,
        )
        return max(1.0, worst) * 100.0

    def _delivered(self, plan: Plan) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for r in plan.routes:
            for s in r.stops:
                if s.status.is_done and s.order_id in self.orders:
                    acc = out.setdefault(r.vehicle_id, {})
                    for x, q in self.orders[s.order_id].demand.items():
                        acc[x] = acc.get(x, 0.0) + q
        return out

    def evaluate(
        self, vehicle_id: str, order_ids: Sequence[str], departure: datetime | None = None
    ) -> RouteEvaluation:
        """Evaluate the vehicle driving these (not yet served) orders from where it is
        (leaving at ``departure`` when given, else as early as it may)."""
        k = self.vehicle_index[vehicle_id]
        missing = [o for o in order_ids if o not in self.node_of]
        if missing:
            raise KeyError(f"orders not open in this day context: {', '.join(missing)}")
        earliest = None if departure is None else self.seconds(departure)
        return evaluate(self.problem, k, [self.node_of[o] for o in order_ids], earliest=earliest)

    def evaluate_route(
        self, vehicle_id: str, order_ids: Sequence[str], departure: datetime | None = None
    ) -> RouteReport:
        """ETAs and violations of ``vehicle_id`` driving ``order_ids`` from where it is now
        (or leaving at ``departure``)."""
        ev = self.evaluate(vehicle_id, order_ids, departure)
        return RouteReport(
            order_ids=tuple(order_ids),
            etas=tuple(self.clock(t) for t in ev.arrivals),
            waiting_s=ev.waiting,
            late_s={order_ids[p]: late for p, late in ev.lateness.items()},
            loads=ev.loads,
            capacity_excess={
                d: e for d, e in zip(self.dimensions, ev.capacity_excess, strict=True) if e > 0
            },
            shift_overrun_s=ev.shift_overrun,
            end=self.clock(ev.end_time),
            distance_m=ev.distance,
            duration_s=ev.duration,
            feasible=ev.feasible,
        )

    def routes_to_plan(
        self, routes: Sequence[Sequence[int]], unassigned: Mapping[int, str], plan_id: str
    ) -> Plan:
        """Domain routes: history first (unchanged), then the new sequence with ETAs."""
        from engine.model import Unassigned, UnassignedReason

        old = {r.vehicle_id: r for r in self.snapshot.plan.routes}
        out = []
        for k, v in enumerate(self.vehicles):
            seq = list(routes[k]) if k < len(routes) else []
            ev = evaluate(self.problem, k, seq)
            prev = old.get(v.id)
            kept = tuple(s for s in prev.stops if s.order_id in self.history) if prev else ()
            prev_stops = {s.order_id: s for s in prev.stops} if prev else {}
            stops = list(kept)
            for pos, n in enumerate(seq):
                oid = self.order_of[n]
                locked = prev_stops[oid].locked if oid in prev_stops else False
                stops.append(
                    Stop(
                        oid,
                        self.clock(ev.arrivals[pos]),
                        self.clock(ev.departures[pos]),
                        locked=locked,
                    )
                )
            if not stops and prev is None:
                continue
            d = self.drivers[k]
            out.append(
                Route(
                    id=prev.id if prev else f"{plan_id}-{v.id}",
                    vehicle_id=v.id,
                    stops=tuple(stops),
                    driver_id=d.id if d else None,
                    status=prev.status if prev else RouteStatus.PLANNED,
                    wave=prev.wave if prev else "",
                    start=prev.start if prev and kept else self.clock(ev.start_time),
                    end=self.clock(ev.end_time),
                    dock_id=prev.dock_id if prev else None,
                    slot_start=prev.slot_start if prev else None,
                    slot_end=prev.slot_end if prev else None,
                )
            )
        un = tuple(
            Unassigned(self.order_of[n], UnassignedReason(reason), _explain(reason))
            for n, reason in sorted(unassigned.items())
        )
        return Plan(
            id=plan_id, depot_id=self.depot.id, day=self.day.day, routes=tuple(out), unassigned=un
        )


def _explain(reason: str) -> str:
    return {
        "window_unreachable": "no vehicle can arrive within any of its delivery windows",
        "no_vehicle_with_skill": "no vehicle (with its driver) has every skill it needs",
        "capacity": "heavier or bulkier than the free capacity of any vehicle",
        "shift": "no shift is long enough to drive there and back",
        "no_feasible_route": "it fits no route together with the other orders",
    }.get(reason, reason)
