"""Reassign previews: where moved stops would go, and what that does to every route involved.

A preview needs only the routes it involves: :meth:`ContextCache.for_move` builds the
engine's ``DayContext`` of those routes' vehicles and orders (the travel model is asked for
their points' legs, never for all pairs of the day's points) and keeps it for the plan on
screen, so the next mouse move of a drag evaluates stop sequences in milliseconds. The
figures are the ones a whole-day context gives. Suggestions and insertions over the whole
fleet use the whole-day context, built once and kept current as commands change the plan.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from app.store.commands import is_history
from engine.incremental import IncrementalContext
from engine.model import (
    DayInput,
    Location,
    Order,
    Plan,
    Route,
    RouteStatus,
    Stop,
    StopStatus,
)
from engine.planning import DayContext, Snapshot, VehicleState, insertions, pair_drivers
from engine.problem import TOLERANCE
from engine.travel import travel_between

__all__ = ["is_history"]

log = logging.getLogger(__name__)

PositionsProvider = Callable[[], Mapping[str, Any]]  # vehicle states, or live fixes


def vehicle_states(
    plan: Plan,
    day: DayInput,
    now: datetime | None,
    known: Mapping[str, VehicleState] | None = None,
) -> dict[str, VehicleState]:
    """Where each vehicle is: its live position when known, else its last served stop.

    A vehicle that has arrived at a stop is there until it has served it: service starts
    at its arrival or its window's start, whichever is later (as the live ETAs count it),
    so it is free from the end of that service, wherever its last fix put it."""
    states = dict(known or {})
    orders = {o.id: o for o in day.orders}
    for route in plan.routes:
        served = [s for s in route.stops if is_history(s)]
        order = orders.get(served[-1].order_id) if served else None
        if order is None:
            continue
        last = served[-1]
        vid = route.vehicle_id
        if last.status == StopStatus.ARRIVED:
            begin = last.actual_arrival or last.planned_arrival
            free = _service_start(order, begin) + order.service_time if begin else None
            if vid in states:
                if free is not None and free > states[vid].available_at:
                    states[vid] = replace(states[vid], location=order.location, available_at=free)
                continue
        elif vid in states:
            continue
        else:
            free = last.actual_departure or last.planned_departure
        moments = [t for t in (free, now) if t is not None]
        if moments:
            states[vid] = VehicleState(vid, order.location, max(moments))
    return states


def _service_start(order: Order, arrival: datetime) -> datetime:
    """When service of ``order`` starts for a vehicle there at ``arrival``: then, or the
    start of the first window not yet over."""
    for w in order.windows:
        if arrival <= w.end:
            return max(arrival, w.start)
    return arrival


def states_from_fixes(
    fixes: Mapping[str, Any], flags: Mapping[str, Any] | None = None
) -> dict[str, VehicleState]:
    """Vehicle states from live fixes (anything with ``lat``, ``lon`` and ``ts`` in epoch
    seconds or an aware datetime), e.g. ``LiveState.positions``, for a positions provider;
    with the live ``flags`` (``LiveState.flags``), the drivers' breaks taken (and the one
    under way), so the engine places no break twice, as the live ETAs. A vehicle state
    given (instead of a fix) is kept as it is."""
    out = {}
    flags = dict(flags or {})
    for vid, fix in list(fixes.items()):  # one C-level copy: safe against a writer thread
        if isinstance(fix, VehicleState):
            out[vid] = fix
            continue
        ts = fix.ts if isinstance(fix.ts, datetime) else datetime.fromtimestamp(fix.ts, UTC)
        f = flags.get(vid)
        taken = getattr(f, "breaks_started", 0)
        since = getattr(f, "break_since", None)
        out[vid] = VehicleState(
            vid,
            Location(fix.lat, fix.lon),
            ts,
            breaks_taken=taken,
            on_break_since=None if since is None else datetime.fromtimestamp(since, UTC),
        )
    return out


def _states(known: Mapping[str, Any]) -> dict[str, VehicleState]:
    """A positions provider's answer as vehicle states (it may hand over raw live fixes)."""
    fixes = {vid: x for vid, x in list(known.items()) if not isinstance(x, VehicleState)}
    return {**{vid: x for vid, x in known.items() if vid not in fixes}, **states_from_fixes(fixes)}


