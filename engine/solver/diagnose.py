"""Why a client cannot be served, and trimming routes until every rule holds."""

from __future__ import annotations

from collections.abc import Sequence

from engine.evaluate import evaluate
from engine.problem import TOLERANCE, Problem

NO_SKILL = "no_vehicle_with_skill"
CAPACITY = "capacity"
WINDOW = "window_unreachable"
SHIFT = "shift"
NO_ROUTE = "no_feasible_route"


def candidate_vehicles(problem: Problem, node: int) -> list[int]:
    """Vehicles allowed to serve the node: skills, and its lock if it has one."""
    ks = [k for k in range(problem.num_vehicles) if problem.allowed(node, k)]
    if node in problem.locks:
        ks = [k for k in ks if k == problem.locks[node]]
    return ks


def reason_for(problem: Problem, node: int) -> str | None:
    """The reason no vehicle could serve the node even alone, or None if one can."""
    ks = candidate_vehicles(problem, node)
    if not ks:
        return NO_SKILL
    dims = len(problem.dimensions)
    demand = problem.demand(node)
    ks = [
        k
        for k in ks
        if all(
            demand[d] <= problem.vehicles[k].free_capacity(dims)[d] + TOLERANCE for d in range(dims)
        )
    ]
    if not ks:
        return CAPACITY
    late = 0
    for k in ks:
        ev = evaluate(problem, k, [node])
        if ev.feasible:
            return None
        if ev.lateness:
            late += 1
    return WINDOW if late == len(ks) else SHIFT


def diagnose(problem: Problem) -> dict[int, str]:
    """Client -> reason for every client that no vehicle could serve even on its own."""
    out = {}
    for node in problem.clients:
        reason = reason_for(problem, node)
        if reason is not None:
            out[node] = reason
    return out


def repair(problem: Problem, routes: Sequence[Sequence[int]]) -> list[list[int]]:
    """Drop stops (latest first) until each route is feasible, keeping the order."""
    out: list[list[int]] = []
    for k, route in enumerate(routes):
        if (
            problem.in_order(k, route)
            and evaluate(problem, k, route).feasible
            and all(problem.allowed(n, k) for n in route)
        ):
            out.append(list(route))
            continue
        kept: list[int] = []
        for n in route:
            if (
                problem.allowed(n, k)
                and problem.in_order(k, [*kept, n])
                and evaluate(problem, k, [*kept, n]).feasible
            ):
                kept.append(n)
        out.append(kept)
    while len(out) < problem.num_vehicles:
        out.append([])
    return out
