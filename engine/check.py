"""An independent check of routes against the problem, and the cost of a route.

``check`` recomputes every route from the problem alone (through ``engine.evaluate``), so
a solver's result is never trusted on its word.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from engine.evaluate import RouteEvaluation, evaluate
from engine.problem import TOLERANCE, Problem, Violation, ViolationKind


def route_cost(problem: Problem, vehicle: int, route: Sequence[int]) -> float:
    """The objective of one route: distance, duration and fixed costs (0 when empty)."""
    if not route:
        return 0.0
    v = problem.vehicles[vehicle]
    ev = evaluate(problem, vehicle, route)
    return v.fixed_cost + v.distance_cost * ev.distance + v.time_cost * ev.duration


def check(
    problem: Problem,
    routes: Sequence[Sequence[int]],
    *,
    require_all: bool = False,
    evaluation: Callable[[int, Sequence[int]], RouteEvaluation] | None = None,
) -> list[Violation]:
    """Every rule the routes break, recomputed from the problem (empty list: feasible).

    ``evaluation(k, route)``: ``engine.evaluate.evaluate`` on this problem, remembered
    (a day context's), when the caller has one.
    """
    out: list[Violation] = []
    clients = set(problem.clients)
    seen: dict[int, int] = {}
    if len(routes) > problem.num_vehicles:
        out.append(Violation(ViolationKind.UNKNOWN_NODE, -1, detail="more routes than vehicles"))
    for k, route in enumerate(routes[: problem.num_vehicles]):
        for node in route:
            if node not in clients:
                out.append(Violation(ViolationKind.UNKNOWN_NODE, k, node))
                continue
            if node in seen:
                out.append(Violation(ViolationKind.DUPLICATE, k, node, detail=f"also {seen[node]}"))
            seen[node] = k
            if not problem.allowed(node, k):
                out.append(Violation(ViolationKind.SKILL, k, node))
            if node in problem.locks and problem.locks[node] != k:
                out.append(
                    Violation(
                        ViolationKind.LOCK,
                        k,
                        node,
                        detail=f"locked to vehicle {problem.locks[node]}",
                    )
                )
        if any(n not in clients for n in route):
            continue
        ev = evaluation(k, route) if evaluation is not None else evaluate(problem, k, route)
        for pos, late in ev.lateness.items():
            out.append(Violation(ViolationKind.WINDOW, k, route[pos], late))
        for d, excess in enumerate(ev.capacity_excess):
            if excess > TOLERANCE:
                out.append(
                    Violation(ViolationKind.CAPACITY, k, None, excess, problem.dimensions[d])
                )
        if ev.shift_overrun > TOLERANCE:
            out.append(Violation(ViolationKind.SHIFT, k, None, ev.shift_overrun))
    for node, k in problem.locks.items():
        if seen.get(node) != k:
            out.append(
                Violation(ViolationKind.LOCK, k, node, detail="locked stop not on its vehicle")
            )
    for k, seq in problem.sequences.items():
        route = list(routes[k]) if k < len(routes) else []
        at = [route.index(n) if n in route else -1 for n in seq]
        if any(p < 0 for p in at) or any(b <= a for a, b in zip(at, at[1:], strict=False)):
            out.append(
                Violation(ViolationKind.SEQUENCE, k, None, detail=f"expected {seq} in order")
            )
    if require_all:
        for node in problem.clients:
            if node not in seen:
                out.append(Violation(ViolationKind.MISSING, -1, node))
    return out
