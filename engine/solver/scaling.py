"""Float problem -> integer data for the solver libraries, conservatively rounded.

Durations are rounded up and window ends down, so a schedule feasible in integers is
feasible in exact arithmetic too; distances are rounded to nearest for the objective.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from engine.problem import BreakSpec, NodeSpec, Problem, VehicleSpec

FINE_TIME_SCALE = 1000  # short horizons (Solomon units): 1/1000 of a unit
LONG_HORIZON = 20_000.0  # longer (seconds of a day): whole units, as OR-Tools domains stay small
FINE_DIST_SCALE = 1000
LONG_DISTANCE = 20_000.0  # longer (metres): whole units keep PyVRP's penalties in proportion
INT_INF = 2**50


TOP_UNIT = 100


def time_scale(problem: Problem) -> int:
    """Integer time units per problem time unit."""
    ends = [v.latest for v in problem.vehicles if math.isfinite(v.latest)]
    ends += [w[1] for n in problem.nodes for w in n.windows if math.isfinite(w[1])]
    return 1 if max(ends, default=0.0) > LONG_HORIZON else FINE_TIME_SCALE


def scaled_time(x: float, up: bool, scale: int = FINE_TIME_SCALE) -> int:
    if math.isinf(x):
        return INT_INF if x > 0 else 0
    v = x * scale
    return int(math.ceil(v - 1e-7)) if up else int(math.floor(v + 1e-7))


def int_durations(problem: Problem) -> np.ndarray:
    return np.ceil(problem.duration * time_scale(problem) - 1e-7).astype(np.int64)


def dist_scale(problem: Problem) -> int:
    """Integer distance units per problem distance unit."""
    top = float(problem.distance.max()) if problem.distance.size else 0.0
    return 1 if top > LONG_DISTANCE else FINE_DIST_SCALE


def int_distances(problem: Problem) -> np.ndarray:
    scaled: np.ndarray = np.rint(problem.distance * dist_scale(problem)).astype(np.int64)
    return scaled


def int_matrices(problem: Problem, nodes: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """``int_distances`` and ``int_durations`` between ``nodes`` (rows and columns in that
    order), the same numbers with one float scratch matrix instead of a scaled copy of the
    whole problem per rounding step (a solver's model is built before its search starts:
    at 1,000 clients those copies were most of the time to its first solution)."""
    index = np.asarray(nodes, dtype=np.intp)
    size = len(problem.nodes)
    whole = len(index) == size and bool(np.array_equal(index, np.arange(size)))
    ds, ts = dist_scale(problem), time_scale(problem)
    out = []
    for matrix, scale, rounding in ((problem.distance, ds, 0), (problem.duration, ts, 1)):
        scratch = np.multiply(matrix, scale) if whole else matrix[np.ix_(index, index)]
        if not whole:
            np.multiply(scratch, scale, out=scratch)
        ints = np.empty(scratch.shape, dtype=np.int64)
        if rounding == 0:
            np.rint(scratch, out=ints, casting="unsafe")
        else:
            np.subtract(scratch, 1e-7, out=scratch)
            np.ceil(scratch, out=ints, casting="unsafe")
        out.append(ints)
    return out[0], out[1]


def int_demand(problem: Problem, node: int) -> list[int]:
    return [int(math.ceil(x * 1000 - 1e-7)) for x in problem.demand(node)]


def int_capacity(problem: Problem, vehicle: int) -> list[int]:
    free = problem.vehicles[vehicle].free_capacity(len(problem.dimensions))
    return [
        max(0, int(math.floor(x * 1000 + 1e-7))) if not math.isinf(x) else INT_INF for x in free
    ]


def cost_units(problem: Problem) -> tuple[float, dict[int, tuple[int, int]]]:
    """(objective units per cost unit, vehicle -> (int distance unit, int duration unit)).

    The integer unit costs apply to the scaled matrices: 1 when every rate is the same,
    else the largest is ``TOP_UNIT`` (cost ratios survive rounding to within 1 %).
    """
    ts, ds = time_scale(problem), dist_scale(problem)
    rates = [r for v in problem.vehicles for r in (v.distance_cost / ds, v.time_cost / ts) if r > 0]
    top = max(rates) if rates else 1.0
    uniform = all(abs(r - top) <= 1e-12 * top for r in rates)
    per_cost = (1.0 if uniform else TOP_UNIT) / top
    units = {
        i: (round(v.distance_cost / ds * per_cost), round(v.time_cost / ts * per_cost))
        for i, v in enumerate(problem.vehicles)
    }
    return per_cost, units


def big_penalty(problem: Problem) -> float:
    """A leave-out cost (problem cost units) that serving any reachable client beats."""
    worst = 0.0
    dmax = float(problem.distance.max()) if problem.distance.size else 0.0
    tmax = float(problem.duration.max()) if problem.duration.size else 0.0
    for v in problem.vehicles:
        worst = max(worst, v.fixed_cost + 2 * (v.distance_cost * dmax + v.time_cost * tmax))
    return max(1.0, worst) * 100.0


def rounded_times(problem: Problem) -> Problem:
    """The problem with its times as the solver libraries see them: travel and service
    rounded up, windows' and shifts' openings up and closings down, to whole integer time
    units. A route that evaluates as feasible here is one the integer models accept."""
    ts = time_scale(problem)

    def up(x: float) -> float:
        return scaled_time(x, up=True, scale=ts) / ts if math.isfinite(x) else x

    def down(x: float) -> float:
        return scaled_time(x, up=False, scale=ts) / ts if math.isfinite(x) else x

    def node(n: NodeSpec) -> NodeSpec:
        wins = tuple((up(a), down(b)) for a, b in n.windows)
        wins = tuple((a, max(a, b)) for a, b in wins)
        return NodeSpec(n.demand, wins, up(n.service), n.skills, n.penalty, n.name)

    def vehicle(v: VehicleSpec) -> VehicleSpec:
        b = v.break_
        brk = None if b is None else BreakSpec(up(b.earliest), down(b.latest), up(b.duration))
        return replace(v, earliest=up(v.earliest), latest=max(up(v.earliest), down(v.latest)),
                       break_=brk)  # fmt: skip

    return replace(
        problem,
        duration=int_durations(problem) / ts,
        nodes=tuple(node(n) for n in problem.nodes),
        vehicles=tuple(vehicle(v) for v in problem.vehicles),
    )
