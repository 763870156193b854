"""Reassign previews without a store: vehicle starts, skills, refusals, the context cache."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from app.dispatch.preview import (
    ContextCache,
    preview_reassign,
    states_from_fixes,
    vehicle_states,
)
from engine.model import Location, RouteStatus, StopStatus
from engine.planning import VehicleState
from engine.travel import HaversineTravelModel
from tests.app.test_dispatch_support import at, small_day, small_plan

TRAVEL = HaversineTravelModel()


def _served(plan, route_index: int, count: int, departed_hour: float):
    """The plan with the route's first ``count`` stops delivered, the last at that hour."""
    route = plan.routes[route_index]
    stops = list(route.stops)
    for i in range(count):
        stops[i] = replace(
            stops[i],
            status=StopStatus.DELIVERED,
            actual_departure=at(departed_hour - count + i + 1),
        )
    routes = list(plan.routes)
    routes[route_index] = replace(route, stops=tuple(stops))
    return replace(plan, routes=tuple(routes))


def test_vehicle_starts_from_its_last_served_stop_unless_its_position_is_known():
    """Without telemetry a vehicle continues from where it last delivered, when it left
    (or now, if later); a live position wins."""
    day = small_day()
    plan = _served(small_plan(), 0, 2, departed_hour=9)
    states = vehicle_states(plan, day, at(8.5))
    o2 = next(o for o in day.orders if o.id == "O2")
    assert states["V1"].location == o2.location and states["V1"].available_at == at(9)
    assert "V2" not in states
    assert vehicle_states(plan, day, at(9.5))["V1"].available_at == at(9.5)
    live = VehicleState("V1", Location(40.70, -111.90), at(9.2))
    assert vehicle_states(plan, day, at(9.5), {"V1": live})["V1"] == live


def test_a_vehicle_arrived_early_at_a_stop_is_busy_until_its_window_opens_and_it_is_served():
    """V1 arrived at its third stop two hours before that customer's window opens: a
    re-plan or a preview counts it there until the window's start plus the service time,
    whatever its live fix's time says (as the live ETAs do); arrived within the window, it
    is free after the service."""
    day = small_day()
    plan = _served(small_plan(), 0, 2, departed_hour=8)
    route = plan.routes[0]
    third = route.stops[2]
    order = next(o for o in day.orders if o.id == third.order_id)
    opens = order.windows[0].start
    early = opens - timedelta(hours=2)
    arrived = replace(third, status=StopStatus.ARRIVED, actual_arrival=early)
    plan = replace(plan, routes=(replace(route, stops=(*route.stops[:2], arrived,
                                                       *route.stops[3:])), *plan.routes[1:]))  # fmt: skip
    live = VehicleState("V1", Location(40.70, -111.90), early + timedelta(minutes=5))
    state = vehicle_states(plan, day, early + timedelta(minutes=5), {"V1": live})["V1"]
    assert state.location == order.location
    assert state.available_at == opens + order.service_time
    inside = replace(arrived, actual_arrival=opens + timedelta(minutes=10))
    plan = replace(plan, routes=(replace(route, stops=(*route.stops[:2], inside,
                                                       *route.stops[3:])), *plan.routes[1:]))  # fmt: skip
    later = VehicleState("V1", order.location, opens + timedelta(hours=1))
    assert vehicle_states(plan, day, opens + timedelta(hours=1), {"V1": later})["V1"] == later


def test_served_history_stays_first_and_moved_stops_go_after_it():
    """On a route that has served two stops, a moved stop is inserted after them, and the
    served stops keep their status and place."""
    day, plan = small_day(), _served(small_plan(), 0, 2, departed_hour=9)
    ctx = ContextCache(TRAVEL).get(plan, day, at(9))
    preview = preview_reassign(ctx, plan, ["O5"], "R-V1")
    route = preview.routes[0]
    assert [s.status for s in route.stops[:2]] == [StopStatus.DELIVERED] * 2
    assert preview.positions["O5"] >= 2
    assert route.stops[2].planned_arrival >= at(9)


def test_a_vehicle_without_the_needed_skill_is_flagged():
    """Moving a tail-lift order to a van without one is infeasible and says so."""
    day = small_day()
    orders = tuple(replace(o, skills=frozenset({"tail_lift"})) if o.id == "O1" else o
                   for o in day.orders)  # fmt: skip
    vehicles = tuple(replace(v, skills=frozenset({"tail_lift"})) if v.id == "V1" else v
                     for v in day.vehicles)  # fmt: skip
    day = replace(day, orders=orders, vehicles=vehicles)
    plan = small_plan()
    preview = preview_reassign(ContextCache(TRAVEL).get(plan, day, None), plan, ["O1"], "R-V2")
    assert preview.target.missing_skills == ("tail_lift",)
    assert not preview.feasible and "lacks skill tail_lift" in preview.summary


