"""Planning on domain types: plan, re-plan a running day, insert, suggest, evaluate."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from engine.check import check
from engine.model import Location, Order, Plan, Route, StopStatus, TimeWindow, UnassignedReason
from engine.planning import Snapshot, VehicleState, context, insert, plan, replan, suggest
from engine.travel import HaversineTravelModel
from tests.fixtures.scenarios import at, small_day

TRAVEL = HaversineTravelModel()


@pytest.fixture(scope="module")
def day():
    return small_day()


@pytest.fixture(scope="module")
def planned(day):
    return plan(day, TRAVEL, depot_id="D1", time_limit_s=0.5)


def _check_plan(day, p: Plan) -> None:
    ctx = context(Snapshot(day, Plan(p.id, p.depot_id, p.day)), TRAVEL)
    routes = [[] for _ in ctx.vehicles]
    for r in p.routes:
        routes[ctx.vehicle_index[r.vehicle_id]] = [ctx.node_of[o] for o in r.order_ids]
    assert check(ctx.problem, routes) == []


def test_plan_serves_every_order_feasibly(day, planned):
    """A small depot day is planned completely and every route passes the independent check."""
    assert not planned.unassigned
    assert sorted(o for r in planned.routes for o in r.order_ids) == sorted(
        o.id for o in day.orders
    )
    _check_plan(day, planned)
    for r in planned.routes:
        for s in r.stops:
            order = next(o for o in day.orders if o.id == s.order_id)
            start = max(s.planned_arrival, order.earliest)
            assert any(w.start <= start <= w.end + timedelta(seconds=1) for w in order.windows)


def test_unassigned_orders_come_back_with_reasons(day):
    """An unknown skill, an overweight order and an unreachable window are reported as such."""
    base = day.orders[0]
    bad = (
        replace(base, id="SKILL", skills=frozenset({"crane"})),
        replace(base, id="HEAVY", demand={"kg": 5000.0}),
        replace(base, id="EARLY", windows=(TimeWindow(at(2), at(2.5)),)),
    )
    p = plan(replace(day, orders=day.orders + bad), TRAVEL, depot_id="D1", time_limit_s=0.5)
    reasons = {u.order_id: u.reason for u in p.unassigned}
    assert reasons == {
        "SKILL": UnassignedReason.NO_VEHICLE_WITH_SKILL,
        "HEAVY": UnassignedReason.CAPACITY,
        "EARLY": UnassignedReason.WINDOW_UNREACHABLE,
    }
    assert all(u.detail for u in p.unassigned)


def _running(day, planned, served: int = 2, lock_next: bool = True) -> Snapshot:
    """The day after each route's first ``served`` stops, vehicles at their last stop."""
    routes, states = [], {}
    locs = {o.id: o.location for o in day.orders}
    now = at(7)
    for r in planned.routes:
        stops = list(r.stops)
        for i in range(min(served, len(stops))):
            stops[i] = replace(stops[i], status=StopStatus.DELIVERED)
        if lock_next and len(stops) > served:
            stops[served] = replace(stops[served], locked=True)
        routes.append(replace(r, stops=tuple(stops)))
        last = stops[min(served, len(stops)) - 1]
        states[r.vehicle_id] = VehicleState(
            r.vehicle_id, locs[last.order_id], last.planned_departure
        )
        now = max(now, last.planned_departure)
    return Snapshot(day, replace(planned, routes=tuple(routes)), now, states)


def test_replan_keeps_history_locks_and_starts_where_vehicles_are(day, planned):
    """Served stops stay as they were, locked stops stay on their vehicle, ETAs start at the position."""
    snap = _running(day, planned)
    prop = replan(snap, TRAVEL, time_limit_s=0.5)
    assert prop.feasible and not prop.unassigned
    new = {r.vehicle_id: r for r in prop.plan.routes}
    for old in snap.plan.routes:
        r = new[old.vehicle_id]
        assert r.stops[:2] == old.stops[:2]  # history untouched
        locked = [s.order_id for s in old.stops if s.locked]
        assert set(locked) <= set(r.order_ids)
        pos = snap.vehicles[old.vehicle_id]
        if len(r.stops) > 2:
            first = r.stops[2]
            order = next(o for o in day.orders if o.id == first.order_id)
            travel = TRAVEL.matrices([pos.location, order.location]).duration_s[0, 1]
            expected = max(snap.now, pos.available_at) + timedelta(seconds=float(travel))
            assert abs((first.planned_arrival - expected).total_seconds()) < 1.0
    assert prop.distance_after_m <= prop.distance_before_m + 1e-6


def test_a_stop_being_served_takes_its_room_on_the_van_as_a_served_one_does(day, planned):
    """What a re-plan may still load on a van is its capacity less every stop that stays
    history: the served ones and the one it is at (arrived). Without the arrived stop, a
    re-plan accepted in the window filled a van over its capacity by that stop's demand
    and the capacity rule raised a critical exception at once."""
    snap = _running(day, planned, served=1, lock_next=False)
    routes = []
    for r in snap.plan.routes:
        stops = list(r.stops)
        if len(stops) > 1:
            stops[1] = replace(stops[1], status=StopStatus.ARRIVED)
        routes.append(replace(r, stops=tuple(stops)))
    snap = replace(snap, plan=replace(snap.plan, routes=tuple(routes)))
    ctx = context(snap, TRAVEL)
    demand = {o.id: o.demand for o in day.orders}
    for r in snap.plan.routes:
        spec = ctx.problem.vehicles[ctx.vehicle_index[r.vehicle_id]]
        taken = tuple(
            sum(demand[s.order_id].get(dim, 0.0) for s in r.stops[:2]) for dim in ctx.dimensions
        )
        assert spec.initial_load == pytest.approx(taken)
    capacity = {v.id: v.capacity for v in day.vehicles}
    prop = replan(snap, TRAVEL, time_limit_s=0.5)
    for r in prop.plan.routes:  # every stop of a route, served or not, fits its van
        for dim, room in capacity[r.vehicle_id].items():
            assert sum(demand[o].get(dim, 0.0) for o in r.order_ids) <= room + 1e-9