class FreeFlowTravel:
    """A travel model asked for one period all day: the free-flow one the day's plan and
    the live ETAs are timed with (both ask for travel without a departure). Anything timed
    at the period of the moment it is asked in (the morning peak, at 07:40) would time the
    whole rest of the day at peak speeds: a re-plan's "before", a drag preview's or a
    suggestion's times far later than the live ETAs of the same routes. Made by
    :meth:`PlanningTimes.travel`, the one place that decides how live-day legs are timed."""

    def __init__(self, base: Any) -> None:
        self.base = base

    def matrices(self, points: Any, depart: datetime | None = None) -> Any:
        return self.base.matrices(points, None)

    def matrices_between(self, sources: Any, targets: Any, depart: datetime | None = None):
        return travel_between(self.base, sources, targets, None)

    def time_key(self, depart: datetime | None) -> Any:
        key = getattr(self.base, "time_key", None)
        return None if key is None else key(None)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.base, name)


class PlanningTimes:
    """The service times and travel model the planner uses, for previews too: the depot's
    learned ones (``app.kpis.learn``: service times per address, customer and zone, travel
    factors per zone and hour) once it has them, else the orders' own and the street
    model's. Drag previews, insertion suggestions and an urgent order's options then
    time stops as a plan or re-plan of the day would."""

    def __init__(self, learned: Any = None) -> None:
        self.learned = learned  # app.kpis.learn.Learned, or None
        self._last: tuple[DayInput, DayInput] | None = None  # (day as given, as planned)

    def day(self, day: DayInput) -> DayInput:
        """The day with its orders' service times as plans budget them (the same day
        object for the same day: a preview's context is kept while the day is)."""
        if self.learned is None:
            return day
        last = self._last
        if last is not None and (day is last[0] or day is last[1]):
            return last[1]
        from engine.learning import with_learned_service

        out = with_learned_service(day, self.learned.service)
        self._last = (day, out)
        return out

    def order(self, order: Order) -> Order:
        """One order (e.g. an urgent one not in the day yet) with its planned service time."""
        if self.learned is None:
            return order
        from engine.learning import PLAN_SERVICE_Z, learned_orders

        return learned_orders([order], self.learned.service, PLAN_SERVICE_Z)[0]

    def travel(self, travel: Any) -> Any:
        """The travel model every live-day computation times legs with (plans, re-plans of
        people and rules, drag previews, suggestions, urgent insertions): as the day's plan
        and the live ETAs do, asked without a departure (free flow, :class:`FreeFlowTravel`),
        with the learned factors of each drive's zones (the working day's mean) once the
        depot has them. Already such a model: returned as it is."""
        if isinstance(travel, FreeFlowTravel):
            return travel
        if self.learned is None:
            return FreeFlowTravel(travel)
        from engine.learning import LearnedTravelModel

        return FreeFlowTravel(LearnedTravelModel(travel, self.learned.travel))


