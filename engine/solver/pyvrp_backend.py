"""PyVRP backend for cold-start planning: fast and close to the best known solutions.

Covers several capacity dimensions and depots, time windows (a client with several is a
mutually exclusive group of one client per window), service times, shifts, fleet costs
and skills (a routing profile per skill set in which clients the vehicle may not serve are
out of reach). Breaks, locks and kept orders go to OR-Tools.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
from pyvrp import Client, ClientGroup, Depot, Location, ProblemData, VehicleType
from pyvrp import solve as pyvrp_solve
from pyvrp.constants import MAX_VALUE

from engine.problem import Problem
from engine.solver.callbacks import SolveCallbacks
from engine.solver.scaling import (
    cost_units,
    int_capacity,
    int_demand,
    int_distances,
    int_durations,
    scaled_time,
    time_scale,
)

log = logging.getLogger(__name__)

UNREACHABLE = MAX_VALUE // 4


def supports(problem: Problem, *, relaxed: bool = False) -> bool:
    """Whether PyVRP's model expresses this problem exactly (or, ``relaxed``, but for breaks)."""
    if problem.locks or problem.sequences:
        return False
    if not relaxed and any(v.break_ is not None for v in problem.vehicles):
        return False
    starts = {v.start for v in problem.vehicles} | {v.end for v in problem.vehicles}
    return not starts & set(problem.clients)


def without_breaks(problem: Problem) -> Problem:
    """The problem with each break folded into a shift shortened by its duration."""
    vehicles = tuple(
        v if v.break_ is None else replace(v, break_=None, latest=v.latest - v.break_.duration)
        for v in problem.vehicles
    )
    return replace(problem, vehicles=vehicles)


class _Stop:
    """PyVRP stopping criterion: time limit, iteration limit, caller's event, progress."""

    def __init__(
        self,
        limit_s: float,
        iterations: int | None,
        event: threading.Event | None,
        callbacks: SolveCallbacks,
        units_per_cost: float,
    ) -> None:
        self.deadline = time.perf_counter() + limit_s
        self.started = time.perf_counter()
        self.iterations = iterations
        self.count = 0
        self.event = event
        self.callbacks = callbacks
        self.units = units_per_cost
        self.best = float("inf")

    def __call__(self, best_cost: float) -> bool:
        self.count += 1
        if best_cost < self.best:
            self.best = best_cost
            self.callbacks.on_progress(best_cost / self.units, time.perf_counter() - self.started)
        if self.event is not None and self.event.is_set():
            return True
        if self.iterations is not None:
            return self.count > self.iterations
        return time.perf_counter() >= self.deadline


def solve_pyvrp(
    problem: Problem,
    clients: Sequence[int],
    time_limit_s: float,
    *,
    stop_event: threading.Event | None = None,
    callbacks: SolveCallbacks | None = None,
    seed: int = 0,
    iterations: int | None = None,
) -> tuple[list[list[int]], bool]:
    """(routes per vehicle, whether PyVRP calls them feasible)."""
    callbacks = callbacks or SolveCallbacks()
    clients = list(clients)
    vehicles = problem.vehicles
    depots = sorted({v.start for v in vehicles} | {v.end for v in vehicles})
    nodes = depots + clients
    dpos = {n: i for i, n in enumerate(depots)}
    dist = int_distances(problem)[np.ix_(nodes, nodes)]
    dur = int_durations(problem)[np.ix_(nodes, nodes)]
    units_per_cost, units = cost_units(problem)
    ts = time_scale(problem)

    pclients, owner, groups = [], [], []
    for i, n in enumerate(clients):
        node = problem.nodes[n]
        wins = node.windows or ((0.0, float("inf")),)
        required = node.penalty is None
        several = len(wins) > 1
        if several:
            # One client per window, exactly one of them visited (a mutually exclusive group).
            groups.append(ClientGroup(required=required))
        for early, late in wins:
            owner.append(n)
            pclients.append(
                Client(
                    location=len(depots) + i,
                    delivery=int_demand(problem, n),
                    service_duration=scaled_time(node.service, up=True, scale=ts),
                    tw_early=scaled_time(early, up=True, scale=ts),
                    tw_late=min(scaled_time(late, up=False, scale=ts), MAX_VALUE),
                    prize=0 if node.penalty is None else round(node.penalty * units_per_cost),
                    required=required and not several,
                    group=len(groups) - 1 if several else None,
                )
            )
            if several:
                groups[-1].add_client(len(pclients) - 1)
    # One routing profile per skill set that matters.
    skill_sets = (
        sorted({v.skills for v in vehicles}, key=sorted)
        if any(problem.nodes[c].skills for c in clients)
        else [frozenset()]
    )
    dist_ms, dur_ms, profile_of = [], [], {}
    for p, skills in enumerate(skill_sets):
        dm, tm = dist.copy(), dur.copy()
        for i, n in enumerate(clients):
            if not problem.nodes[n].skills <= skills:
                dm[:, len(depots) + i] = UNREACHABLE
                tm[:, len(depots) + i] = UNREACHABLE
        np.fill_diagonal(dm, 0)
        np.fill_diagonal(tm, 0)
        dist_ms.append(dm)
        dur_ms.append(tm)
        profile_of[skills] = p
    # Identical vehicles form one vehicle type.
    type_keys: dict[tuple[Any, ...], list[int]] = {}
    for k, v in enumerate(vehicles):
        key = (
            v.start,
            v.end,
            tuple(int_capacity(problem, k)),
            v.earliest,
            v.latest,
            v.skills if len(skill_sets) > 1 else frozenset(),
            units[k],
            v.fixed_cost,
        )
        type_keys.setdefault(key, []).append(k)
    vtypes = []
    members = []
    for key, ks in type_keys.items():
        v = vehicles[ks[0]]
        early = scaled_time(v.earliest, up=True, scale=ts)
        late = min(scaled_time(v.latest, up=False, scale=ts), MAX_VALUE)
        vtypes.append(
            VehicleType(
                num_available=len(ks),
                capacity=list(key[2]),
                start_depot=dpos[v.start],
                end_depot=dpos[v.end],
                fixed_cost=round(v.fixed_cost * units_per_cost),
                tw_early=early,
                tw_late=max(early, late),
                unit_distance_cost=units[ks[0]][0],
                unit_duration_cost=units[ks[0]][1],
                profile=profile_of.get(v.skills, 0) if len(skill_sets) > 1 else 0,
            )
        )
        members.append(ks)
    data = ProblemData(
        locations=[Location(0.0, 0.0) for _ in nodes],
        clients=pclients,
        depots=[Depot(location=i) for i in range(len(depots))],
        vehicle_types=vtypes,
        # pyvrp's stubs spell an array's shape as ``int``; these are 2-D int64 arrays.
        distance_matrices=dist_ms,  # type: ignore[arg-type]
        duration_matrices=dur_ms,  # type: ignore[arg-type]
        groups=groups,
    )
    stop = _Stop(time_limit_s, iterations, stop_event, callbacks, units_per_cost)
    result = pyvrp_solve(data, stop=stop, seed=seed, collect_stats=False, display=False)
    routes: list[list[int]] = [[] for _ in vehicles]
    free = [list(ks) for ks in members]
    for r in result.best.routes():
        k = free[r.vehicle_type()].pop(0)
        routes[k] = [owner[a.idx] for a in r.schedule() if a.is_client()]
    return routes, result.best.is_feasible()
