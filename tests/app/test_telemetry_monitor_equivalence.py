"""The fast live evaluation gives exactly the ETAs and exceptions of the plain loop."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import pytest

from app.telemetry.messages import Fix
from app.telemetry.monitor import LiveMonitor
from app.telemetry.state import LiveState, StopState, VehicleFlags
from engine.eta import Position, TravelTimes, observed_speed_factor, route_etas
from engine.model import (
    Location,
    Order,
    Plan,
    Route,
    RouteStatus,
    Stop,
    StopStatus,
    TimeWindow,
    Vehicle,
)
from engine.rules import ExceptionTracker, RuleConfig, VehicleLive, evaluate_rules

DAY = date(2026, 11, 24)
BASE = datetime.combine(DAY, time(8, 0), tzinfo=UTC)
DEPOT = Location(40.7608, -111.8910)
STATUSES = [StopStatus.ARRIVED, StopStatus.DELIVERED, StopStatus.FAILED, StopStatus.SKIPPED]


def random_day(seed: int, vehicles: int = 40):
    """Orders with one or two windows, routes of 0-16 stops, and a live state mid-day."""
    rng = np.random.default_rng(seed)
    orders: list[Order] = []
    routes: list[Route] = []
    for v in range(vehicles):
        stops = []
        for _ in range(int(rng.integers(0, 17))):
            oid = f"O{len(orders):04d}"
            start = BASE + timedelta(minutes=int(rng.integers(0, 300)))
            windows = [TimeWindow(start, start + timedelta(minutes=int(rng.integers(20, 120))))]
            if rng.random() < 0.3:
                later = windows[0].end + timedelta(minutes=int(rng.integers(10, 90)))
                windows.append(TimeWindow(later, later + timedelta(minutes=60)))
            loc = Location(DEPOT.lat + rng.normal(0, 0.05), DEPOT.lon + rng.normal(0, 0.06))
            minutes = int(rng.integers(1, 9))
            orders.append(
                Order(
                    oid,
                    "D1",
                    loc,
                    {"kg": float(rng.integers(5, 60))},
                    tuple(windows),
                    service_time=timedelta(minutes=minutes),
                )
            )
            planned = BASE + timedelta(minutes=int(rng.integers(0, 400)))
            stops.append(Stop(oid, planned_arrival=planned if rng.random() < 0.8 else None))
        status = [RouteStatus.PLANNED, RouteStatus.RELEASED, RouteStatus.ACTIVE][v % 3]
        routes.append(Route(f"R{v}", f"V{v}", tuple(stops), status=status, start=BASE))
    plan = Plan("P1", "D1", DAY, tuple(routes))
    fleet = {
        f"V{v}": Vehicle(f"V{v}", "D1", {"kg": float(rng.integers(100, 500))})
        for v in range(vehicles)
    }
    # The matrix knows the depot and half the orders; the rest falls back to haversine.
    known = [DEPOT, *[o.location for o in orders[::2]]]
    matrix = rng.uniform(60, 1800, (len(known), len(known)))
    travel = TravelTimes(known, matrix, fallback_speed_kmh=30.0)
    return plan, orders, fleet, travel, rng


def random_state(plan: Plan, orders: list[Order], rng, now: float) -> LiveState:
    """Positions (on, off, silent, still), served stops with times, breakdowns, breaks."""
    by_id = {o.id: o for o in orders}
    state = LiveState()
    for route in plan.routes:
        vid = route.vehicle_id
        if rng.random() < 0.15:
            continue  # no fix yet
        t = now - 3600
        served = int(rng.integers(0, len(route.stops) + 1))
        for stop in route.stops[:served]:
            t += float(rng.uniform(200, 900))
            status = (
                STATUSES[int(rng.integers(0, 4))] if rng.random() < 0.5 else StopStatus.DELIVERED
            )
            left = t + float(rng.uniform(60, 400))
            state.stops[stop.order_id] = StopState(
                stop.order_id,
                vid,
                status,
                arrived_at=t,
                departed_at=left if rng.random() < 0.7 else None,
                done_at=left if status.is_done else None,
            )
            t = left
        anchor = by_id[route.stops[0].order_id].location if route.stops else DEPOT
        lat = anchor.lat + rng.normal(0, 0.02 if rng.random() < 0.8 else 0.2)
        lon = anchor.lon + rng.normal(0, 0.02)
        last = now - (
            float(rng.uniform(0, 30)) if rng.random() < 0.85 else float(rng.uniform(130, 900))
        )
        if rng.random() < 0.3:  # standing still for a while
            state.apply_fixes([Fix(vid, 1, last - float(rng.uniform(60, 1800)), lat, lon)])
        state.apply_fixes([Fix(vid, 2, last, lat, lon, speed_kmh=12.0)])
        state.positions[vid] = state.trails[vid][-1]
        if rng.random() < 0.1:
            state.flags[vid] = VehicleFlags(broken_down_at=now - 600)
        elif rng.random() < 0.1:
            state.flags[vid] = VehicleFlags(on_break=True)
    return state


def reference_pass(plan, orders, state, now_ts, travel, fleet, config):
    """The plain loop: every route through ``route_etas``, then ``evaluate_rules``."""
    now = datetime.fromtimestamp(now_ts, UTC)
    dt = lambda ts: datetime.fromtimestamp(ts, UTC)  # noqa: E731
    statuses = {oid: st.status for oid, st in state.stops.items()}
    arrived = {oid: dt(st.arrived_at) for oid, st in state.stops.items() if st.arrived_at}
    vehicles, routes, etas = {}, [], {}
    for route in plan.routes:
        vid = route.vehicle_id
        fix = state.positions.get(vid)
        pos = None if fix is None else Position(vid, dt(fix.ts), fix.lat, fix.lon, fix.speed_kmh)
        status = route.status
        if all(statuses.get(s.order_id, s.status).is_done for s in route.stops) and route.stops:
            status = RouteStatus.COMPLETED
        elif pos is not None and status in (RouteStatus.PLANNED, RouteStatus.RELEASED):
            status = RouteStatus.ACTIVE
        route = replace(route, status=status)
        routes.append(route)
        flags = state.flags.get(vid)
        since = state.still_since(vid)
        vehicles[vid] = VehicleLive(
            vid,
            pos,
            None if since is None else dt(since),
            dt(flags.broken_down_at) if flags and flags.broken_down_at else None,
            bool(flags and flags.on_break),
        )
        if status in (RouteStatus.RELEASED, RouteStatus.ACTIVE):
            legs, prev = [], None
            for stop in route.stops:
                st, order = state.stops.get(stop.order_id), orders.get(stop.order_id)
                if st is None or order is None or st.arrived_at is None:
                    break
                if prev is not None and prev[0] is not None:
                    legs.append((travel.seconds(prev[1], order.location), st.arrived_at - prev[0]))
                prev = (st.departed_at or st.done_at, order.location)
            etas[route.id] = route_etas(
                route,
                orders,
                now,
                travel,
                position=pos,
                depot=DEPOT,
                statuses=statuses,
                arrived_at=arrived,
                speed_factor=observed_speed_factor(legs),
            )
    live_plan = replace(plan, routes=tuple(routes))
    conditions = evaluate_rules(
        live_plan, orders, etas, vehicles, now, config, statuses=statuses, fleet=fleet, depot=DEPOT
    )
    return etas, conditions


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_fast_pass_matches_the_plain_loop_on_a_random_day(seed):
    """Over several passes of a random day, ETAs and every exception change are identical."""
    plan, orders, fleet, travel, rng = random_day(seed)
    by_id = {o.id: o for o in orders}
    config = RuleConfig(off_route_m=float(rng.choice([300.0, 600.0, 2000.0])))
    monitor = LiveMonitor(plan, orders, travel=travel, depot=DEPOT, fleet=fleet, config=config)
    tracker = ExceptionTracker()
    now = BASE.timestamp() + 4 * 3600
    kinds = set()
    for step in range(4):
        if step % 2 == 0:  # a new live picture, then the same one a little later
            state = random_state(plan, orders, rng, now)
        result = monitor.evaluate(state.snapshot(), now)
        etas, conditions = reference_pass(plan, by_id, state, now, travel, fleet, config)
        expected = tracker.update(conditions, datetime.fromtimestamp(now, UTC))
        assert result.etas == etas
        assert result.changes == expected
        assert monitor.tracker.open == tracker.open
        kinds |= {c.type for c in conditions}
        now += 90
    assert len(kinds) >= 6, kinds  # the day really exercises the rules


def test_fast_pass_stays_exact_when_speed_factors_flip_between_passes():
    """Drives remembered at one observed speed factor are not reused when it changes back
    and forth (two live pictures in turn, as after a stop event arrives late)."""
    plan, orders, fleet, travel, rng = random_day(7, vehicles=30)
    by_id = {o.id: o for o in orders}
    config = RuleConfig()
    monitor = LiveMonitor(plan, orders, travel=travel, depot=DEPOT, fleet=fleet, config=config)
    tracker = ExceptionTracker()
    now = BASE.timestamp() + 3 * 3600
    states = [random_state(plan, orders, rng, now), random_state(plan, orders, rng, now)]
    factors = set()
    for step in range(6):
        state = states[step % 2]
        result = monitor.evaluate(state.snapshot(), now)
        etas, conditions = reference_pass(plan, by_id, state, now, travel, fleet, config)
        expected = tracker.update(conditions, datetime.fromtimestamp(now, UTC))
        assert result.etas == etas
        assert result.changes == expected
        factors |= {(rid, e.speed_factor) for rid, e in etas.items()}
        now += 30
    assert len(factors) > len({rid for rid, _ in factors})  # some route's factor did change