class ContextCache:
    """The engine context of the plan on screen, kept current (``engine.incremental``).

    Asked with the plan, the day and ``now`` (truncated to the minute). A new plan of the
    same day in the same minute (after a command, an undo, a lock) updates the kept
    context instead of building it again; a new minute reads the live positions again and
    moves the vehicles' starts; a newly served stop, a vehicle or driver change or another
    day builds it anew (the legs are timed as the plan's, whatever the hour: no new
    time-of-day period does). ``apply`` is the commands' hook.
    Thread-safe: ``prepare`` may run on a worker (a cold street-network matrix takes a
    second or two) while the main thread previews; a preview then waits for that build
    instead of starting its own.
    """

    def __init__(
        self, travel, positions: PositionsProvider | None = None,
        times: PlanningTimes | None = None,
    ) -> None:  # fmt: skip
        self.base_travel = travel
        self.times = times or PlanningTimes()
        self.travel = self.times.travel(travel)
        self.positions = positions
        self.kept = IncrementalContext(self.travel)
        self._minute: tuple[datetime | None] | None = None  # the minute of the live states
        self._known: Mapping[str, VehicleState] | None = None
        self._lock = threading.Lock()
        self._parts_of: tuple[Plan, DayInput, datetime | None] | None = None
        self._parts: dict[tuple[tuple[str, ...], frozenset[str]], DayContext] = {}
        self._part_states: dict[str, VehicleState] = {}
        self._pairing: dict[str, Any] = {}
        self._part_known: Mapping[str, VehicleState] | None = None
        self._any_cost = False
        self.part_builds = 0  # route contexts built (the rest were kept ones)

    @property
    def builds(self) -> int:
        """Full builds so far (the rest were updates of the kept context)."""
        return self.kept.builds

    def use(self, times: PlanningTimes) -> None:
        """Time previews with ``times`` from now on (e.g. once the depot has learned)."""
        with self._lock:
            self.times = times
            self.travel = times.travel(self.base_travel)
            self.kept = IncrementalContext(self.travel)
            self._minute, self._known = None, None
            self._parts_of, self._parts = None, {}

    def get(self, plan: Plan, day: DayInput, now: datetime | None) -> DayContext:
        """The context of ``plan`` over ``day`` (its service times as plans budget them).
        A build runs outside this cache's lock (the kept context has its own), so a drag
        preview of a few routes does not wait for a whole-day build on a worker."""
        with self._lock:
            day = self.times.day(day)
            minute = now.replace(second=0, microsecond=0) if now is not None else None
            ctx = self.kept.current
            if ctx is not None and self._minute == (minute,):
                if ctx.snapshot.plan is plan and ctx.snapshot.day is day:
                    return ctx
            else:
                self._known = _states(self.positions()) if self.positions is not None else None
                self._minute = (minute,)
            states = vehicle_states(plan, day, minute, self._known)
            kept = self.kept
        return kept.context(Snapshot(day, plan, minute, states))

    def for_move(
        self, plan: Plan, day: DayInput, now: datetime | None, order_ids: Sequence[str],
        target_route_id: str,
    ) -> DayContext:  # fmt: skip
        """The context a preview of moving ``order_ids`` onto the target route needs: the
        target's vehicle, the vehicles the orders are on, their routes' orders and the
        moved orders (see :meth:`routes_context`)."""
        ids = set(order_ids)
        vehicles = {r.vehicle_id for r in plan.routes
                    if r.id == target_route_id or ids.intersection(r.order_ids)}  # fmt: skip
        return self.routes_context(plan, day, now, vehicles, order_ids)

    def routes_context(
        self, plan: Plan, day: DayInput, now: datetime | None, vehicle_ids: Iterable[str],
        order_ids: Sequence[str] = (),
    ) -> DayContext:  # fmt: skip
        """The context of a few vehicles' routes only: those vehicles (with the drivers the
        whole day pairs with them), their routes' orders and ``order_ids``, at the same
        moment and from the same live positions as the whole-day context. The travel model
        is asked for these points' legs only, so memory grows with the routes, not with the
        square of the day; a route's figures are the ones the whole-day context gives.
        Kept for the plan on screen (same plan, day and minute)."""
        minute = now.replace(second=0, microsecond=0) if now is not None else None
        with self._lock:
            held = self._parts_of
            if held is None or held[0] is not plan or held[1] is not day or held[2] != minute:
                self._begin_parts(plan, day, minute)
            wanted = tuple(sorted(v for v in set(vehicle_ids) if v in self._pairing))
            key = (wanted, frozenset(order_ids))
            ctx = self._parts.get(key)
            if ctx is None:
                ctx = self._parts[key] = self._part(plan, day, minute, wanted, order_ids)
            return ctx

    def _begin_parts(self, plan: Plan, day: DayInput, minute: datetime | None) -> None:
        """A new plan, day or minute: read the live positions and pair the drivers again."""
        known: Mapping[str, VehicleState] | None
        if self._parts_of is None or self._parts_of[2] != minute:
            known = _states(self.positions()) if self.positions is not None else None
        else:
            known = self._part_known
        self._part_known = known
        self._part_states = vehicle_states(plan, self._served_last(plan, day), minute, known)
        vehicles = [v for v in day.vehicles if v.depot_id == plan.depot_id]
        pairing = pair_drivers(day, vehicles, plan)
        no_drivers = not any(pairing.values())
        self._pairing = {v.id: pairing[v.id] for v in vehicles
                         if pairing[v.id] is not None or no_drivers}  # fmt: skip
        self._any_cost = any(v.cost_per_km or v.cost_per_hour
                             for v in vehicles if v.id in self._pairing)  # fmt: skip
        self._parts, self._parts_of = {}, (plan, day, minute)

    def _served_last(self, plan: Plan, day: DayInput) -> DayInput:
        """The day as far as the vehicles' starts need it: each route's last served order,
        with its planned service time (a route part needs no learned day of every order:
        at 40,000 orders that is half a second)."""
        if self.times.learned is None:
            return day
        last = set()
        for r in plan.routes:
            served = [s for s in r.stops if is_history(s)]
            if served:
                last.add(served[-1].order_id)
        return replace(day, orders=tuple(self.times.order(o) for o in day.orders if o.id in last))

    def _part(
        self, plan: Plan, day: DayInput, minute: datetime | None, vehicle_ids: tuple[str, ...],
        order_ids: Sequence[str],
    ) -> DayContext:  # fmt: skip
        wanted = set(vehicle_ids)
        vehicles = tuple(v for v in day.vehicles if v.id in wanted and v.depot_id == plan.depot_id)
        drivers = tuple(dict.fromkeys(d for v in vehicles if (d := self._pairing[v.id])))
        ids = set(order_ids) | {o for r in plan.routes if r.vehicle_id in wanted
                                for o in r.order_ids}  # fmt: skip
        sub = replace(day, vehicles=vehicles, drivers=drivers,
                      orders=tuple(self.times.order(o) for o in day.orders if o.id in ids))  # fmt: skip
        states = {vid: s for vid, s in self._part_states.items() if vid in wanted}
        ctx = DayContext(Snapshot(sub, plan, minute, states), self.travel, plan.depot_id)
        self.part_builds += 1
        if [v.id for v in ctx.vehicles] != [v.id for v in vehicles] or any(
            d is not self._pairing[v.id] for v, d in zip(ctx.vehicles, ctx.drivers, strict=True)
        ):  # the drivers pair otherwise among these vehicles alone: take the whole day's
            log.info("route context: drivers pair otherwise; using the whole day's context")
            self._lock.release()
            try:
                return self.get(plan, day, minute)
            finally:
                self._lock.acquire()
        if self._any_cost and not any(v.cost_per_km or v.cost_per_hour for v in vehicles):
            # the whole day prices these vehicles' kilometres at their own (zero) cost
            specs = tuple(replace(s, distance_cost=0.0) for s in ctx.problem.vehicles)
            ctx.problem = replace(ctx.problem, vehicles=specs)
        return ctx

    def apply(self, plan: Plan) -> None:
        """A command changed the plan: bring the kept context up to it (same day, same
        minute), so the next preview, insertion or suggestion starts from it."""
        ctx = self.kept.current
        if ctx is not None and self._minute is not None:
            self.get(plan, ctx.snapshot.day, self._minute[0])

    def clear(self) -> None:
        """Forget the context (e.g. when live positions should be read again now)."""
        with self._lock:
            self.kept = IncrementalContext(self.travel)
            self._minute, self._known = None, None
            self._parts_of, self._parts = None, {}


