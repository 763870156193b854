"""Planning on domain types: plan a day, re-plan a running day, insert, suggest, evaluate.

    plan(day, travel, depot_id=..., time_limit_s=...)          -> Plan
    replan(snapshot, travel, time_limit_s=..., churn_penalty=...) -> Proposal
    insert(snapshot, order, travel)                             -> Proposal
    suggest(snapshot, order_id, travel)                         -> list[Suggestion]
    evaluate_route(context(snapshot, travel), vehicle_id, order_ids) -> RouteReport

Each builds the day's context (travel matrices included); ``engine.incremental`` keeps one
context current from command to command, for insertions and suggestions in milliseconds.

``travel`` is any ``engine.travel.TravelModel``. Costs are the vehicles' own (per km, per
hour, fixed); when no vehicle has any, one cost unit is one kilometre driven.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from engine.check import check, route_cost
from engine.model import DayInput, Order, Plan, Unassigned
from engine.problem import Problem, Solution, moved_stops
from engine.solver import Quality, SolveCallbacks
from engine.solver import replan as solve_replan
from engine.solver import solve as solve_cold
from engine.solver.diagnose import reason_for
from engine.solver.domain import DayContext, RouteReport, Snapshot, VehicleState, pair_drivers
from engine.solver.insertion import Suggestion, best_insertion, insertions, rank_targets
from engine.travel import TravelModel

__all__ = [
    "Quality",
    "SolveCallbacks",
    "DayContext",
    "Proposal",
    "RouteReport",
    "Snapshot",
    "StopChange",
    "Suggestion",
    "VehicleState",
    "context",
    "evaluate_route",
    "insert",
    "insert_into",
    "insertions",
    "pair_drivers",
    "plan",
    "replan",
    "suggest",
    "suggest_in",
]

Routes = Sequence[Sequence[int]]  # client nodes per vehicle

DEFAULT_CHURN = 2.0  # cost units (default costs: km) for moving a stop to another vehicle


@dataclass(frozen=True, slots=True)
class StopChange:
    """One order's vehicle and ETA before and after a proposal."""

    order_id: str
    vehicle_before: str | None
    vehicle_after: str | None
    eta_before: datetime | None
    eta_after: datetime | None


@dataclass(frozen=True)
class Proposal:
    """New routes for the day and what they change against continuing as planned.

    ``churn_cost`` is what the moved stops cost in the objective (``churn_penalty`` per stop
    taken off the vehicle it was on); ``strategy`` says which re-plan candidate won
    (``continue``, ``repair``, ``resolve``, ``fresh`` or ``local``) and ``candidates`` each one's
    objective.
    ``seconds`` is the whole call; ``matrix_seconds`` the part spent on travel matrices.
    ``duration_*_s`` are the routes' driver time (driving, service and waiting, from where
    each vehicle is) and ``cost_*`` their cost as the re-plan weighs it (each vehicle's cost
    per km and per hour and its fixed cost; the churn paid apart): a re-plan may trade
    kilometres for hours, and a person reading "+12 km" should see what it bought.
    ``notes``: what the caller kept out of the re-plan's reach, in words for the person who
    decides (e.g. the loaded stops kept on their vans).
    """

    plan: Plan
    moved: tuple[StopChange, ...]
    eta_changes: tuple[StopChange, ...]
    lateness_before_s: float
    lateness_after_s: float
    distance_before_m: float
    distance_after_m: float
    feasible: bool
    seconds: float
    churn_penalty: float = 0.0
    churn_cost: float = 0.0
    strategy: str = ""
    candidates: Mapping[str, float] = field(default_factory=dict)
    matrix_seconds: float = 0.0
    duration_before_s: float = 0.0
    duration_after_s: float = 0.0
    cost_before: float = 0.0
    cost_after: float = 0.0
    notes: tuple[str, ...] = ()

    @property
    def unassigned(self) -> tuple[Unassigned, ...]:
        return self.plan.unassigned


def context(snapshot: Snapshot, travel: TravelModel, depot_id: str | None = None) -> DayContext:
    """Build once per plan state; its ``evaluate_route`` answers in well under a millisecond."""
    return DayContext(snapshot, travel, depot_id or snapshot.plan.depot_id)


def evaluate_route(ctx: DayContext, vehicle_id: str, order_ids: Sequence[str]) -> RouteReport:
    """ETAs, waiting, lateness, loads and shift overrun of a sequence (for drag previews)."""
    return ctx.evaluate_route(vehicle_id, order_ids)


