"""Solve an index-level ``Problem`` within a time limit that holds for the whole call
(for a re-plan without breaks: its search for the limit, the whole call within 4 % more).

``solve`` plans from scratch: PyVRP where its model fits (breaks: PyVRP on the problem with
breaks folded into shorter shifts, then OR-Tools from there), OR-Tools otherwise.
``replan`` starts from ``problem.initial_routes`` and returns the best, by route costs plus
``churn_penalty`` per stop moved off its vehicle, of these candidates:

- **continue**: the current routes minus what no longer fits, plus cheapest insertions of
  whatever is not placed (a new order, a broken-down vehicle's stops): feasible at once and
  reported as the first solution;
- **repair** (where PyVRP's model is exact: no breaks, no kept orders): one complete
  descent of PyVRP's local search from continuing, in milliseconds: a plan near the
  current one, early;
- **fresh**: then at once PyVRP on the whole mid-day problem (every vehicle where it is,
  with what it carries, served stops gone, locks as routing profiles, every other stop
  free to move) from a random solution, with one vehicle type per vehicle: the model and
  search a plain PyVRP solve of the mid-day problem has, so with the same seed the same
  iterations give the same routes. It searches as PyVRP's ``MaxRuntime`` counts it, from
  its first iteration, as a plain solve with that limit does, and ``FRESH_EXTRA_SHARE``
  longer: with at least as many iterations, its routes are no longer. The call's set-up
  before it (continuing, the model, the repair) and its polish after come on top, the
  whole call within ``REPLAN_OVER_SHARE`` of the limit: the extra share gives way where
  they would not fit, the limit itself only past ``REPLAN_MOST_SHARE`` (on a busy machine
  a slow set-up would otherwise leave the search less time than the plain solve's). After the search each
  moved stop goes back on its vehicle where that costs less than the churn penalty, and a
  vehicle left with the same stops keeps their current order unless the new one saves at
  least the churn penalty (no new sequence and ETAs for next to nothing);
- with breaks, **resolve** and **fresh**: PyVRP on the problem with breaks folded into
  shorter shifts, from continuing for the first ``1 - FRESH_SHARE`` of its time, then
  from a random solution; then **local**, OR-Tools guided local search from the best so
  far, with locks, kept orders, breaks and the churn penalty in its objective (also alone,
  with kept orders, which PyVRP's model does not hold). These hold the limit for the whole
  call.

Clients no vehicle could ever serve are diagnosed up front and come back unassigned with
the reason. Every result is checked by ``engine.check.check`` before it is returned. A
plan's limit covers everything from the call to the return (diagnosis, model builds,
solving, repair and the check): the solvers stop early enough to leave time for the polish.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence

from engine.check import check, route_cost
from engine.evaluate import RouteEvaluation, evaluate
from engine.problem import Problem, Solution, moved_stops, total_distance
from engine.solver.callbacks import Quality, SolveCallbacks, quality
from engine.solver.diagnose import diagnose, reason_for, repair
from engine.solver.insertion import best_insertion
from engine.solver.scaling import big_penalty

__all__ = [
    "Quality",
    "SolveCallbacks",
    "continuing",
    "keep_order",
    "objective",
    "replan",
    "solve",
    "unchurn",
]

log = logging.getLogger(__name__)

RELAXED_SHARE = 0.5  # of the solving time, spent by PyVRP on the problem without breaks
FRESH_SHARE = 0.95  # with breaks: of a re-plan's PyVRP time, for the fresh solve
# A re-plan's fresh search gets the whole limit; its set-up and polish come on top, at most
# this share of the limit (whole call: limit x 1.04, within the 5 % a limit may overrun).
REPLAN_OVER_SHARE = 0.04
# ... but its search is never shorter than the limit (a plain solve's) for a set-up that
# took long (a busy machine), as long as the whole call stays within this share.
REPLAN_MOST_SHARE = 0.05
# The fresh search runs this share longer than a plain solve's MaxRuntime: the same seed
# follows the same trajectory, so with at least the plain solve's iterations its best is
# never longer; a few per cent of speed between two runs (a busy neighbour core, the
# iteration a deadline falls in) would otherwise decide which of the two ends shorter.
FRESH_EXTRA_SHARE = 0.03
RESOLVE_SHARE = 0.85  # with breaks: PyVRP until this share, OR-Tools improves the rest
FEASIBLE_BY_SHARE = 0.5  # PyVRP hands over if it has nothing feasible by this share
POLISH_SHARE = 0.01  # of the limit, kept for repair, last insertions and the check ...
POLISH_S_PER_CLIENT = 100e-6  # ... plus this much per client
POLISH_MAX_SHARE = 0.2
# A re-plan's last PyVRP search leaves time for its candidate's polish and the final one
# only (repair, insertions, unchurn, the check); this much per client and at the least the
# floor, at full speed. Measured at about 130 Homberger clients: 3 ms of CPU without a
# churn penalty, 27 ms with one (unchurn prices each moved stop back on its vehicle).
REPLAN_POLISH_S_PER_CLIENT = 200e-6
REPLAN_POLISH_S_PER_CLIENT_NO_CHURN = 60e-6
REPLAN_POLISH_FLOOR_S = 0.005
ORTOOLS_SETUP_S_PER_CLIENT = 2e-3  # building and closing its model, reading routes: about
MAX_SLOWDOWN = 8.0


def polish_reserve(problem: Problem, time_limit_s: float) -> float:
    """Seconds kept at the end of a call for repair, insertions and the independent check."""
    want = POLISH_SHARE * time_limit_s + POLISH_S_PER_CLIENT * len(problem.clients)
    return min(POLISH_MAX_SHARE * time_limit_s, want)


class _Clock:
    """A call's deadline, and how much slower than its own CPU time the wall clock runs
    (a busy machine): reserves for work that cannot be interrupted grow by that much."""

    def __init__(self, problem: Problem, time_limit_s: float) -> None:
        self.started = time.perf_counter()
        self.cpu = time.thread_time()
        self.deadline = self.started + time_limit_s
        self.reserve = polish_reserve(problem, time_limit_s)

    def slowdown(self) -> float:
        cpu = time.thread_time() - self.cpu
        if cpu < 0.02:
            return 1.0
        return min(MAX_SLOWDOWN, max(1.0, (time.perf_counter() - self.started) / cpu))

    def end(self) -> float:
        """When solving must stop to leave time for the polish, as things run now."""
        return self.deadline - self.reserve * self.slowdown()


class _Improving(SolveCallbacks):
    """Forwards progress only when it improves on what was reported (costs comparable)."""

    def __init__(self, inner: SolveCallbacks, started: float) -> None:
        self.inner, self.started = inner, started
        self.best = float("inf")

    def on_progress(self, best_cost: float, elapsed_s: float) -> None:
        if best_cost < self.best:
            self.best = best_cost
            self.inner.on_progress(best_cost, elapsed_s)

    def report(self, cost: float, problem: Problem, routes: Sequence[Sequence[int]]) -> None:
        before = self.best
        self.on_progress(cost, time.perf_counter() - self.started)
        if self.best < before:
            self.inner.on_quality(quality(problem, routes), time.perf_counter() - self.started)

    def on_quality(self, best: Quality, elapsed_s: float) -> None:
        self.inner.on_quality(best, elapsed_s)

    def on_phase(self, name: str) -> None:
        self.inner.on_phase(name)


class _QualityOnly(SolveCallbacks):
    """Forwards the best plan's quality only: a search of the problem with breaks folded
    into shorter shifts has costs that are not the plan's objective; its quality is
    that of its routes on that problem (served and kilometres as they are)."""

    def __init__(self, inner: SolveCallbacks) -> None:
        self.inner = inner

    def on_quality(self, best: Quality, elapsed_s: float) -> None:
        self.inner.on_quality(best, elapsed_s)


def _insert_missing(
    problem: Problem, routes: list[list[int]], clients: Sequence[int]
) -> list[list[int]]:
    """Cheapest feasible insertion, in turn, of every client the routes do not serve."""
    served = {n for r in routes for n in r}
    known: dict[tuple[int, tuple[int, ...]], RouteEvaluation] = {}

    def evaluation(k: int, route: Sequence[int]) -> RouteEvaluation:
        key = (k, tuple(route))
        if key not in known:
            known[key] = evaluate(problem, k, route)
        return known[key]

    for n in clients:
        if n not in served:
            best = best_insertion(problem, routes, n, evaluation)
            if best is not None:
                routes[best.vehicle].insert(best.position, n)
                served.add(n)
    return routes


def _finish(
    problem: Problem,
    routes: Sequence[Sequence[int]],
    reasons: Mapping[int, str],
    solver: str,
    started: float,
    candidates: Mapping[str, float] | None = None,
    search: Mapping[str, float] | None = None,
) -> Solution:
    routes = _insert_missing(problem, repair(problem, routes), problem.clients)
    served = {n for r in routes for n in r}
    unassigned = {n: reasons[n] for n in problem.clients if n in reasons and n not in served}
    for n in problem.clients:
        if n not in served and n not in unassigned:
            unassigned[n] = reason_for(problem, n) or "no_feasible_route"
    violations = check(problem, routes)
    if violations:
        log.warning("%s returned %d violations, first: %s", solver, len(violations), violations[0])
    return Solution(
        routes=tuple(tuple(r) for r in routes),
        unassigned=unassigned,
        cost=objective(problem, routes),
        distance=total_distance(problem, routes),
        feasible=not violations,
        solver=solver,
        seconds=time.perf_counter() - started,
        moved=moved_stops(problem, routes),
        candidates=dict(candidates or {}),
        search=dict(search or {}),
    )


def solve(
    problem: Problem,
    time_limit_s: float,
    stop_event: threading.Event | None = None,
    callbacks: SolveCallbacks | None = None,
    seed: int = 0,
    *,
    iterations: int | None = None,
    backend: str = "auto",
) -> Solution:
    """Plan from scratch within ``time_limit_s`` (or ``iterations``, for repeatable results).

    ``backend``: ``"auto"`` (PyVRP where it fits, else OR-Tools), ``"pyvrp"`` or ``"ortools"``.
    """
    clock = _Clock(problem, time_limit_s)
    started = clock.started
    callbacks = callbacks or SolveCallbacks()
    reasons = diagnose(problem)
    clients = [c for c in problem.clients if c not in reasons]
    if not clients:
        return _finish(problem, [[] for _ in problem.vehicles], reasons, "none", started)
    end = clock.end()
    from engine.solver import pyvrp_backend

    initial = None
    use_pyvrp = backend == "pyvrp" or (backend == "auto" and pyvrp_backend.supports(problem))
    if use_pyvrp:
        callbacks.on_phase("pyvrp")
        routes, ok = pyvrp_backend.solve_pyvrp(
            problem,
            clients,
            clock.deadline,
            stop_event=stop_event,
            callbacks=callbacks,
            seed=seed,
            iterations=iterations,
            feasible_by=_share(started, end, FEASIBLE_BY_SHARE) if backend == "auto" else None,
            started=started,
            reserve=clock.reserve,
        )
        if ok:  # the polish repairs and re-checks: no need to check twice
            return _finish(problem, routes, reasons, "pyvrp", started)
        if stop_event is not None and stop_event.is_set():
            return _finish(problem, [[] for _ in problem.vehicles], reasons, "cancelled", started)
        log.info("PyVRP found no feasible plan; OR-Tools goes on from its routes")
        initial = repair(problem, routes)
    elif backend == "auto" and pyvrp_backend.supports(problem, relaxed=True):
        # Breaks: PyVRP plans with shifts shortened by the break, OR-Tools finishes from there.
        callbacks.on_phase("pyvrp")
        relaxed, relaxed_end = (
            pyvrp_backend.without_breaks(problem),
            _share(started, end, RELAXED_SHARE),
        )
        routes, ok = pyvrp_backend.solve_pyvrp(
            relaxed,
            clients,
            relaxed_end,
            stop_event=stop_event,
            seed=seed,
            iterations=None if iterations is None else iterations // 2,
            started=started,
            until_feasible=iterations is None,
        )
        initial = _insert_missing(problem, repair(problem, routes), clients)
        improving = _Improving(callbacks, started)
        improving.report(objective(problem, initial), problem, initial)  # the first plan
        if iterations is None and ok and not _stopped(stop_event):
            # That was PyVRP's first feasible plan, shown at once; its search goes on from it.
            routes, _ = pyvrp_backend.solve_pyvrp(
                relaxed, clients, relaxed_end, stop_event=stop_event, seed=seed,
                started=started, initial_routes=initial,
                callbacks=_QualityOnly(improving),
            )  # fmt: skip
            more = _insert_missing(problem, repair(problem, routes), clients)
            if objective(problem, more) < objective(problem, initial):
                initial = more
                improving.report(objective(problem, initial), problem, initial)
        improving.on_phase("ortools")
        found = _ortools(problem, clients, clock, stop_event, improving, initial, iterations)
        if found is not None or _stopped(stop_event) or iterations is not None:
            return _finish(problem, found or initial, reasons, "ortools", started)
        # OR-Tools could not start from these routes (or had no time): PyVRP goes on.
        improving.on_phase("pyvrp")
        routes, _ = pyvrp_backend.solve_pyvrp(
            pyvrp_backend.without_breaks(problem), clients, clock.deadline, stop_event=stop_event,
            seed=seed, started=started, initial_routes=initial, reserve=clock.reserve,
            callbacks=_QualityOnly(improving),
        )  # fmt: skip
        more = _insert_missing(problem, repair(problem, routes), clients)
        best = min((initial, more), key=lambda r: objective(problem, r))
        return _finish(problem, best, reasons, "pyvrp", started)
    callbacks.on_phase("ortools")
    found = _ortools(problem, clients, clock, stop_event, callbacks, initial, iterations)
    if found is not None:
        routes = found
    else:
        routes = [list(r) for r in initial or [[] for _ in problem.vehicles]]
    return _finish(problem, routes, reasons, "ortools", started)


def _share(started: float, end: float, share: float) -> float:
    return started + share * max(0.0, end - started)


def _setup(clock: _Clock, clients: Sequence[int]) -> float:
    """What OR-Tools needs at the least to be worth starting: its model twice over."""
    return 2 * ORTOOLS_SETUP_S_PER_CLIENT * len(clients) * clock.slowdown()


def _ortools(
    problem: Problem,
    clients: Sequence[int],
    clock: _Clock,
    stop_event: threading.Event | None,
    callbacks: SolveCallbacks,
    initial: Sequence[Sequence[int]] | None,
    iterations: int | None,
) -> list[list[int]] | None:
    """OR-Tools' routes, or None when it did not run (no time) or found nothing."""
    from engine.solver.ortools_backend import solve_ortools

    end, started = clock.end(), clock.started
    if (
        initial is not None
        and iterations is None
        and end - time.perf_counter() < _setup(clock, clients)
    ):
        log.info("no time left for OR-Tools; keeping the routes found so far")
        return None
    routes = solve_ortools(
        problem,
        clients,
        end,
        stop_event=stop_event,
        callbacks=callbacks,
        initial_routes=initial,
        solution_limit=iterations,
        started=started,
    )
    return routes