@dataclass(frozen=True, slots=True)
class LateStop:
    """A stop that would start service after its last delivery window closes."""

    order_id: str
    minutes: float


@dataclass(frozen=True)
class RouteImpact:
    """One route before and after a move (open stops only; served stops don't change)."""

    route_id: str
    vehicle_id: str
    order_ids_before: tuple[str, ...]
    order_ids_after: tuple[str, ...]
    duration_before_s: float
    duration_after_s: float
    lateness_before_s: float
    lateness_after_s: float
    distance_before_m: float
    distance_after_m: float
    late_stops: tuple[LateStop, ...] = ()
    capacity_excess: dict[str, float] = field(default_factory=dict)
    shift_overrun_s: float = 0.0
    missing_skills: tuple[str, ...] = ()
    feasible_before: bool = True
    feasible: bool = True

    @property
    def duration_delta_s(self) -> float:
        return self.duration_after_s - self.duration_before_s

    @property
    def lateness_delta_s(self) -> float:
        return self.lateness_after_s - self.lateness_before_s


@dataclass(frozen=True)
class ReassignPreview:
    """What moving ``order_ids`` onto ``target_route_id`` would do; ``blocked`` says why not.

    ``routes`` are the affected routes as they would be stored (new order, new planned
    times); ``positions`` is each moved order's index in the target route's new stops.
    """

    order_ids: tuple[str, ...]
    target_route_id: str
    summary: str
    blocked: tuple[str, ...] = ()
    target: RouteImpact | None = None
    sources: tuple[RouteImpact, ...] = ()
    positions: dict[str, int] = field(default_factory=dict)
    routes: tuple[Route, ...] = ()
    warnings: tuple[str, ...] = ()  # allowed all the same, e.g. goods loaded on another van

    @property
    def allowed(self) -> bool:
        return not self.blocked

    @property
    def feasible(self) -> bool:
        """Allowed, and no route involved breaks a window, capacity, skill or shift rule."""
        if self.blocked or self.target is None:
            return False
        return self.target.feasible and all(s.feasible for s in self.sources)


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:+.0f} min"


