"""What firings do: stops moved to routes with room, re-plans, late orders, next waves —
and never a locked, loaded or served stop moved, whatever the rule and the day."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import timedelta

import pytest

from app.rules.actions import ActionRunner, Effect, Move, Situation
from engine import planning
from engine.automation import Match, Occurrence, Rule
from engine.automation.protect import check_change, protected_stops
from engine.eta import RouteEta, StopEta, service_window
from engine.model import Order, Plan, StopStatus, TimeWindow, Unassigned, UnassignedReason
from engine.travel import HaversineTravelModel
from tests.fixtures.scenarios import at, small_day

TRAVEL = HaversineTravelModel()


def _rule(action: str, **then) -> Rule:
    trigger = {"trigger": "exception", "types": ["late_risk", "breakdown"]}
    if action == "insert_order":
        trigger = {"trigger": "event", "types": ["late_order"]}
    return Rule.from_json({
        "id": f"t-{action.replace('_', '-')}", "when": trigger,
        "then": {"action": action, **then},
        "guard": {"cooldown_min": 1, "max_per_hour": 60, "max_stops": 40},
    })  # fmt: skip


def _plan(seed: int, n_orders: int = 30, n_vehicles: int = 4):
    day = small_day(n_orders, n_vehicles, seed)
    plan = planning.plan(day, TRAVEL, depot_id="D1", time_limit_s=5, iterations=150)
    return day, plan


def _late_etas(plan: Plan, day, now, late_min: float = 30.0) -> dict[str, RouteEta]:
    """Every open stop predicted ``late_min`` past its window (all at risk)."""
    orders = {o.id: o for o in day.orders}
    out = {}
    for r in plan.routes:
        stops = []
        for s in r.stops:
            if s.status.is_done or s.status is StopStatus.ARRIVED:
                continue
            o = orders[s.order_id]
            eta = max(now, o.latest + timedelta(minutes=late_min))
            w = service_window(o.windows, eta)
            stops.append(StopEta(r.id, r.vehicle_id, s.order_id, eta, eta, eta, w))
        out[r.id] = RouteEta(r.id, r.vehicle_id, tuple(stops), 1.0, "live")
    return out


def _mid_day(plan: Plan, rnd: random.Random):
    """The plan a few hours in: first stops served (one failed), one arrived, some locked;
    and a random set of loaded orders."""
    routes, loaded = [], set()
    for r in plan.routes:
        k = rnd.randint(0, max(0, len(r.stops) - 2))
        stops = []
        for i, s in enumerate(r.stops):
            if i < k:
                s = replace(s, status=StopStatus.FAILED if i == 0 else StopStatus.DELIVERED)
            elif i == k and rnd.random() < 0.5:
                s = replace(s, status=StopStatus.ARRIVED)
            elif rnd.random() < 0.2:
                s = replace(s, locked=True)
            elif rnd.random() < 0.2:
                loaded.add(s.order_id)
            stops.append(s)
        routes.append(replace(r, stops=tuple(stops)))
    return replace(plan, routes=tuple(routes)), frozenset(loaded)


def _assert_untouched(before: Plan, effect: Effect, protected) -> None:
    """Independently of the guard: every protected stop keeps its vehicle, served stops
    keep their place and status."""
    vehicle_of = {s.order_id: r.vehicle_id for r in before.routes for s in r.stops}
    status_of = {s.order_id: s.status for r in before.routes for s in r.stops}
    for route in effect.routes:
        for s in route.stops:
            if s.order_id in protected:
                assert vehicle_of[s.order_id] == route.vehicle_id, (s.order_id, effect.text)
                assert s.status == status_of[s.order_id]
    for move in effect.moved:
        assert move.order_id not in protected, (move, effect.text)
    old = {r.id: r for r in before.routes}
    for route in effect.routes:
        kept = [s.order_id for s in old[route.id].stops if s.order_id in protected]
        assert set(kept) <= set(route.order_ids), (route.id, effect.text)


@pytest.mark.parametrize("seed", range(6))
def test_no_firing_moves_a_locked_loaded_or_served_stop(seed):
    """Random days, random locks, loads and served stops, every moving action, a broken-down
    van or late ones: not one protected stop leaves its vehicle or its place."""
    rnd = random.Random(seed)
    day, plan = _plan(seed)
    now = at(11)
    plan, loaded = _mid_day(plan, rnd)
    victim = rnd.choice([r for r in plan.routes if r.stops])
    runner = ActionRunner(TRAVEL, iterations=60)
    for broken in (frozenset(), frozenset({victim.vehicle_id})):
        etas = _late_etas(plan, day, now)
        sit = Situation(day, plan, now, {}, etas, loaded, broken)
        protected = protected_stops(plan, loaded)
        occ = Occurrence("exception", "late_risk", "e1", victim.vehicle_id, victim.id,
                         victim.order_ids[-1], 30.0, "critical", now)  # fmt: skip
        for rule in (_rule("move_at_risk", stops=5), _rule("replan_route", neighbours=3),
                     _rule("next_wave")):  # fmt: skip
            effect = runner.run(Match(rule, occ, {}), sit)
            assert effect.status != "refused", effect.text  # the actions keep off them
            assert not check_change(plan, effect.routes, protected)
            _assert_untouched(plan, effect, protected)


def test_the_guard_refuses_a_change_that_touches_a_protected_stop():
    """Should an action ever want it, a change moving a locked stop is refused whole."""
    day, plan = _plan(1)
    route, other = plan.routes[0], plan.routes[1]
    locked = replace(route.stops[0], locked=True)
    plan = replace(
        plan, routes=(replace(route, stops=(locked, *route.stops[1:])), *plan.routes[1:])
    )
    moved = (replace(plan.routes[1], stops=(*other.stops, locked)),
             replace(plan.routes[0], stops=plan.routes[0].stops[1:]))  # fmt: skip
    bad = Effect(
        "changed", "moved", moved, (Move(locked.order_id, route.vehicle_id, other.vehicle_id),)
    )
    runner = ActionRunner(TRAVEL)
    sit = Situation(day, plan, at(9))
    occ = Occurrence("exception", "late_risk", "e1", route.vehicle_id)
    out = runner._guarded(Match(_rule("move_at_risk"), occ, {}), sit, bad)
    assert out.status == "refused" and locked.order_id in out.text
    violations = check_change(plan, moved, protected_stops(plan))
    assert {v.order_id for v in violations} == {locked.order_id}


def test_a_broken_down_vans_stops_go_to_its_neighbours():
    """A re-plan of a broken-down van with its neighbours hands its open stops on; the
    van keeps only what it had served (and nothing moves onto it)."""
    day, plan = _plan(3, 30, 4)
    route = max(plan.routes, key=lambda r: len(r.stops))
    runner = ActionRunner(TRAVEL, iterations=100)
    now = at(8)
    sit = Situation(day, plan, now, {}, {}, frozenset(), frozenset({route.vehicle_id}))
    occ = Occurrence("exception", "breakdown", "b1", route.vehicle_id, route.id)
    effect = runner.run(Match(_rule("replan_route", neighbours=3), occ, {}), sit)
    assert effect.status == "proposal" and effect.moved
    new = {r.id: r for r in effect.routes}
    assert route.id in new and len(new[route.id].stops) < len(route.stops)
    assert all(
        m.from_vehicle == route.vehicle_id for m in effect.moved if m.order_id in route.order_ids
    )
    assert not any(m.to_vehicle == route.vehicle_id for m in effect.moved)


def test_a_rules_replan_of_a_broken_van_shares_out_as_a_persons_does_and_keeps_settled_stops():
    """The rule's re-plan of a broken-down van is the person's re-plan of the same routes
    (``app.dispatch.replan``) with the rule's churn price: the van's first stop served, its
    second moved there by a rule a short while ago (settled, left alone) and its third
    locked stay on it; every other open stop goes to a neighbour or stays on it when none
    takes it, and nothing moves onto it. The neighbours' routes are the person's re-plan's
    at the same price and search length."""
    from app.dispatch.replan import replan_job
    from app.rules.actions import BROKEN_CHURN

    day, plan = _plan(3, 30, 4)
    route = max(plan.routes, key=lambda r: len(r.stops))
    served, settled, locked, *rest = route.stops
    stops = (replace(served, status=StopStatus.DELIVERED), settled,
             replace(locked, locked=True), *rest)  # fmt: skip
    plan = replace(plan, routes=tuple(replace(r, stops=stops) if r.id == route.id else r
                                      for r in plan.routes))  # fmt: skip
    route = next(r for r in plan.routes if r.id == route.id)
    runner = ActionRunner(TRAVEL, replan_seconds=30, iterations=100)  # repeatable
    broken = frozenset({route.vehicle_id})
    sit = Situation(day, plan, at(8), {}, {}, frozenset(), broken,
                    frozenset({settled.order_id}))  # fmt: skip
    occ = Occurrence("exception", "breakdown", "b1", route.vehicle_id, route.id)
    effect = runner.run(Match(_rule("replan_route", neighbours=3), occ, {}), sit)
    assert effect.status == "proposal" and effect.moved
    new = {r.id: r for r in effect.routes}
    kept = new[route.id].order_ids
    assert kept[:3] == (served.order_id, settled.order_id, locked.order_id)
    assert set(kept) <= set(route.order_ids)
    moved = {m.order_id for m in effect.moved}
    assert moved and moved <= {s.order_id for s in rest}
    assert all(m.from_vehicle == route.vehicle_id for m in effect.moved)
    assert not any(m.to_vehicle == route.vehicle_id for m in effect.moved)

    scope = [route.id, *(r.id for r in runner._neighbours(sit, route, 3))]
    assert set(new) <= set(scope)
    person = replan_job(plan, day, TRAVEL, now=at(8), locked=sit.protected, route_ids=scope,
                        time_limit_s=runner.replan_seconds, unavailable=broken,
                        keep={settled.order_id}, churn_penalty=BROKEN_CHURN,
                        iterations=100, states_as_given=True)  # fmt: skip
    theirs = {r.id: r.order_ids for r in person.plan.routes}
    for rid in scope[1:]:
        before = next(r for r in plan.routes if r.id == rid)
        assert new.get(rid, before).order_ids == theirs[rid], rid
    assert theirs[route.id] == (served.order_id, settled.order_id, locked.order_id)


def test_a_late_order_goes_on_a_route_with_room_and_a_rule_may_accept_a_small_replan():
    """insert_order places an unassigned order where it arrives in time; a re-plan that
    moves few stops and saves enough is accepted by the rule itself."""
    day, plan = _plan(5, 24, 4)
    late = Order("LATE1", "D1", day.orders[0].location, {"kg": 5.0},
                 (TimeWindow(at(12), at(17)),), timedelta(minutes=4))  # fmt: skip
    day = replace(day, orders=(*day.orders, late))
    plan = replace(plan, unassigned=(Unassigned("LATE1", UnassignedReason.NO_FEASIBLE_ROUTE),))
    runner = ActionRunner(TRAVEL)
    sit = Situation(day, plan, at(9))
    occ = Occurrence("event", "late_order", "late-order:LATE1", order_id="LATE1")
    effect = runner.run(Match(_rule("insert_order"), occ, {}), sit)
    assert effect.status == "changed" and [m.order_id for m in effect.moved] == ["LATE1"]
    assert effect.moved[0].from_vehicle is None


def test_a_rules_moves_and_re_plans_time_legs_as_the_plan_does_at_the_morning_peak():
    """A rule firing at 07:40 (the morning peak) times legs as the plan and the live ETAs
    do (asked without a departure), as a person's previews and re-plans do: otherwise its
    re-plan's "before" would be far later than the ETAs on screen."""
    import numpy as np

    from engine.roads import DEMO_CITY_NETWORK, StreetNetwork
    from engine.travel import StreetNetworkTravelModel

    street = StreetNetworkTravelModel(StreetNetwork.load(DEMO_CITY_NETWORK),
                                      timezone="America/Denver")  # fmt: skip
    from tests.app.test_dispatch_support import at as slc_at
    from tests.app.test_dispatch_support import small_day as slc_day
    from tests.app.test_dispatch_support import small_plan as slc_plan

    runner = ActionRunner(street)
    day, plan = slc_day(), slc_plan()
    points = [o.location for o in day.orders[:5]]
    peak = slc_at(7 + 40 / 60)
    plan_legs = street.matrices(points, None).duration_s
    assert not np.allclose(street.matrices(points, peak).duration_s, plan_legs)
    assert np.allclose(runner.travel.matrices(points, peak).duration_s, plan_legs)
    ctx = runner._contexts(Situation(day, plan, peak)).get(plan, day, peak)
    assert np.allclose(ctx.travel.matrices(points, peak).duration_s, plan_legs)