def continuing(problem: Problem) -> list[list[int]]:
    """The current routes minus what no longer fits, plus cheapest insertions of the rest."""
    initial = problem.initial_routes or ((),) * problem.num_vehicles
    keep = set(problem.clients)
    routes = repair(problem, [[n for n in r if n in keep] for r in initial])
    return _insert_missing(problem, routes, problem.clients)


def unchurn(problem: Problem, routes: Sequence[Sequence[int]]) -> list[list[int]]:
    """Each stop moved off its vehicle goes back where that costs less than the churn."""
    out = [list(r) for r in routes]
    if problem.churn_penalty <= 0 or problem.initial_routes is None:
        return out
    before = problem.initial_vehicle()
    where = {n: k for k, r in enumerate(out) for n in r}
    for n, k in before.items():
        now = where.get(n)
        if now is None or now == k or n in problem.locks:
            continue
        rest = [m for m in out[now] if m != n]
        only_k = [r if j == k else () for j, r in enumerate(out)]
        best = best_insertion(problem, only_k, n)
        if best is None:
            continue
        saving = route_cost(problem, now, out[now]) - route_cost(problem, now, rest)
        if best.cost_delta - saving < problem.churn_penalty:
            out[now] = rest
            out[k].insert(best.position, n)
            where[n] = k
    return out


