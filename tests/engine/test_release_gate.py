"""The release gate: each check says what, why and how to fix; overrides; waves and
cut-offs; on-time dispatch."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from engine.model import Dock, Order, Plan, RouteStatus, Wave
from engine.planning import Snapshot, context, plan
from engine.release import (
    Check,
    DispatchRecord,
    Loading,
    Override,
    RouteFacts,
    WaveStatus,
    check_route,
    plan_slots,
    punctuality,
    requests_for,
    retime,
    wave_for_departure,
    wave_for_order,
    wave_gate,
)
from engine.travel import HaversineTravelModel
from tests.fixtures.scenarios import TZ, at, small_day

TRAVEL = HaversineTravelModel()
DOCKS = (Dock("K1", "Dock 1"), Dock("K2", "Dock 2"))
W1 = Wave("W1", "D1", at(6.0), at(7.0), at(7.75))
W2 = Wave("W2", "D1", at(8.5), at(9.0), at(9.75))
WAVES = {"W1": W1, "W2": W2}


@pytest.fixture(scope="module")
def planned():
    """A small day, planned, with W1 and dock slots: every route should be green once loaded."""
    day = small_day(n_orders=18, n_vehicles=3)
    p = plan(day, TRAVEL, depot_id="D1", time_limit_s=0.5)
    p = replace(p, routes=tuple(replace(r, wave="W1") for r in p.routes if r.stops))
    ctx = context(Snapshot(day, Plan(p.id, p.depot_id, p.day)), TRAVEL)
    timed = retime(ctx, p, plan_slots(requests_for(p), DOCKS, WAVES)).plan
    return day, timed, ctx


def _facts(day, route, ctx, **changes) -> RouteFacts:
    vehicle = next(v for v in day.vehicles if v.id == route.vehicle_id)
    driver = next(d for d in day.drivers if d.vehicle_id == route.vehicle_id)
    route = changes.pop("as_route", route)
    departure = changes.pop("departure", route.start)
    report = ctx.evaluate_route(route.vehicle_id, route.order_ids, departure)
    base = dict(
        route=route, vehicle=vehicle, driver=driver, orders={o.id: o for o in day.orders},
        departure=departure, report=report, wave=WAVES.get(route.wave), waves=WAVES,
        dock=next((d for d in DOCKS if d.id == route.dock_id), None),
        loading=Loading(len(route.stops), len(route.stops)), timezone="America/Denver",
    )  # fmt: skip
    base.update(changes)
    return RouteFacts(**base)


def test_a_planned_slotted_loaded_route_is_green(planned):
    """A feasible route with its slot, loaded, is go; every check says what it found."""
    day, p, ctx = planned
    gate = check_route(_facts(day, p.routes[0], ctx))
    assert gate.go and gate.releasable, [c.what for c in gate.red]
    assert [c.name for c in gate.checks] == [c.value for c in Check]
    assert all(c.what for c in gate.checks)


def _red(gate, name):
    check = gate.check(name)
    assert not check.ok and not gate.go
    assert check.what and check.why and check.fix
    return check


def test_overloaded_vehicle_fails_capacity_per_dimension(planned):
    """A vehicle too small in kg fails capacity naming the dimension and the excess."""
    day, p, ctx = planned
    route = p.routes[0]
    facts = _facts(day, route, ctx)
    small = replace(facts.vehicle, capacity={"kg": 50.0, "m3": 8.0})
    check = _red(check_route(replace(facts, vehicle=small)), "capacity")
    assert "kg" in check.what and "m3" not in check.what.split("over capacity")[1]


def test_a_short_shift_fails_the_driver_check(planned):
    """A driver whose shift ends before the route is back fails, with the shift end named."""
    day, p, ctx = planned
    facts = _facts(day, p.routes[0], ctx)
    short = replace(facts.driver, shift_end=facts.report.end - timedelta(hours=1))
    # the evaluation must see the shorter shift too: re-evaluate with that driver
    day2 = replace(day, drivers=tuple(short if d.id == short.id else d for d in day.drivers))
    ctx2 = context(Snapshot(day2, Plan(p.id, p.depot_id, p.day)), TRAVEL)
    check = _red(check_route(_facts(day2, p.routes[0], ctx2, driver=short)), "driver")
    assert "past" in check.what and short.name in check.what


def test_too_many_hours_fail_the_driver_check(planned):
    """Working longer than the maximum hours from the shift start fails."""
    from engine.release import GateParams

    day, p, ctx = planned
    gate = check_route(_facts(day, p.routes[0], ctx), GateParams(max_hours=1.0))
    assert "at most 1 h" in _red(gate, "driver").what


def test_late_stops_fail_the_windows_check(planned):
    """Leaving far too late makes stops late by evaluation; they are named with minutes."""
    day, p, ctx = planned
    route = p.routes[0]
    check = _red(check_route(_facts(day, route, ctx, departure=at(15))), "windows")
    assert "late by evaluation" in check.what and "+" in check.what


def test_missing_or_overlapping_slot_fails_the_dock_check(planned):
    """No slot, or a slot overlapping another route's, fails the dock check."""
    day, p, ctx = planned
    route = p.routes[0]
    no_slot = replace(route, dock_id=None, slot_start=None, slot_end=None)
    assert "no dock slot" in _red(check_route(_facts(day, route, ctx, as_route=no_slot)),
                                  "dock_slot").what  # fmt: skip
    clash = check_route(_facts(day, route, ctx, dock_clash=("R-other",)))
    assert "R-other" in _red(clash, "dock_slot").what


