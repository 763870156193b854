"""Cheapest feasible insertion and ranked move targets, priced with ``evaluate``.

Positions are tried cheapest detour first (a lower bound of the cost change), and a
position that surely breaks a window or the shift is ruled out in constant time from the
route's schedule (earliest departures forward, latest arrivals backward, breaks left out:
a break only makes things later) before the full evaluation prices it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial

from engine.evaluate import RouteEvaluation, _window_start, evaluate
from engine.evaluate import context as evaluation_context
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


def _fits(
    problem: Problem,
    k: int,
    route: Sequence[int],
    node: int,
    on_board: Callable[[], tuple[float, ...]] | None = None,
) -> bool:
    """Whether vehicle ``k`` may serve ``node`` and has room for it on ``route``.
    ``on_board()``: the route's load leaving the start, if known (a remembered evaluation)."""
    if not problem.allowed(node, k):
        return False
    if node in problem.locks and problem.locks[node] != k:
        return False
    dims = len(problem.dimensions)
    if on_board is not None:
        start, need, cap = on_board(), problem.demand(node), problem.vehicles[k].capacity
        return all(start[d] + need[d] <= cap[d] + TOLERANCE for d in range(dims))
    free = problem.vehicles[k].free_capacity(dims)
    load = [sum(problem.demand(n)[d] for n in route) + problem.demand(node)[d] for d in range(dims)]
    return all(load[d] <= free[d] + TOLERANCE for d in range(dims))


MARGIN = 1e-4  # problem time units: ruling out needs more than rounding noise


class RouteSlack:
    """A route's schedule without its break: earliest departures, latest arrivals, and the
    waiting from each position on (what can absorb a delay). It depends on the route and
    its vehicle only, so a day context remembers it per route (``DayContext.slack``)."""

    __slots__ = ("dep", "latest", "path", "on_time", "waits")

    def __init__(self, problem: Problem, k: int, route: Sequence[int]) -> None:
        ctx = evaluation_context(problem)
        dur, windows, service = ctx.dur, ctx.windows, ctx.service
        v = problem.vehicles[k]
        path = self.path = [v.start, *route, v.end]
        t = v.earliest
        dep = [t]
        wait = []
        on_time = True
        for prev, n in zip(path, route, strict=False):
            arrive = t + dur[prev][n]
            start, late = _window_start(windows[n], arrive)
            on_time = on_time and late <= TOLERANCE
            wait.append(start - arrive)
            t = start + service[n]
            dep.append(t)
        waits = [0.0] * (len(route) + 1)  # waiting at the route's stops from position i on
        for i in range(len(route) - 1, -1, -1):
            waits[i] = waits[i + 1] + wait[i]
        self.waits = waits
        self.on_time = on_time and t + dur[path[-2]][v.end] <= v.latest + TOLERANCE
        latest = [math.inf] * len(path)
        latest[-1] = v.latest
        for i in range(len(path) - 2, 0, -1):
            n = path[i]
            cap = latest[i + 1] - dur[n][path[i + 1]] - service[n]
            best = -math.inf
            for a, b in windows[n] or ((-math.inf, math.inf),):
                top = b if b < cap else cap
                if top >= a and top > best:
                    best = top
            latest[i] = best
        self.dep, self.latest = dep, latest


SlackOf = Callable[[int, Sequence[int]], RouteSlack]


class _Slack:
    """A route's ``RouteSlack`` with the problem that prices a stop's positions on it."""

    __slots__ = ("dep", "latest", "path", "on_time", "ctx", "waits", "vehicle")

    def __init__(
        self, problem: Problem, k: int, route: Sequence[int], slack: SlackOf | None = None
    ) -> None:
        known = slack(k, route) if slack is not None else RouteSlack(problem, k, route)
        self.ctx = evaluation_context(problem)
        self.vehicle = problem.vehicles[k]
        self.dep, self.latest, self.path = known.dep, known.latest, known.path
        self.on_time, self.waits = known.on_time, known.waits

    def positions(self, node: int) -> list[tuple[float, int]]:
        """(lower bound of the cost change, position) of every position of ``node``,
        cheapest first: the detour's distance, and its time (travel and service) less the
        waiting after it that could absorb it (without the break, which waiting may hold)."""
        ctx, v, path, waits = self.ctx, self.vehicle, self.path, self.waits
        dist, dur = ctx.dist, ctx.dur
        fixed = v.fixed_cost if len(path) == 2 else 0.0
        service = ctx.service[node]
        out = []
        for pos in range(len(path) - 1):
            a, b = path[pos], path[pos + 1]
            far = dist[a][node] + dist[node][b] - dist[a][b]
            late = dur[a][node] + service + dur[node][b] - dur[a][b] - waits[pos]
            out.append((fixed + v.distance_cost * far + v.time_cost * max(0.0, late), pos))
        out.sort()
        return out

    def may_fit(self, pos: int, node: int) -> bool:
        """False if ``node`` before the route's ``pos``-th stop surely makes a stop late
        (itself, or one after it: for a route that is on time without it)."""
        ctx = self.ctx
        prev, nxt = self.path[pos], self.path[pos + 1]
        start, late = _window_start(ctx.windows[node], self.dep[pos] + ctx.dur[prev][node])
        if late > MARGIN:
            return False
        if not self.on_time:
            return True  # later stops may be late already: only the stop itself is sure
        arrive: float = start + ctx.service[node] + ctx.dur[node][nxt]
        return arrive <= self.latest[pos + 1] + MARGIN


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
    problem: Problem,
    routes: Sequence[Sequence[int]],
    node: int,
    evaluation: Callable[[int, Sequence[int]], RouteEvaluation] | None = None,
    slack: SlackOf | None = None,
) -> Insertion | None:
    """The cheapest position over all vehicles that breaks no rule the route kept, or None.

    A route that is already late (a running day) may take the stop if that makes it no
    later in total; a feasible route must stay feasible. ``evaluation(k, route)``: the
    routes' own evaluations remembered (a day context's), else they are evaluated here;
    ``slack(k, route)``: their ``RouteSlack`` remembered, likewise.
    """
    best: Insertion | None = None
    for k in range(problem.num_vehicles):
        on_board = None
        if evaluation is not None:  # remembered: its load on board costs nothing
            on_board = partial(lambda k: evaluation(k, routes[k]).loads[0], k)
        if not _fits(problem, k, routes[k], node, on_board):
            continue
        route = list(routes[k])
        base = None
        on_route = _Slack(problem, k, route, slack)
        # Cheap lower bounds first; evaluate only positions that could beat the best.
        for bound, pos in on_route.positions(node):
            if best is not None and bound >= best.cost_delta:
                break
            if not on_route.may_fit(pos, node):
                continue  # it would be late itself (or make a feasible route late)
            seq = route[:pos] + [node] + route[pos:]
            if k in problem.sequences and not problem.in_order(k, seq):
                continue
            if base is None:
                base_ev = (evaluation or partial(evaluate, problem))(k, route)
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