def _change(impact: RouteImpact) -> str:
    km = (impact.distance_after_m - impact.distance_before_m) / 1000
    return f"{_minutes(impact.duration_delta_s)} ({km:+.1f} km)"


def _problems(t: RouteImpact) -> list[str]:
    out = []
    if t.late_stops:
        named = ", ".join(f"{s.order_id} +{s.minutes:.0f} min" for s in t.late_stops[:2])
        more = f" +{len(t.late_stops) - 2} more" if len(t.late_stops) > 2 else ""
        out.append(f"{len(t.late_stops)} late ({named}{more})")
    if t.capacity_excess:
        out.append(
            "over capacity " + ", ".join(f"{d} +{e:g}" for d, e in t.capacity_excess.items())
        )
    if t.shift_overrun_s > TOLERANCE:
        out.append(f"shift end {_minutes(t.shift_overrun_s)}")
    if t.missing_skills:
        out.append("lacks skill " + ", ".join(t.missing_skills))
    return out


def summarize(order_ids: Sequence[str], target: RouteImpact, sources: Sequence[RouteImpact]) -> str:
    """One line for a tooltip: verdict, route time and lateness change, sources' savings."""
    what = order_ids[0] if len(order_ids) == 1 else f"{len(order_ids)} stops"
    verdict = "fits" if target.feasible else "; ".join(_problems(target))
    text = (
        f"{what} → {target.vehicle_id}: {verdict} · route {_change(target)}"
        f" · lateness {target.lateness_before_s / 60:.0f} → {target.lateness_after_s / 60:.0f} min"
    )
    for s in sources:
        text += f" · {s.vehicle_id} {_change(s)}"
    return text


