"""Index-level solving: feasibility by the independent check, reasons, cancel, determinism."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import pytest

from bench.vrptw import midday, read_solomon
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


def test_ortools_reports_the_best_solutions_quality_while_it_searches():
    """While OR-Tools searches, the best solution's served stops, lateness and distance
    are reported (at most every few seconds); the first one at once, and the served count
    never exceeds the clients."""
    from engine.solver.callbacks import quality

    problem = first("R101", 40)
    seen = []

    class Record(SolveCallbacks):
        def on_quality(self, best, elapsed_s):
            seen.append(best)

    sol = solve(problem, 30.0, callbacks=Record(), backend="ortools", iterations=50)
    assert seen, "no quality reported"
    assert all(q.clients == 40 and 0 < q.served <= 40 for q in seen)
    assert all(q.distance_m > 0 and q.lateness_s >= 0 for q in seen)
    final = quality(problem, sol.routes)
    assert final.served == 40 - len(sol.unassigned)
    assert final.distance_m == pytest.approx(sol.distance)


def test_pyvrp_reports_the_best_plans_quality_while_it_searches(monkeypatch):
    """A plan from scratch on PyVRP (no breaks) reports the best plan's served stops,
    lateness and distance while it searches: the first one at the first feasible plan,
    early, then as it improves, never more often than the throttle allows."""
    from engine.solver import pyvrp_backend

    monkeypatch.setattr(pyvrp_backend, "QUALITY_EVERY_S", 0.2)
    problem = first("R101", 100)
    seen = []

    class Record(SolveCallbacks):
        def on_phase(self, name):
            assert name == "pyvrp"

        def on_quality(self, best, elapsed_s):
            seen.append((elapsed_s, best))

    t = time.perf_counter()
    sol = solve(problem, 2.0, callbacks=Record())
    took = time.perf_counter() - t
    assert sol.solver == "pyvrp"
    assert len(seen) >= 2, seen
    assert seen[0][0] < 1.0 < took  # the first feasible plan, well before the end
    assert all(b[0] - a[0] > 0.19 for a, b in zip(seen, seen[1:], strict=False))
    assert all(q.clients == 100 and 0 < q.served <= 100 and q.distance_m > 0 for _, q in seen)
    assert all(q.lateness_s == 0 for _, q in seen)  # PyVRP keeps the windows


def test_a_plan_with_breaks_reports_quality_while_pyvrp_searches(monkeypatch):
    """With breaks, PyVRP searches the problem with shorter shifts before OR-Tools takes
    over: the best plan's quality is reported during that search too, not only at its
    first plan and at its end."""
    from engine.problem import BreakSpec
    from engine.solver import pyvrp_backend

    monkeypatch.setattr(pyvrp_backend, "QUALITY_EVERY_S", 0.2)
    base = first("R101", 100)
    vehicles = tuple(replace(v, break_=BreakSpec(60.0, 160.0, 10.0)) for v in base.vehicles)
    problem = replace(base, vehicles=vehicles)
    phases: list[str] = []
    seen = []

    class Record(SolveCallbacks):
        def on_phase(self, name):
            phases.append(name)

        def on_quality(self, best, elapsed_s):
            seen.append((phases[-1], elapsed_s, best))

    solve(problem, 3.0, callbacks=Record())
    assert phases[:2] == ["pyvrp", "ortools"]
    searching = [(t, q) for phase, t, q in seen if phase == "pyvrp"]
    assert len(searching) >= 4, seen  # first plan, more than one while searching, its end
    assert all(q.clients == 100 and q.served > 0 for _, q in searching)


def test_pyvrp_progress_cost_is_the_plans_with_orders_of_two_windows():
    """An optional order with two windows is two PyVRP clients of which one is visited:
    the progress cost is the plan's objective, without the other window's prize."""
    from engine.solver import objective, pyvrp_backend

    problem = first("R101", 40)
    nodes = list(problem.nodes)
    for n in problem.clients:
        a, b = nodes[n].windows[0]
        windows = ((a, b),) if n % 2 else ((a, b), (b + 20.0, b + 40.0))
        nodes[n] = replace(nodes[n], penalty=500.0, windows=windows)
    problem = replace(problem, nodes=tuple(nodes))
    seen = []

    class Record(SolveCallbacks):
        def on_progress(self, best_cost, elapsed_s):
            seen.append(best_cost)

    routes, ok = pyvrp_backend.solve_pyvrp(
        problem, problem.clients, float("inf"), iterations=300, callbacks=Record()
    )
    assert ok and sum(map(len, routes)) == 40
    assert seen[-1] == pytest.approx(objective(problem, routes), rel=1e-3)


def test_pyvrp_search_that_reports_quality_finds_pyvrps_own_routes(monkeypatch):
    """Reporting the best plan's quality does not change the search: with the same seed
    and iterations the routes are those of ``pyvrp.solve``."""
    from pyvrp import solve as pyvrp_solve
    from pyvrp.stop import MaxIterations

    from engine.solver import pyvrp_backend

    monkeypatch.setattr(pyvrp_backend, "QUALITY_EVERY_S", 0.0)  # at every new best
    problem = first("RC201", 60)
    seen = []

    class Record(SolveCallbacks):
        def on_quality(self, best, elapsed_s):
            seen.append(best)

    model = pyvrp_backend.build(problem, problem.clients)
    for seed in (1, 2):
        seen.clear()
        routes, ok = pyvrp_backend.solve_pyvrp(
            problem, problem.clients, float("inf"), callbacks=Record(), seed=seed,
            iterations=400, model=model,
        )  # fmt: skip
        plain = pyvrp_solve(model.data, MaxIterations(400), seed=seed, collect_stats=False)
        assert ok and routes == model.routes(plain.best)
        assert len(seen) >= 2
        final = pyvrp_backend.quality(problem, routes)
        assert seen[-1] == final  # the last report is the plan found


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


def test_replan_reports_feasible_plans_that_only_improve():
    """The warm-started re-plan reports a feasible plan (its first: continuing, with the
    displaced stops put where they cost least), and each later report improves on the one
    before. How fast the first comes is measured by ``python -m bench.engine --replan``
    (first feasible, CPU and wall), not by a timed test."""
    reports = []

    class First(SolveCallbacks):
        def on_progress(self, best_cost, elapsed_s):
            reports.append((elapsed_s, best_cost))

    replan(_midday_r101(0.0), 0.3, callbacks=First())
    assert reports, "no feasible plan was reported"
    costs = [c for _, c in reports]
    assert all(b <= a + 1e-6 for a, b in zip(costs, costs[1:], strict=False))


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


def _brute_reason(problem, node):
    """The reason from the rules alone: every vehicle tried on its own with ``evaluate``."""
    from engine.evaluate import evaluate
    from engine.problem import TOLERANCE

    ks = [k for k in range(problem.num_vehicles) if problem.allowed(node, k)]
    if node in problem.locks:
        ks = [k for k in ks if k == problem.locks[node]]
    if not ks:
        return "no_vehicle_with_skill"
    dims = len(problem.dimensions)
    ks = [
        k
        for k in ks
        if all(
            problem.demand(node)[d] <= problem.vehicles[k].free_capacity(dims)[d] + TOLERANCE
            for d in range(dims)
        )
    ]
    if not ks:
        return "capacity"
    evs = [evaluate(problem, k, [node]) for k in ks]
    if any(ev.feasible for ev in evs):
        return None
    return "window_unreachable" if all(ev.lateness for ev in evs) else "shift"


def test_diagnosis_by_vehicle_type_matches_every_vehicle_alone():
    """Diagnosing once per vehicle type gives each client the reason trying every vehicle
    gives, on a fleet with mixed starts, shifts, capacities, skills, breaks and locks."""
    import random

    from engine.problem import BreakSpec
    from engine.solver.diagnose import diagnose

    rnd = random.Random(5)
    base = first("R101", 60)
    horizon = base.vehicles[0].latest
    vehicles = []
    for k in range(12):
        v = base.vehicles[0]
        vehicles.append(
            replace(
                v,
                start=rnd.choice([0, 0, 7, 31]),
                earliest=rnd.choice([0.0, 40.0, 120.0]),
                latest=rnd.choice([horizon, horizon * 0.6, 150.0]),
                capacity=(rnd.choice([200.0, 30.0]),),
                initial_load=(rnd.choice([0.0, 20.0]),),
                skills=frozenset(rnd.sample(["cold", "lift"], rnd.randint(0, 2))),
                break_=BreakSpec(50.0, 90.0, 15.0) if k % 3 == 0 else None,
            )
        )
    nodes = list(base.nodes)
    for n in base.clients:
        a, b = nodes[n].windows[0]
        nodes[n] = replace(
            nodes[n],
            skills=frozenset(rnd.sample(["cold", "lift", "crane"], rnd.choice([0, 0, 0, 1]))),
            windows=((a, b),) if n % 4 else ((a, b), (b + 20.0, b + 40.0)),
            demand=(rnd.choice([5.0, 25.0, 250.0]),),
        )
    locks = {n: rnd.randrange(12) for n in rnd.sample(base.clients, 8)}
    problem = replace(base, vehicles=tuple(vehicles), nodes=tuple(nodes), locks=locks)
    expected = {n: r for n in problem.clients if (r := _brute_reason(problem, n)) is not None}
    assert len(set(expected.values())) >= 3  # the case covers several reasons
    assert diagnose(problem) == expected


def test_replan_returns_the_best_candidate_and_reports_them():
    """The re-plan's result is the best of continuing, the local repair and the fresh solve
    by the objective (route costs plus churn), never worse than continuing."""
    from engine.solver import objective

    mid = _midday_r101(0.0)
    sol = replan(mid, 60, iterations=300)
    assert set(sol.candidates) == {"continue", "repair", "fresh"}
    assert sol.candidates["repair"] <= sol.candidates["continue"] + 1e-6
    assert sol.solver == min(sol.candidates, key=sol.candidates.get)
    assert sol.cost == pytest.approx(min(sol.candidates.values()))
    assert objective(mid, sol.routes) <= sol.candidates["continue"] + 1e-6
    assert check(mid, sol.routes, require_all=True) == []


def test_replan_takes_a_broken_down_vehicles_stops():
    """With a vehicle gone, the first solution already serves its stops elsewhere, and the
    re-plan keeps every stop served."""
    mid = _midday_r101(0.0)
    k = max(range(mid.num_vehicles), key=lambda j: len(mid.initial_routes[j]))
    keep = [j for j in range(mid.num_vehicles) if j != k]
    broken = replace(
        mid,
        vehicles=tuple(mid.vehicles[j] for j in keep),
        initial_routes=tuple(mid.initial_routes[j] for j in keep),
    )
    costs = []

    class First(SolveCallbacks):
        def on_progress(self, best_cost, elapsed_s):
            costs.append(best_cost)

    sol = replan(broken, 60, callbacks=First(), iterations=200)
    assert costs and costs == sorted(costs, reverse=True)
    assert not sol.unassigned and check(broken, sol.routes, require_all=True) == []


def test_resolve_keeps_locks_through_pyvrp():
    """Locks are routing profiles for PyVRP: its solution keeps every locked stop on
    its vehicle, as the final answer does."""
    from engine.solver import pyvrp_backend

    mid = _midday_r101(0.0)
    locked = {r[-1]: k for k, r in enumerate(mid.initial_routes) if r}
    mid = replace(mid, locks=locked)
    assert pyvrp_backend.supports(mid)
    routes, _ = pyvrp_backend.solve_pyvrp(mid, mid.clients, float("inf"), iterations=200)
    for node, k in locked.items():
        assert node in routes[k]


def test_unchurn_moves_stops_back_when_churn_is_dear():
    """A stop moved off its vehicle goes back when the churn penalty outweighs the saving."""
    from engine.solver import unchurn

    mid = _midday_r101(0.0)
    k = next(k for k, r in enumerate(mid.initial_routes) if len(r) >= 2)
    j = next(j for j in range(mid.num_vehicles) if j != k)
    node = mid.initial_routes[k][0]
    routes = [list(r) for r in mid.initial_routes]
    routes[k].remove(node)
    routes[j].append(node)
    cheap = unchurn(replace(mid, churn_penalty=0.0), routes)
    dear = unchurn(replace(mid, churn_penalty=1e6), routes)
    assert node in cheap[j]
    assert node in dear[k] and check(mid, dear) == []


def test_ortools_starts_from_the_part_of_a_late_start_it_accepts(caplog):
    """A starting route the integer model would refuse (here: reversed, so late) is cut to
    what it accepts before it is read, instead of the whole warm start being thrown away;
    the search puts the cut stops back."""
    import logging

    from engine.solver.ortools_backend import solve_ortools

    mid = _midday_r101(0.0)
    start = [list(r) for r in mid.initial_routes]
    k = max(range(len(start)), key=lambda j: len(start[j]))
    start[k] = start[k][::-1]
    assert check(mid, start)
    with caplog.at_level(logging.INFO, logger="engine.solver.ortools_backend"):
        routes = solve_ortools(
            mid, mid.clients, float("inf"), initial_routes=start, solution_limit=50
        )
    assert routes is not None and check(mid, routes) == []
    assert "refused" not in caplog.text
    assert {n for r in routes for n in r} >= {n for r in start for n in r if r is not start[k]}


def test_pyvrp_starts_from_given_routes():
    """Warm-started from the current routes (a client with two windows in the second),
    PyVRP's first answer is never longer than them."""
    from engine.problem import total_distance
    from engine.solver import continuing, pyvrp_backend

    mid = _midday_r101(0.0)
    k, route = next((k, r) for k, r in enumerate(mid.initial_routes) if len(r) >= 3)
    nodes = list(mid.nodes)
    a, b = nodes[route[1]].windows[0]
    nodes[route[1]] = NodeSpec(
        nodes[route[1]].demand, ((0.0, 1.0), (a, b)), nodes[route[1]].service
    )
    mid = replace(mid, nodes=tuple(nodes))
    start = continuing(mid)
    routes, ok = pyvrp_backend.solve_pyvrp(
        mid, mid.clients, float("inf"), iterations=1, initial_routes=start
    )
    assert ok and check(mid, routes, require_all=True) == []
    assert total_distance(mid, routes) <= total_distance(mid, start) + 1e-6


