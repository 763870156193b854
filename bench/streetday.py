"""A street-network day of N orders: plan it, then time what a dispatcher does on it.

``python -m bench.engine --generate N`` writes the day (the demo depot's city, its fleet mix
scaled to N/16 vehicles, N orders on real streets with skills, breaks and two-window
orders) as import files, then, in a fresh process (for its peak memory):

- builds the travel matrix (cold: no cached paths) and plans the day at the limit (wall
  time of the call without the matrix, first feasible plan, orders served, routes);
- runs the day to 11:00 (stops before then served, vans where they left their last one)
  and keeps the day's context (``engine.incremental``) as the dispatch service does:
  urgent insertions of new orders, move suggestions, route evaluations, and the update
  after a command (a stop moved), each timed over many samples; one insertion with a full
  rebuild of the context for comparison;
- breaks the busiest van down at 11:00 and re-plans at the same limit (first feasible plan
  after the breakdown, wall time without the matrix, which candidate won).
"""

from __future__ import annotations

import math
import os
import random
import resource
import statistics
import time
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

SAMPLES = 60
DAY = date(2026, 12, 7)  # a Monday; fixed so the written files are the same every time


def vehicles_for(orders: int) -> int:
    """The fleet size of a generated day: the demo's 25 vans and trucks per 400 orders."""
    return max(25, math.ceil(orders / 16.6))


def _ms(seconds: list[float]) -> tuple[float, float]:
    xs = sorted(seconds)
    return statistics.median(xs) * 1000, xs[int(0.95 * (len(xs) - 1))] * 1000


class _Clock:
    """SolveCallbacks noting when the matrices were done and the first plan came."""

    def __init__(self) -> None:
        from engine.solver import SolveCallbacks

        class Hooks(SolveCallbacks):
            def on_progress(hooks, best_cost: float, elapsed_s: float) -> None:
                if self.first is None:
                    self.first = time.perf_counter()

            def on_matrices(hooks, seconds: float) -> None:
                self.matrices = seconds

        self.hooks = Hooks()
        self.first: float | None = None
        self.matrices = 0.0