def test_loading_incomplete_is_red_until_scanned_or_marked(planned):
    """3 of N scanned is red; all scanned or marked by hand is green."""
    day, p, ctx = planned
    route = p.routes[0]
    n = len(route.stops)
    partly = check_route(_facts(day, route, ctx, loading=Loading(3, n, dock_id="K1")))
    assert f"3 of {n}" in _red(partly, "loading").what
    marked = check_route(_facts(day, route, ctx, loading=Loading(3, n, marked_by="ann")))
    assert marked.check("loading").ok and "ann" in marked.check("loading").what


def test_an_order_past_the_cutoff_fails_and_a_supervisor_may_override(planned):
    """An order that came in after W1's cut-off on a W1 route is red; a supervisor's
    override with a reason lets the route go, and the override stays visible."""
    day, p, ctx = planned
    route = p.routes[0]
    late_id = route.stops[0].order_id
    orders = {o.id: (replace(o, received_at=at(6.5)) if o.id == late_id else o)
              for o in day.orders}  # fmt: skip
    gate = check_route(_facts(day, route, ctx, orders=orders))
    check = _red(gate, "cutoff")
    assert late_id in check.what and "W2" in check.fix
    override = Override("cutoff", "sam@desk", "goods on the dock, checked", at(6.9))
    gate = check_route(_facts(day, route, ctx, orders=orders, overrides={"cutoff": override}))
    assert gate.go and gate.overridden[0].override.reason == "goods on the dock, checked"


def test_a_missing_driver_cannot_be_overridden(planned):
    """Some reds are not a judgement call: no driver stays red whatever the override."""
    day, p, ctx = planned
    facts = _facts(day, p.routes[0], ctx, driver=None,
                   overrides={"driver": Override("driver", "sam", "trust me", at(7))})  # fmt: skip
    assert not check_route(facts).go


def test_vehicle_away_or_broken_down_is_red(planned):
    day, p, ctx = planned
    route = p.routes[0]
    assert (
        "km from the depot"
        in _red(check_route(_facts(day, route, ctx, vehicle_away_m=5200.0)), "vehicle").what
    )
    assert "breakdown" in _red(check_route(_facts(day, route, ctx, broken_down=True)),
                               "vehicle").what  # fmt: skip


def test_late_orders_go_to_the_next_wave():
    """An order in after W1's cut-off goes to W2; after every cut-off it is flagged."""
    base = small_day(n_orders=1).orders[0]
    order = replace(base, wave="W1", received_at=at(7.0))
    assert wave_for_order(order, [W1, W2]).wave == "W2"
    assert wave_for_order(order, [W1, W2]).moved_from == "W1"
    assert wave_for_order(replace(order, received_at=at(5)), [W1, W2]).wave == "W1"
    too_late = wave_for_order(replace(order, received_at=at(12)), [W1, W2])
    assert too_late.too_late and too_late.wave == "W1"
    assert wave_for_order(replace(order, received_at=None), [W1, W2]).wave == "W1"


def test_wave_of_a_departure():
    """A route goes with the first wave whose departure window is still open."""
    assert wave_for_departure(at(7.0), [W1, W2]) == "W1"
    assert wave_for_departure(at(8.0), [W1, W2]) == "W2"
    assert wave_for_departure(at(11.0), [W1, W2]) == ""


def test_wave_gate_status_follows_the_clock_and_releases(planned):
    """A wave is open before its cut-off, loading after, releasing, released, departed."""
    day, p, ctx = planned
    gates = [check_route(_facts(day, r, ctx)) for r in p.routes]
    assert wave_gate("W1", gates, W1, at(5)).status is WaveStatus.OPEN
    assert wave_gate("W1", gates, W1, at(6.5)).status is WaveStatus.LOADING
    one = [replace(gates[0], status=RouteStatus.RELEASED), *gates[1:]]
    assert wave_gate("W1", one, W1, at(6.9)).status is WaveStatus.RELEASING
    out = [replace(g, status=RouteStatus.ACTIVE) for g in gates]
    assert wave_gate("W1", out, W1, at(8)).status is WaveStatus.DEPARTED
    late = wave_gate("W1", gates, W1, at(8))
    assert late.late and late.go


def test_punctuality_per_route_and_wave():
    """Departures within the tolerance are on time; the wave's share counts departed ones."""
    recs = [
        DispatchRecord("A", "W1", at(7), at(6.9), at(7.05)),
        DispatchRecord("B", "W1", at(7.1), at(7.3), at(7.4)),
        DispatchRecord("C", "W1", at(7.2)),
    ]
    routes, waves = punctuality(recs)
    assert [r.on_time for r in routes] == [True, False, None]
    w = waves["W1"]
    assert (w.routes, w.released, w.released_in_time, w.departed, w.departed_on_time) == (
        3, 2, 1, 2, 1)  # fmt: skip
    assert w.on_time_share == 0.5


def test_order_received_at_must_be_aware():
    base = small_day(n_orders=1).orders[0]
    with pytest.raises(ValueError, match="received_at"):
        Order(**{**{f: getattr(base, f) for f in base.__dataclass_fields__},
                 "received_at": at(7).replace(tzinfo=None)})  # fmt: skip
    assert TZ is not None
