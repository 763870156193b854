"""Float problem -> integer data for the solver libraries, conservatively rounded.

Durations are rounded up and window ends down, so a schedule feasible in integers is
feasible in exact arithmetic too; distances are rounded to nearest for the objective.
"""

from __future__ import annotations

import math

import numpy as np

from engine.problem import Problem

TIME_SCALE = 1000  # integer time unit = 1/1000 of the problem's unit
DIST_SCALE = 1000
INT_INF = 2**50


def scaled_time(x: float, up: bool) -> int:
    if math.isinf(x):
        return INT_INF if x > 0 else 0
    v = x * TIME_SCALE
    return int(math.ceil(v - 1e-7)) if up else int(math.floor(v + 1e-7))


def int_durations(problem: Problem) -> np.ndarray:
    return np.ceil(problem.duration * TIME_SCALE - 1e-7).astype(np.int64)


def int_distances(problem: Problem) -> np.ndarray:
    return np.rint(problem.distance * DIST_SCALE).astype(np.int64)


def int_demand(problem: Problem, node: int) -> list[int]:
    return [int(math.ceil(x * 1000 - 1e-7)) for x in problem.demand(node)]


def int_capacity(problem: Problem, vehicle: int) -> list[int]:
    free = problem.vehicles[vehicle].free_capacity(len(problem.dimensions))
    return [
        max(0, int(math.floor(x * 1000 + 1e-7))) if not math.isinf(x) else INT_INF for x in free
    ]


def cost_units(problem: Problem) -> tuple[float, dict[int, tuple[int, int]]]:
    """(objective units per cost unit, vehicle -> (int distance unit, int duration unit)).

    Integer unit costs apply to the scaled matrices; their ratio keeps the vehicles' costs.
    """
    rates = [c for v in problem.vehicles for c in (v.distance_cost, v.time_cost) if c > 0]
    top = max(rates) if rates else 1.0
    k = 1.0 if all(float(r).is_integer() for r in rates) and top <= 100 else 100.0 / top
    units = {
        i: (round(v.distance_cost * k), round(v.time_cost * k))
        for i, v in enumerate(problem.vehicles)
    }
    return k * DIST_SCALE, units


def big_penalty(problem: Problem) -> float:
    """A leave-out cost (problem cost units) that serving any reachable client beats."""
    worst = 0.0
    dmax = float(problem.distance.max()) if problem.distance.size else 0.0
    tmax = float(problem.duration.max()) if problem.duration.size else 0.0
    for v in problem.vehicles:
        worst = max(worst, v.fixed_cost + 2 * (v.distance_cost * dmax + v.time_cost * tmax))
    return max(1.0, worst) * 100.0
