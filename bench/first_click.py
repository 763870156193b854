"""``python -m bench.first_click``: what a first suggestion or urgent insertion waits for.

Suggestions (Reassign…) and an urgent order's ranked insertions use the whole day's engine
context (``app.dispatch.preview.ContextCache``); the dock dialog and the slot plan use the
release desk's. Over the synthetic fleet of ``bench.responsiveness`` (``--vehicles`` vans,
two stops each, every van positioned, the depot's travel model as the window makes it),
this times, by wall clock and by the process's CPU time:

- ``first suggestion``: the first click of the day (the whole day's context built);
- ``next suggestion``: another stop, same plan and minute;
- ``after a stop served``: a stop delivered and its van moved, then a suggestion;
- ``urgent insertion``: a new order ranked over every route (kept context);
- ``release context``: the whole-day context the dock dialog and slot plan build.

With ``--warm`` the context is built first the way the window does after a plan is shown
(``DispatchService.warm`` on a worker), so the first suggestion is timed after it. Prints
the process's resident memory after each step, the load average before and after, the
machine and the date.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo


def _rss_mb() -> float:
    """This process's resident memory now (Linux), MB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def _timed(fn) -> tuple[float, float, object]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, out


def measure(vehicles: int, warm: bool, seed: int = 1) -> list[tuple[str, float, float, float]]:
    """(what, wall s, CPU s, RSS MB after) for each step."""
    from app.dispatch.preview import ContextCache
    from app.travel.choose import travel_model_for
    from bench.responsiveness import fleet
    from engine.model import Order, StopStatus, TimeWindow
    from engine.planning import DayContext, Snapshot, VehicleState, suggest_in

    zone = ZoneInfo("America/Denver")
    start = datetime.now(zone).replace(hour=8, minute=0, second=0, microsecond=0)
    day, plan = fleet(vehicles, seed, 2, start)
    travel = travel_model_for(day.depots[0])
    now = start + timedelta(minutes=20)
    locs = {o.id: o.location for o in day.orders}
    states = {r.vehicle_id: VehicleState(r.vehicle_id, locs[r.stops[0].order_id], now)
              for r in plan.routes if r.stops}  # fmt: skip
    cache = ContextCache(travel, positions=lambda: states)
    out: list[tuple[str, float, float, float]] = []
    out.append(("the day and its plan made", 0.0, 0.0, _rss_mb()))
    if warm:
        wall, cpu, _ = _timed(lambda: cache.get(plan, day, now))
        out.append(("warm-up (worker, after the plan is shown)", wall, cpu, _rss_mb()))
    ids = [r.stops[-1].order_id for r in plan.routes if r.stops]
    wall, cpu, _ = _timed(lambda: suggest_in(cache.get(plan, day, now), ids[0]))
    out.append(("first suggestion", wall, cpu, _rss_mb()))
    wall, cpu, _ = _timed(lambda: suggest_in(cache.get(plan, day, now), ids[1]))
    out.append(("next suggestion", wall, cpu, _rss_mb()))
    route = plan.routes[0]
    served = replace(route, stops=(replace(route.stops[0], status=StopStatus.DELIVERED),
                                   *route.stops[1:]))  # fmt: skip
    plan2 = replace(plan, routes=(served, *plan.routes[1:]))
    wall, cpu, _ = _timed(lambda: suggest_in(cache.get(plan2, day, now), ids[2]))
    out.append(("after a stop served", wall, cpu, _rss_mb()))
    urgent = Order("URGENT1", day.depots[0].id, locs[ids[3]], {"kg": 5.0},
                   (TimeWindow(now, now + timedelta(hours=3)),), timedelta(minutes=4))  # fmt: skip
    wall, cpu, _ = _timed(lambda: cache.kept.insert(urgent))
    out.append(("urgent insertion", wall, cpu, _rss_mb()))
    empty = replace(plan, routes=(), unassigned=())
    wall, cpu, _ = _timed(lambda: DayContext(Snapshot(day, empty), travel, day.depots[0].id))
    out.append(("release context (dock dialog, slot plan)", wall, cpu, _rss_mb()))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--vehicles", type=int, default=2000)
    p.add_argument(
        "--warm", action="store_true", help="build the context first, as the window does"
    )
    args = p.parse_args(argv)
    load = os.getloadavg()
    rows = measure(args.vehicles, args.warm)
    after = os.getloadavg()
    print(f"{datetime.now().astimezone():%Y-%m-%d %H:%M %Z} · {platform.node()} · "
          f"{os.cpu_count()} cores · {args.vehicles} vans, {2 * args.vehicles} orders · "
          f"load {load[0]:.2f} → {after[0]:.2f}")  # fmt: skip
    for what, wall, cpu, rss in rows:
        print(f"{what:45s} wall {wall:7.2f} s   CPU {cpu:7.2f} s   RSS {rss:7.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
