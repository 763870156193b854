"""Index-level solving: feasibility by the independent check, reasons, cancel, determinism."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import pytest

from bench.engine import midday, read_solomon
from engine.check import check
from engine.problem import NodeSpec
from engine.solver import SolveCallbacks, replan, solve
from tests.fixtures.scenarios import solomon_path


def first(name: str, n: int):
    """The first n customers of a Solomon instance."""
    return replace(read_solomon(solomon_path(name)), clients=tuple(range(1, n + 1)))


@pytest.mark.parametrize("name", ["C101", "R101", "RC201"])
def test_plan_small_solomon_is_feasible_and_complete(name):
    """Planning 25 customers serves all of them and passes the independent check."""
    problem = first(name, 25)
    sol = solve(problem, 0.5)
    assert not sol.unassigned
    assert check(problem, sol.routes, require_all=True) == []
    assert sol.feasible


def test_ortools_backend_also_feasible():
    """The OR-Tools backend alone solves R101's first 25 customers feasibly."""
    problem = first("R101", 25)
    sol = solve(problem, 1.0, backend="ortools")
    assert sol.solver == "ortools" and not sol.unassigned
    assert check(problem, sol.routes, require_all=True) == []


def test_unassigned_reasons_index_level():
    """Clients no vehicle can serve come back with the reason, the rest are served."""
    base = first("C101", 10)
    nodes = list(base.nodes)
    nodes[1] = replace(nodes[1], skills=frozenset({"crane"}))
    nodes[2] = replace(nodes[2], demand=(10_000.0,))
    nodes[3] = replace(nodes[3], windows=((0.0, 1.0),))  # the depot is further than 1 away
    sol = solve(replace(base, nodes=tuple(nodes)), 0.3)
    assert sol.unassigned == {1: "no_vehicle_with_skill", 2: "capacity", 3: "window_unreachable"}
    served = {n for r in sol.routes for n in r}
    assert served == set(range(4, 11))


def test_same_seed_same_result():
    """Fixed seed and iteration limit give the same routes twice."""
    problem = first("R101", 30)
    a = solve(problem, 60, seed=3, iterations=300)
    b = solve(problem, 60, seed=3, iterations=300)
    assert a.routes == b.routes


def test_stop_event_cancels_promptly():
    """Setting the stop event ends a 30-second solve within a second."""
    problem = read_solomon(solomon_path("R101"))
    event = threading.Event()
    timer = threading.Timer(0.3, event.set)
    timer.start()
    t = time.perf_counter()
    solve(problem, 30, stop_event=event)
    assert time.perf_counter() - t < 1.5


def test_progress_reports_improving_costs():
    """Progress callbacks see a non-increasing best cost."""
    seen = []

    class Record(SolveCallbacks):
        def on_progress(self, best_cost, elapsed_s):
            seen.append(best_cost)

    solve(first("C101", 25), 0.3, callbacks=Record())
    assert seen and seen == sorted(seen, reverse=True)


def _midday_r101(churn: float):
    problem = first("R101", 40)
    sol = solve(problem, 0.5, seed=1)
    mid = midday(problem, [list(r) for r in sol.routes], 0.4)
    return replace(mid, churn_penalty=churn)


def test_replan_starts_from_current_positions_and_keeps_locks():
    """Re-plan keeps locked clients on their vehicle and starts vehicles where they are."""
    mid = _midday_r101(0.0)
    locked = {r[0]: k for k, r in enumerate(mid.initial_routes) if r}
    mid = replace(mid, locks=locked)
    sol = replan(mid, 0.5)
    assert sol.feasible and not sol.unassigned
    for node, k in locked.items():
        assert node in sol.routes[k]
    assert any(
        v.start >= len(mid.nodes) - sum(1 for v in mid.vehicles if v.start != 0)
        for v in mid.vehicles
    )
    assert check(mid, sol.routes, require_all=True) == []


def test_replan_keeps_locked_order():
    """Stops locked in order stay on their vehicle in that order, even reversed from before."""
    mid = _midday_r101(0.0)
    k, route = next((k, r) for k, r in enumerate(mid.initial_routes) if len(r) >= 3)
    seq = (route[1], route[0])  # ask for the reverse of the current order
    mid = replace(mid, locks={n: k for n in seq}, sequences={k: seq})
    sol = replan(mid, 0.5)
    r = list(sol.routes[k])
    for n in seq:
        assert n in r or n in sol.unassigned  # never silently elsewhere
    if seq[0] in r and seq[1] in r:
        assert r.index(seq[0]) < r.index(seq[1])
    kept = (route[0], route[2])
    mid = replace(mid, locks={n: k for n in kept}, sequences={k: kept})
    r = list(replan(mid, 0.5).routes[k])
    assert kept[0] in r and kept[1] in r and r.index(kept[0]) < r.index(kept[1])


def test_replan_first_feasible_is_fast():
    """The warm-started re-plan reports a feasible solution within 50 ms."""
    times = []

    class First(SolveCallbacks):
        def on_progress(self, best_cost, elapsed_s):
            times.append(elapsed_s)

    replan(_midday_r101(0.0), 0.3, callbacks=First())
    assert times and times[0] < 0.05


def test_churn_penalty_reduces_moved_stops():
    """A high churn penalty moves fewer stops between vehicles than none."""

    def moved(churn: float) -> int:
        mid = _midday_r101(churn)
        sol = replan(mid, 0.5, iterations=2000)
        before = mid.initial_vehicle()
        return sum(1 for k, r in enumerate(sol.routes) for n in r if before.get(n) != k)

    assert moved(1000.0) <= moved(0.0)
    assert moved(1000.0) == 0


@pytest.mark.parametrize("backend", ["pyvrp", "ortools"])
def test_client_with_two_windows_is_served_in_one(backend):
    """A client with two windows is served within one of them, by either backend."""
    problem = first("C101", 8)
    nodes = list(problem.nodes)
    a, b = nodes[1].windows[0]
    nodes[1] = NodeSpec(nodes[1].demand, ((0.0, 1.0), (a, b)), nodes[1].service)
    problem = replace(problem, nodes=tuple(nodes))
    sol = solve(problem, 0.5, backend=backend)
    assert sol.solver == backend and not sol.unassigned
    assert check(problem, sol.routes, require_all=True) == []


@pytest.mark.parametrize("backend", ["pyvrp", "ortools"])
def test_several_depots_and_a_mixed_fleet(backend):
    """Vehicles from two depots with different capacities and costs plan feasibly."""
    base = first("R101", 30)
    small = replace(base.vehicles[0], start=50, end=50, capacity=(100.0,), distance_cost=2.0)
    big = replace(base.vehicles[0], fixed_cost=10.0)
    problem = replace(base, vehicles=(big,) * 10 + (small,) * 10)
    sol = solve(problem, 0.5, backend=backend)
    assert not sol.unassigned and check(problem, sol.routes, require_all=True) == []
    assert sol.solver == backend