@pytest.mark.parametrize("name", ["R211", "RC201"])
def test_replan_is_never_longer_than_a_plain_fresh_pyvrp_solve(name):
    """After a new urgent order and a breakdown at 40 % of the day, the re-plan is no longer
    than plain PyVRP solving the same mid-day problem with the same seed and iterations:
    its fresh candidate is that very search (the same routes), and it keeps the best."""
    from bench.vrptw import disrupt, per_vehicle, plain_pyvrp_problem, read_points
    from engine.problem import total_distance

    problem = read_solomon(solomon_path(name))
    cold = solve(problem, 60, iterations=200, seed=0)
    mid = midday(problem, per_vehicle(problem, [list(r) for r in cold.routes]), 0.4)
    mid = disrupt(mid, read_points(solomon_path(name)), ["urgent", "breakdown"], seed=7)
    plain = plain_pyvrp_problem(mid, 60, seed=0, iterations=400)
    assert check(mid, plain.routes, require_all=True) == []
    sol = replan(mid, 60, seed=0, iterations=400)
    assert check(mid, sol.routes, require_all=True) == [] and not sol.unassigned
    assert sol.candidates["fresh"] == pytest.approx(total_distance(mid, plain.routes))
    assert sol.distance <= total_distance(mid, plain.routes) + 1e-6
    assert sol.distance <= sol.candidates["continue"] + 1e-6
    # More iterations (more time) than the plain solve: its search, gone on further.
    longer = replan(mid, 60, seed=0, iterations=1200)
    assert longer.candidates["fresh"] <= sol.candidates["fresh"] + 1e-6
    assert longer.distance <= total_distance(mid, plain.routes) + 1e-6