def test_a_replan_reports_the_driver_time_and_cost_it_weighs(day, planned):
    """The proposal's cost before and after is what the re-plan minimised (the winner's
    objective is its cost plus the churn paid), so a person sees what extra kilometres
    bought; driver time is every route's span from where its vehicle is."""
    snap = _running(day, planned, lock_next=False)
    prop = replan(snap, TRAVEL, time_limit_s=0.5, churn_penalty=0.0, iterations=3000)
    assert not prop.unassigned
    assert prop.cost_before == pytest.approx(prop.candidates["continue"])
    assert prop.cost_after + prop.churn_cost == pytest.approx(prop.candidates[prop.strategy])
    assert prop.cost_after <= prop.cost_before + 1e-6
    assert prop.duration_after_s > 0 and prop.duration_before_s > 0


def test_replan_churn_penalty_reduces_moves(day, planned):
    """A large churn penalty moves no more stops between vehicles than none at all."""
    snap = _running(day, planned, lock_next=False)
    free = replan(snap, TRAVEL, time_limit_s=0.5, churn_penalty=0.0, iterations=3000)
    sticky = replan(snap, TRAVEL, time_limit_s=0.5, churn_penalty=1e6, iterations=3000)
    assert len(sticky.moved) <= len(free.moved)
    assert len(sticky.moved) == 0


def test_insert_returns_a_feasible_cheap_insertion(day, planned):
    """An urgent order is inserted feasibly into the running day, moving nothing else
    (its speed is measured by ``python -m bench.engine``, not by a timed test)."""
    snap = _running(day, planned)
    order = Order(
        "URGENT",
        "D1",
        Location(40.76, -111.88),
        {"kg": 30.0},
        (TimeWindow(at(9), at(16)),),
        timedelta(minutes=5),
    )
    prop = insert(snap, order, TRAVEL)
    assert prop.plan.route_of("URGENT") is not None and not prop.unassigned
    assert prop.feasible and prop.lateness_after_s == 0.0
    moved = [c for c in prop.moved if c.order_id != "URGENT"]
    assert moved == []  # a plain insertion moves nothing else


def test_insert_reports_why_it_cannot(day, planned):
    """An order too heavy for any vehicle comes back unassigned with the capacity reason."""
    snap = _running(day, planned)
    order = Order(
        "TONNE", "D1", Location(40.76, -111.88), {"kg": 9000.0}, (TimeWindow(at(9), at(16)),)
    )
    prop = insert(snap, order, TRAVEL)
    assert [(u.order_id, u.reason) for u in prop.unassigned] == [
        ("TONNE", UnassignedReason.CAPACITY)
    ]


def test_suggest_ranks_other_routes(day, planned):
    """Suggestions list the other vehicles, feasible ones first, each with a cost delta."""
    stop = planned.routes[0].stops[0].order_id
    snap = Snapshot(day, planned)
    ranked = suggest(snap, stop, TRAVEL)
    assert {s.vehicle_id for s in ranked} <= {v.id for v in day.vehicles} - {
        planned.routes[0].vehicle_id
    }
    assert ranked
    flags = [s.feasible for s in ranked]
    assert flags == sorted(flags, reverse=True)


def test_evaluate_route_on_domain_route(day, planned):
    """Evaluating a planned route reproduces its ETAs; another order gives other ETAs."""
    ctx = context(Snapshot(day, planned), TRAVEL)
    route: Route = max(planned.routes, key=lambda r: len(r.stops))
    report = ctx.evaluate_route(route.vehicle_id, route.order_ids)
    assert report.feasible
    assert report.etas == tuple(s.planned_arrival for s in route.stops)
    late = ctx.evaluate_route(route.vehicle_id, route.order_ids[::-1])
    assert late.etas != report.etas and late.distance_m > 0


def test_when_no_route_is_on_time_one_with_room_comes_before_an_overload(day, planned):
    """A heavy stop whose window has already passed is late on every route: the suggestion
    is a vehicle with room for it, not a cheaper one it would overload (Reassign… takes the
    first suggestion)."""
    heavy = planned.routes[0].stops[0].order_id
    orders = tuple(
        replace(o, demand={**o.demand, "kg": 500.0}, windows=(TimeWindow(at(6), at(6)),))
        if o.id == heavy else o
        for o in day.orders
    )  # fmt: skip
    load = {
        r.vehicle_id: sum(o.demand["kg"] for o in day.orders if o.id in set(r.order_ids))
        for r in planned.routes
    }
    ranked = suggest(Snapshot(replace(day, orders=orders), planned), heavy, TRAVEL)
    assert ranked and not any(s.feasible for s in ranked)
    roomy = [s.vehicle_id for s in ranked if load.get(s.vehicle_id, 0.0) + 500.0 <= 800.0]
    assert roomy and ranked[0].vehicle_id == roomy[0], [
        (s.vehicle_id, s.cost_delta) for s in ranked
    ]
