"""Dock slots: no overlap per dock, loading after the cut-off, departures staggered, and
what scarce docks do to departures and lateness."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import timedelta

import pytest

from engine.model import Dock, Plan, Wave
from engine.planning import Snapshot, context, plan
from engine.release import (
    SlotRequest,
    overlaps,
    plan_slots,
    requests_for,
    retime,
    scarcity,
)
from engine.travel import HaversineTravelModel
from tests.fixtures.scenarios import at, small_day

TRAVEL = HaversineTravelModel()
DOCKS = (
    Dock("K1", "Dock 1"),
    Dock("K2", "Dock 2"),
    Dock("K3", "Dock 3", load_minutes_per_order=2.0),
)
W1 = Wave("W1", "D1", at(5.5), at(7.0), at(7.75))
W2 = Wave("W2", "D1", at(8.5), at(10.0), at(10.75), docks=("K1", "K2"))


def _no_overlap(sp) -> None:
    for dock in DOCKS:
        slots = sp.on_dock(dock.id)
        for a, b in zip(slots, slots[1:], strict=False):
            assert a.end <= b.start, f"{a.route_id} and {b.route_id} overlap at {dock.id}"


def test_every_route_gets_a_slot_without_overlap_and_after_the_cutoff():
    """Twelve routes of two waves on three docks: each gets a slot, none overlap at a dock,
    loading starts after its wave's cut-off and ends before the route leaves."""
    reqs = [SlotRequest(f"R{i}", "W1" if i < 8 else "W2", 10 + i, at(7.0)) for i in range(12)]
    sp = plan_slots(reqs, DOCKS, [W1, W2])
    assert set(sp.slots) == {r.route_id for r in reqs} and not sp.unplaced
    _no_overlap(sp)
    for slot in sp.slots.values():
        wave = W1 if slot.wave == "W1" else W2
        assert slot.start >= wave.cutoff
        assert slot.load_end <= slot.departure
        assert slot.departure >= wave.depart_from
        if slot.wave == "W2":
            assert slot.dock_id in W2.docks  # the wave's own docks only


def test_departures_of_a_wave_are_staggered():
    """Departures within a wave are at least the stagger apart."""
    reqs = [SlotRequest(f"R{i}", "W1", 5, at(7.0)) for i in range(6)]
    sp = plan_slots(reqs, DOCKS, [W1], stagger_minutes=4)
    departures = sorted(s.departure for s in sp.slots.values())
    gaps = [(b - a).total_seconds() for a, b in zip(departures, departures[1:], strict=False)]
    assert min(gaps) >= 240


def test_a_slow_dock_takes_longer_and_a_held_dock_is_kept():
    """The slow dock's slots are longer for the same load; a route holding a dock keeps it."""
    sp = plan_slots([SlotRequest("A", "W1", 10, at(7.0), dock_id="K3")], DOCKS, [W1])
    slot = sp.slots["A"]
    assert slot.dock_id == "K3"
    assert (slot.load_end - slot.load_start) == timedelta(minutes=20)  # 10 orders x 2 min


def test_a_started_slot_does_not_move():
    """A route whose loading started keeps its slot; others plan around it."""
    fixed = (at(6.0), at(6.5))
    reqs = [SlotRequest("A", "W1", 10, at(7.0), dock_id="K1", fixed=fixed)]
    reqs += [SlotRequest(f"B{i}", "W1", 10, at(6.5)) for i in range(4)]
    sp = plan_slots(reqs, DOCKS[:1], [replace(W1, depart_from=at(6.0))])
    assert (sp.slots["A"].start, sp.slots["A"].end) == fixed
    _no_overlap(sp)


def test_a_wave_naming_no_known_dock_is_reported():
    """A wave whose docks the depot does not have leaves its routes unplaced, with why."""
    sp = plan_slots([SlotRequest("A", "W9", 5, at(7.0))], DOCKS,
                    [Wave("W9", "D1", at(5), at(7), at(8), docks=("nope",))])  # fmt: skip
    assert "nope" in sp.unplaced["A"]


