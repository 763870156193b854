"""``python -m bench.live_slices``: the main thread's CPU for each kind of live update.

The window's stalls at 2,000 vehicles are its longest single turns of the event loop: a
stop-result merge (about once a second), an ETA evaluation's results (once a second), a
paint, the KPI pane's refresh (once a minute while shown). This runs the real panes
offscreen over the same synthetic fleet as ``bench.responsiveness`` (``--vehicles`` routes,
two stops each) with no broker, publisher or page, and times each update by the main
thread's CPU time (``time.thread_time``), so the figures say what the window's own work
costs even on a shared machine (wall-clock stalls there are mostly waiting for a core).

Printed per update: median and max over ``--repeat`` calls, the load average before and
after, the machine and the date.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta


def _cpu_ms(fn, repeat: int) -> tuple[float, float]:
    out = []
    for _ in range(repeat):
        t = time.thread_time()
        fn()
        out.append((time.thread_time() - t) * 1000.0)
    return round(statistics.median(out), 1), round(max(out), 1)


def measure(vehicles: int, repeat: int, kpis: bool) -> list[tuple[str, float, float]]:
    """(what, median ms, max ms) for each update."""
    from widgets.app_main import _prepare_environment

    _prepare_environment(offscreen=True)
    from PySide6.QtWidgets import QApplication

    import widgets.map_schemes  # noqa: F401 (registers ddtile: before the QApplication exists)
    from bench.responsiveness import fleet
    from engine.model import StopStatus
    from widgets.map_pane import MapPane
    from widgets.timeline_pane import TimelinePane

    app = QApplication.instance() or QApplication(sys.argv[:1])
    start = datetime.now(UTC).replace(microsecond=0)
    day, plan = fleet(vehicles, 1, 2, start)
    orders, fleet_by_id, drivers = (
        {o.id: o for o in day.orders},
        {v.id: v for v in day.vehicles},
        {},
    )
    depot = day.depots[0]
    timeline = TimelinePane()
    timeline.resize(1200, 500)
    timeline.show()
    timeline.set_plan(plan, orders, fleet_by_id, drivers, depot.timezone)
    map_pane = MapPane()
    map_pane.set_plan(plan, orders, depot)
    map_pane._layers_json()  # what the page was sent
    app.processEvents()

    def merged(k: int):
        """The plan with one more stop delivered (as telemetry's stop results lay it)."""
        i = k % len(plan.routes)
        route = plan.routes[i]
        first = replace(route.stops[0], status=StopStatus.DELIVERED, actual_arrival=start)
        routes = list(plan.routes)
        routes[i] = replace(route, stops=(first, *route.stops[1:]))
        return replace(plan, routes=tuple(routes))

    out = []
    plans = iter([merged(k) for k in range(1, 4 * repeat + 1)])
    out.append(("timeline: stop results merged", *_cpu_ms(
        lambda: timeline.set_plan(next(plans), orders, fleet_by_id, drivers, depot.timezone),
        repeat)))  # fmt: skip
    out.append(("timeline: merged and painted", *_cpu_ms(lambda: (
        timeline.set_plan(next(plans), orders, fleet_by_id, drivers, depot.timezone),
        timeline.plot.grab()), repeat)))  # fmt: skip
    out.append(("timeline: a paint", *_cpu_ms(lambda: timeline.plot.grab(), repeat)))
    out.append(("map: stop results merged", *_cpu_ms(lambda: (
        map_pane.set_plan(next(plans), orders, depot, fit=False),
        map_pane._layers_json()), repeat)))  # fmt: skip
    etas = {s.order_id: start + timedelta(minutes=30) for r in plan.routes for s in r.stops}
    p90 = {k: v + timedelta(minutes=5) for k, v in etas.items()}
    late: frozenset[str] = frozenset()
    out.append(("timeline: an evaluation's ETAs", *_cpu_ms(
        lambda: timeline.update_etas(etas, p90, late), repeat)))  # fmt: skip
    out.append(("map: an evaluation's ETAs", *_cpu_ms(
        lambda: map_pane.update_etas(etas, late), repeat)))  # fmt: skip
    out.append(("routes table: stop results merged", *_routes_table(app, day, plan, repeat)))
    if kpis:
        out += _kpi_pane(app, day, plan, start, repeat)
    return out


def _routes_table(app, day, plan, repeat: int) -> tuple[float, float]:
    """The routes pane (sorted as the window opens it) when stop results change two routes
    far apart."""
    from app.day.routes_model import RoutesTableModel
    from app.day.state import ChangeSource, DayChanges, DayState
    from engine.model import StopStatus
    from widgets.routes_pane import RoutesPane

    state = DayState()
    state.set_day(day, day.depots[0].id, plan)
    pane = RoutesPane(RoutesTableModel(state))
    pane.resize(500, 800)
    pane.show()
    app.processEvents()
    n, current, count = len(plan.routes), [plan], [0]

    def merge() -> None:
        count[0] += 1
        routes, changed = list(current[0].routes), set()
        for i in ((7 + 13 * count[0]) % n, (n - 100 - 17 * count[0]) % n):
            route = routes[i]
            first = route.stops[0]
            served = (
                StopStatus.ARRIVED if first.status is StopStatus.PLANNED else StopStatus.PLANNED
            )
            routes[i] = replace(route, stops=(replace(first, status=served), *route.stops[1:]))
            changed.add(route.id)
        current[0] = replace(current[0], routes=tuple(routes))
        state.set_plan(current[0], DayChanges(routes=frozenset(changed),
                                              source=ChangeSource.TELEMETRY))  # fmt: skip
        app.processEvents()

    return _cpu_ms(merge, repeat)


def _kpi_pane(app, day, plan, start, repeat: int) -> list[tuple[str, float, float]]:
    """The KPI pane showing the day's KPIs: the first time, then a live refresh."""
    from app.kpis.service import compute_day, trend
    from app.settings import Settings
    from app.store import open_store
    from bench.responsiveness import seed_store
    from widgets.kpi_pane import KpiPane

    os.environ["DISPATCH_DATA_DIR"] = tempfile.mkdtemp(prefix="dispatch-live-slices-")
    settings = Settings.from_env(demo=False, simulate=False, database_url="", mqtt_url="")
    seed_store(settings, day, plan)
    store = open_store(settings.effective_database_url, workstation=settings.workstation_id)
    depot_id = day.depots[0].id
    result = compute_day(store, depot_id, day.day, as_of=start, day_input=day, plan=plan,
                         save=False)  # fmt: skip
    history = trend(store, depot_id, day.day)
    store.close()
    pane = KpiPane()
    pane.resize(1600, 500)
    pane.show()
    app.processEvents()
    first = _cpu_ms(lambda: (pane.show_result(result, history), app.processEvents()), 1)

    def refresh() -> None:
        pane._lines_of = None  # a refresh brings a new result: nothing of the last one kept
        pane.show_result(result, history)
        app.processEvents()

    again = _cpu_ms(refresh, repeat)
    return [("KPI pane: first shown", *first), ("KPI pane: a live refresh", *again)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.live_slices", description=__doc__.split("\n")[0]
    )
    p.add_argument("--vehicles", type=int, default=2000, help="routes (default 2000)")
    p.add_argument("--repeat", type=int, default=10, help="calls per update (default 10)")
    p.add_argument("--no-kpis", action="store_true", help="leave out the KPI pane")
    args = p.parse_args(argv)
    if args.vehicles < 1 or args.repeat < 1:
        p.error("--vehicles and --repeat must be at least 1")
    before = [round(x, 2) for x in os.getloadavg()]
    rows = measure(args.vehicles, args.repeat, not args.no_kpis)
    after = [round(x, 2) for x in os.getloadavg()]
    print(f"main-thread CPU per update, {args.vehicles} routes ({2 * args.vehicles} stops)")
    print(f"{'':34}{'median':>8}{'max':>8}")
    for what, median, most in rows:
        print(f"{what:34}{median:>8}{most:>8}")
    print(f"load average {before} -> {after}, {os.cpu_count()} cores, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
