"""Domain day -> index-level Problem, and solver routes -> domain routes.

A ``DayContext`` is built once per plan state (one travel-matrix call) and then answers
many cheap questions: evaluate a stop sequence, price an insertion, convert routes.
Times in the problem are seconds from midnight of the day in the depot's time zone.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
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
from engine.solver.insertion import RouteSlack
from engine.travel import TravelMatrices, TravelModel, travel_between

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
    breaks_taken: int = 0  # of the driver's breaks, started today (reported by telemetry)
    on_break_since: datetime | None = None  # on one of them now: since then


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


def pair_drivers(
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


def history_of(plan: Plan) -> set[str]:
    """Orders whose stop is served (done) or being served (arrived): they stay where they are."""
    return {
        s.order_id
        for r in plan.routes
        for s in r.stops
        if s.status.is_done or s.status == StopStatus.ARRIVED
    }


def _grown(
    problem: Problem,
    travel: TravelModel,
    points: Sequence[Location],
    rows: Sequence[int],
    depart: datetime | None,
) -> tuple[np.ndarray, np.ndarray]:
    """The problem's matrices over ``points`` where the points at ``rows`` are new: their
    rows and columns from the travel model, everything else kept."""
    n = len(points)
    old = problem.distance.shape[0]
    dist = np.empty((n, n))  # every entry is written below
    dur = np.empty((n, n))
    dist[:old, :old] = problem.distance
    dur[:old, :old] = problem.duration
    fresh = [points[i] for i in rows]
    d_out, t_out = travel_between(travel, fresh, points, depart)
    d_in, t_in = travel_between(travel, points, fresh, depart)
    dist[rows, :], dur[rows, :] = d_out, t_out
    dist[:, rows], dur[:, rows] = d_in, t_in
    dist[rows, rows] = 0.0
    dur[rows, rows] = 0.0
    return dist, dur


def _taken(matrix: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``matrix[np.ix_(index, index)]``, copied block by block where ``index`` runs in
    stretches of consecutive rows (a few stops served: a handful of stretches), which at
    6,000 points is several times faster than a gather of every entry."""
    if not len(index):
        return np.zeros((0, 0))
    breaks = np.flatnonzero(np.diff(index) != 1) + 1
    if len(breaks) > 64:
        return matrix.take(index, axis=0).take(index, axis=1)
    starts = [0, *breaks.tolist()]
    runs = [(a, int(index[a]), b - a) for a, b in zip(starts, [*starts[1:], len(index)],
                                                      strict=True)]  # fmt: skip
    out = np.empty((len(index), len(index)), dtype=matrix.dtype)
    for ra, ro, rn in runs:
        for ca, co, cn in runs:
            out[ra : ra + rn, ca : ca + cn] = matrix[ro : ro + rn, co : co + cn]
    return out


class _Memo:
    """Results remembered per (vehicle, node sequence): evaluations, converted routes.

    A context with more orders (``DayContext.with_orders``) gets a memo of its own that
    reads its base's and writes there what only uses the base's nodes: new nodes are
    numbered alike in every extension, so their results stay with the one they belong to.
    """

    KEPT = 4096

    __slots__ = ("own", "base", "nodes")

    def __init__(self, base: _Memo | None = None, nodes: int = 0) -> None:
        self.own: dict[tuple[object, ...], object] = {}
        self.base, self.nodes = base, nodes

    def extended(self, nodes: int) -> _Memo:
        if self.base is not None:
            return _Memo(self.base, self.nodes)
        return _Memo(self, nodes)

    def get(self, key: tuple[object, ...]) -> object:
        found = self.own.get(key)
        if found is None and self.base is not None:
            found = self.base.own.get(key)
        return found

    def put(self, key: tuple[object, ...], route: Sequence[int], value: object) -> None:
        memo = self.own
        if self.base is not None and all(n < self.nodes for n in route):
            memo = self.base.own
        if len(memo) >= self.KEPT:
            memo.clear()
        memo[key] = value