def keep_order(problem: Problem, routes: Sequence[Sequence[int]]) -> list[list[int]]:
    """A vehicle keeps its current order of the same stops where the new order saves less
    than moving one stop to another vehicle costs (the churn penalty): a driver is not
    sent a new sequence, nor the customers new ETAs, for next to nothing."""
    out = [list(r) for r in routes]
    initial = problem.initial_routes
    if problem.churn_penalty <= 0 or initial is None:
        return out
    for k, route in enumerate(out[: len(initial)]):
        on_it = set(route)
        before = [n for n in initial[k] if n in on_it]
        if before == route or len(before) != len(route):
            continue  # unchanged, or stops came or went: the order is the new route's
        if not evaluate(problem, k, before).feasible:
            continue
        saving = route_cost(problem, k, before) - route_cost(problem, k, route)
        if saving < problem.churn_penalty:
            out[k] = before
    return out


def objective(problem: Problem, routes: Sequence[Sequence[int]]) -> float:
    """What the solvers minimise: route costs, the leave-out penalty of every client not
    served (its own, or a big one for a required client) and the churn penalty per moved
    stop."""
    served = {n for r in routes for n in r}
    left = [n for n in problem.clients if n not in served]
    cost = sum(route_cost(problem, k, r) for k, r in enumerate(routes))
    if left:
        big = big_penalty(problem)
        for n in left:
            penalty = problem.nodes[n].penalty
            cost += big if penalty is None else penalty
    return cost + problem.churn_penalty * moved_stops(problem, routes)