def _open_ids(ctx: DayContext, route: Route) -> list[str]:
    return [s.order_id for s in route.stops if s.order_id in ctx.node_of and not is_history(s)]


def _blockers(
    ctx: DayContext, plan: Plan, order_ids: Sequence[str], target: Route | None, target_id: str
) -> tuple[list[str], list[str]]:
    """(reasons the move is refused, the orders that would really move)."""
    if target is None:
        return [f"route {target_id!r} is not in this plan"], []
    if not order_ids:
        return ["no stops selected"], []
    blocked, moving = [], []
    if target.vehicle_id not in ctx.vehicle_index:
        blocked.append(f"vehicle {target.vehicle_id} has no driver today")
    if target.status == RouteStatus.COMPLETED:
        blocked.append(f"the route of {target.vehicle_id} is completed")
    unassigned = {u.order_id for u in plan.unassigned}
    for oid in order_ids:
        route = plan.route_of(oid)
        if route is None and oid in unassigned and oid in ctx.node_of:
            moving.append(oid)  # an order the plan left out, put on a route by hand
            continue
        if route is None:
            blocked.append(f"order {oid} is not an open order of this plan")
            continue
        stop = next(s for s in route.stops if s.order_id == oid)
        if route.id == target.id:
            continue
        if stop.locked:
            blocked.append(f"stop {oid} is locked on {route.vehicle_id}: unlock it first")
        elif is_history(stop) or oid not in ctx.node_of:
            blocked.append(f"stop {oid} is already {stop.status}: served stops stay put")
        else:
            moving.append(oid)
    if not blocked and not moving:
        blocked.append(f"already on {target.vehicle_id}")
    return blocked, moving


def _insert_all(ctx: DayContext, k: int, sequence: list[str], moving: Sequence[str]) -> list[str]:
    """Cheapest insertion of each moved order in turn: feasible first, then least late."""
    problem, node_of = ctx.problem, ctx.node_of
    routes: list[list[int]] = [[] for _ in range(problem.num_vehicles)]
    routes[k] = [node_of[o] for o in sequence]
    first = {o: ctx.orders[o].earliest for o in moving}
    for oid in sorted(moving, key=lambda o: (first[o], o)):
        best = min(
            insertions(problem, routes, node_of[oid], k),
            key=lambda o: (not o[2].feasible, o[2].total_lateness + o[2].shift_overrun, o[1]),
        )
        routes[k].insert(best[0], node_of[oid])
    return [ctx.order_of[n] for n in routes[k]]


def _impact(
    ctx: DayContext, route: Route, before: list[str], after: list[str], moved: Sequence[str]
) -> RouteImpact:
    """The route's figures before and after (``moved``: the orders it gains)."""
    ev_b = ctx.evaluate(route.vehicle_id, before)
    ev_a = ctx.evaluate(route.vehicle_id, after)
    k = ctx.vehicle_index[route.vehicle_id]
    driver = ctx.drivers[k]
    have = ctx.vehicles[k].skills | (driver.skills if driver else frozenset())
    missing = sorted({x for o in moved for x in ctx.orders[o].skills} - have)
    return RouteImpact(
        route_id=route.id,
        vehicle_id=route.vehicle_id,
        order_ids_before=tuple(before),
        order_ids_after=tuple(after),
        duration_before_s=ev_b.duration,
        duration_after_s=ev_a.duration,
        lateness_before_s=ev_b.total_lateness,
        lateness_after_s=ev_a.total_lateness,
        distance_before_m=ev_b.distance,
        distance_after_m=ev_a.distance,
        late_stops=tuple(LateStop(after[p], s / 60) for p, s in sorted(ev_a.lateness.items())),
        capacity_excess={
            d: round(e, 3)
            for d, e in zip(ctx.dimensions, ev_a.capacity_excess, strict=True)
            if e > TOLERANCE
        },
        shift_overrun_s=ev_a.shift_overrun,
        missing_skills=tuple(missing),
        feasible_before=ev_b.feasible,
        feasible=ev_a.feasible and not missing,
    )


