"""Drag previews on the demo day (25 vans, 400 stops): sane answers, the context reused."""

from __future__ import annotations

import time

import pytest

from app.dispatch.service import DispatchService
from app.store import open_store
from bench.dispatch import sweep_plan
from engine.travel import HaversineTravelModel


@pytest.fixture(scope="module")
def demo():
    """The demo day and a quick sweep plan of it."""
    from app.simulator.demo_day import generate_demo_day

    day = generate_demo_day(7)
    return day, sweep_plan(day)


@pytest.fixture
def service():
    """A supervisor's service on an empty in-memory store (previews do not write)."""
    store = open_store("sqlite://")
    yield DispatchService(store, HaversineTravelModel(), actor="sam@desk-2", role="supervisor")
    store.close()


def test_demo_day_preview_places_the_stops_and_reuses_the_context(demo, service):
    """Moving three stops between demo routes puts all three on the target (at the reported
    positions), takes them off the source, and later previews do not rebuild the context."""
    day, plan = demo
    source, target = plan.routes[3], plan.routes[4]
    moving = list(source.order_ids[:3])
    started = time.perf_counter()
    preview = service.preview_reassign(plan, day, moving, target.id)
    first_ms = (time.perf_counter() - started) * 1000
    new_target = next(r for r in preview.routes if r.id == target.id)
    assert {new_target.stops[i].order_id for i in preview.positions.values()} == set(moving)
    assert len(new_target.stops) == len(target.stops) + 3
    assert preview.sources[0].order_ids_after == source.order_ids[3:]
    assert preview.target.distance_after_m > preview.target.distance_before_m
    assert preview.summary.startswith(f"3 stops → {target.vehicle_id}")
    times = []
    for k in range(20):
        other = plan.routes[(k + 5) % len(plan.routes)]
        started = time.perf_counter()
        service.preview_reassign(plan, day, moving, other.id)
        times.append((time.perf_counter() - started) * 1000)
    print(f"demo preview: first {first_ms:.1f} ms, then median {sorted(times)[10]:.2f} ms")
    assert service.context_builds == 0  # previews never build the whole day's matrices


class _Counting:
    """A travel model that remembers how many points each matrix call asked about."""

    def __init__(self, inner) -> None:
        self.inner, self.asked = inner, []

    def matrices(self, points, depart=None):
        self.asked.append(len(points))
        return self.inner.matrices(points, depart)


def test_a_preview_from_its_routes_legs_equals_the_whole_day_preview(demo):
    """A drag preview built from the legs of the routes it involves (the target, the routes
    the stops leave, their live positions) gives exactly the figures, positions, new times
    and refusals of one built on the whole day's matrices, on a day with served stops,
    live positions, drivers and vans without costs; it asks the travel model about a few
    dozen points, not the day's 400."""
    from dataclasses import replace
    from datetime import timedelta

    from app.dispatch.preview import ContextCache, preview_reassign
    from engine.model import StopStatus
    from engine.planning import VehicleState

    day, plan = demo
    free = {plan.routes[k].vehicle_id for k in (7, 8)}  # vans whose kilometres cost nothing
    day = replace(day, vehicles=tuple(replace(v, cost_per_km=0.0, cost_per_hour=0.0)
                                      if v.id in free else v for v in day.vehicles))  # fmt: skip
    routes = list(plan.routes)
    now = day.drivers[0].shift_start + timedelta(hours=2)
    for i in (0, 2, 5):  # a few routes served their first two stops
        stops = list(routes[i].stops)
        for j in range(2):
            stops[j] = replace(stops[j], status=StopStatus.DELIVERED,
                               actual_departure=now - timedelta(minutes=30 - 10 * j))  # fmt: skip
        routes[i] = replace(routes[i], stops=tuple(stops))
    plan = replace(plan, routes=tuple(routes))
    stop = next(o for o in day.orders if o.id == routes[9].order_ids[-1])
    live = {routes[k].vehicle_id: VehicleState(routes[k].vehicle_id, stop.location, now)
            for k in (1, 4)}  # fmt: skip
    whole = ContextCache(HaversineTravelModel(), lambda: live).get(plan, day, now)
    travel = _Counting(HaversineTravelModel())
    parts = ContextCache(travel, lambda: live)
    moves = [
        (routes[0].order_ids[-2:], routes[1].id),  # from a route that served stops
        (routes[1].order_ids[:1], routes[2].id),  # from a van with a live position
        (routes[4].order_ids[1:4], routes[7].id),  # onto a van without costs
        (routes[8].order_ids[-3:], routes[7].id),
        (routes[3].order_ids[:1] + routes[6].order_ids[:1], routes[3].id),  # two sources
        (routes[0].order_ids[:1], routes[5].id),  # a served stop: refused
        (["NOPE"], routes[5].id),  # not an order of the plan: refused
    ]
    for order_ids, target in moves:
        expected = preview_reassign(whole, plan, order_ids, target)
        ctx = parts.for_move(plan, day, now, order_ids, target)
        got = preview_reassign(ctx, plan, order_ids, target)
        assert got == expected, (order_ids, target)
        assert ctx.problem.distance.shape[0] < 60
    assert parts.builds == 0 and max(travel.asked) < 60
    assert any(preview_reassign(whole, plan, o, t).allowed for o, t in moves)