def plan(
    day: DayInput,
    travel: TravelModel,
    *,
    depot_id: str,
    time_limit_s: float = 10.0,
    stop_event: threading.Event | None = None,
    callbacks: SolveCallbacks | None = None,
    seed: int = 0,
    iterations: int | None = None,
    plan_id: str | None = None,
) -> Plan:
    """Plan one depot's day from scratch; orders left out come back with the reason.

    ``time_limit_s`` holds for the whole call but for building the travel matrices.
    """
    started, cpu = time.perf_counter(), time.thread_time()
    plan_id = plan_id or f"{depot_id}-{day.day.isoformat()}"
    ctx = DayContext(Snapshot(day, Plan(plan_id, depot_id, day.day)), travel, depot_id)
    if callbacks is not None:
        callbacks.on_matrices(ctx.matrix_seconds)
    budget = _budget(time_limit_s, started, cpu, ctx)
    sol = solve_cold(ctx.problem, budget, stop_event, callbacks, seed, iterations=iterations)
    return ctx.routes_to_plan(sol.routes, sol.unassigned, plan_id)


CONVERT_S_PER_ORDER = 60e-6  # turning routes into a plan with ETAs, and a proposal's diff


def _budget(time_limit_s: float, started: float, cpu: float, ctx: DayContext) -> float:
    """The solver's share of a call's limit: what is left after building the context (its
    travel matrices do not count), less the time to turn the routes into a plan (longer on
    a busy machine: by how much slower than this thread's CPU time the clock ran so far)."""
    wall = time.perf_counter() - started
    used = time.thread_time() - cpu
    slowdown = min(8.0, max(1.0, wall / used)) if used > 0.02 else 1.0
    convert = CONVERT_S_PER_ORDER * len(ctx.client_ids) * slowdown
    return max(0.0, time_limit_s - (wall - ctx.matrix_seconds) - convert)


def _proposal(
    ctx: DayContext,
    routes: Routes,
    unassigned: Mapping[int, str],
    started: float,
    feasible: bool,
    sol: Solution | None = None,
    problem: Problem | None = None,
) -> Proposal:
    problem = problem if problem is not None else ctx.problem
    before = [list(r) for r in (problem.initial_routes or [()] * problem.num_vehicles)]
    new_plan = ctx.routes_to_plan(routes, unassigned, ctx.snapshot.plan.id)
    # Only stops of routes that changed can move or change their ETA.
    changed = {k for k in range(len(before)) if k >= len(routes) or before[k] != list(routes[k])}
    changed |= set(range(len(before), len(routes)))
    eta_before, veh_before = _etas(ctx, before, changed)
    eta_after, veh_after = _etas(ctx, routes, changed)
    changes = []
    for oid in ctx.client_ids:
        if oid in eta_before or oid in eta_after:
            changes.append(
                StopChange(
                    oid,
                    veh_before.get(oid),
                    veh_after.get(oid),
                    eta_before.get(oid),
                    eta_after.get(oid),
                )
            )
    moved = tuple(c for c in changes if c.vehicle_before != c.vehicle_after)
    eta = tuple(c for c in changes if c.eta_before != c.eta_after)
    return Proposal(
        plan=new_plan,
        moved=moved,
        eta_changes=eta,
        lateness_before_s=_lateness(ctx, before),
        lateness_after_s=_lateness(ctx, routes),
        distance_before_m=_distance(ctx, before),
        distance_after_m=_distance(ctx, routes),
        feasible=feasible,
        seconds=time.perf_counter() - started,
        churn_penalty=problem.churn_penalty,
        churn_cost=problem.churn_penalty * moved_stops(problem, routes),
        strategy=sol.solver if sol is not None else "",
        candidates=dict(sol.candidates) if sol is not None else {},
        matrix_seconds=ctx.matrix_seconds,
        duration_before_s=_duration(ctx, before),
        duration_after_s=_duration(ctx, routes),
        cost_before=_cost(ctx, problem, before),
        cost_after=_cost(ctx, problem, routes),
    )


def _etas(
    ctx: DayContext, routes: Routes, only: set[int]
) -> tuple[dict[str, datetime], dict[str, str]]:
    etas, vehicles = {}, {}
    for k, r in enumerate(routes):
        if k not in only:
            continue
        ev = ctx.evaluation(k, r)
        for pos, n in enumerate(r):
            etas[ctx.order_of[n]] = ctx.clock(ev.arrivals[pos])
            vehicles[ctx.order_of[n]] = ctx.vehicles[k].id
    return etas, vehicles


def _lateness(ctx: DayContext, routes: Routes) -> float:
    return sum(ctx.evaluation(k, r).total_lateness for k, r in enumerate(routes))


def _distance(ctx: DayContext, routes: Routes) -> float:
    return sum(ctx.evaluation(k, r).distance for k, r in enumerate(routes) if r)


def _duration(ctx: DayContext, routes: Routes) -> float:
    return sum(ctx.evaluation(k, r).duration for k, r in enumerate(routes) if r)


def _cost(ctx: DayContext, problem: Problem, routes: Routes) -> float:
    """The routes' cost as the objective counts it (``engine.check.route_cost``)."""
    total = 0.0
    for k, r in enumerate(routes):
        if r and k < problem.num_vehicles:
            v, ev = problem.vehicles[k], ctx.evaluation(k, r)
            total += v.fixed_cost + v.distance_cost * ev.distance + v.time_cost * ev.duration
    return total