class DayContext:
    """One depot's day as a Problem, with the maps back to orders, vehicles and clock time.

    Built once per plan state (one travel-matrix call); ``with_plan``, ``with_orders`` and
    ``at`` give the context of a changed plan, of more orders and of a later moment without
    building it again, each exactly what a new ``DayContext`` would be (see
    ``engine.incremental``).
    """

    def __init__(
        self,
        snapshot: Snapshot,
        travel: TravelModel,
        depot_id: str,
        extra_orders: Sequence[Order] = (),
        kept: DayContext | None = None,
    ) -> None:
        """``kept``: a context of the same day at the same travel-time period (e.g. before a
        stop was served): its matrices give every point it had (the depot, a vehicle where
        it was, an order), the travel model is asked only for the others."""
        day, plan = snapshot.day, snapshot.plan
        self.day, self.snapshot, self.travel = day, snapshot, travel
        self.depot = day.depot(depot_id)
        tz = ZoneInfo(self.depot.timezone)
        self.origin = datetime(day.day.year, day.day.month, day.day.day, tzinfo=tz)
        self.orders = {o.id: o for o in (*day.orders, *extra_orders) if o.depot_id == depot_id}
        self.history = history_of(plan)
        vehicles = [v for v in day.vehicles if v.depot_id == depot_id]
        drivers = pair_drivers(day, vehicles, plan)
        no_drivers = not any(drivers.values())
        self.vehicles = [v for v in vehicles if drivers[v.id] is not None or no_drivers]
        if len(self.vehicles) < len(vehicles):  # (a list's `in` compares 2,000 vans 2,000 times)
            for v in vehicles:
                if drivers[v.id] is None:
                    log.info("vehicle %s has no driver today; not planned", v.id)
        self.drivers = [drivers[v.id] for v in self.vehicles]
        self.positioned = [v.id for v in self.vehicles if v.id in snapshot.vehicles]
        self.client_ids = [oid for oid in self.orders if oid not in self.history]
        self.points = [self.depot.location]
        self.points += [snapshot.vehicles[vid].location for vid in self.positioned]
        self.points += [self.orders[oid].location for oid in self.client_ids]
        self.depart = snapshot.now
        started = time.perf_counter()
        if kept is None:
            mats = travel.matrices(self.points, self.depart)
        else:
            mats = self._matrices_from(kept, travel)
        self.matrix_seconds = time.perf_counter() - started  # reported apart from planning
        first_client = 1 + len(self.positioned)
        self.node_of = {oid: first_client + i for i, oid in enumerate(self.client_ids)}
        self.order_of = {n: oid for oid, n in self.node_of.items()}
        dims = list(day.dimensions)
        for thing in (*self.orders.values(),):
            dims += [d for d in thing.demand if d not in dims]
        for v in self.vehicles:
            dims += [d for d in v.capacity if d not in dims]
        self.dimensions = tuple(dims)
        self.vehicle_index = {v.id: k for k, v in enumerate(self.vehicles)}
        specs = self._specs(snapshot)
        self.big = self._big_penalty(mats.distance_m, mats.duration_s, specs)
        nodes = [NodeSpec(name=self.depot.id)]
        nodes += [NodeSpec(name=f"{vid} now") for vid in self.positioned]
        nodes += [self._node(self.orders[oid]) for oid in self.client_ids]
        nodes = [self._with_penalty(n, i) for i, n in enumerate(nodes)]
        locks, sequences, initial = self._plan_parts(snapshot)
        self._evaluations = _Memo()  # per problem data and vehicles
        self._routes = _Memo()  # per plan as well (routes_to_plan)
        self.problem = Problem(
            distance=mats.distance_m,
            duration=mats.duration_s,
            nodes=tuple(nodes),
            vehicles=tuple(specs),
            clients=tuple(self.node_of.values()),
            dimensions=self.dimensions,
            locks=locks,
            sequences=sequences,
            initial_routes=initial,
        )

    def _matrices_from(self, kept: DayContext, travel: TravelModel) -> TravelMatrices:
        """This context's matrices from ``kept``'s where a point is one it had in the same
        role — the depot, a vehicle at the same place, an order — and from the travel model
        for the rest (their rows and columns only). Entry for entry what the travel model
        gives over all the points (as ``_grown`` relies on too)."""
        where = {vid: 1 + i for i, vid in enumerate(kept.positioned)}
        old = [0, *(where.get(vid, -1) for vid in self.positioned)]
        old += [kept.node_of.get(oid, -1) for oid in self.client_ids]
        old = [i if i >= 0 and kept.points[i] == p else -1  # moved (or readdressed): asked
               for i, p in zip(old, self.points, strict=True)]  # fmt: skip
        index = np.asarray(old, dtype=np.intp)
        fresh = np.flatnonzero(index < 0)
        index[fresh] = 0  # their rows and columns are written over below

        dist, dur = _taken(kept.problem.distance, index), _taken(kept.problem.duration, index)
        if fresh.size:
            new = [self.points[i] for i in fresh]
            d_out, t_out = travel_between(travel, new, self.points, self.depart)
            d_in, t_in = travel_between(travel, self.points, new, self.depart)
            dist[fresh, :], dur[fresh, :] = d_out, t_out
            dist[:, fresh], dur[:, fresh] = d_in, t_in
            dist[fresh, fresh], dur[fresh, fresh] = 0.0, 0.0
        return TravelMatrices(dist, dur)

    def _specs(self, snapshot: Snapshot) -> list[VehicleSpec]:
        """Each vehicle's start, shift, free capacity, break, skills and costs, as of now."""
        dims = self.dimensions
        now = self.seconds(snapshot.now) if snapshot.now is not None else None
        any_cost = any(v.cost_per_km or v.cost_per_hour for v in self.vehicles)
        pos_node = {vid: 1 + i for i, vid in enumerate(self.positioned)}
        delivered = self._delivered(snapshot.plan)
        departs = _slotted_departures(snapshot.plan, self.history)
        specs = []
        for v, d in zip(self.vehicles, self.drivers, strict=True):
            state = snapshot.vehicles.get(v.id)
            earliest = self.seconds(d.shift_start) if d else 0.0
            latest = self.seconds(d.shift_end) if d else 86400.0
            if now is not None:
                earliest = max(earliest, now)
            if state is not None:
                earliest = max(earliest, self.seconds(state.available_at))
            if v.id in departs:  # loaded at a dock slot: it cannot leave before loading ends
                earliest = max(earliest, self.seconds(departs[v.id]))
            cap = tuple(v.capacity.get(x, 0.0) for x in dims)
            if state is not None and state.on_board is not None:
                used = tuple(
                    max(0.0, c - state.on_board.get(x, 0.0)) for c, x in zip(cap, dims, strict=True)
                )
            else:
                got = delivered.get(v.id, {})
                used = tuple(got.get(x, 0.0) for x in dims)
            brk = None
            taken = state.breaks_taken if state is not None else 0
            since = state.on_break_since if state is not None else None
            if d and since is not None and 0 < taken <= len(d.breaks):  # drives on after it
                earliest = max(earliest, self.seconds(since + d.breaks[taken - 1].duration))
            b = d.break_due(self.clock(earliest), taken) if d else None
            if b is not None:
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
        return specs

    def _plan_parts(
        self, snapshot: Snapshot
    ) -> tuple[dict[int, int], dict[int, tuple[int, ...]], tuple[tuple[int, ...], ...] | None]:
        """(locks, kept orders, initial routes) of the snapshot's plan, as node indices."""
        plan = snapshot.plan
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
        return locks, sequences, tuple(initial) if plan.routes else None

    # --- the same day, changed ------------------------------------------------------------
    def _copy(self) -> DayContext:
        out = object.__new__(DayContext)
        out.__dict__.update(self.__dict__)
        return out

    def with_plan(self, snapshot: Snapshot) -> DayContext:
        """The context of another plan of the same day at the same moment: routes changed
        (stops moved, re-sequenced, locked), nothing served, no vehicle or driver changed."""
        if _slotted_departures(snapshot.plan, self.history) != _slotted_departures(
            self.snapshot.plan, self.history
        ):
            out = self.at(snapshot)  # a dock slot moved a departure: the starts follow
        else:
            out = self._copy()
            out.snapshot = snapshot
            out._routes = _Memo()
        locks, sequences, initial = out._plan_parts(snapshot)
        out.problem = replace(out.problem, locks=locks, sequences=sequences, initial_routes=initial)
        return out

    def with_orders(self, orders: Sequence[Order]) -> DayContext:
        """The context with these orders added to the day (new points: one travel call for
        their rows and columns; the rest of the matrices is kept)."""
        new = [o for o in orders if o.depot_id == self.depot.id and o.id not in self.orders]
        if not new:
            return self
        out = self._copy()
        out.orders = {**self.orders, **{o.id: o for o in new}}
        n = len(self.points)
        out._evaluations = self._evaluations.extended(n)
        out._routes = self._routes.extended(n)
        out.client_ids = [*self.client_ids, *(o.id for o in new)]
        out.node_of = {**self.node_of, **{o.id: n + i for i, o in enumerate(new)}}
        out.order_of = {i: oid for oid, i in out.node_of.items()}
        out.points = [*self.points, *(o.location for o in new)]
        added = list(range(n, n + len(new)))
        started = time.perf_counter()
        dist, dur = _grown(self.problem, self.travel, out.points, added, self.depart)
        out.matrix_seconds = time.perf_counter() - started
        nodes = [*self.problem.nodes, *(out._node(o) for o in new)]
        out.big = self._big_penalty(dist, dur, self.problem.vehicles)
        if out.big == self.big:
            nodes[n:] = [out._with_penalty(node, i) for i, node in enumerate(nodes[n:], n)]
        else:
            nodes = [out._with_penalty(node, i) for i, node in enumerate(nodes)]
        out.problem = replace(
            self.problem,
            distance=dist,
            duration=dur,
            nodes=tuple(nodes),
            clients=(*self.problem.clients, *added),
        )
        return out

    def at(self, snapshot: Snapshot) -> DayContext:
        """The context of the same plan at another moment, or with vehicles elsewhere (the
        same vehicles positioned, the same travel-time period): moved vehicles get new rows."""
        out = self._copy()
        out.snapshot = snapshot
        out.depart = snapshot.now
        moved = [
            1 + i
            for i, vid in enumerate(self.positioned)
            if snapshot.vehicles[vid].location != self.snapshot.vehicles[vid].location
        ]
        dist, dur = self.problem.distance, self.problem.duration
        if moved:
            out.points = list(self.points)
            for i in moved:
                out.points[i] = snapshot.vehicles[self.positioned[i - 1]].location
            started = time.perf_counter()
            dist, dur = _grown(self.problem, self.travel, out.points, moved, out.depart)
            out.matrix_seconds = time.perf_counter() - started
        specs = out._specs(snapshot)
        out._evaluations, out._routes = _Memo(), _Memo()  # vehicles start elsewhere, or later
        out.big = self._big_penalty(dist, dur, specs)
        nodes = self.problem.nodes
        if out.big != self.big:
            nodes = tuple(out._with_penalty(node, i) for i, node in enumerate(nodes))
        out.problem = replace(
            self.problem, distance=dist, duration=dur, vehicles=tuple(specs), nodes=nodes
        )
        return out

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
        """Per vehicle, the demand of its stops that stay history (served, or being served:
        arrived), taken from its capacity before its remaining stops. A stop being served is
        neither a stop the re-plan routes nor free room: left out, a re-plan filled the van
        over its capacity by that stop's demand."""
        out: dict[str, dict[str, float]] = {}
        history = history_of(plan)
        for r in plan.routes:
            for s in r.stops:
                if s.order_id in history and s.order_id in self.orders:
                    acc = out.setdefault(r.vehicle_id, {})
                    for x, q in self.orders[s.order_id].demand.items():
                        acc[x] = acc.get(x, 0.0) + q
        return out

    def evaluation(self, k: int, route: Sequence[int]) -> RouteEvaluation:
        """``evaluate`` of vehicle ``k`` on node sequence ``route``, remembered. Contexts
        of the same vehicles and matrices share what they remembered; one with more
        orders (``with_orders``) keeps routes through its new nodes to itself."""
        key = (k, tuple(route))
        ev = self._evaluations.get(key)
        if isinstance(ev, RouteEvaluation):
            return ev
        fresh = evaluate(self.problem, k, route)
        self._evaluations.put(key, route, fresh)
        return fresh

    def slack(self, k: int, route: Sequence[int]) -> RouteSlack:
        """The ``RouteSlack`` of vehicle ``k`` on node sequence ``route``, remembered as
        evaluations are (what insertion reads to rule positions out)."""
        key = ("slack", k, tuple(route))
        known = self._evaluations.get(key)
        if isinstance(known, RouteSlack):
            return known
        fresh = RouteSlack(self.problem, k, route)
        self._evaluations.put(key, route, fresh)
        return fresh

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

    def _route(
        self, k: int, v: Vehicle, seq: Sequence[int], prev: Route | None, plan_id: str
    ) -> Route | None:
        """Vehicle ``k``'s domain route driving ``seq`` (None: no stops and no route before)."""
        ev = self.evaluation(k, seq)
        kept = tuple(s for s in prev.stops if s.order_id in self.history) if prev else ()
        prev_stops = {s.order_id: s for s in prev.stops} if prev else {}
        stops = list(kept)
        for pos, n in enumerate(seq):
            oid = self.order_of[n]
            locked = prev_stops[oid].locked if oid in prev_stops else False
            stops.append(
                Stop(oid, self.clock(ev.arrivals[pos]), self.clock(ev.departures[pos]),
                     locked=locked)
            )  # fmt: skip
        if not stops and prev is None:
            return None
        d = self.drivers[k]
        return Route(
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

    def routes_to_plan(
        self, routes: Sequence[Sequence[int]], unassigned: Mapping[int, str], plan_id: str
    ) -> Plan:
        """Domain routes: history first (unchanged), then the new sequence with ETAs."""
        from engine.model import Unassigned, UnassignedReason

        old = {r.vehicle_id: r for r in self.snapshot.plan.routes}
        out = []
        for k, v in enumerate(self.vehicles):
            seq = tuple(routes[k]) if k < len(routes) else ()
            key = (k, seq, plan_id)
            known = self._routes.get(key)
            if known is None:
                known = self._route(k, v, seq, old.get(v.id), plan_id) or ()
                self._routes.put(key, seq, known)
            if isinstance(known, Route):
                out.append(known)
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