def test_a_replan_set_up_leaves_its_fresh_search_the_whole_limit(monkeypatch):
    """The set-up before the fresh search (continuing, the model, the repair) does not come
    out of the search: it still searches the whole limit from its first iteration, as long
    as a plain PyVRP solve with that limit, so with the same seed it is never shorter for
    lack of time. Here the call's cap for the search's extra share is the limit itself
    (no overrun share), as a slow set-up on a busy machine leaves it: before, the search
    ended there, the set-up's time short of the plain solve's."""
    import engine.solver as solver

    monkeypatch.setattr(solver, "REPLAN_OVER_SHARE", 0.0)
    sol = replan(_midday_r101(0.0), 2.0, seed=0)
    assert sol.feasible and not sol.unassigned
    assert sol.search["seconds"] >= 2.0 and sol.search["iterations"] > 0


def test_a_slow_replan_set_up_still_keeps_the_whole_call_within_its_limit(monkeypatch):
    """Where the set-up took so long (here continuing, slowed down to 0.3 s of a 1 s limit)
    that a whole limit of search would pass limit x 1.05, the search gives way: the call
    still ends within the limit a user set, 5 % over at the most."""
    import engine.solver as solver

    mid = _midday_r101(0.0)
    real = solver.continuing

    def slow(problem):
        time.sleep(0.3)
        return real(problem)

    monkeypatch.setattr(solver, "continuing", slow)
    sol = replan(mid, 1.0, seed=0)
    assert sol.feasible and not sol.unassigned
    assert sol.search["seconds"] < 0.8  # gave way: not the whole limit on top of the set-up
    assert 1.0 <= sol.seconds <= 1.1


