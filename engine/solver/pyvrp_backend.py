"""PyVRP backend for cold-start planning: fast and close to the best known solutions.

Covers several capacity dimensions and depots, time windows (a client with several is a
mutually exclusive group of one client per window), service times, shifts, fleet costs,
skills and locks (a routing profile per skill set, and per vehicle with locked stops, in
which the clients its vehicles may not serve are out of reach). Breaks and kept orders go
to OR-Tools.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from pyvrp import Client, ClientGroup, Depot, Location, ProblemData, Route, Solution, VehicleType
from pyvrp import solve as pyvrp_solve
from pyvrp.constants import MAX_VALUE
from pyvrp.IteratedLocalSearch import IteratedLocalSearchCallbacks, IteratedLocalSearchParams
from pyvrp.solve import SolveParams

from engine.problem import Problem
from engine.solver.callbacks import QUALITY_EVERY_S, SolveCallbacks, quality
from engine.solver.scaling import (
    cost_units,
    int_capacity,
    int_demand,
    int_matrices,
    scaled_time,
    time_scale,
)

log = logging.getLogger(__name__)

UNREACHABLE = MAX_VALUE // 4
INFEASIBLE = np.iinfo(np.int64).max  # what PyVRP's stop criterion sees before a feasible plan


PROFILE_BUDGET_BYTES = 256 * 2**20  # routing profiles (matrix copies) for skills and locks


def _profile_keys(
    problem: Problem, clients: Sequence[int]
) -> list[tuple[frozenset[str], int | None]]:
    """One routing profile per (skill set, locked vehicle) that matters, in vehicle order."""
    skills = any(problem.nodes[c].skills for c in clients)
    locked = {k for n, k in problem.locks.items()}
    keys: dict[tuple[frozenset[str], int | None], None] = {}
    for k, v in enumerate(problem.vehicles):
        keys[(v.skills if skills else frozenset(), k if k in locked else None)] = None
    return list(keys)


def supports(problem: Problem, *, relaxed: bool = False) -> bool:
    """Whether PyVRP's model expresses this problem exactly (or, ``relaxed``, but for breaks).

    Locks are routing profiles (the locked vehicle alone reaches its stops); kept orders
    and more lock profiles than fit in ``PROFILE_BUDGET_BYTES`` are left to OR-Tools.
    """
    if problem.sequences:
        return False
    if problem.locks:
        size = len(_profile_keys(problem, problem.clients)) * 16 * len(problem.nodes) ** 2
        if size > PROFILE_BUDGET_BYTES:
            return False
    if not relaxed and any(v.break_ is not None for v in problem.vehicles):
        return False
    starts = {v.start for v in problem.vehicles} | {v.end for v in problem.vehicles}
    return not starts & set(problem.clients)


def _visits(problem: Problem, k: int, route: Sequence[int], first_of: dict[int, int]) -> list[int]:
    """PyVRP client indices of a route (a client with several windows: the one it is
    served in, as ``evaluate`` schedules it)."""
    from engine.evaluate import evaluate

    route = [n for n in route if n in first_of]
    starts = evaluate(problem, k, route).starts
    out = []
    for n, start in zip(route, starts, strict=True):
        wins = problem.nodes[n].windows
        j = next((i for i, (_, b) in enumerate(wins) if start <= b + 1e-6), 0)
        out.append(first_of[n] + (j if len(wins) > 1 else 0))
    return out


def without_breaks(problem: Problem) -> Problem:
    """The problem with each break folded into a shift shortened by its duration."""
    vehicles = tuple(
        v if v.break_ is None else replace(v, break_=None, latest=v.latest - v.break_.duration)
        for v in problem.vehicles
    )
    return replace(problem, vehicles=vehicles)


class _Found(IteratedLocalSearchCallbacks):
    """Keeps PyVRP's best solution when it improves (only feasible ones do) and the
    starting one if feasible, until ``_Stop`` reports it: storing a reference is all the
    search pays per new best."""

    def __init__(self) -> None:
        self.pending: Solution | None = None

    def on_start(self, ils: Any) -> None:
        if ils.initial_solution.is_feasible():
            self.pending = ils.initial_solution

    def on_best(self, best: Solution) -> None:
        self.pending = best


class _Stop:
    """PyVRP stopping criterion: deadline, iteration limit, caller's event, progress.

    It stops when the next iteration would likely end past the deadline (iterations take
    longer on large instances: a new best gets an exhaustive search).

    ``feasible_by``: give up at that moment (perf_counter) if nothing feasible was found
    yet, so whoever comes next has the rest of the time. ``handover``: (moment, test) —
    from that moment on, stop as soon as ``test()`` says the rest of the time is worth
    handing to whoever comes next (else go on to the deadline). ``until_feasible``: stop
    at the first feasible solution (a first plan to show while the search goes on).
    ``runtime``: stop once the search has run this long since the first call, as PyVRP's
    ``MaxRuntime`` does; the deadline still holds, without a guess of the next iteration,
    but not before ``at_least`` = (seconds, until) has that many seconds of search
    (however long the set-up before took) unless that would pass ``until`` (a moment).
    ``found`` and ``show``: the best solution kept by ``found`` goes to ``show`` at once
    the first time, then at most every ``QUALITY_EVERY_S`` (turning it into routes and
    their quality takes a moment; the search itself is not changed).
    """

    def __init__(
        self,
        deadline: float,
        iterations: int | None,
        event: threading.Event | None,
        callbacks: SolveCallbacks,
        units: float,
        feasible_by: float | None,
        started: float,
        handover: tuple[float, Callable[[], bool]] | None = None,
        until_feasible: bool = False,
        runtime: float | None = None,
        at_least: tuple[float, float] | None = None,
    ) -> None:
        self.deadline = deadline
        self.runtime = runtime
        self.at_least = at_least
        self.first: float | None = None  # the first call: the search starts
        self.handover = handover
        self.until_feasible = until_feasible
        self.reserve = 0.0  # seconds kept before the deadline at full speed (grows with load)
        self.cpu, self.wall = time.thread_time(), time.perf_counter()
        self.started = started
        self.feasible_by = feasible_by
        self.iterations = iterations
        self.count = 0
        self.event = event
        self.callbacks = callbacks
        self.units = units
        self.best: float = INFEASIBLE
        self.last: float | None = None
        self.step = 0.0
        self.found: _Found | None = None
        self.show: Callable[[Solution], None] = lambda best: None
        self.shown = -float("inf")  # when the best solution was last shown
        self.offset = 0  # of PyVRP's cost, that is no cost of the plan (see ``_unvisitable``)

    def __call__(self, best_cost: float) -> bool:
        self.count += 1
        if best_cost < self.best:  # PyVRP reports INFEASIBLE while it has nothing feasible
            self.best = best_cost
            self.callbacks.on_progress(
                (best_cost - self.offset) / self.units, time.perf_counter() - self.started
            )
        if self.found is not None and self.found.pending is not None:
            moment = time.perf_counter()
            if moment - self.shown >= QUALITY_EVERY_S:
                self.shown = moment
                best, self.found.pending = self.found.pending, None
                self.show(best)
        if self.event is not None and self.event.is_set():
            return True
        if self.until_feasible and self.best < INFEASIBLE:
            return True
        if self.iterations is not None:
            return self.count > self.iterations
        now = time.perf_counter()
        if self.first is None:
            self.first = now
        if self.runtime is not None and now - self.first > self.runtime:
            return True
        if self.last is not None:  # the next iteration will take about as long as the last ones
            self.step = max(0.8 * self.step, now - self.last)
        self.last = now
        if self.feasible_by is not None and self.best >= INFEASIBLE and now >= self.feasible_by:
            return True
        if self.handover is not None and now >= self.handover[0] and self.handover[1]():
            return True
        keep = self.reserve
        if keep:
            cpu = time.thread_time() - self.cpu
            if cpu > 0.02:
                keep *= min(8.0, max(1.0, (now - self.wall) / cpu))
        if self.at_least is not None and now - self.first < self.at_least[0]:
            return now + keep >= self.at_least[1]
        # With a runtime, the deadline is a cap well after it: the next iteration's length
        # is not guessed (on a busy machine one wait for a core made it a second, and the
        # search stopped that much before its runtime, where a plain solve goes on).
        step = 0.0 if self.runtime is not None else self.step
        return now + step + keep >= self.deadline


@dataclass(frozen=True)
class Model:
    """A problem as PyVRP data, and how to read PyVRP's solutions back (see ``build``)."""

    problem: Problem
    data: ProblemData
    owner: list[int]  # PyVRP client -> client node
    first_of: dict[int, int]  # client node -> its first PyVRP client (one per window)
    members: list[list[int]]  # vehicle type -> its vehicles
    units_per_cost: float

    def solution(self, routes: Sequence[Sequence[int]]) -> Solution:
        """Routes (client nodes per vehicle) as a PyVRP solution of this model."""
        type_of = {k: t for t, ks in enumerate(self.members) for k in ks}
        return Solution(self.data, [
            Route(self.data, _visits(self.problem, k, route, self.first_of), type_of[k])
            for k, route in enumerate(routes)
            if any(n in self.first_of for n in route)
        ])  # fmt: skip

    def routes(self, solution: Solution) -> list[list[int]]:
        """A PyVRP solution of this model as client nodes per vehicle."""
        routes: list[list[int]] = [[] for _ in self.problem.vehicles]
        free = [list(ks) for ks in self.members]
        for r in solution.routes():
            k = free[r.vehicle_type()].pop(0)
            routes[k] = [self.owner[a.idx] for a in r.schedule() if a.is_client()]
        return routes


