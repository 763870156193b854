"""How fast is a drag preview on the demo day?  ``python -m bench.dispatch [--street]``

Builds the demo day (25 vans, 400 orders), a quick plan, and times ``preview_reassign`` for
random moves of one to three stops onto random other routes, the way a drag calls it: the
first call builds the engine context, the rest reuse it. Prints the figures.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import time
from dataclasses import replace

from app.dispatch.service import DispatchService
from engine.model import DayInput, Plan, Route, Stop


def sweep_plan(day: DayInput, routes: int | None = None) -> Plan:
    """A quick plan without the solver: orders by bearing from the depot, in equal slices."""
    depot = day.depots[0]
    vehicles = [v for v in day.vehicles if v.depot_id == depot.id][: routes or None]
    drivers = {d.vehicle_id: d.id for d in day.drivers}

    def bearing(o) -> float:
        return math.atan2(o.location.lat - depot.location.lat, o.location.lon - depot.location.lon)

    orders = sorted((o for o in day.orders if o.depot_id == depot.id), key=bearing)
    size = math.ceil(len(orders) / len(vehicles))
    out = []
    for k, v in enumerate(vehicles):
        chunk = orders[k * size : (k + 1) * size]
        chunk.sort(key=lambda o: o.earliest)
        stops = tuple(Stop(o.id) for o in chunk)
        out.append(Route(f"R-{v.id}", v.id, stops, driver_id=drivers.get(v.id)))
    return Plan(f"P-{depot.id}-{day.day.isoformat()}", depot.id, day.day, tuple(out))


def run(samples: int = 200, street: bool = False, seed: int = 1) -> dict[str, float]:
    """Time previews; returns first-call, median, p95 and max in milliseconds."""
    from app.simulator.demo_day import generate_demo_day
    from app.store import open_store
    from app.travel.choose import travel_model_for
    from engine.travel import HaversineTravelModel

    day = generate_demo_day(7)
    plan = sweep_plan(day)
    travel = travel_model_for(day.depots[0]) if street else HaversineTravelModel()
    store = open_store("sqlite://")
    service = DispatchService(store, travel, actor="bench@local", role="supervisor")
    rnd = random.Random(seed)
    started = time.perf_counter()
    first = service.preview_reassign(plan, day, [plan.routes[0].order_ids[0]], plan.routes[1].id)
    first_ms = (time.perf_counter() - started) * 1000
    times = []
    for _ in range(samples):
        source, target = rnd.sample(plan.routes, 2)
        moving = rnd.sample(source.order_ids, rnd.randint(1, 3))
        started = time.perf_counter()
        preview = service.preview_reassign(plan, day, moving, target.id)
        times.append((time.perf_counter() - started) * 1000)
        assert preview.allowed, preview.summary
    started = time.perf_counter()  # a new plan version, as after a command
    service.preview_reassign(replace(plan), day, moving, target.id)
    rebuild_ms = (time.perf_counter() - started) * 1000
    store.close()
    times.sort()
    return {
        "first_ms": first_ms,
        "rebuild_ms": rebuild_ms,
        "median_ms": statistics.median(times),
        "p95_ms": times[int(0.95 * (len(times) - 1))],
        "max_ms": times[-1],
        "stops": sum(len(r.stops) for r in plan.routes),
        "routes": len(plan.routes),
        "example": first.summary,  # type: ignore[dict-item]
    }


def run_commands(url: str, rounds: int = 10, seed: int = 1) -> dict[str, float]:
    """Time reassign and its undo on a demo-size plan stored at ``url`` (an empty database)."""
    from app.simulator.demo_day import generate_demo_day
    from app.store import open_store, repository
    from engine.travel import HaversineTravelModel

    day = generate_demo_day(7)
    store = open_store(url)
    with store.session() as s:
        repository.upsert_depots(s, day.depots, actor="bench")
        repository.upsert_vehicles(s, day.vehicles, actor="bench")
        repository.upsert_drivers(s, day.drivers, actor="bench")
        repository.upsert_orders(s, day.orders, actor="bench")
        repository.save_plan(s, sweep_plan(day), actor="bench")
    service = DispatchService(store, HaversineTravelModel(), actor="bench@local", role="supervisor")
    plan = service.load_plan(day.depots[0].id, day.day)
    assert plan is not None
    rnd = random.Random(seed)
    moves, undos = [], []
    for _ in range(rounds):
        source, target = rnd.sample(plan.routes, 2)
        started = time.perf_counter()
        result = service.reassign(plan, day, [rnd.choice(source.order_ids)], target.id)
        moves.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        plan = service.apply_undo(result.plan, result.undo).plan
        undos.append((time.perf_counter() - started) * 1000)
    store.close()
    return {"reassign_ms": statistics.median(moves), "undo_ms": statistics.median(undos)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--street", action="store_true", help="street-network travel times")
    parser.add_argument("--commands", metavar="DB_URL", help="also time reassign + undo "
                        "on this empty database, e.g. sqlite:///bench.sqlite3")  # fmt: skip
    args = parser.parse_args()
    figures = run(args.samples, args.street)
    print(
        f"{figures['routes']} routes, {figures['stops']} stops, {args.samples} previews: "
        f"first {figures['first_ms']:.1f} ms (builds the context; "
        f"{figures['rebuild_ms']:.1f} ms on the next plan version), "
        f"median {figures['median_ms']:.2f} ms, p95 {figures['p95_ms']:.2f} ms, "
        f"max {figures['max_ms']:.2f} ms"
    )
    print(f"e.g. {figures['example']}")
    if args.commands:
        timed = run_commands(args.commands)
        print(f"reassign (one stop, write + audit) median {timed['reassign_ms']:.0f} ms, "
              f"undo median {timed['undo_ms']:.0f} ms")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
