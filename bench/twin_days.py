"""Days driven by the digital twin, written into a store as the live desk would have stored
them: the day's input, its plan, every breadcrumb and stop event, and the routes' release
and departure.

For the KPI and learning benchmarks and tests (a recorded day's rows to compute from), and
to give a fresh demo database some history: ``python -m bench.twin_days --days 10``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from dataclasses import dataclass
from datetime import date, timedelta

from app.store import Store, open_store, repository
from app.store.repository_release import set_route_status
from app.telemetry.messages import Fix
from app.telemetry.messages import StopEvent as TelemetryEvent
from app.telemetry.persist import write_telemetry
from engine.model import DayInput, Plan, RouteStatus

log = logging.getLogger(__name__)

ACTOR = "twin-recorder"


@dataclass(frozen=True)
class Recorded:
    """What a recorded day holds."""

    day: date
    orders: int
    routes: int
    fixes: int
    events: int
    seconds: float


def record_day(
    store: Store,
    day: DayInput,
    plan: Plan,
    *,
    seed: int,
    rate_hz: float = 0.2,
    network=None,
    trouble=None,
    batch: int = 20_000,
) -> Recorded:
    """Drive ``plan`` with the twin through the whole day and store what it sent."""
    from app.simulator import Simulator

    started = time.perf_counter()
    with store.session() as s:
        repository.upsert_day(s, day, actor=ACTOR)
    with store.session() as s:
        repository.save_plan(s, plan, actor=ACTOR)
    sim = Simulator(plan, day, seed=seed, rate_hz=rate_hz, network=network, trouble=trouble)
    end = sim.end_time
    t = sim.start_time
    fixes: list[Fix] = []
    events: list[TelemetryEvent] = []
    counts = [0, 0]
    first_fix: dict[str, float] = {}

    def flush() -> None:
        with store.session() as s:
            write_telemetry(s, fixes, events, [])
        counts[0] += len(fixes)
        counts[1] += len(events)
        fixes.clear()
        events.clear()

    while t < end + 300:
        t += 600.0
        for topic, payload in sim.step(t):
            body = json.loads(payload)
            if topic.endswith("/telemetry"):
                fixes.append(Fix(body["vehicle_id"], body["seq"], body["ts"], body["lat"],
                                 body["lon"], body.get("speed_kmh"), body.get("heading_deg")))  # fmt: skip
                first_fix.setdefault(body["vehicle_id"], body["ts"])
            else:
                events.append(TelemetryEvent(body["event_id"], body["vehicle_id"], body["ts"],
                                             body["type"], body.get("stop_id"), body.get("reason")))  # fmt: skip
        if len(fixes) >= batch:
            flush()
    flush()
    _release(store, plan, first_fix)
    return Recorded(day.day, len(day.orders), sum(1 for r in plan.routes if r.stops),
                    counts[0], counts[1], time.perf_counter() - started)  # fmt: skip


def _release(store: Store, plan: Plan, first_fix: dict[str, float]) -> None:
    """Each route released 20 minutes before it was planned to leave, and on the road at
    its vehicle's first fix (as release control records them)."""
    from datetime import UTC, datetime

    with store.session() as s:
        for r in plan.routes:
            if not r.stops or r.start is None:
                continue
            at = r.start - timedelta(minutes=20)
            set_route_status(s, r.id, RouteStatus.RELEASED, actor=ACTOR, at=at, source="command")
            if r.vehicle_id in first_fix:
                moved = datetime.fromtimestamp(first_fix[r.vehicle_id], UTC)
                set_route_status(s, r.id, RouteStatus.ACTIVE, actor=ACTOR, at=moved,
                                 source="telemetry")  # fmt: skip


def record_days(
    store: Store, days: int, *, seed: int, first: date, plan_seconds: float = 5.0,
    rate_hz: float = 0.2, orders: int | None = None, vehicles: int | None = None,
) -> list[Recorded]:  # fmt: skip
    """``days`` demo days from ``first`` on, each planned and driven by the twin."""
    from app.simulator.demo_day import generate_demo_day
    from app.travel.choose import travel_model_for
    from engine.planning import plan as plan_day
    from engine.roads import DEMO_CITY_NETWORK, StreetNetwork

    network = StreetNetwork.load(DEMO_CITY_NETWORK)
    out = []
    for k in range(days):
        extra = {k2: v for k2, v in (("orders", orders), ("vehicles", vehicles)) if v}
        day = generate_demo_day(seed * 1000 + k, first + timedelta(days=k), network, **extra)
        depot = day.depots[0]
        plan = plan_day(day, travel_model_for(depot), depot_id=depot.id,
                        time_limit_s=plan_seconds)  # fmt: skip
        rec = record_day(store, day, plan, seed=seed * 1000 + k, rate_hz=rate_hz, network=network)
        log.info("%s: %d orders on %d routes, %d fixes, %d events (%.0f s)", rec.day,
                 rec.orders, rec.routes, rec.fixes, rec.events, rec.seconds)  # fmt: skip
        out.append(rec)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.twin_days",
                                     description=__doc__.split("\n")[0])  # fmt: skip
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--first", type=date.fromisoformat, default=None,
                        help="the first day (default: --days days before today)")  # fmt: skip
    parser.add_argument("--database", help="SQLAlchemy URL (default: the desk's database)")
    parser.add_argument("--rate", type=float, default=0.2, help="fixes per second per vehicle")
    parser.add_argument("--plan-seconds", type=float, default=5.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    from app.settings import Settings

    settings = Settings.from_env()
    store = open_store(args.database or settings.effective_database_url)
    first = args.first or (date.today() - timedelta(days=args.days))
    load = os.getloadavg()
    done = record_days(store, args.days, seed=args.seed, first=first,
                       plan_seconds=args.plan_seconds, rate_hz=args.rate)  # fmt: skip
    print(f"recorded {len(done)} days from {first} ({sum(r.fixes for r in done)} fixes, "
          f"{sum(r.events for r in done)} events); load average {load} -> {os.getloadavg()}")  # fmt: skip
    store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
