"""What rules see: occurrences from the live day's changes, and the facts about each.

The same for the live workstation and for a dry run: the exception tracker's changes and
the applied stop events become :class:`engine.automation.Occurrence` values, and
:class:`DayView` answers each rule condition's facts (minutes late, priority, slack, route
status, vehicle type, depot, wave, time of day, ...) from the plan and the live ETAs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from app.rules.actions import route_wave
from engine.automation import Occurrence
from engine.eta import RouteEta
from engine.model import Order, Plan, Route, RouteStatus, StopStatus, Vehicle
from engine.rules import ExceptionChanges

_DONE = frozenset(s for s in StopStatus if s.is_done)
#: Stop and vehicle events that rules may react to.
RULE_EVENTS = frozenset({"failed", "delivered", "arrived", "breakdown"})


def exception_occurrences(changes: ExceptionChanges, route_of_vehicle) -> list[Occurrence]:
    """The tracker's opened / updated / resolved exceptions as occurrences."""
    out = []
    for exc, closed in [*((e, False) for e in (*changes.opened, *changes.updated)),
                        *((e, True) for e in changes.resolved)]:  # fmt: skip
        out.append(
            Occurrence("exception", exc.type.value, exc.id, exc.vehicle_id,
                       route_of_vehicle(exc.vehicle_id), exc.order_id, exc.minutes_late,
                       exc.severity.value, exc.detected_at, closed)
        )  # fmt: skip
    return out


def event_occurrences(events: Iterable, route_of_vehicle) -> list[Occurrence]:
    """Applied stop/vehicle events (``StopEvent``-like: event_id, vehicle_id, type,
    stop_id, ts) as occurrences."""
    from datetime import UTC

    out = []
    for ev in events:
        if ev.type not in RULE_EVENTS:
            continue
        out.append(
            Occurrence("event", ev.type, ev.event_id, ev.vehicle_id,
                       route_of_vehicle(ev.vehicle_id), ev.stop_id,
                       at=datetime.fromtimestamp(ev.ts, UTC))
        )  # fmt: skip
    return out


def late_order_occurrence(order: Order, at: datetime) -> Occurrence:
    return Occurrence("event", "late_order", f"late-order:{order.id}", order_id=order.id, at=at)


@dataclass
class DayView:
    """The facts rules ask about, from one moment of the live day."""

    plan: Plan
    orders: Mapping[str, Order]
    fleet: Mapping[str, Vehicle]
    depot_id: str
    timezone: str
    now: datetime
    etas: Mapping[str, RouteEta] = field(default_factory=dict)
    statuses: Mapping[str, StopStatus] = field(default_factory=dict)
    on_road: frozenset[str] = frozenset()  # vehicles with a live position
    late_margin_min: float = 10.0

    @cached_property
    def _route_of_order(self) -> dict[str, Route]:
        return {o: r for r in self.plan.routes for o in r.order_ids}

    @cached_property
    def _route_by_key(self) -> dict[str, Route]:
        out = {r.vehicle_id: r for r in self.plan.routes}
        out.update({f"route:{r.id}": r for r in self.plan.routes})
        return out

    def route(self, occ: Occurrence) -> Route | None:
        if occ.order_id:
            route = self._route_of_order.get(occ.order_id)
            if route is not None:
                return route
        if occ.route_id:
            route = self._route_by_key.get(f"route:{occ.route_id}")
            if route is not None:
                return route
        return self._route_by_key.get(occ.vehicle_id) if occ.vehicle_id else None

    def route_status(self, route: Route) -> str:
        stops = [s for s in route.stops if s.order_id in self.orders]
        if stops and all(self.statuses.get(s.order_id, s.status) in _DONE for s in stops):
            return RouteStatus.COMPLETED.value
        if route.vehicle_id in self.on_road and route.status in (
            RouteStatus.PLANNED,
            RouteStatus.RELEASED,
        ):
            return RouteStatus.ACTIVE.value
        return route.status.value

    def route_subjects(self) -> list[Occurrence]:
        """Every route with stops left, as a subject for time-of-day rules."""
        out = []
        for r in self.plan.routes:
            if r.stops and self.route_status(r) != RouteStatus.COMPLETED.value:
                out.append(Occurrence("time", "time", r.id, r.vehicle_id, r.id))
        return out

    def facts(self, occ: Occurrence) -> dict[str, Any] | None:
        route = self.route(occ)
        local = self.now.astimezone(ZoneInfo(self.timezone))
        facts: dict[str, Any] = {"depot": self.depot_id, "time_of_day": f"{local:%H:%M}"}
        if occ.kind == "exception":
            facts["exception_type"] = occ.type
            facts["severity"] = occ.severity
        elif occ.kind == "event":
            facts["event_type"] = occ.type
        order = self.orders.get(occ.order_id) if occ.order_id else None
        if order is not None:
            facts["priority"] = order.priority
            if order.wave:
                facts["wave"] = order.wave
        if route is None:
            if occ.minutes_late is not None:
                facts["minutes_late"] = occ.minutes_late
            return facts
        eta = self.etas.get(route.id)
        margin = -self.late_margin_min * 60
        risky = [s for s in eta.stops if s.late_s > margin] if eta is not None else []
        facts["stops_at_risk"] = len(risky)
        facts["stops_left"] = sum(
            1 for s in route.stops
            if s.order_id in self.orders and self.statuses.get(s.order_id, s.status) not in _DONE
        )  # fmt: skip
        facts["route_status"] = self.route_status(route)
        vehicle = self.fleet.get(route.vehicle_id)
        if vehicle is not None and vehicle.type_name:
            facts["vehicle_type"] = vehicle.type_name
        facts.setdefault("wave", route_wave(route, self.orders) or None)
        if facts["wave"] is None:
            del facts["wave"]
        if occ.minutes_late is not None:
            facts["minutes_late"] = occ.minutes_late
        elif eta is not None and eta.stops:
            facts["minutes_late"] = round(max(s.late_s for s in eta.stops) / 60, 1)
        stop_eta = eta.of(occ.order_id) if (eta is not None and occ.order_id) else None
        if stop_eta is not None:
            facts["slack_min"] = round(-stop_eta.late_s / 60, 1)
        elif eta is not None and eta.stops:
            facts["slack_min"] = round(min(-s.late_s for s in eta.stops) / 60, 1)
        if order is None and risky:
            facts["priority"] = max(self.orders[s.order_id].priority for s in risky
                                    if s.order_id in self.orders)  # fmt: skip
        return facts