def test_refusals_name_the_reason():
    """Unknown orders, unknown or completed routes and moves onto the same route are
    refused with a reason naming them."""
    day, plan = small_day(), small_plan()
    ctx = ContextCache(TRAVEL).get(plan, day, None)
    assert "X9 is not an open order" in preview_reassign(ctx, plan, ["X9"], "R-V2").summary
    assert "'R-V9' is not in this plan" in preview_reassign(ctx, plan, ["O1"], "R-V9").summary
    assert "already on V1" in preview_reassign(ctx, plan, ["O1"], "R-V1").summary
    done = replace(plan, routes=(*plan.routes[:2], replace(plan.routes[2],
                                                           status=RouteStatus.COMPLETED)))  # fmt: skip
    ctx = ContextCache(TRAVEL).get(done, day, None)
    assert "completed" in preview_reassign(ctx, done, ["O1"], "R-V3").summary


def test_context_is_kept_current_and_rebuilt_only_when_the_day_changes():
    """A plan that differs in open sequences, or a later minute, updates the kept context
    (its routes and start times follow), so does a newly served stop (from the matrices it
    had); another day rebuilds it."""
    day, plan = small_day(), small_plan()
    cache = ContextCache(TRAVEL)
    ctx = cache.get(plan, day, at(8))
    assert cache.get(plan, day, at(8) + (at(8.01) - at(8))) is ctx
    r1 = plan.routes[0]
    shuffled = replace(plan, routes=(replace(r1, stops=r1.stops[::-1]), *plan.routes[1:]))
    turned = cache.get(shuffled, day, at(8))
    k = turned.vehicle_index[r1.vehicle_id]
    assert [turned.order_of[n] for n in turned.problem.initial_routes[k]] == list(
        r1.order_ids[::-1]
    )
    later = cache.get(shuffled, day, at(8.5))
    assert min(v.earliest for v in later.problem.vehicles) >= later.seconds(at(8.5))
    assert cache.builds == 1
    cache.get(_served(plan, 0, 1, 9), day, at(8.5))  # from the matrices it had
    assert cache.builds == 1
    cache.get(plan, replace(day, vehicles=day.vehicles[:2]), at(8.5))
    assert cache.builds == 2


def test_live_fixes_become_vehicle_states():
    """Live fixes (epoch seconds) give each vehicle a position and the time it was there."""
    from app.telemetry.messages import Fix

    fix = Fix("V2", 7, at(9).timestamp(), 40.75, -111.9)
    states = states_from_fixes({"V2": fix})
    assert states["V2"] == VehicleState("V2", Location(40.75, -111.9), at(9))


def test_a_drag_preview_does_not_wait_for_the_whole_day_build_on_a_worker():
    """While the window builds the whole day's context on a worker (after a plan is shown),
    a drag preview of two routes answers from their own context instead of waiting for
    that build (on a 2,000-van day it takes seconds)."""
    import threading

    day, plan = small_day(), small_plan()
    building, finish = threading.Event(), threading.Event()

    class SlowWholeDay:  # the whole day's matrices take until ``finish``
        def matrices(self, points, depart=None):
            if len(points) >= 1 + len(day.orders):
                building.set()
                finish.wait(30)
            return TRAVEL.matrices(points, depart)

    cache = ContextCache(SlowWholeDay())
    worker = threading.Thread(target=cache.get, args=(plan, day, at(8)), daemon=True)
    worker.start()
    try:
        assert building.wait(10)
        previewed: list = []
        drag = threading.Thread(target=lambda: previewed.append(
            cache.for_move(plan, day, at(8), ["O5"], "R-V3")), daemon=True)  # fmt: skip
        drag.start()
        drag.join(10)
        assert previewed and worker.is_alive()  # answered while the build still runs
    finally:
        finish.set()
        worker.join(10)
    assert cache.builds == 1


def test_a_drag_preview_at_the_morning_peak_times_the_target_route_as_the_plan_does():
    """At 07:30 (the morning peak: main roads at 0.65 of their speed) a drag preview of a
    stop onto V3's route times V3's own stops as the plan and the live ETAs do (legs asked
    without a departure: free flow): its route before the move, and its stops ahead of
    the new one after it, not at peak times the ETAs on screen never show. Suggestions
    and urgent insertions read the same context."""
    from engine.planning import Snapshot, context
    from engine.roads import DEMO_CITY_NETWORK, StreetNetwork
    from engine.travel import StreetNetworkTravelModel

    travel = StreetNetworkTravelModel(StreetNetwork.load(DEMO_CITY_NETWORK),
                                      timezone="America/Denver")  # fmt: skip
    day, plan, now = small_day(), small_plan(), at(7.5)
    depot = day.depots[0].location
    starts = {v: VehicleState(v, depot, now) for v in ("V1", "V2", "V3")}
    planned = context(Snapshot(day, plan, None, starts), travel)  # as the plan times legs
    v3 = list(plan.routes[2].order_ids)
    ev = planned.evaluate("V3", v3)
    plan_times = {o: planned.clock(ev.arrivals[p]) for p, o in enumerate(v3)}

    ctx = ContextCache(travel, lambda: starts).for_move(plan, day, now, ["O4"], "R-V3")
    preview = preview_reassign(ctx, plan, ["O4"], "R-V3")
    assert preview.allowed and list(preview.target.order_ids_before) == v3
    before = ctx.evaluate("V3", v3)
    assert {o: ctx.clock(before.arrivals[p]) for p, o in enumerate(v3)} == plan_times
    assert preview.target.duration_before_s == pytest.approx(ev.duration)
    ahead = preview.routes[0].stops[: preview.positions["O4"]]
    assert all(s.planned_arrival == plan_times[s.order_id] for s in ahead)
