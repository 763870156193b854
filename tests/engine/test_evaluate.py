"""Route evaluation: hand-computed ETAs, violations, and speed."""

from __future__ import annotations

import time

import numpy as np
import pytest

from engine.evaluate import evaluate
from engine.problem import BreakSpec, NodeSpec, Problem, VehicleSpec


def line_problem(break_: BreakSpec | None = None, latest: float = 120.0) -> Problem:
    """Depot at 0, clients at 10, 20, 30 on a line; travel time = distance."""
    xs = np.array([0.0, 10.0, 20.0, 30.0])
    dist = np.abs(xs[:, None] - xs[None, :])
    nodes = (
        NodeSpec(name="depot"),
        NodeSpec(demand=(4.0,), windows=((0.0, 100.0),), service=5.0, name="a"),
        NodeSpec(demand=(3.0,), windows=((40.0, 50.0),), service=5.0, name="b"),
        NodeSpec(demand=(5.0,), windows=((0.0, 45.0),), service=5.0, name="c"),
    )
    vehicle = VehicleSpec(
        start=0, end=0, capacity=(10.0,), earliest=0.0, latest=latest, break_=break_
    )
    return Problem(dist, dist, nodes, (vehicle,), (1, 2, 3))


def test_evaluate_matches_hand_computed_route():
    """ETAs, waiting, lateness, loads and overrun match a route worked out by hand."""
    ev = evaluate(line_problem(), 0, [1, 2, 3])
    # a: arrive 10, serve 10-15; b: arrive 25, wait to 40, serve 40-45; c: arrive 55 > 45.
    assert ev.arrivals == (10.0, 25.0, 55.0)
    assert ev.starts == (10.0, 40.0, 55.0)
    assert ev.waiting == (0.0, 15.0, 0.0)
    assert ev.lateness == {2: 10.0}
    assert ev.loads == ((12.0,), (8.0,), (5.0,), (0.0,))
    assert ev.capacity_excess == (2.0,)
    assert ev.end_time == 90.0 and ev.distance == 60.0 and ev.shift_overrun == 0.0
    assert not ev.feasible


def test_evaluate_places_breaks_and_reports_shift_overrun():
    """A break is taken after the route when it may be, else on the way; overruns are reported."""
    # a 10-15, c 35-40, back at 70: a break that may still start at 70 comes after the route.
    ev = evaluate(line_problem(BreakSpec(60.0, 70.0, 40.0)), 0, [1, 3])
    assert ev.break_start == 70.0 and ev.end_time == 70.0 and ev.feasible
    # It must start by 65: taken on the way back at 60, home at 110.
    ev = evaluate(line_problem(BreakSpec(60.0, 65.0, 40.0)), 0, [1, 3])
    assert ev.break_start == 60.0 and ev.end_time == 110.0 and ev.shift_overrun == 0.0
    ev = evaluate(line_problem(BreakSpec(60.0, 65.0, 40.0), latest=100.0), 0, [1, 3])
    assert ev.shift_overrun == 10.0 and not ev.feasible


def test_evaluate_forty_stops_under_a_millisecond():
    """A 40-stop route evaluates in well under 1 ms (live drag feedback)."""
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 100, size=(41, 2))
    dist = np.sqrt(((xy[:, None] - xy[None]) ** 2).sum(-1))
    nodes = (NodeSpec(),) + tuple(
        NodeSpec(demand=(1.0, 0.5), windows=((0.0, 500.0), (800.0, 2000.0)), service=10.0)
        for _ in range(40)
    )
    v = VehicleSpec(0, 0, (100.0, 100.0), 0.0, 3000.0, break_=BreakSpec(600.0, 900.0, 30.0))
    p = Problem(dist, dist, nodes, (v,), tuple(range(1, 41)), dimensions=("kg", "m3"))
    seq = list(range(1, 41))
    evaluate(p, 0, seq)
    runs = 2000
    t = time.perf_counter()
    for _ in range(runs):
        evaluate(p, 0, seq)
    per_call = (time.perf_counter() - t) / runs
    assert per_call < 1e-3, f"{per_call * 1e6:.0f} us per 40-stop evaluation"


def test_break_retries_skip_only_legs_a_later_one_beats():
    """Legs with no waiting at their stop are not tried for the break when the next leg is
    still in time: the schedule is never worse than trying every leg, on random routes."""
    import random
    from dataclasses import replace as _replace

    import engine.evaluate as E
    from bench.vrptw import read_solomon
    from engine.problem import BreakSpec
    from tests.fixtures.scenarios import solomon_path

    def every_leg(problem, sequence):  # the rules without the skip
        ctx, v = E.context(problem), problem.vehicles[0]
        ev, leg = E._simulate(ctx, v, sequence, -1)
        if ev.feasible or (ev.lateness and min(ev.lateness) < leg):
            return ev
        b = v.break_
        for i in range(min(leg, len(sequence)), -1, -1):
            if (ev.departures[i - 1] if i > 0 else v.earliest) > b.latest:
                continue
            if (ev.arrivals[i] if i < len(sequence) else ev.end_time) < b.earliest:
                break
            other, _ = E._simulate(ctx, v, sequence, i)
            if E._badness(other) < E._badness(ev):
                ev = other
                if ev.feasible:
                    break
        return ev

    rnd = random.Random(1)
    base = read_solomon(solomon_path("R101"))
    horizon = base.vehicles[0].latest
    for _ in range(1500):
        a = rnd.uniform(0, horizon * 0.7)
        brk = BreakSpec(a, a + rnd.uniform(0, horizon * 0.2), rnd.uniform(5, horizon * 0.08))
        problem = _replace(base, vehicles=(_replace(base.vehicles[0], break_=brk),))
        seq = rnd.sample(base.clients, rnd.randint(1, 14))
        if rnd.random() < 0.5:
            seq.sort(key=lambda n: base.nodes[n].windows[0][0])
        pruned, full = E.evaluate(problem, 0, seq), every_leg(problem, seq)
        assert pruned.feasible == full.feasible
        assert E._badness(pruned) == pytest.approx(E._badness(full), abs=1e-6)