def build(problem: Problem, clients: Sequence[int], *, group_vehicles: bool = True) -> Model:
    """PyVRP's model of ``problem`` with these clients (see ``solve_pyvrp``)."""
    clients = list(clients)
    vehicles = problem.vehicles
    depots = sorted({v.start for v in vehicles} | {v.end for v in vehicles})
    nodes = depots + clients
    dpos = {n: i for i, n in enumerate(depots)}
    dist, dur = int_matrices(problem, nodes)
    units_per_cost, units = cost_units(problem)
    ts = time_scale(problem)

    pclients: list[Client] = []
    owner: list[int] = []
    groups: list[ClientGroup] = []
    first_of: dict[int, int] = {}
    for i, n in enumerate(clients):
        first_of[n] = len(pclients)
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
    # One routing profile per skill set (and per vehicle with locked stops) that matters:
    # in a profile, the clients its vehicles may not serve are out of reach.
    keys = _profile_keys(problem, clients)
    single = len(keys) == 1 and keys[0] == (frozenset(), None)
    dist_ms, dur_ms, profile_of = [], [], {}
    for p, (skills, lock) in enumerate(keys):
        dm, tm = (dist, dur) if single else (dist.copy(), dur.copy())
        if not single:
            for i, n in enumerate(clients):
                owner_k = problem.locks.get(n)
                if not problem.nodes[n].skills <= skills or (
                    owner_k is not None and owner_k != lock
                ):
                    dm[:, len(depots) + i] = UNREACHABLE
                    tm[:, len(depots) + i] = UNREACHABLE
            np.fill_diagonal(dm, 0)
            np.fill_diagonal(tm, 0)
        dist_ms.append(dm)
        dur_ms.append(tm)
        profile_of[(skills, lock)] = p
    skilled = any(skills for skills, _ in keys)
    locked = {k for _, k in keys if k is not None}

    def profile(k: int) -> int:
        return profile_of[
            (vehicles[k].skills if skilled else frozenset(), k if k in locked else None)
        ]

    # Identical vehicles form one vehicle type (unless ``group_vehicles`` is off).
    type_keys: dict[tuple[Any, ...], list[int]] = {}
    for k, v in enumerate(vehicles):
        key = (
            None if group_vehicles else k,
            v.start,
            v.end,
            tuple(int_capacity(problem, k)),
            v.earliest,
            v.latest,
            profile(k),
            units[k],
            v.fixed_cost,
        )
        type_keys.setdefault(key, []).append(k)
    vtypes = []
    members = []
    for ks in type_keys.values():
        v = vehicles[ks[0]]
        early = scaled_time(v.earliest, up=True, scale=ts)
        late = min(scaled_time(v.latest, up=False, scale=ts), MAX_VALUE)
        vtypes.append(
            VehicleType(
                num_available=len(ks),
                capacity=int_capacity(problem, ks[0]),
                start_depot=dpos[v.start],
                end_depot=dpos[v.end],
                fixed_cost=round(v.fixed_cost * units_per_cost),
                tw_early=early,
                tw_late=max(early, late),
                unit_distance_cost=units[ks[0]][0],
                unit_duration_cost=units[ks[0]][1],
                profile=profile(ks[0]),
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
    return Model(problem, data, owner, first_of, members, units_per_cost)


def _unvisitable(data: ProblemData) -> int:
    """The prizes PyVRP counts as uncollected in every solution: of a client with several
    windows (one PyVRP client per window, at most one visited) all windows but one."""
    clients = data.clients()
    prizes = [[clients[i].prize for i in group] for group in data.groups()]
    return sum(sum(p) - max(p) for p in prizes if p)


def solve_pyvrp(
    problem: Problem,
    clients: Sequence[int],
    deadline: float,
    *,
    stop_event: threading.Event | None = None,
    callbacks: SolveCallbacks | None = None,
    seed: int = 0,
    iterations: int | None = None,
    feasible_by: float | None = None,
    started: float | None = None,
    initial_routes: Sequence[Sequence[int]] | None = None,
    reserve: float = 0.0,
    handover: tuple[float, Callable[[], bool]] | None = None,
    until_feasible: bool = False,
    group_vehicles: bool = True,
    model: Model | None = None,
    runtime: float | None = None,
    at_least: tuple[float, float] | None = None,
    searched: dict[str, float] | None = None,
) -> tuple[list[list[int]], bool]:
    """(routes per vehicle, whether PyVRP calls them feasible), solving until ``deadline``.

    ``deadline``, ``feasible_by`` and ``started`` are ``time.perf_counter()`` moments;
    progress is reported in seconds since ``started`` (default: now). ``initial_routes``
    (client nodes per vehicle): the search starts from them instead of a random solution.
    ``reserve``: seconds to keep before the deadline for what comes after, at full speed;
    on a busy machine (the wall clock outrunning this thread's CPU time) more.
    ``handover``, ``until_feasible``: see ``_Stop``. ``group_vehicles``: identical vehicles
    form one vehicle type (else one type per vehicle, in vehicle order, as a model written
    by hand for a mid-day problem has it: with the same seed, the same search).
    ``model``: ``build(problem, clients, ...)`` done already. ``runtime``: also stop once
    the search has run this long, counted as PyVRP's ``MaxRuntime`` counts it (from its
    first iteration, after the starting solution is built); ``at_least``: (seconds, until),
    search at least that long, so counted, whatever the deadline, unless that would pass
    ``until`` (the reserve kept before it). ``searched``: filled with the search's
    ``seconds`` (so counted) and ``iterations``.

    Given ``callbacks``, the best plan's quality (served, late, km) on ``problem`` goes to
    ``callbacks.on_quality`` at the first feasible plan and at most every
    ``QUALITY_EVERY_S`` while it improves: the same search, the same routes.
    """
    started = time.perf_counter() if started is None else started
    shows = callbacks is not None
    callbacks = callbacks or SolveCallbacks()
    if model is None:
        model = build(problem, clients, group_vehicles=group_vehicles)
    stop = _Stop(
        deadline, iterations, stop_event, callbacks, model.units_per_cost, feasible_by, started,
        handover, until_feasible, runtime, at_least,
    )  # fmt: skip
    stop.reserve = reserve
    stop.offset = _unvisitable(model.data)
    params = SolveParams()
    if shows:

        def show(best: Solution) -> None:
            elapsed = time.perf_counter() - started  # when it was the best
            callbacks.on_quality(quality(problem, model.routes(best)), elapsed)

        stop.found, stop.show = _Found(), show
        # The search's parameters but for callbacks, which do not take part in it.
        params = SolveParams(ils=IteratedLocalSearchParams(callbacks=stop.found))
    init = None if initial_routes is None else model.solution(initial_routes)
    result = pyvrp_solve(
        model.data, stop=stop, seed=seed, collect_stats=False, display=False,
        params=params, initial_solution=init,
    )  # fmt: skip
    if searched is not None:
        searched["iterations"] = result.num_iterations
        searched["seconds"] = 0.0 if stop.first is None else time.perf_counter() - stop.first
    if stop.first is not None:
        log.debug("PyVRP searched from %.1f to %.1f ms after the call, %d iterations",
                  1000 * (stop.first - started), 1000 * (time.perf_counter() - started),
                  result.num_iterations)  # fmt: skip
    return model.routes(result.best), result.best.is_feasible()


def local_search(model: Model, routes: Sequence[Sequence[int]], seed: int = 0) -> list[list[int]]:
    """One complete descent of PyVRP's local search from ``routes`` (client nodes per
    vehicle): a repair near them that keeps what already fits, in milliseconds. Its own
    random numbers: a search of the same model elsewhere is not disturbed."""
    from pyvrp import RandomNumberGenerator
    from pyvrp.PenaltyManager import PenaltyManager
    from pyvrp.search import LocalSearch, PerturbationManager, compute_neighbours
    from pyvrp.solve import SolveParams

    params = SolveParams()
    data = model.data
    ls = LocalSearch(
        data,
        RandomNumberGenerator(seed=seed),
        compute_neighbours(data, params.neighbourhood),
        PerturbationManager(params.perturbation),
    )
    for op in params.operators:
        if op.supports(data):
            ls.add_operator(op(data))
    penalties = PenaltyManager(params.penalty.midpoint_penalties(data), params.penalty)
    found = ls(model.solution(routes), penalties.max_cost_evaluator(), exhaustive=True)
    return model.routes(found)