def _resequenced(
    ctx: DayContext, route: Route, after: list[str], stops: Mapping[str, Stop]
) -> Route:
    """History first (unchanged), then the open stops in their new order with new times."""
    ev = ctx.evaluate(route.vehicle_id, after)
    kept = [s for s in route.stops if is_history(s)]
    rest = [s for s in route.stops if not is_history(s) and s.order_id not in ctx.node_of]
    opened = [
        replace(
            stops[oid],
            planned_arrival=ctx.clock(ev.arrivals[p]),
            planned_departure=ctx.clock(ev.departures[p]),
        )
        for p, oid in enumerate(after)
    ]
    return replace(route, stops=(*kept, *opened, *rest))


def loaded_warning(plan: Plan, moving: Sequence[str], loaded: Collection[str]) -> str:
    """What a person moving stops whose goods the dock loaded onto their van should know
    (a supervisor may still move them: the goods must be unloaded and loaded again)."""
    vans: dict[str, list[str]] = {}
    for oid in moving:
        route = plan.route_of(oid)
        if route is not None and oid in loaded:
            vans.setdefault(route.vehicle_id, []).append(oid)
    if not vans:
        return ""
    parts = []
    for vid, ids in vans.items():
        what = ids[0] if len(ids) == 1 else f"{len(ids)} stops"
        parts.append(f"{what} already loaded on {vid}")
    return "Goods on the van: " + "; ".join(parts) + " (unload them there first)"


def preview_reassign(
    ctx: DayContext, plan: Plan, order_ids: Sequence[str], target_route_id: str,
    loaded: Collection[str] = (),
) -> ReassignPreview:  # fmt: skip
    """Where ``order_ids`` would go on the target route, and each affected route's figures.
    ``loaded``: orders the dock loaded onto their van (``app.release.loaded``): moving one
    is allowed, with a warning first in the summary."""
    order_ids = tuple(dict.fromkeys(order_ids))
    target = next((r for r in plan.routes if r.id == target_route_id), None)
    blocked, moving = _blockers(ctx, plan, order_ids, target, target_route_id)
    if blocked:
        return ReassignPreview(order_ids, target_route_id, "Cannot move: " + "; ".join(blocked),
                               tuple(blocked))  # fmt: skip
    assert target is not None
    stops = {s.order_id: s for r in plan.routes for s in r.stops}
    stops.update((o, Stop(o)) for o in moving if o not in stops)
    before_t = _open_ids(ctx, target)
    after_t = _insert_all(ctx, ctx.vehicle_index[target.vehicle_id], before_t, moving)
    t_impact = _impact(ctx, target, before_t, after_t, moving)
    new_routes = [_resequenced(ctx, target, after_t, stops)]
    sources = []
    for route in plan.routes:
        if route.id == target.id or not any(o in route.order_ids for o in moving):
            continue
        before = _open_ids(ctx, route)
        after = [o for o in before if o not in moving]
        if route.vehicle_id in ctx.vehicle_index:
            impact = _impact(ctx, route, before, after, ())
            sources.append(impact)
            new_routes.append(_resequenced(ctx, route, after, stops))
        else:  # a driverless vehicle's route: drop the stops, keep the rest as it is
            new_routes.append(replace(route, stops=tuple(s for s in route.stops
                                                         if s.order_id not in moving)))  # fmt: skip
    positions = {s.order_id: i for i, s in enumerate(new_routes[0].stops) if s.order_id in moving}
    warning = loaded_warning(plan, moving, set(loaded))
    summary = summarize(moving, t_impact, sources)
    return ReassignPreview(
        order_ids=tuple(moving),
        target_route_id=target.id,
        summary=f"{warning} · {summary}" if warning else summary,
        target=t_impact,
        sources=tuple(sources),
        positions=positions,
        routes=tuple(new_routes),
        warnings=(warning,) if warning else (),
    )