def test_overlaps_names_both_routes():
    """Two slots that overlap at one dock name each other; touching slots do not."""
    rows = [("A", "K1", at(6), at(6.5)), ("B", "K1", at(6.25), at(7)),
            ("C", "K1", at(7), at(7.5)), ("D", "K2", at(6), at(7))]  # fmt: skip
    assert overlaps(rows) == {"A": ("B",), "B": ("A",)}


@pytest.fixture(scope="module")
def day_and_plan():
    day = small_day(n_orders=30, n_vehicles=4)
    return day, plan(day, TRAVEL, depot_id="D1", time_limit_s=0.5)


def test_retime_moves_departures_to_the_slot_and_reports_lateness(day_and_plan):
    """Retimed routes leave at their slot's departure, hold their dock and slot, and their
    stops' planned times follow; lateness before and after is reported."""
    day, p = day_and_plan
    ctx = context(Snapshot(day, Plan(p.id, p.depot_id, p.day)), TRAVEL)
    waves = {"W1": W1}
    p = replace(p, routes=tuple(replace(r, wave="W1") for r in p.routes))
    sp = plan_slots(requests_for(p), DOCKS, waves)
    timed = retime(ctx, p, sp)
    for route in timed.plan.routes:
        if not route.stops:
            continue
        slot = sp.slots[route.id]
        assert route.start == slot.departure and route.dock_id == slot.dock_id
        assert (route.slot_start, route.slot_end) == (slot.start, slot.end)
        assert route.stops[0].planned_arrival > route.start
    assert timed.lateness_after_s >= timed.lateness_before_s >= 0


def test_scarce_docks_delay_departures(day_and_plan):
    """With fewer docks the routes leave later; the report has a row per dock count."""
    day, p = day_and_plan
    ctx = context(Snapshot(day, Plan(p.id, p.depot_id, p.day)), TRAVEL)
    p = replace(p, routes=tuple(replace(r, wave="W1") for r in p.routes))
    tight = replace(W1, cutoff=at(6.5))  # half an hour to load before the wave leaves
    rows = scarcity(ctx, p, requests_for(p), DOCKS, {"W1": tight})
    assert [r.docks for r in rows] == [3, 2, 1]
    assert rows[-1].total_delay_s > rows[0].total_delay_s
    assert rows[-1].lateness_s >= rows[0].lateness_s


def test_a_replan_keeps_the_departure_a_slot_allows(day_and_plan):
    """Re-planning a slotted route keeps its departure: it cannot leave before loading ends."""
    from engine.planning import replan

    day, p = day_and_plan
    ctx = context(Snapshot(day, Plan(p.id, p.depot_id, p.day)), TRAVEL)
    slotted = retime(ctx, p, plan_slots(requests_for(p), DOCKS, {"W1": W1})).plan
    proposal = replan(Snapshot(day, slotted), TRAVEL, time_limit_s=0.3)
    departs = {r.vehicle_id: r.start for r in slotted.routes if r.stops}
    for route in proposal.plan.routes:
        if route.stops and route.vehicle_id in departs:
            assert route.start >= departs[route.vehicle_id] - timedelta(seconds=1)
            assert route.dock_id is not None


def test_sixty_routes_on_six_docks_all_get_slots():
    """60 routes of two waves on 6 docks all get a slot, without overlap (the time it
    takes is measured by ``bench/release.py``)."""
    rnd = random.Random(3)
    docks = [Dock(f"K{i}") for i in range(6)]
    reqs = [SlotRequest(f"R{i}", rnd.choice(["W1", "W2"]), rnd.randint(8, 30),
                        at(7 + rnd.random() * 3)) for i in range(60)]  # fmt: skip
    sp = plan_slots(reqs, docks, [W1, replace(W2, docks=())])
    assert len(sp.slots) == 60
    for dock in docks:
        slots = sp.on_dock(dock.id)
        assert all(a.end <= b.start for a, b in zip(slots, slots[1:], strict=False))
