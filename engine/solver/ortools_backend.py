"""OR-Tools RoutingModel backend: locks, fixed sequences, churn, breaks, several windows.

Used for re-planning (warm start from the current plan) and for whatever PyVRP's model
cannot express. Matrices are registered as matrices (never per-arc Python callbacks).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Sequence
from typing import Any

from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from engine.problem import Problem
from engine.solver.callbacks import QUALITY_EVERY_S, SolveCallbacks, quality
from engine.solver.diagnose import repair
from engine.solver.scaling import (
    INT_INF,
    big_penalty,
    cost_units,
    int_capacity,
    int_demand,
    int_distances,
    int_durations,
    rounded_times,
    scaled_time,
    time_scale,
)

log = logging.getLogger(__name__)

READ_ROUTES_MS = 10_000
READ_SHARE = 0.25  # of the time left, at most, to find which starting routes the model refuses
FIRST_SOLUTION = routing_enums_pb2.FirstSolutionStrategy
METAHEURISTIC = routing_enums_pb2.LocalSearchMetaheuristic


def solve_ortools(
    problem: Problem,
    clients: Sequence[int],
    deadline: float,
    *,
    stop_event: threading.Event | None = None,
    callbacks: SolveCallbacks | None = None,
    initial_routes: Sequence[Sequence[int]] | None = None,
    solution_limit: int | None = None,
    started: float | None = None,
) -> list[list[int]] | None:
    """Routes (client nodes per vehicle) or None when no solution was found in time.

    ``deadline`` and ``started`` are ``time.perf_counter()`` moments: the search ends at the
    deadline (the model is built first, inside the same time), and progress is reported in
    seconds since ``started``. OR-Tools search is deterministic for a fixed solution limit.
    """
    started = time.perf_counter() if started is None else started
    callbacks = callbacks or SolveCallbacks()
    clients = list(clients)
    nv = problem.num_vehicles
    # Solver nodes: the vehicles' start/end nodes plus the clients, renumbered densely.
    ends = sorted({v.start for v in problem.vehicles} | {v.end for v in problem.vehicles})
    nodes = ends + [c for c in clients if c not in set(ends)]
    local = {node: i for i, node in enumerate(nodes)}
    manager = pywrapcp.RoutingIndexManager(
        len(nodes),
        nv,
        [local[v.start] for v in problem.vehicles],
        [local[v.end] for v in problem.vehicles],
    )
    routing = pywrapcp.RoutingModel(manager)
    dist = int_distances(problem)[nodes][:, nodes]
    dur = int_durations(problem)[nodes][:, nodes]

    units_per_cost, units = cost_units(problem)
    ts = time_scale(problem)
    cost_ids: dict[tuple[int, int], int] = {}
    for k in range(nv):
        du, tu = units[k]
        if (du, tu) not in cost_ids:
            cost_ids[(du, tu)] = routing.RegisterTransitMatrix((dist * du + dur * tu).tolist())
        routing.SetArcCostEvaluatorOfVehicle(cost_ids[(du, tu)], k)
        if problem.vehicles[k].fixed_cost:
            routing.SetFixedCostOfVehicle(round(problem.vehicles[k].fixed_cost * units_per_cost), k)

    service = [scaled_time(problem.nodes[n].service, up=True, scale=ts) for n in nodes]
    time_matrix = dur + [[s] for s in service]
    time_cb = routing.RegisterTransitMatrix(time_matrix.tolist())
    horizon = max(
        [
            scaled_time(v.latest, up=False, scale=ts)
            for v in problem.vehicles
            if v.latest < float("inf")
        ]
        + [scaled_time(w[1], up=False, scale=ts) for n in nodes for w in problem.nodes[n].windows]
        + [1]
    )
    horizon = min(horizon + int(time_matrix.max()) + 1, INT_INF)
    routing.AddDimension(time_cb, horizon, horizon, False, "time")
    tdim = routing.GetDimensionOrDie("time")
    for n in clients:
        wins = problem.nodes[n].windows
        if not wins:
            continue
        var = tdim.CumulVar(manager.NodeToIndex(local[n]))
        lows = [scaled_time(a, up=True, scale=ts) for a, _ in wins]
        highs = [scaled_time(b, up=False, scale=ts) for _, b in wins]
        var.SetRange(lows[0], highs[-1])
        for hi, lo in zip(highs, lows[1:], strict=False):
            if lo - 1 >= hi + 1:
                var.RemoveInterval(hi + 1, lo - 1)
    solver = routing.solver()
    for k, v in enumerate(problem.vehicles):
        early = scaled_time(v.earliest, up=True, scale=ts)
        late = min(scaled_time(v.latest, up=False, scale=ts), horizon)
        tdim.CumulVar(routing.Start(k)).SetRange(early, max(early, late))
        tdim.CumulVar(routing.End(k)).SetRange(early, max(early, late))
        if v.break_ is not None:
            b = v.break_
            interval = solver.FixedDurationIntervalVar(
                scaled_time(b.earliest, up=True, scale=ts),
                scaled_time(b.latest, up=False, scale=ts),
                scaled_time(b.duration, up=True, scale=ts),
                False,
                f"break {k}",
            )
            tdim.SetBreakIntervalsOfVehicle([interval], k, service)
        routing.AddVariableMinimizedByFinalizer(tdim.CumulVar(routing.End(k)))

    for d in range(len(problem.dimensions)):
        cb = routing.RegisterUnaryTransitVector([int_demand(problem, n)[d] for n in nodes])
        caps = [int_capacity(problem, k)[d] for k in range(nv)]
        routing.AddDimensionWithVehicleCapacity(cb, 0, caps, True, f"load{d}")

    penalty = big_penalty(problem)
    initial = problem.initial_vehicle()
    for n in clients:
        idx = manager.NodeToIndex(local[n])
        node_pen = problem.nodes[n].penalty
        routing.AddDisjunction(
            [idx], round((penalty if node_pen is None else node_pen) * units_per_cost)
        )
        allowed = [k for k in range(nv) if problem.allowed(n, k)]
        if n in problem.locks:
            allowed = [problem.locks[n]] if problem.locks[n] in allowed else []
        if len(allowed) < nv:
            # Also -1: an unperformed visit has no vehicle (the disjunction allows that).
            routing.VehicleVar(idx).SetValues([-1, *allowed])
        if problem.churn_penalty > 0 and n in initial and n not in problem.locks:
            routing.AddSoftSameVehicleConstraint(
                [routing.Start(initial[n]), idx], round(problem.churn_penalty * units_per_cost)
            )
    for k, seq in problem.sequences.items():
        seq_idx = [manager.NodeToIndex(local[n]) for n in seq if n in local]
        for a, b in zip(seq_idx, seq_idx[1:], strict=False):
            solver.Add(tdim.CumulVar(a) <= tdim.CumulVar(b))
        for a in seq_idx:
            routing.VehicleVar(a).SetValues([-1, k])

    best = [float("inf")]
    shown = [-float("inf")]  # when the best solution's quality was last reported

    def on_solution() -> None:
        cost = routing.CostVar().Value() / units_per_cost
        if cost < best[0]:
            best[0] = cost
            now = time.perf_counter()
            callbacks.on_progress(cost, now - started)
            if now - shown[0] >= QUALITY_EVERY_S:  # reading the routes takes a moment
                shown[0] = now
                routes = []
                for k in range(nv):
                    idx, route = routing.NextVar(routing.Start(k)).Value(), []
                    while not routing.IsEnd(idx):
                        route.append(nodes[manager.IndexToNode(idx)])
                        idx = routing.NextVar(idx).Value()
                    routes.append(route)
                callbacks.on_quality(quality(problem, routes), time.perf_counter() - started)

    routing.AddAtSolutionCallback(on_solution)
    if stop_event is not None:
        routing.AddSearchMonitor(solver.CustomLimit(lambda: stop_event.is_set()))

    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = FIRST_SOLUTION.PARALLEL_CHEAPEST_INSERTION
    params.local_search_metaheuristic = METAHEURISTIC.GUIDED_LOCAL_SEARCH
    if solution_limit is not None:
        params.solution_limit = solution_limit
    # Closed with time to spare: reading the starting routes runs a search under these
    # limits, and must not fail for want of time; the search itself gets the deadline.
    params.time_limit.FromMilliseconds(_ms_until(deadline) + READ_ROUTES_MS)
    t_close = time.perf_counter()
    routing.CloseModelWithParameters(params)
    log.debug("model closed in %.3f s", time.perf_counter() - t_close)

    if initial_routes is not None and time.perf_counter() >= deadline and solution_limit is None:
        log.info("the model took all the time left: keeping the starting routes")
        return None
    start_assignment = None
    if initial_routes is not None:
        keep = set(clients)
        # Cut the routes to what the integer model accepts (its rounding can make a tight
        # route late), so that reading them almost never fails; what is cut, the search puts
        # back.
        fitted = repair(
            rounded_times(problem), [[n for n in r if n in keep] for r in initial_routes]
        )
        # The model reads routes as its variable indices, not as nodes: a node that is only
        # an end (the depot, once every vehicle has left it) has no index of its own, so the
        # nodes after it have smaller indices than their numbers. Read as nodes, the routes
        # named the wrong stops, or an index past the last, which OR-Tools refused with
        # "Invalid index" on stderr.
        index_routes = [[manager.NodeToIndex(local[n]) for n in route] for route in fitted]
        start_assignment = _read_routes(routing, index_routes, deadline)
        if start_assignment is None:
            return None  # the caller keeps its routes: a search from scratch rarely beats them
    log.debug("initial routes read after %.3f s", time.perf_counter() - started)
    params.time_limit.FromMilliseconds(_ms_until(deadline))
    if start_assignment is not None:
        assignment = routing.SolveFromAssignmentWithParameters(start_assignment, params)
    else:
        assignment = routing.SolveWithParameters(params)
    if assignment is None and start_assignment is None and not (stop_event and stop_event.is_set()):
        # No first solution inside the limit (a loaded machine): take the first one found.
        log.info("no solution by the deadline; searching for a first solution")
        params.solution_limit = 1
        params.time_limit.FromMilliseconds(1000)
        assignment = routing.SolveWithParameters(params)
    if assignment is None:
        return None
    routes: list[list[int]] = []
    for k in range(nv):
        idx = assignment.Value(routing.NextVar(routing.Start(k)))
        route = []
        while not routing.IsEnd(idx):
            route.append(nodes[manager.IndexToNode(idx)])
            idx = assignment.Value(routing.NextVar(idx))
        routes.append(route)
    return routes


def _read_routes(routing: Any, routes: list[list[int]], deadline: float) -> Any:
    """The routes (variable indices per vehicle) as a starting assignment. If the model
    refuses them (a break it cannot place), the routes it refuses are found by halving (a
    few reads) and left out, their stops for the search to put back, as long as that leaves
    most of the time to the search; else None."""
    started = time.perf_counter()
    assignment = routing.ReadAssignmentFromRoutes(routes, True)
    if assignment is not None:
        return assignment
    one = time.perf_counter() - started
    busy = [k for k, r in enumerate(routes) if r]
    budget = READ_SHARE * (deadline - time.perf_counter())

    def accepted(ks: list[int]) -> bool:
        keep = set(ks)
        return (
            routing.ReadAssignmentFromRoutes(
                [r if k in keep else [] for k, r in enumerate(routes)], True
            )
            is not None
        )

    def refused(ks: list[int]) -> list[int]:
        if time.perf_counter() - started > budget + one:
            raise TimeoutError
        if accepted(ks):
            return []
        if len(ks) == 1:
            return ks
        half = len(ks) // 2
        return refused(ks[:half]) + refused(ks[half:])

    if 2 * math.log2(len(busy) + 1) * one > budget:
        log.info("initial routes refused, no time to find which: keeping them as they are")
        return None
    try:
        out = set(refused(busy))
    except TimeoutError:
        log.info("initial routes refused, finding which took too long: keeping them")
        return None
    log.info("initial routes: %d route(s) the model refused left to the search", len(out))
    return routing.ReadAssignmentFromRoutes(
        [[] if k in out else r for k, r in enumerate(routes)], True
    )


def _ms_until(deadline: float) -> int:
    """Milliseconds to the deadline, at least 1 (an infinite one: a day, as good as none)."""
    left = deadline - time.perf_counter()
    return max(1, int(min(left, 86_400.0) * 1000))