def replan(
    snapshot: Snapshot,
    travel: TravelModel,
    *,
    depot_id: str | None = None,
    time_limit_s: float = 1.0,
    churn_penalty: float = DEFAULT_CHURN,
    stop_event: threading.Event | None = None,
    callbacks: SolveCallbacks | None = None,
    iterations: int | None = None,
) -> Proposal:
    """Re-plan a running day from where each vehicle is, keeping history and locks.

    The best of continuing, a local repair or (with breaks) PyVRP from continuing, a fresh
    PyVRP solve of the mid-day problem and, with breaks or kept orders, an OR-Tools local
    search (``engine.solver.replan``), with ``churn_penalty`` cost units per stop moved off
    its vehicle; ``time_limit_s`` holds for the whole call but for building the travel
    matrices (without breaks: the search has the solver's share of it, and the set-up and
    polish come on top, at most 4 % of it).
    """
    started, cpu = time.perf_counter(), time.thread_time()
    ctx = context(snapshot, travel, depot_id)
    if callbacks is not None:
        callbacks.on_matrices(ctx.matrix_seconds)
    problem = replace(ctx.problem, churn_penalty=churn_penalty)
    budget = _budget(time_limit_s, started, cpu, ctx)
    sol = solve_replan(problem, budget, stop_event, callbacks, iterations=iterations)
    return _proposal(ctx, sol.routes, sol.unassigned, started, sol.feasible, sol, problem)


def insert(
    snapshot: Snapshot,
    order: Order,
    travel: TravelModel,
    *,
    depot_id: str | None = None,
    improve_s: float = 0.0,
    churn_penalty: float = DEFAULT_CHURN,
    stop_event: threading.Event | None = None,
) -> Proposal:
    """Put ``order`` where it costs least without breaking any rule; optionally improve.

    Builds the day's context; ``engine.incremental.IncrementalContext.insert`` answers the
    same on a context kept from one command to the next.
    """
    started = time.perf_counter()
    extra = () if any(o.id == order.id for o in snapshot.day.orders) else (order,)
    ctx = DayContext(snapshot, travel, depot_id or snapshot.plan.depot_id, extra)
    return insert_into(
        ctx, order.id, improve_s=improve_s, churn_penalty=churn_penalty,
        stop_event=stop_event, started=started,
    )  # fmt: skip


def insert_into(
    ctx: DayContext,
    order_id: str,
    *,
    improve_s: float = 0.0,
    churn_penalty: float = DEFAULT_CHURN,
    stop_event: threading.Event | None = None,
    started: float | None = None,
) -> Proposal:
    """``insert`` on a context that holds the order (``ctx`` itself is not changed)."""
    started = time.perf_counter() if started is None else started
    problem = ctx.problem
    routes = [list(r) for r in (problem.initial_routes or [()] * problem.num_vehicles)]
    node = ctx.node_of[order_id]
    for r in routes:
        if node in r:
            r.remove(node)
    best = best_insertion(problem, routes, node, ctx.evaluation, ctx.slack)
    unassigned = {}
    if best is None:
        unassigned[node] = reason_for(problem, node) or "no_feasible_route"
    else:
        routes[best.vehicle].insert(best.position, node)
    if best is not None and improve_s > 0:
        warm = replace(
            problem, churn_penalty=churn_penalty, initial_routes=tuple(map(tuple, routes))
        )
        sol = solve_replan(warm, improve_s, stop_event)
        if (
            sol.feasible
            and sum(route_cost(problem, k, r) for k, r in enumerate(sol.routes))
            <= sum(route_cost(problem, k, r) for k, r in enumerate(routes))
            and node in {n for r in sol.routes for n in r}
        ):
            routes = [list(r) for r in sol.routes]
    feasible = not check(problem, routes, evaluation=ctx.evaluation)
    return _proposal(ctx, routes, unassigned, started, feasible)


def suggest(
    snapshot: Snapshot, order_id: str, travel: TravelModel, *, depot_id: str | None = None
) -> list[Suggestion]:
    """Ranked target routes for moving one stop: feasible first, then by cost delta."""
    return suggest_in(context(snapshot, travel, depot_id), order_id)


def suggest_in(ctx: DayContext, order_id: str) -> list[Suggestion]:
    """``suggest`` on a built (or kept) context."""
    if order_id not in ctx.node_of:
        raise KeyError(f"order {order_id}: not an open stop of this day")
    problem = ctx.problem
    routes = [list(r) for r in (problem.initial_routes or [()] * problem.num_vehicles)]
    names = [v.id for v in ctx.vehicles]
    return rank_targets(problem, routes, ctx.node_of[order_id], names, ctx.evaluation, ctx.slack)