def test_ortools_reads_the_current_routes_when_every_vehicle_has_left_the_depot(capfd):
    """Mid-day, with every vehicle on the road (the depot only an end), OR-Tools starts
    from the routes as given: with a one-solution limit it hands them back unchanged, and
    nothing is printed on stderr (the routes were read as node numbers, so its model saw
    other stops, or indices past its last, and printed "Invalid index")."""
    from engine.solver.ortools_backend import solve_ortools

    problem = first("R101", 40)
    cold = solve(problem, 60, seed=1, iterations=300)
    mid = midday(problem, [list(r) for r in cold.routes if r], 0.4)
    assert all(v.start != 0 for v in mid.vehicles)  # all on the road: node 0 is only an end
    start = [list(r) for r in mid.initial_routes]
    assert check(mid, start) == []
    routes = solve_ortools(mid, mid.clients, float("inf"), initial_routes=start, solution_limit=1)
    assert routes == start
    assert "Invalid index" not in capfd.readouterr().err


@pytest.mark.parametrize("mid", [False, True])
def test_pyvrp_model_has_each_pair_of_its_nodes_distance_and_travel_time(mid):
    """PyVRP's model, of a whole day or of a mid-day problem (served stops gone, vehicles
    where they are), has between each pair of its nodes the problem's own distance and
    travel time in its integer units: rounded to nearest, and up."""
    import numpy as np

    from engine.solver.pyvrp_backend import build
    from engine.solver.scaling import dist_scale, time_scale

    problem = _midday_r101(0.0) if mid else read_solomon(solomon_path("R101"))
    model = build(problem, problem.clients)
    depots = sorted({v.start for v in problem.vehicles} | {v.end for v in problem.vehicles})
    nodes = np.array(depots + list(problem.clients))
    assert mid == (len(nodes) < len(problem.nodes))
    for a, b in [(0, 1), (1, 0), (len(nodes) - 1, 2), (3, len(nodes) - 1)]:
        i, j = nodes[a], nodes[b]
        assert model.data.distance_matrix(0)[a, b] == round(
            problem.distance[i, j] * dist_scale(problem)
        )
        assert model.data.duration_matrix(0)[a, b] == int(
            np.ceil(problem.duration[i, j] * time_scale(problem) - 1e-7)
        )


