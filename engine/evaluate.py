"""Evaluate one vehicle's stop sequence: ETAs, waiting, lateness, loads, shift overrun.

Plain Python over lists precomputed once per problem (cached by identity), so a 40-stop
route evaluates in well under a millisecond: fast enough for every mouse move of a drag.
Rules: the vehicle leaves its start at ``earliest``; service starts at the first window
still open on arrival (waiting for it if early); arriving after the last window is lateness;
a break is taken as late as it may be (absorbed in waiting where it fits).
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass

from engine.problem import TOLERANCE, Problem


@dataclass(frozen=True, slots=True)
class RouteEvaluation:
    """What a stop sequence means in time, load and distance (positions index the sequence)."""

    arrivals: tuple[float, ...]
    starts: tuple[float, ...]  # service start per stop
    departures: tuple[float, ...]
    waiting: tuple[float, ...]
    lateness: dict[int, float]  # position -> how late past its last usable window
    loads: tuple[tuple[float, ...], ...]  # on board when leaving start, then after each stop
    capacity_excess: tuple[float, ...]
    start_time: float
    end_time: float
    shift_overrun: float
    break_start: float | None
    distance: float
    duration: float

    @property
    def feasible(self) -> bool:
        return (
            not self.lateness
            and self.shift_overrun <= TOLERANCE
            and all(e <= TOLERANCE for e in self.capacity_excess)
        )

    @property
    def total_lateness(self) -> float:
        return sum(self.lateness.values())


class _Context:
    """Python lists of everything evaluate needs, built once per problem."""

    __slots__ = ("dist", "dur", "windows", "service", "demand", "dims", "__weakref__")

    def __init__(self, problem: Problem) -> None:
        self.dist = problem.distance.tolist()
        self.dur = problem.duration.tolist()
        self.windows = [n.windows for n in problem.nodes]
        self.service = [n.service for n in problem.nodes]
        self.dims = len(problem.dimensions)
        self.demand = [problem.demand(i) for i in range(len(problem.nodes))]


_CONTEXTS: weakref.WeakKeyDictionary[Problem, _Context] = weakref.WeakKeyDictionary()


def context(problem: Problem) -> _Context:
    ctx = _CONTEXTS.get(problem)
    if ctx is None:
        ctx = _CONTEXTS[problem] = _Context(problem)
    return ctx


def _window_start(windows: tuple[tuple[float, float], ...], arrive: float) -> tuple[float, float]:
    """(service start, lateness) for an arrival at a node with these windows."""
    if not windows:
        return arrive, 0.0
    for a, b in windows:
        if arrive <= b + TOLERANCE:
            return (a if arrive < a else arrive), 0.0
    return arrive, arrive - windows[-1][1]


def evaluate(problem: Problem, vehicle: int, sequence: Sequence[int]) -> RouteEvaluation:
    """Evaluate ``sequence`` (client nodes) driven by ``vehicle`` from its start to its end."""
    ctx = context(problem)
    v = problem.vehicles[vehicle]
    dist, dur, windows, service, demand = ctx.dist, ctx.dur, ctx.windows, ctx.service, ctx.demand
    dims = ctx.dims
    brk = v.break_
    break_start: float | None = None
    load = list(v.initial_load) if v.initial_load else [0.0] * dims
    for node in sequence:
        dem = demand[node]
        for d in range(dims):
            load[d] += dem[d]
    loads = [tuple(load)]
    excess = tuple(max(0.0, load[d] - v.capacity[d]) for d in range(dims))
    arrivals: list[float] = []
    starts: list[float] = []
    departures: list[float] = []
    waiting: list[float] = []
    lateness: dict[int, float] = {}
    overrun = 0.0
    t = v.earliest
    prev = v.start
    distance = 0.0
    for pos, node in enumerate(sequence):
        tt = dur[prev][node]
        distance += dist[prev][node]
        if brk is not None and break_start is None:
            arr = t + tt
            begin, _ = _window_start(windows[node], arr)
            bs = t if t > brk.earliest else brk.earliest
            if bs + brk.duration + tt <= begin or begin + service[node] > brk.latest:
                break_start = bs
                overrun = max(overrun, bs - brk.latest)
                t = bs + brk.duration
        arr = t + tt
        begin, late = _window_start(windows[node], arr)
        if late > TOLERANCE:
            lateness[pos] = late
        arrivals.append(arr)
        starts.append(begin)
        waiting.append(begin - arr)
        t = begin + service[node]
        departures.append(t)
        dem = demand[node]
        for d in range(dims):
            load[d] -= dem[d]
        loads.append(tuple(load))
        prev = node
    distance += dist[prev][v.end]
    t += dur[prev][v.end]
    if brk is not None and break_start is None and t > brk.earliest + TOLERANCE:
        break_start = t
        overrun = max(overrun, t - brk.latest)
        t += brk.duration
    overrun = max(overrun, t - v.latest, 0.0)
    return RouteEvaluation(
        arrivals=tuple(arrivals),
        starts=tuple(starts),
        departures=tuple(departures),
        waiting=tuple(waiting),
        lateness=lateness,
        loads=tuple(loads),
        capacity_excess=excess,
        start_time=v.earliest,
        end_time=t,
        shift_overrun=overrun,
        break_start=break_start,
        distance=distance,
        duration=t - v.earliest,
    )