def replan(
    problem: Problem,
    time_limit_s: float,
    stop_event: threading.Event | None = None,
    callbacks: SolveCallbacks | None = None,
    seed: int = 0,
    *,
    iterations: int | None = None,
) -> Solution:
    """The best of continuing, a local repair, a fresh solve and, with breaks, a re-solve
    and a local search (see the module docstring).

    ``solution.solver`` names the winner and ``solution.candidates`` every candidate's
    objective (route costs, leave-out penalties and the churn paid).
    """
    if problem.initial_routes is None:
        return solve(problem, time_limit_s, stop_event, callbacks, seed, iterations=iterations)
    clock = _Clock(problem, time_limit_s)
    started = clock.started
    report = _Improving(callbacks or SolveCallbacks(), started)
    candidates: dict[str, list[list[int]]] = {"continue": continuing(problem)}
    costs = {"continue": objective(problem, candidates["continue"])}
    report.report(costs["continue"], problem, candidates["continue"])

    def best() -> str:
        return min(costs, key=lambda name: (costs[name], name != "continue"))

    def offer(name: str, routes: list[list[int]]) -> None:
        """A solver's routes, repaired, completed, unchurned and, where a new order of a
        vehicle's stops gains next to nothing, in their current order, as a candidate."""
        routes = unchurn(problem, _insert_missing(problem, repair(problem, routes), clients))
        routes = keep_order(problem, routes)
        if not check(problem, routes):
            candidates[name], costs[name] = routes, objective(problem, routes)
            report.report(costs[name], problem, routes)

    reasons = diagnose(problem)
    clients = [c for c in problem.clients if c not in reasons]
    from engine.solver import pyvrp_backend

    if clients and pyvrp_backend.supports(problem) and not _stopped(stop_event):
        # PyVRP's model is exact: a local repair of continuing, then at once the fresh
        # search, for as long as a plain PyVRP solve searches (the limit, from its first
        # iteration), the call's set-up and polish on top within the overrun share.
        report.on_phase("pyvrp")
        exact = pyvrp_backend.build(problem, clients, group_vehicles=False)
        offer("repair", pyvrp_backend.local_search(exact, candidates["continue"], seed))
        timed = iterations is None
        searched: dict[str, float] = {}
        routes, _ = pyvrp_backend.solve_pyvrp(
            problem,
            clients,
            started + (1.0 + REPLAN_OVER_SHARE) * time_limit_s if timed else float("inf"),
            stop_event=stop_event,
            seed=seed,
            iterations=iterations,
            started=started,
            reserve=_replan_reserve(problem, clock, clients, False) if timed else 0.0,
            model=exact,
            runtime=(1.0 + FRESH_EXTRA_SHARE) * time_limit_s if timed else None,
            at_least=(time_limit_s, started + (1.0 + REPLAN_MOST_SHARE) * time_limit_s)
            if timed
            else None,
            searched=searched,
        )
        offer("fresh", routes)
        winner = best()
        log.debug("re-plan candidates: %s; %s wins", costs, winner)
        return _finish(problem, candidates[winner], reasons, winner, started, costs, searched)
    relaxed = any(v.break_ is not None for v in problem.vehicles)
    if clients and pyvrp_backend.supports(problem, relaxed=True) and not _stopped(stop_event):
        model = pyvrp_backend.without_breaks(problem) if relaxed else problem
        report.on_phase("pyvrp")
        # PyVRP from continuing first, briefly: near the current plan (fewer stops moved),
        # and a better plan to show early.
        end = clock.end()
        pyvrp_end = _share(started, end, RESOLVE_SHARE) if relaxed else end
        routes, _ = pyvrp_backend.solve_pyvrp(
            model,
            clients,
            _share(started, pyvrp_end, 1.0 - FRESH_SHARE) if iterations is None else float("inf"),
            stop_event=stop_event,
            seed=seed,
            iterations=iterations,
            started=started,
            initial_routes=candidates["continue"],
        )
        offer("resolve", routes)
    if clients and pyvrp_backend.supports(problem, relaxed=True) and not _stopped(stop_event):
        # Then the fresh solve, for the rest of the time, with one vehicle type per vehicle:
        # the model a plain PyVRP solve of this mid-day problem has, so with the same seed
        # it is the same search. With breaks, OR-Tools (which keeps them exactly) takes over
        # at its share if what is left then pays for building its model.
        end = clock.end()
        handover = None
        if relaxed and iterations is None:
            handover = (
                _share(started, end, RESOLVE_SHARE),
                lambda: clock.end() - time.perf_counter() >= _setup(clock, clients),
            )
        routes, _ = pyvrp_backend.solve_pyvrp(
            model,
            clients,
            clock.deadline if iterations is None else float("inf"),
            stop_event=stop_event,
            seed=seed,
            iterations=iterations,
            feasible_by=_share(time.perf_counter(), end, FEASIBLE_BY_SHARE),
            started=started,
            reserve=(
                0.0 if iterations is not None else _replan_reserve(problem, clock, clients, relaxed)
            ),
            handover=handover,
            group_vehicles=False,
        )
        offer("fresh", routes)
    if clients and not _stopped(stop_event) and (relaxed or not pyvrp_backend.supports(problem)):
        # OR-Tools' guided local search from the best so far, with breaks, kept orders and
        # the churn penalty in its objective (where PyVRP's model could not have them).
        report.on_phase("ortools")
        start = candidates[best()]
        found = _ortools(problem, clients, clock, stop_event, report, start, iterations)
        if found is not None:  # None: no time for it, or nothing found
            local = keep_order(problem, _insert_missing(problem, repair(problem, found), clients))
            if not check(problem, local):
                candidates["local"], costs["local"] = local, objective(problem, local)
    winner = best()
    log.debug("re-plan candidates: %s; %s wins", costs, winner)
    return _finish(problem, candidates[winner], reasons, winner, started, costs)


def _replan_reserve(
    problem: Problem, clock: _Clock, clients: Sequence[int], relaxed: bool
) -> float:
    """Seconds a re-plan's last PyVRP search keeps for the polish, at full speed: less than
    a cold plan's when PyVRP's model was exact (nothing to repair for breaks, nothing to
    insert but what the search left out), and less again without a churn penalty."""
    if relaxed:
        return clock.reserve
    per_client = (
        REPLAN_POLISH_S_PER_CLIENT
        if problem.churn_penalty > 0
        else REPLAN_POLISH_S_PER_CLIENT_NO_CHURN
    )
    return min(clock.reserve, REPLAN_POLISH_FLOOR_S + per_client * len(clients))


def _stopped(event: threading.Event | None) -> bool:
    return event is not None and event.is_set()
