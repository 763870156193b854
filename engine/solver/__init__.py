"""Solve an index-level ``Problem``: PyVRP for cold starts it can express, OR-Tools otherwise.

``solve`` plans from scratch; ``replan`` warm-starts OR-Tools from ``problem.initial_routes``
(locks, sequences, churn). Clients no vehicle could ever serve are diagnosed up front and
come back unassigned with the reason; the rest are solved, and the result is checked by
``engine.check.check`` before it is returned.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

from engine.check import check, route_cost
from engine.problem import Problem, Solution, total_distance
from engine.solver.callbacks import SolveCallbacks
from engine.solver.diagnose import diagnose, repair
from engine.solver.insertion import best_insertion
from engine.solver.scaling import big_penalty

__all__ = ["SolveCallbacks", "replan", "solve"]

log = logging.getLogger(__name__)

MIN_ORTOOLS_SHARE = 0.3  # of the time limit, left to OR-Tools when PyVRP did not finish
RELAXED_SHARE = 0.5  # of the time limit, spent by PyVRP on the problem without breaks


def _finish(
    problem: Problem,
    routes: list[list[int]],
    reasons: dict[int, str],
    solver: str,
    started: float,
) -> Solution:
    routes = repair(problem, routes)
    served = {n for r in routes for n in r}
    for n in problem.clients:
        # A last cheap pass: whatever the solver left out but fits somewhere goes in.
        if n not in served and n not in reasons:
            best = best_insertion(problem, routes, n)
            if best is not None:
                routes[best.vehicle].insert(best.position, n)
                served.add(n)
    unassigned = dict(reasons)
    for n in problem.clients:
        if n not in served and n not in unassigned:
            unassigned[n] = "no_feasible_route"
    violations = check(problem, routes)
    if violations:
        log.warning("%s returned %d violations, first: %s", solver, len(violations), violations[0])
    cost = sum(route_cost(problem, k, r) for k, r in enumerate(routes))
    cost += sum(problem.nodes[n].penalty or 0.0 for n in unassigned)
    return Solution(
        routes=tuple(tuple(r) for r in routes),
        unassigned=unassigned,
        cost=cost,
        distance=total_distance(problem, routes),
        feasible=not violations,
        solver=solver,
        seconds=time.perf_counter() - started,
    )


def solve(
    problem: Problem,
    time_limit_s: float,
    stop_event: threading.Event | None = None,
    callbacks: SolveCallbacks | None = None,
    seed: int = 0,
    *,
    iterations: int | None = None,
    backend: str = "auto",
) -> Solution:
    """Plan from scratch within ``time_limit_s`` (or ``iterations``, for repeatable results).

    ``backend``: ``"auto"`` (PyVRP where it fits, else OR-Tools), ``"pyvrp"`` or ``"ortools"``.
    """
    started = time.perf_counter()
    callbacks = callbacks or SolveCallbacks()
    reasons = diagnose(problem)
    clients = [c for c in problem.clients if c not in reasons]
    if not clients:
        return _finish(problem, [[] for _ in problem.vehicles], reasons, "none", started)
    from engine.solver import pyvrp_backend

    use_pyvrp = backend == "pyvrp" or (backend == "auto" and pyvrp_backend.supports(problem))
    if use_pyvrp:
        callbacks.on_phase("pyvrp")
        routes, ok = pyvrp_backend.solve_pyvrp(
            problem,
            clients,
            time_limit_s,
            stop_event=stop_event,
            callbacks=callbacks,
            seed=seed,
            iterations=iterations,
        )
        if ok and not check(problem, routes):
            return _finish(problem, routes, reasons, "pyvrp", started)
        log.info("PyVRP found no feasible plan; falling back to OR-Tools")
        if stop_event is not None and stop_event.is_set():
            return _finish(problem, [[] for _ in problem.vehicles], reasons, "cancelled", started)
    initial = None
    if backend == "auto" and not use_pyvrp and pyvrp_backend.supports(problem, relaxed=True):
        # Breaks: PyVRP plans with shifts shortened by the break, OR-Tools finishes from there.
        callbacks.on_phase("pyvrp")
        relaxed = pyvrp_backend.without_breaks(problem)
        routes, _ = pyvrp_backend.solve_pyvrp(
            relaxed,
            clients,
            time_limit_s * RELAXED_SHARE,
            stop_event=stop_event,
            callbacks=SolveCallbacks(),
            seed=seed,
            iterations=None if iterations is None else iterations // 2,
        )
        initial = repair(problem, routes)
    return _solve_ortools(
        problem,
        clients,
        reasons,
        time_limit_s,
        stop_event,
        callbacks,
        started,
        initial,
        iterations,
    )


def _solve_ortools(
    problem: Problem,
    clients: Sequence[int],
    reasons: dict[int, str],
    limit: float,
    stop_event: threading.Event | None,
    callbacks: SolveCallbacks,
    started: float,
    initial: Sequence[Sequence[int]] | None,
    iterations: int | None,
) -> Solution:
    from engine.solver.ortools_backend import solve_ortools

    callbacks.on_phase("ortools")
    routes = solve_ortools(
        problem,
        clients,
        max(MIN_ORTOOLS_SHARE * limit, limit - (time.perf_counter() - started)),
        stop_event=stop_event,
        callbacks=callbacks,
        initial_routes=initial,
        solution_limit=iterations,
    )
    if routes is None:
        routes = (
            [list(r) for r in initial] if initial is not None else [[] for _ in problem.vehicles]
        )
    return _finish(problem, routes, reasons, "ortools", started)


def replan(
    problem: Problem,
    time_limit_s: float,
    stop_event: threading.Event | None = None,
    callbacks: SolveCallbacks | None = None,
    seed: int = 0,
    *,
    iterations: int | None = None,
) -> Solution:
    """Improve ``problem.initial_routes`` under locks, sequences and the churn penalty."""
    del seed
    started = time.perf_counter()
    callbacks = callbacks or SolveCallbacks()
    reasons = diagnose(problem)
    clients = [c for c in problem.clients if c not in reasons]
    initial: Sequence[Sequence[int]] | None = problem.initial_routes
    if initial is not None:
        # The current routes minus what no longer fits, plus cheapest insertions: feasible
        # at once, reported as the first solution, and OR-Tools' starting point.
        keep = set(clients)
        routes = repair(problem, [[n for n in r if n in keep] for r in initial])
        placed = {n for r in routes for n in r}
        for n in clients:
            if n not in placed:
                best = best_insertion(problem, routes, n)
                if best is not None:
                    routes[best.vehicle].insert(best.position, n)
        initial = routes
        cost = sum(route_cost(problem, k, r) for k, r in enumerate(routes))
        left = [n for n in clients if n not in {m for r in routes for m in r}]
        cost += sum(problem.nodes[n].penalty or big_penalty(problem) for n in left)
        callbacks.on_progress(cost, time.perf_counter() - started)
    return _solve_ortools(
        problem, clients, reasons, time_limit_s, stop_event, callbacks, started, initial, iterations
    )