def test_a_vehicle_keeps_its_order_when_a_new_one_gains_less_than_the_churn():
    """A re-plan that only re-orders a vehicle's own stops for less than moving one stop
    would be worth keeps the current order (the driver is not sent a new sequence for
    next to nothing); with a saving above the churn penalty the new order stands."""
    from engine.check import route_cost
    from engine.solver import keep_order

    mid = _midday_r101(0.0)
    k = next(k for k, r in enumerate(mid.initial_routes) if len(r) >= 2)
    current = list(mid.initial_routes[k])
    swapped = current[:]
    swapped[-1], swapped[-2] = swapped[-2], swapped[-1]  # another order of the same stops
    routes = [list(r) for r in mid.initial_routes]
    routes[k] = swapped
    gain = route_cost(mid, k, current) - route_cost(mid, k, swapped)
    kept = keep_order(replace(mid, churn_penalty=max(gain, 0.0) + 1.0), routes)
    assert kept[k] == current and check(mid, kept) == []
    assert keep_order(replace(mid, churn_penalty=0.0), routes)[k] == swapped
    if gain > 0:  # the swap is cheaper: above the penalty it stands
        assert keep_order(replace(mid, churn_penalty=gain / 2), routes)[k] == swapped
    # Stops that came or went: the order is the new route's own.
    grown = [list(r) for r in routes]
    other = next(j for j in range(mid.num_vehicles) if j != k and mid.initial_routes[j])
    grown[k].append(grown[other].pop())
    assert keep_order(replace(mid, churn_penalty=1e6), grown)[k] == grown[k]
