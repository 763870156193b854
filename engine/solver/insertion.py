"""Cheapest feasible insertion and ranked move targets, priced with ``evaluate``."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from engine.evaluate import RouteEvaluation, evaluate
from engine.problem import TOLERANCE, Problem


@dataclass(frozen=True, slots=True)
class Insertion:
    vehicle: int
    position: int
    cost_delta: float
    evaluation: RouteEvaluation


@dataclass(frozen=True, slots=True)
class Suggestion:
    """Moving the stop to ``vehicle_id`` at ``position``: its cost change and feasibility."""

    vehicle_id: str
    position: int
    cost_delta: float
    feasible: bool
    lateness_s: float
    shift_overrun_s: float


def _cost(problem: Problem, k: int, ev: RouteEvaluation, empty: bool) -> float:
    if empty:
        return 0.0
    v = problem.vehicles[k]
    return v.fixed_cost + v.distance_cost * ev.distance + v.time_cost * ev.duration


def _fits(problem: Problem, k: int, route: Sequence[int], node: int) -> bool:
    if not problem.allowed(node, k):
        return False
    if node in problem.locks and problem.locks[node] != k:
        return False
    dims = len(problem.dimensions)
    free = problem.vehicles[k].free_capacity(dims)
    load = [sum(problem.demand(n)[d] for n in route) + problem.demand(node)[d] for d in range(dims)]
    return all(load[d] <= free[d] + TOLERANCE for d in range(dims))


def insertions(
    problem: Problem, routes: Sequence[Sequence[int]], node: int, k: int
) -> Iterator[tuple[int, float, RouteEvaluation]]:
    """Every position of ``node`` in route ``k``: (position, cost delta, evaluation)."""
    route = list(routes[k])
    base = _cost(problem, k, evaluate(problem, k, route), not route)
    for pos in range(len(route) + 1):
        seq = route[:pos] + [node] + route[pos:]
        ev = evaluate(problem, k, seq)
        yield pos, _cost(problem, k, ev, False) - base, ev


def best_insertion(
    problem: Problem, routes: Sequence[Sequence[int]], node: int
) -> Insertion | None:
    """The cheapest position over all vehicles that breaks no rule the route kept, or None.

    A route that is already late (a running day) may take the stop if that makes it no
    later in total; a feasible route must stay feasible.
    """
    best: Insertion | None = None
    dist = problem.distance
    for k in range(problem.num_vehicles):
        if not _fits(problem, k, routes[k], node):
            continue
        v = problem.vehicles[k]
        route = list(routes[k])
        path = [v.start, *route, v.end]
        # Cheap lower bound first: the detour alone; evaluate only promising positions.
        detours = sorted(
            (dist[a, node] + dist[node, b] - dist[a, b], pos)
            for pos, (a, b) in enumerate(zip(path, path[1:], strict=False))
        )
        base = None
        for detour, pos in detours:
            fixed = v.fixed_cost if not route else 0.0
            if best is not None and fixed + v.distance_cost * detour >= best.cost_delta:
                break
            seq = route[:pos] + [node] + route[pos:]
            if k in problem.sequences and not problem.in_order(k, seq):
                continue
            if base is None:
                base_ev = evaluate(problem, k, route)
                base = _cost(problem, k, base_ev, not route)
                allowed = base_ev.total_lateness + base_ev.shift_overrun + TOLERANCE
            ev = evaluate(problem, k, seq)
            if not ev.feasible and (
                any(e > TOLERANCE for e in ev.capacity_excess)
                or ev.total_lateness + ev.shift_overrun > allowed
            ):
                continue
            delta = _cost(problem, k, ev, False) - base
            if best is None or delta < best.cost_delta:
                best = Insertion(k, pos, delta, ev)
    return best


def rank_targets(
    problem: Problem, routes: list[list[int]], node: int, names: Sequence[str]
) -> list[Suggestion]:
    """For each other vehicle, its best position for ``node``; feasible first, then cheapest."""
    current = next((k for k, r in enumerate(routes) if node in r), None)
    saving = 0.0
    if current is not None:
        before = evaluate(problem, current, routes[current])
        rest = [n for n in routes[current] if n != node]
        after = evaluate(problem, current, rest)
        saving = _cost(problem, current, before, False) - _cost(problem, current, after, not rest)
    out = []
    for k in range(problem.num_vehicles):
        if k == current or not problem.allowed(node, k):
            continue
        options = [
            (not ev.feasible, ev.total_lateness + ev.shift_overrun, delta, pos, ev)
            for pos, delta, ev in insertions(problem, routes, node, k)
        ]
        if not options:
            continue
        infeasible, _, delta, pos, ev = min(options, key=lambda o: (o[0], o[1], o[2]))
        feasible = not infeasible and _fits(problem, k, routes[k], node)
        out.append(
            Suggestion(names[k], pos, delta - saving, feasible, ev.total_lateness, ev.shift_overrun)
        )
    out.sort(key=lambda s: (not s.feasible, s.cost_delta))
    return out