def measure_day(orders: int, seconds: float, out_dir: str, seed: int) -> dict:
    """Everything measured on one generated street day (run it in a fresh process)."""
    from app.simulator.demo_day import generate_demo_day, write_demo_day
    from engine import planning
    from engine.check import check
    from engine.incremental import IncrementalContext
    from engine.model import Location, Order, StopStatus, TimeWindow
    from engine.planning import DayContext, Snapshot, VehicleState
    from engine.roads import DEMO_CITY_NETWORK, StreetNetwork
    from engine.travel import StreetNetworkTravelModel

    peaks = {"start": peak_rss_mb()}
    started = time.perf_counter()
    net = StreetNetwork.load(DEMO_CITY_NETWORK)
    network_s = time.perf_counter() - started
    fleet = vehicles_for(orders)
    day = generate_demo_day(7 + seed, DAY, net, orders=orders, vehicles=fleet)
    write_demo_day(day, Path(out_dir) / f"street{orders}")
    depot = day.depots[0]
    travel = StreetNetworkTravelModel(net, timezone=depot.timezone)
    points = [depot.location, *(o.location for o in day.orders)]
    started, cpu = time.perf_counter(), time.process_time()
    travel.matrices(points)
    peaks["matrix"] = peak_rss_mb()
    matrix_s = time.perf_counter() - started
    matrix_cpu_s = time.process_time() - cpu

    clock = _Clock()
    load = os.getloadavg()[0]
    started, cpu = time.perf_counter(), time.process_time()
    planned = planning.plan(day, travel, depot_id=depot.id, time_limit_s=seconds,
                            callbacks=clock.hooks, seed=seed)  # fmt: skip
    wall = time.perf_counter() - started - clock.matrices
    plan_cpu_s = time.process_time() - cpu
    first = None if clock.first is None else clock.first - started - clock.matrices
    peaks["plan"] = peak_rss_mb()
    ctx = DayContext(Snapshot(day, planned), travel, depot.id)
    routes = [[] for _ in ctx.vehicles]
    for r in planned.routes:
        routes[ctx.vehicle_index[r.vehicle_id]] = [ctx.node_of[o] for o in r.order_ids]
    feasible = not check(ctx.problem, routes)
    distance = sum(ctx.evaluate_route(r.vehicle_id, r.order_ids).distance_m
                   for r in planned.routes if r.stops)  # fmt: skip

    # The day at 11:00: what was due before is served, vans where they left their last stop.
    tz = ZoneInfo(depot.timezone)
    now = datetime.combine(DAY, datetime.min.time(), tz) + timedelta(hours=11)
    locs = {o.id: o.location for o in day.orders}
    run_routes, states = [], {}
    for r in planned.routes:
        stops = [replace(s, status=StopStatus.DELIVERED) if s.planned_departure
                 and s.planned_departure <= now else s for s in r.stops]  # fmt: skip
        done = [s for s in stops if s.status == StopStatus.DELIVERED]
        if done:
            states[r.vehicle_id] = VehicleState(r.vehicle_id, locs[done[-1].order_id], now)
        run_routes.append(replace(r, stops=tuple(stops)))
    running = replace(planned, routes=tuple(run_routes))
    snapshot = Snapshot(day, running, now, states)
    kept = IncrementalContext(travel)
    started = time.perf_counter()
    kept.context(snapshot)
    context_s = time.perf_counter() - started

    rnd = random.Random(seed)
    street = net.random_street_points(np.random.default_rng(seed + 99), SAMPLES)
    urgent = [
        Order(f"URGENT-{i}", depot.id, Location(float(street.lat[i]), float(street.lon[i])),
              {"kg": rnd.uniform(5, 60), "m3": rnd.uniform(0.05, 0.4)},
              (TimeWindow(now + timedelta(minutes=30), now + timedelta(hours=4)),),
              timedelta(minutes=5))
        for i in range(SAMPLES)
    ]  # fmt: skip
    inserts, insert_cpu, placed = [], [], 0
    for order in urgent:
        t, c = time.perf_counter(), time.process_time()
        proposal = kept.insert(order)
        inserts.append(time.perf_counter() - t)
        insert_cpu.append(time.process_time() - c)
        placed += not proposal.unassigned
    t = time.perf_counter()
    planning.insert(snapshot, urgent[0], travel)
    rebuild_s = time.perf_counter() - t

    open_ids = [o for r in running.routes for s in r.stops
                if s.status == StopStatus.PLANNED for o in [s.order_id]]  # fmt: skip
    suggests, suggest_cpu = [], []
    for oid in rnd.sample(open_ids, min(SAMPLES, len(open_ids))):
        t, c = time.perf_counter(), time.process_time()
        kept.suggest(oid)
        suggests.append(time.perf_counter() - t)
        suggest_cpu.append(time.process_time() - c)
    evaluations = []
    for r in running.routes:
        ids = [s.order_id for s in r.stops if s.status == StopStatus.PLANNED]
        if ids:
            t = time.perf_counter()
            kept.evaluate_route(r.vehicle_id, ids)
            evaluations.append(time.perf_counter() - t)
    applies = []
    plan = running
    for _ in range(SAMPLES // 3):
        plan = _move_one(plan, rnd)
        t = time.perf_counter()
        kept.apply(plan)
        applies.append(time.perf_counter() - t)

    peaks["kept"] = peak_rss_mb()  # the kept context and what was asked of it

    # A breakdown at 11:00: the busiest van stops for the day, a re-plan at the same limit.
    busiest = max(running.routes, key=lambda r: sum(s.status == StopStatus.PLANNED
                                                    for s in r.stops))  # fmt: skip
    broken_day = replace(day, vehicles=tuple(v for v in day.vehicles if v.id != busiest.vehicle_id))
    replan_clock = _Clock()
    started = time.perf_counter()
    proposal = planning.replan(Snapshot(broken_day, running, now, states), travel,
                               time_limit_s=seconds, callbacks=replan_clock.hooks)  # fmt: skip
    replan_wall = time.perf_counter() - started - replan_clock.matrices
    replan_first = (
        None if replan_clock.first is None else replan_clock.first - started - replan_clock.matrices
    )

    ins_med, ins_p95 = _ms(inserts)
    sug_med, sug_p95 = _ms(suggests)
    return {
        "replan_seconds": replan_wall,
        "replan_first_ms": None if replan_first is None else replan_first * 1000,
        "replan_strategy": proposal.strategy,
        "replan_unassigned": len(proposal.unassigned),
        "replan_stranded": sum(s.status == StopStatus.PLANNED for s in busiest.stops),
        "replan_feasible": proposal.feasible,
        "orders": orders,
        "vehicles": fleet,
        "network_s": network_s,
        "matrix_s": matrix_s,
        "matrix_cpu_s": matrix_cpu_s,
        "plan_cpu_s": plan_cpu_s,
        "seconds": wall,
        "first": first,
        "served": sum(len(r.stops) for r in planned.routes),
        "routes": sum(1 for r in planned.routes if r.stops),
        "distance_km": distance / 1000,
        "feasible": feasible,
        "unassigned": len(planned.unassigned),
        "load": load,
        "context_s": context_s,
        "insert_median_ms": ins_med,
        "insert_cpu_median_ms": statistics.median(insert_cpu) * 1000,
        "suggest_cpu_median_ms": statistics.median(suggest_cpu) * 1000,
        "insert_p95_ms": ins_p95,
        "insert_placed": placed,
        "insert_rebuild_ms": rebuild_s * 1000,
        "suggest_median_ms": sug_med,
        "suggest_p95_ms": sug_p95,
        "evaluate_median_us": statistics.median(evaluations) * 1e6,
        "apply_median_ms": statistics.median(applies) * 1000,
        "open_stops": len(open_ids),
        "rss_mb": peak_rss_mb(),
        "rss_phases_mb": {**peaks, "replan": peak_rss_mb()},
    }


def peak_rss_mb() -> float:
    """This process's own peak resident memory so far, MB: the high-water mark of its
    memory map (Linux's VmHWM). Not ``ru_maxrss``: in a process started by
    multiprocessing's spawn (a fork, then exec) Linux counts in it the parent's peak at
    that moment, so a bench that had used 600 MB before reported at least 600 MB for
    every solve it started afterwards."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _move_one(plan, rnd: random.Random):
    """A supervisor's drag: one open stop onto another route, at its end."""
    from engine.model import StopStatus

    routes = list(plan.routes)
    sources = [i for i, r in enumerate(routes)
               if any(s.status == StopStatus.PLANNED for s in r.stops)]  # fmt: skip
    i = rnd.choice(sources)
    stops = list(routes[i].stops)
    j = rnd.choice([k for k, s in enumerate(stops) if s.status == StopStatus.PLANNED])
    moving = stops.pop(j)
    t = rnd.choice([k for k in range(len(routes)) if k != i])
    routes[i] = replace(routes[i], stops=tuple(stops))
    routes[t] = replace(routes[t], stops=(*routes[t].stops, replace(moving, locked=False)))
    return replace(plan, routes=tuple(routes))


def run_street_day(orders: int, seconds: float, out_dir: Path, seed: int = 0):
    """The street day's row for the benchmark table (measured in a fresh process)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from bench.engine import Row

    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        m = pool.submit(measure_day, orders, seconds, str(out_dir), seed).result()
    keys = ("orders", "vehicles", "network_s", "matrix_s", "matrix_cpu_s", "plan_cpu_s", "context_s", "served", "routes",
            "insert_median_ms", "insert_p95_ms", "insert_placed", "insert_rebuild_ms",
            "suggest_median_ms", "suggest_p95_ms", "insert_cpu_median_ms", "suggest_cpu_median_ms", "evaluate_median_us", "apply_median_ms",
            "open_stops", "replan_seconds", "replan_first_ms", "replan_strategy",
            "replan_unassigned", "replan_stranded", "replan_feasible", "rss_phases_mb")  # fmt: skip
    yield Row(
        instance=f"street{orders}",
        solver="engine",
        distance=m["distance_km"],
        vehicles=m["routes"],
        feasible=m["feasible"],
        unassigned=m["unassigned"],
        seconds=m["seconds"],
        limit=seconds,
        first_feasible_ms=None if m["first"] is None else m["first"] * 1000,
        backend="street",
        load=m["load"],
        rss_mb=m["rss_mb"],
        extra={k: m[k] for k in keys},
    )
