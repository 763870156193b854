"""Live ETAs and exceptions: the live state turned into engine inputs, evaluated, diffed.

``LiveMonitor.evaluate(state, now)`` converts the :class:`LiveState` (positions, trails,
stop states, flags) into the engine's plain data, computes the ETAs of every remaining
stop of every active route (:mod:`engine.eta`), runs the exception rules
(:mod:`engine.rules`) and diff-updates the open exceptions. It is plain Python: the
window calls it on a timer off the main thread, the benchmark times it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from app.telemetry.state import LiveState
from engine.eta import (
    Position,
    PreparedRoute,
    RouteEta,
    TravelTimes,
    observed_speed_factor,
)
from engine.model import Driver, Location, Order, Plan, RouteStatus, StopStatus, Vehicle
from engine.rules import (
    ExceptionChanges,
    ExceptionTracker,
    PathIndex,
    RuleConfig,
    VehicleLive,
    evaluate_rules,
)

_DONE = frozenset(s for s in StopStatus if s.is_done)


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


@dataclass(frozen=True)
class MonitorResult:
    """One evaluation: ETAs by route, exception changes, and how long it took."""

    etas: dict[str, RouteEta]
    changes: ExceptionChanges
    took_s: float
    evaluated_at: datetime


class LiveMonitor:
    """ETAs + exception rules over a plan, fed by the live state."""

    def __init__(
        self,
        plan: Plan,
        orders: Mapping[str, Order] | Sequence[Order],
        *,
        travel: TravelTimes | None = None,
        depot: Location | None = None,
        fleet: Mapping[str, Vehicle] | None = None,
        config: RuleConfig | None = None,
        paths: Mapping[str, Sequence[Location]] | None = None,
        timezone: str = "",
        drivers: Mapping[str, Driver] | None = None,
    ) -> None:
        self.plan = plan
        # Each route's driver (by the route's driver id): their breaks are in the ETAs.
        self.drivers = drivers or {}
        self.zone = ZoneInfo(timezone) if timezone else None  # the depot's clock, for texts
        self.orders = orders if isinstance(orders, Mapping) else {o.id: o for o in orders}
        self.travel = travel or TravelTimes()
        self.depot = depot
        self.fleet = fleet
        self.config = config or RuleConfig()
        self.paths = paths
        # The path each route is held to (the given one, else depot-stops-depot), once.
        self._paths = {}
        for r in plan.routes:
            path = (paths or {}).get(r.id)
            if path is None:
                at = [
                    self.orders[s.order_id].location for s in r.stops if s.order_id in self.orders
                ]
                path = [*([depot] if depot else []), *at, *([depot] if depot else [])]
            self._paths[r.id] = path
        self._path_index = PathIndex(self._paths)
        self._arrived: dict[str, tuple[float, datetime]] = {}  # epoch -> datetime, once
        self.tracker = ExceptionTracker()
        # Per route, once: stops joined with their orders (and memoised legs between them).
        self._prepared = [PreparedRoute(r, self.orders, self.travel) for r in plan.routes]
        self._drivers = [self.drivers.get(r.driver_id or "") for r in plan.routes]
        self._stop_index = [
            tuple(
                (s.order_id, _index_of(p, s.order_id) if s.order_id in self.orders else None)
                for s in p.route.stops
            )
            for p in self._prepared
        ]

    def evaluate(self, state: LiveState, now: datetime | float) -> MonitorResult:
        """ETAs for every active route and the exception diff, at ``now``."""
        if not isinstance(now, datetime):
            now = _dt(now)
        started = time.perf_counter()
        statuses = {oid: st.status for oid, st in state.stops.items()}
        arrived = {}
        seen = self._arrived
        for oid, st in state.stops.items():
            if st.arrived_at:
                hit = seen.get(oid)
                if hit is None or hit[0] != st.arrived_at:
                    hit = seen[oid] = (st.arrived_at, _dt(st.arrived_at))
                arrived[oid] = hit[1]
        vehicles: dict[str, VehicleLive] = {}
        routes = []
        etas: dict[str, RouteEta] = {}
        positions, flags_of, still = state.positions, state.flags, state.still_since
        active = (RouteStatus.RELEASED, RouteStatus.ACTIVE)
        for prepared, index, driver in zip(
            self._prepared, self._stop_index, self._drivers, strict=True
        ):
            route = prepared.route
            vid = route.vehicle_id
            fix = positions.get(vid)
            pos = (
                None if fix is None else Position(vid, _dt(fix.ts), fix.lat, fix.lon, fix.speed_kmh)
            )
            done = all(statuses.get(s.order_id, s.status) in _DONE for s in route.stops)
            status = route.status
            if done and route.stops:
                status = RouteStatus.COMPLETED
            elif pos is not None and status in (RouteStatus.PLANNED, RouteStatus.RELEASED):
                status = RouteStatus.ACTIVE
            if status is not route.status:
                route = replace(route, status=status)
            routes.append(route)
            flags = flags_of.get(vid)
            since = still(vid)
            vehicles[vid] = VehicleLive(
                vid,
                pos,
                stopped_since=None if since is None else _dt(since),
                broken_down_at=_dt(flags.broken_down_at)
                if flags and flags.broken_down_at
                else None,
                on_break=bool(flags and flags.on_break),
            )
            if status in active:
                etas[route.id] = prepared.etas(
                    now,
                    status=status,
                    position=pos,
                    depot=self.depot,
                    statuses=statuses,
                    arrived_at=arrived,
                    speed_factor=self._speed_factor(prepared, index, state),
                    driver=driver,
                    breaks_taken=flags.breaks_started if flags else 0,
                    on_break_since=_dt(flags.break_since)
                    if flags and flags.break_since is not None
                    else None,
                )
        conditions = evaluate_rules(
            self.plan,
            self.orders,
            etas,
            vehicles,
            now,
            self.config,
            statuses=statuses,
            fleet=self.fleet,
            paths=self._paths,
            depot=self.depot,
            routes=routes,
            path_index=self._path_index,
            zone=self.zone,
        )
        changes = self.tracker.update(conditions, now)
        return MonitorResult(etas, changes, time.perf_counter() - started, now)

    def _speed_factor(self, prepared: PreparedRoute, index, state: LiveState) -> float:
        """Observed/model drive time over the legs between stops already served."""
        legs = []
        prev = None
        stops = state.stops
        for oid, i in index:
            st = stops.get(oid)
            if st is None or i is None or st.arrived_at is None:
                break
            if prev is not None and prev[0] is not None:
                model = prepared.leg_s(prev[1], i)
                legs.append((model, st.arrived_at - prev[0]))
            prev = (st.departed_at or st.done_at, i)
        return observed_speed_factor(legs)


def _index_of(prepared: PreparedRoute, order_id: str) -> int:
    return next(i for i, (s, _, _) in enumerate(prepared.stops) if s.order_id == order_id)


def statuses_of(state: LiveState) -> dict[str, StopStatus]:
    """Stop statuses reported by telemetry, by order id."""
    return {oid: st.status for oid, st in state.stops.items()}
