"""The day's release gate: the facts of every route gathered, the engine's checks run.

``day_gate(...)`` takes the day, its plan, an engine day context (built once per plan:
the travel matrices are the only expensive part), the loading and override records from
the store and what telemetry knows of the vehicles, and returns every route's gate and
every wave's go / no-go. Pure apart from reading its arguments; the service calls it on the
main thread after each change (a day of 200 routes takes a few milliseconds).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from engine.geo import haversine_m
from engine.model import DayInput, Plan, RouteStatus
from engine.planning import DayContext, RouteReport, Snapshot, pair_drivers
from engine.release import (
    GateParams,
    Loading,
    Override,
    RouteFacts,
    RouteGate,
    WaveGate,
    check_route,
    overlaps,
    wave_gate,
)

log = logging.getLogger(__name__)

#: Above this many points (orders and the depot) the gate evaluates each route on its own
#: legs (:class:`RouteLegs`) instead of one context with a matrix over all the day's points.
GATE_MATRIX_MAX_POINTS = 3000


class RouteLegs:
    """Evaluates a route on its own points only: a day context of the route's orders and
    its vehicle (with the driver the whole day would pair with it), so the travel model is
    asked for that route's legs and depot legs, never for all pairs of the day's points.
    The report is the one a whole-day context gives (same travel, same vehicle, same
    driver); memory grows with the routes, not with the square of the day."""

    def __init__(self, day: DayInput, travel: Any, depot_id: str, plan: Plan,
                 fallback: Any = None) -> None:  # fmt: skip
        self.day, self.travel, self.depot_id = day, travel, depot_id
        self.fallback = fallback  # a travel model when ``travel`` cannot answer
        self.empty = Plan(plan.id, plan.depot_id, plan.day)
        vehicles = [v for v in day.vehicles if v.depot_id == depot_id]
        pairing = pair_drivers(day, vehicles, self.empty)
        no_drivers = not any(pairing.values())
        planned = [v for v in vehicles if pairing[v.id] is not None or no_drivers]
        self.vehicle_index = {v.id: k for k, v in enumerate(planned)}
        self._vehicles = {v.id: v for v in planned}
        self._drivers = pairing
        self._orders = {o.id: o for o in day.orders if o.depot_id == depot_id}
        self._contexts: dict[tuple[str, frozenset[str]], DayContext] = {}

    def context_of(self, vehicle_id: str, order_ids: Sequence[str]) -> DayContext:
        """The day context of one route (kept while its orders stay the same)."""
        key = (vehicle_id, frozenset(order_ids))
        ctx = self._contexts.get(key)
        if ctx is not None:
            return ctx
        vehicle = self._vehicles.get(vehicle_id)
        if vehicle is None:
            raise KeyError(vehicle_id)
        missing = [oid for oid in order_ids if oid not in self._orders]
        if missing:
            raise KeyError(f"order {missing[0]} is not in the day")
        driver = self._drivers.get(vehicle_id)
        sub = replace(self.day, vehicles=(vehicle,), drivers=(driver,) if driver else (),
                      orders=tuple(self._orders[oid] for oid in dict.fromkeys(order_ids)))  # fmt: skip
        try:
            ctx = DayContext(Snapshot(sub, self.empty), self.travel, self.depot_id)
        except ValueError as exc:  # e.g. a point off the street network: still check
            if self.fallback is None:
                raise
            log.warning("release gate: %s by straight line (%s)", vehicle_id, exc)
            ctx = DayContext(Snapshot(sub, self.empty), self.fallback, self.depot_id)
        if len(self._contexts) > 4 * max(1, len(self._vehicles)):  # old plans' routes
            self._contexts.clear()
        self._contexts[key] = ctx
        return ctx

    def evaluate_route(self, vehicle_id: str, order_ids: Sequence[str],
                       departure: datetime | None = None) -> RouteReport:  # fmt: skip
        return self.context_of(vehicle_id, order_ids).evaluate_route(vehicle_id, order_ids,
                                                                     departure)  # fmt: skip


def day_points(day: DayInput, depot_id: str) -> int:
    """How many points a whole-day context would ask the travel model about."""
    return 1 + sum(1 for o in day.orders if o.depot_id == depot_id)


@dataclass(frozen=True)
class VehicleSeen:
    """What telemetry knows of a vehicle: its last fix and whether it broke down."""

    lat: float | None = None
    lon: float | None = None
    broken_down: bool = False


@dataclass(frozen=True)
class DayGate:
    """The gate of every route with stops, and of every wave, at ``at``."""

    at: datetime
    routes: dict[str, RouteGate] = field(default_factory=dict)
    waves: dict[str, WaveGate] = field(default_factory=dict)
    loading: dict[str, Loading] = field(default_factory=dict)
    departures: dict[str, datetime] = field(default_factory=dict)

    def wave_routes(self, wave: str) -> list[RouteGate]:
        return [g for g in self.routes.values() if g.wave == wave]

    def releasable(self, wave: str | None = None) -> list[str]:
        """Green routes not released yet (of one wave, or all)."""
        return [rid for rid, g in self.routes.items()
                if g.releasable and (wave is None or g.wave == wave)]  # fmt: skip


def departure_of(route_start: datetime | None, now: datetime) -> datetime | None:
    """When a route not yet gone would leave: as planned, or now if that has passed."""
    if route_start is None:
        return None
    return max(route_start, now)


def day_gate(
    day: DayInput,
    plan: Plan,
    ctx: DayContext | RouteLegs | None,
    *,
    now: datetime,
    loading: Mapping[str, Loading],
    overrides: Mapping[str, Mapping[str, Override]],
    seen: Mapping[str, VehicleSeen] | None = None,
    params: GateParams | None = None,
    report_error: str = "",
) -> DayGate:
    """Every route's gate (routes with stops) and every wave's, at ``now``.

    ``ctx`` evaluates stop sequences (None: the windows check says ``report_error``)."""
    params = params or GateParams()
    seen = seen or {}
    depot = day.depots[0]
    tz = depot.timezone
    vehicles = {v.id: v for v in day.vehicles}
    drivers = {d.id: d for d in day.drivers}
    drivers_by_vehicle = {d.vehicle_id: d for d in day.drivers if d.vehicle_id}
    orders = {o.id: o for o in day.orders}
    waves = {w.id: w for w in day.waves}
    docks = {k.id: k for k in depot.docks}
    routes = [r for r in plan.routes if r.stops]
    clash = overlaps((r.id, r.dock_id, r.slot_start, r.slot_end) for r in routes
                     if r.dock_id and r.slot_start and r.slot_end)  # fmt: skip
    out_on = {r.vehicle_id: r.id for r in plan.routes
              if r.status.is_released and r.status is not RouteStatus.COMPLETED}  # fmt: skip
    gates: dict[str, RouteGate] = {}
    departures: dict[str, datetime] = {}
    for route in routes:
        departed = route.status.rank >= RouteStatus.ACTIVE.rank
        departure = route.start if departed else departure_of(route.start, now)
        report, error = None, report_error
        if ctx is not None:
            try:
                report = ctx.evaluate_route(route.vehicle_id, route.order_ids, departure)
            except KeyError as exc:
                error = _why_not_evaluated(exc, route.vehicle_id, ctx)
        vehicle_seen = seen.get(route.vehicle_id, VehicleSeen())
        away = None
        if vehicle_seen.lat is not None and vehicle_seen.lon is not None and not departed:
            away = haversine_m(depot.location.lat, depot.location.lon, vehicle_seen.lat,
                               vehicle_seen.lon)  # fmt: skip
        busy = out_on.get(route.vehicle_id)
        driver = drivers.get(route.driver_id) if route.driver_id else None
        facts = RouteFacts(
            route=route,
            vehicle=vehicles.get(route.vehicle_id),
            driver=driver or drivers_by_vehicle.get(route.vehicle_id),
            orders=orders,
            departure=departure,
            report=report,
            report_error=error,
            wave=waves.get(route.wave),
            waves=waves,
            dock=docks.get(route.dock_id) if route.dock_id else None,
            dock_clash=clash.get(route.id, ()),
            loading=loading.get(route.id, Loading(0, len(route.stops))),
            vehicle_busy=busy if busy and busy != route.id else None,
            vehicle_away_m=away,
            broken_down=vehicle_seen.broken_down and not departed,
            overrides=overrides.get(route.id, {}),
            timezone=tz,
        )
        gates[route.id] = check_route(facts, params)
        if departure is not None:
            departures[route.id] = departure
    wave_ids = sorted({g.wave for g in gates.values()} | set(waves),
                      key=lambda w: (waves[w].cutoff if w in waves else now, w))  # fmt: skip
    wave_gates = {w: wave_gate(w, list(gates.values()), waves.get(w), now) for w in wave_ids}
    return DayGate(now, gates, wave_gates, dict(loading), departures)


def _why_not_evaluated(exc: KeyError, vehicle_id: str, ctx: DayContext | RouteLegs) -> str:
    if vehicle_id not in ctx.vehicle_index:
        return f"{vehicle_id} is not planned today (no driver for it)"
    return str(exc.args[0]) if exc.args else "an order of the route is not in the day"


def gate_json(gate: DayGate, *, wave: str | None = None) -> list[dict[str, Any]]:
    """The gate as plain data, one item per route (``python main.py release check --json``)."""
    out = []
    for rid, g in gate.routes.items():
        if wave is not None and g.wave != wave:
            continue
        departure = gate.departures.get(rid)
        out.append({
            "route_id": rid,
            "vehicle_id": g.vehicle_id,
            "wave": g.wave,
            "status": g.status.value,
            "go": g.go,
            "departure": departure.isoformat() if departure else None,
            "checks": [
                {"name": c.name, "ok": c.ok, "passed": c.passed, "why": c.why if not c.ok else "",
                 "what": c.what, "fix": c.fix,
                 "override": None if c.override is None else {
                     "by": c.override.actor, "reason": c.override.reason,
                     "at": c.override.at.isoformat()}}
                for c in g.checks
            ],
        })  # fmt: skip
    return out