INFEASIBLE_TRIES = 1  # positions priced for a route that cannot take the stop on time


Best = tuple[bool, float, float, int, RouteEvaluation]  # infeasible, late, delta, position, ev


def _best_on(
    problem: Problem,
    route: Sequence[int],
    node: int,
    k: int,
    evaluation: Callable[[int, Sequence[int]], RouteEvaluation],
    slack_of: SlackOf | None = None,
) -> Best:
    """(infeasible, lateness, cost delta, position, evaluation) of the best position of
    ``node`` on vehicle ``k``'s route: the cheapest feasible one; if there is none, the
    least late (then cheapest) of its ``INFEASIBLE_TRIES`` positions cheapest by their
    lower bound."""
    slack = _Slack(problem, k, route, slack_of)
    order = slack.positions(node)
    base_ev = evaluation(k, route)
    base = _cost(problem, k, base_ev, not route)
    best_ok = None
    seen: dict[int, RouteEvaluation] = {}
    for bound, pos in order if base_ev.feasible else ():  # a late route stays late
        if best_ok is not None and bound - best_ok[2] > 1e-9 * (1.0 + abs(best_ok[2])):
            break
        if not slack.may_fit(pos, node):
            continue
        ev = seen[pos] = evaluate(problem, k, [*route[:pos], node, *route[pos:]])
        if ev.feasible:
            delta = _cost(problem, k, ev, False) - base
            if best_ok is None or (delta, pos) < (best_ok[2], best_ok[3]):
                best_ok = (False, 0.0, delta, pos, ev)
    if best_ok is not None:
        return best_ok
    best_late = None
    for _, pos in order[:INFEASIBLE_TRIES]:
        ev = seen.get(pos) or evaluate(problem, k, [*route[:pos], node, *route[pos:]])
        late = ev.total_lateness + ev.shift_overrun
        delta = _cost(problem, k, ev, False) - base
        if best_late is None or (late, delta, pos) < best_late[1:4]:
            best_late = (True, late, delta, pos, ev)
    assert best_late is not None  # a route has at least one position
    return best_late


def rank_targets(
    problem: Problem,
    routes: list[list[int]],
    node: int,
    names: Sequence[str],
    evaluation: Callable[[int, Sequence[int]], RouteEvaluation] | None = None,
    slack: SlackOf | None = None,
) -> list[Suggestion]:
    """For each other vehicle, its best position for ``node`` (the cheapest feasible one,
    else the least late); feasible targets first, then those with room for it (late only,
    e.g. a window already missed, beats overloading a vehicle), then by cost change.
    ``evaluation``, ``slack``: as for ``best_insertion``."""
    evaluation = evaluation or partial(evaluate, problem)
    current = next((k for k, r in enumerate(routes) if node in r), None)
    saving = 0.0
    if current is not None:
        before = evaluation(current, routes[current])
        rest = [n for n in routes[current] if n != node]
        after = evaluate(problem, current, rest)
        saving = _cost(problem, current, before, False) - _cost(problem, current, after, not rest)
    ranked: list[tuple[bool, bool, float, Suggestion]] = []
    for k in range(problem.num_vehicles):
        if k == current or not problem.allowed(node, k):
            continue
        infeasible, _, delta, pos, ev = _best_on(problem, routes[k], node, k, evaluation, slack)
        fits = _fits(problem, k, routes[k], node)
        feasible = not infeasible and fits
        found = Suggestion(names[k], pos, delta - saving, feasible, ev.total_lateness,
                           ev.shift_overrun)  # fmt: skip
        ranked.append((not feasible, not fits, found.cost_delta, found))
    ranked.sort(key=lambda t: t[:3])
    return [t[3] for t in ranked]
