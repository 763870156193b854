"""The control tower over many depots: how long one refresh takes.

``python -m bench.tower`` fills a fresh SQLite database (or ``--database URL``) with
``--depots`` depots of ``--vehicles`` vehicles each in the demo city (16 orders a vehicle),
a stored plan per depot with the morning half served (arrivals on time or late), routes
released or on the road, open exceptions and a desk per depot; then times the tower's read
(every depot's figures) and the window's refresh of its tiles, ``--repeat`` times each.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path


def fill(url: str, depots: int, vehicles: int, seed: int = 7) -> datetime:
    """The depots' days, plans, served stops, exceptions and desks; the 'now' of the day."""
    import numpy as np

    from app.simulator.demo_day import DemoSite, generate_demo_day
    from app.store import open_store, repository
    from app.store.models import ExceptionRow
    from app.store.repository_plan import save_plan
    from app.store.tower import beat
    from engine.model import Plan, Route, RouteStatus, Stop, StopStatus
    from engine.roads import DEMO_CITY_NETWORK, StreetNetwork

    net = StreetNetwork.load(DEMO_CITY_NETWORK)
    day = datetime(2026, 12, 7).date()
    now = datetime(2026, 12, 7, 19, 0, tzinfo=UTC)  # 12:00 in Salt Lake City
    rng = np.random.default_rng(seed)
    store = open_store(url)
    try:
        for k in range(depots):
            near = (40.62 + 0.18 * rng.random(), -111.98 + 0.15 * rng.random())
            site = DemoSite(f"D{k:02d}", f"Depot {k:02d}", near, prefix=f"D{k:02d}-")
            d = generate_demo_day(seed + k, day, net, orders=16 * vehicles, vehicles=vehicles,
                                  site=site)  # fmt: skip
            routes = []
            for v, vehicle in enumerate(d.vehicles):
                orders = d.orders[v::vehicles]
                start = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)
                stops = []
                for i, order in enumerate(orders):
                    at = start + timedelta(minutes=20 * i)
                    served = at < now
                    late = served and rng.random() < 0.08
                    stops.append(Stop(
                        order.id, at, at + timedelta(minutes=5),
                        StopStatus.DELIVERED if served else StopStatus.PLANNED,
                        actual_arrival=(order.windows[-1].end + timedelta(minutes=10) if late
                                        else order.windows[0].start) if served else None,
                    ))  # fmt: skip
                status = RouteStatus.ACTIVE if v % 5 else RouteStatus.RELEASED
                routes.append(Route(f"{site.prefix}R{v:03d}", vehicle.id, tuple(stops),
                                    d.drivers[v].id, status))  # fmt: skip
            with store.session() as session:
                repository.upsert_day(session, d, actor="bench")
            with store.session() as session:
                save_plan(session, Plan(f"{site.prefix}P", site.depot_id, day, tuple(routes)),
                          actor="bench")  # fmt: skip
                for v in range(0, vehicles, 10):
                    session.add(ExceptionRow(
                        id=f"{site.prefix}E{v}", type="late_risk",
                        severity=("critical", "warning", "info")[v % 3],
                        vehicle_id=d.vehicles[v].id, detected_at=now - timedelta(minutes=v),
                    ))  # fmt: skip
                beat(session, workstation=f"desk-{k}", user=f"user{k}", role="dispatcher",
                     depot_id=site.depot_id, now=now, outbox_pending=k % 3)  # fmt: skip
    finally:
        store.close()
    return now


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.tower", description=__doc__)
    parser.add_argument("--depots", type=int, default=10)
    parser.add_argument("--vehicles", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--database", metavar="URL", help="default: a fresh SQLite file")
    parser.add_argument("--window", action="store_true", help="also time the tiles' refresh")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database or f"sqlite:///{Path(tmp) / 'tower.sqlite3'}"
        started = time.perf_counter()
        now = fill(url, args.depots, args.vehicles)
        print(f"Filled {args.depots} depots x {args.vehicles} vehicles "
              f"({args.depots * args.vehicles * 16:,} orders) in "
              f"{time.perf_counter() - started:.0f} s")  # fmt: skip
        from app.store import open_store
        from app.tower.feed import TowerFeed

        store = open_store(url)
        try:
            feed = TowerFeed(lambda: store, clock=lambda: now)
            reads, cpu = [], []
            for _ in range(args.repeat):
                c0 = time.process_time()
                state = feed.read_now()
                cpu.append(time.process_time() - c0)
                reads.append(state.seconds)
            f = state.figures[0]
            print(f"Tower read: median {statistics.median(reads) * 1000:.0f} ms, worst "
                  f"{max(reads) * 1000:.0f} ms over {args.repeat} reads, CPU time median "
                  f"{statistics.median(cpu) * 1000:.0f} ms "
                  f"(first depot: {f.on_road} routes on the road, {f.at_risk} at risk, "
                  f"{f.stops_done} stops served, {f.on_time_pct:.0f}% on time)")  # fmt: skip
            if args.window:
                os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
                from PySide6.QtWidgets import QApplication

                from widgets.control_tower import ControlTowerWindow

                app = QApplication.instance() or QApplication([])
                window = ControlTowerWindow(feed)
                paints, paint_cpu = [], []
                for _ in range(args.repeat):
                    t0, c0 = time.perf_counter(), time.process_time()
                    state = feed.read_now()
                    window.show_state(state)
                    app.processEvents()
                    paints.append(time.perf_counter() - t0)
                    paint_cpu.append(time.process_time() - c0)
                print(f"Read and show the tiles: median {statistics.median(paints) * 1000:.0f} ms,"
                      f" worst {max(paints) * 1000:.0f} ms, CPU time median "
                      f"{statistics.median(paint_cpu) * 1000:.0f} ms")  # fmt: skip
        finally:
            store.close()
    print(f"load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
