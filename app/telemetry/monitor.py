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

from app.telemetry.state import LiveState
from engine.eta import Position, RouteEta, TravelTimes, observed_speed_factor, route_etas
from engine.model import Location, Order, Plan, RouteStatus, StopStatus, Vehicle
from engine.rules import (
    Changes,
    ExceptionTracker,
    RuleConfig,
    VehicleLive,
    evaluate_rules,
)


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


@dataclass(frozen=True)
class MonitorResult:
    """One evaluation: ETAs by route, exception changes, and how long it took."""

    etas: dict[str, RouteEta]
    changes: Changes
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
    ) -> None:
        self.plan = plan
        self.orders = orders if isinstance(orders, Mapping) else {o.id: o for o in orders}
        self.travel = travel or TravelTimes()
        self.depot = depot
        self.fleet = fleet
        self.config = config or RuleConfig()
        self.paths = paths
        self.tracker = ExceptionTracker()

    def evaluate(self, state: LiveState, now: datetime | float) -> MonitorResult:
        """ETAs for every active route and the exception diff, at ``now``."""
        if not isinstance(now, datetime):
            now = _dt(now)
        started = time.perf_counter()
        statuses = {oid: st.status for oid, st in state.stops.items()}
        arrived = {oid: _dt(st.arrived_at) for oid, st in state.stops.items() if st.arrived_at}
        vehicles: dict[str, VehicleLive] = {}
        routes = []
        etas: dict[str, RouteEta] = {}
        for route in self.plan.routes:
            vid = route.vehicle_id
            fix = state.positions.get(vid)
            pos = (
                None if fix is None else Position(vid, _dt(fix.ts), fix.lat, fix.lon, fix.speed_kmh)
            )
            done = all(statuses.get(s.order_id, s.status).is_done for s in route.stops)
            status = route.status
            if done and route.stops:
                status = RouteStatus.COMPLETED
            elif pos is not None and status in (RouteStatus.PLANNED, RouteStatus.RELEASED):
                status = RouteStatus.ACTIVE
            if status is not route.status:
                route = replace(route, status=status)
            routes.append(route)
            flags = state.flags.get(vid)
            vehicles[vid] = VehicleLive(
                vid,
                pos,
                stopped_since=self._stopped_since(state, vid),
                broken_down_at=_dt(flags.broken_down_at)
                if flags and flags.broken_down_at
                else None,
                on_break=bool(flags and flags.on_break),
            )
            if status in (RouteStatus.RELEASED, RouteStatus.ACTIVE):
                etas[route.id] = route_etas(
                    route,
                    self.orders,
                    now,
                    self.travel,
                    position=pos,
                    depot=self.depot,
                    statuses=statuses,
                    arrived_at=arrived,
                    speed_factor=self._speed_factor(route, state),
                )
        plan = replace(self.plan, routes=tuple(routes))
        conditions = evaluate_rules(
            plan,
            self.orders,
            etas,
            vehicles,
            now,
            self.config,
            statuses=statuses,
            fleet=self.fleet,
            paths=self.paths,
            depot=self.depot,
        )
        changes = self.tracker.update(conditions, now)
        return MonitorResult(etas, changes, time.perf_counter() - started, now)

    def _stopped_since(self, state: LiveState, vid: str) -> datetime | None:
        since = state.still_since(vid)
        return None if since is None else _dt(since)

    def _speed_factor(self, route, state: LiveState) -> float:
        """Observed/model drive time over the legs between stops already served."""
        legs = []
        prev = None
        for stop in route.stops:
            st = state.stops.get(stop.order_id)
            order = self.orders.get(stop.order_id)
            if st is None or order is None or st.arrived_at is None:
                break
            if prev is not None and prev[0] is not None:
                model = self.travel.seconds(prev[1], order.location)
                legs.append((model, st.arrived_at - prev[0]))
            prev = (st.departed_at or st.done_at, order.location)
        return observed_speed_factor(legs)


def statuses_of(state: LiveState) -> dict[str, StopStatus]:
    """Stop statuses reported by telemetry, by order id."""
    return {oid: st.status for oid, st in state.stops.items()}
