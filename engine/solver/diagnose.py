"""Why a client cannot be served, and trimming routes until every rule holds."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from engine.evaluate import evaluate
from engine.problem import TOLERANCE, Problem

NO_SKILL = "no_vehicle_with_skill"
CAPACITY = "capacity"
WINDOW = "window_unreachable"
SHIFT = "shift"
NO_ROUTE = "no_feasible_route"


def vehicle_types(problem: Problem) -> list[list[int]]:
    """Vehicles that serve any single client alike, grouped (first member first).

    Two vehicles are alike when they start and end at the same nodes, at the same times,
    with the same free capacity, skills and break: a client one of them cannot serve on its
    own, none of them can. (Costs do not matter to that.)
    """
    dims = len(problem.dimensions)
    groups: dict[tuple[object, ...], list[int]] = {}
    for k, v in enumerate(problem.vehicles):
        key = (v.start, v.end, v.earliest, v.latest, v.free_capacity(dims), v.skills, v.break_)
        groups.setdefault(key, []).append(k)
    return list(groups.values())


class _Diagnosis:
    """Single-visit routes of every client on every vehicle type, in numpy, at once.

    A vehicle without a break is answered exactly by arithmetic (the rules of
    ``engine.evaluate``: service at the first window still open on arrival, back by the
    shift end); with a break, the clients that pass without it are evaluated one by one.
    """

    def __init__(self, problem: Problem, clients: Sequence[int]) -> None:
        self.problem = problem
        self.clients = list(clients)
        dims = len(problem.dimensions)
        self.types = vehicle_types(problem)
        self.type_of = {k: t for t, ks in enumerate(self.types) for k in ks}
        nodes = [problem.nodes[n] for n in self.clients]
        width = max((len(n.windows) for n in nodes), default=1) or 1
        m = len(nodes)
        # Padding: a missing window is never open; a node without windows has one, always.
        self.ws = np.full((m, width), np.inf)
        self.we = np.full((m, width), -np.inf)
        for i, node in enumerate(nodes):
            wins = node.windows or ((-np.inf, np.inf),)
            for j, (a, b) in enumerate(wins):
                self.ws[i, j], self.we[i, j] = a, b
        self.service = np.array([n.service for n in nodes])
        self.demand = np.array([problem.demand(n) for n in self.clients]).reshape(m, dims)
        self.skills = [n.skills for n in nodes]

    def reasons(self) -> dict[int, str]:
        problem, m = self.problem, len(self.clients)
        # Per client: usable by some type (skills, lock), by capacity, by time; and late.
        allowed = np.zeros(m, dtype=bool)
        fits = np.zeros(m, dtype=bool)
        served = np.zeros(m, dtype=bool)
        tried = np.zeros(m, dtype=np.int64)
        late = np.zeros(m, dtype=np.int64)
        idx = np.asarray(self.clients, dtype=np.int64)
        locks = problem.locks
        dims = len(problem.dimensions)
        for ks in self.types:
            k = ks[0]
            v = problem.vehicles[k]
            ok = np.fromiter(
                (
                    need <= v.skills and (n not in locks or locks[n] in ks)
                    for n, need in zip(self.clients, self.skills, strict=True)
                ),
                dtype=bool,
                count=m,
            )
            if not ok.any():
                continue
            allowed |= ok
            free = np.asarray(v.free_capacity(dims))
            ok &= (self.demand <= free + TOLERANCE).all(axis=1)
            fits |= ok
            if not ok.any():
                continue
            tried += ok
            arrive = v.earliest + problem.duration[v.start, idx]
            open_ = arrive[:, None] <= self.we + TOLERANCE
            usable = open_.any(axis=1)
            first = open_.argmax(axis=1)
            begin = np.maximum(arrive, self.ws[np.arange(m), first])
            back = begin + self.service + problem.duration[idx, v.end]
            on_time = usable & (np.maximum(back, v.earliest) - v.latest <= TOLERANCE)
            if v.break_ is not None:
                # Only an ambiguous answer needs the full rules: check those one by one.
                for j in np.flatnonzero(ok & on_time & ~served):
                    ev = evaluate(problem, k, [self.clients[j]])
                    on_time[j] = ev.feasible
                    if not ev.feasible and ev.lateness:
                        usable[j] = False
            served |= ok & on_time
            late += ok & ~usable
        out: dict[int, str] = {}
        for i, n in enumerate(self.clients):
            if served[i]:
                continue
            if not allowed[i]:
                out[n] = NO_SKILL
            elif not fits[i]:
                out[n] = CAPACITY
            else:
                out[n] = WINDOW if late[i] == tried[i] else SHIFT
        return out


def reason_for(problem: Problem, node: int) -> str | None:
    """The reason no vehicle could serve the node even alone, or None if one can."""
    return _Diagnosis(problem, [node]).reasons().get(node)


def diagnose(problem: Problem, clients: Sequence[int] | None = None) -> dict[int, str]:
    """Client -> reason for every client that no vehicle could serve even on its own.

    Linear in clients x vehicle types (not vehicles): alike vehicles are tried once, and
    vehicles without a break are answered for all clients in one numpy pass.
    """
    clients = problem.clients if clients is None else clients
    if not clients:
        return {}
    return _Diagnosis(problem, clients).reasons()


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
