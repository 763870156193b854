"""``python -m bench.release``: how fast release control answers, against its targets.

1. **gate** — the gate of a day of ``--routes`` routes (default 200; 12 stops each, two
   waves, ten docks): every check of every route, the routes evaluated from their
   departure. The engine context (travel matrices) is built once before, as the window
   keeps it per plan; its build time is printed apart. Target: <= 200 ms for 200 routes.
2. **publish** — releasing a wave of ``--wave-routes`` routes (default 50): the retained
   route messages published at QoS 1 through a real Mosquitto (``--broker``, else a
   private one on a free port), timed until the broker acknowledged the last, and checked
   by a subscriber that receives all of them retained. Target: <= 1 s for 50.
3. **slots** — a dock slot plan for ``--slot-routes`` routes on ``--docks`` docks
   (default 60 on 6). Target: <= 1 s.

Medians over ``--rounds`` rounds, with the load average at the start and the end.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import threading
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from datetime import time as clock

from bench.telemetry import PrivateMosquitto


def _day(routes: int, seed: int):
    """A synthetic depot: ``routes`` vans with drivers, 12 orders each, 2 waves, 10 docks."""
    from app.simulator.plan import sweep_plan, synthetic_day
    from engine.model import Dock, Driver, Wave

    day = synthetic_day(routes, seed=seed, stops_per_vehicle=12)
    depot = replace(day.depots[0], docks=tuple(Dock(f"K{i}", f"Dock {i}") for i in range(10)))
    base = datetime.combine(day.day, clock(0), UTC)
    at = lambda h: base + timedelta(hours=h)  # noqa: E731
    drivers = tuple(
        Driver(f"D{i}", f"Driver {i}", depot.id, at(6 if i % 2 else 8), at(18 if i % 2 else 20),
               vehicle_id=v.id)
        for i, v in enumerate(day.vehicles)
    )  # fmt: skip
    waves = (Wave("W1", depot.id, at(4), at(6), at(8)), Wave("W2", depot.id, at(6), at(8), at(10)))
    day = replace(day, depots=(depot,), drivers=drivers, waves=waves)
    plan = sweep_plan(day, max_stops=12, start=clock(6))
    routes_ = tuple(
        replace(r, driver_id=drivers[i].id, wave="W1" if i % 2 else "W2", status=type(r.status)("planned"))
        for i, r in enumerate(plan.routes)
    )  # fmt: skip
    return day, replace(plan, routes=routes_)


def bench_gate(routes: int, rounds: int, seed: int) -> dict:
    from app.release.gate import day_gate
    from engine.model import Plan
    from engine.planning import Snapshot, context
    from engine.release import Loading, plan_slots, requests_for, retime
    from engine.travel import HaversineTravelModel

    day, plan = _day(routes, seed)
    travel = HaversineTravelModel()
    started = time.perf_counter()
    ctx = context(Snapshot(day, Plan(plan.id, plan.depot_id, plan.day)), travel)
    ctx_s = time.perf_counter() - started
    waves = {w.id: w for w in day.waves}
    plan = retime(ctx, plan, plan_slots(requests_for(plan), day.depots[0].docks, waves)).plan
    loading = {r.id: Loading(len(r.stops) - (i % 3 == 0), len(r.stops))
               for i, r in enumerate(plan.routes)}  # fmt: skip
    now = plan.routes[0].start - timedelta(minutes=30)
    times, gate = [], None
    for _ in range(rounds):
        t0 = time.perf_counter()
        gate = day_gate(day, plan, ctx, now=now, loading=loading, overrides={})
        times.append(time.perf_counter() - t0)
    go = sum(1 for g in gate.routes.values() if g.go)
    return {"routes": len(gate.routes), "go": go, "median_ms": statistics.median(times) * 1000,
            "max_ms": max(times) * 1000, "context_build_ms": ctx_s * 1000,
            "target_ms": 200.0}  # fmt: skip


def bench_slots(routes: int, docks: int, rounds: int, seed: int) -> dict:
    from engine.model import Dock, Wave
    from engine.release import SlotRequest, plan_slots

    rnd = random.Random(seed)
    base = datetime(2026, 12, 7, tzinfo=UTC)
    at = lambda h: base + timedelta(hours=h)  # noqa: E731
    dock_list = [Dock(f"K{i}", load_minutes_per_order=2.0 if i == 0 else 1.0) for i in range(docks)]
    waves = [Wave("W1", "D", at(5), at(7), at(8)), Wave("W2", "D", at(8), at(10), at(11))]
    reqs = [SlotRequest(f"R{i}", rnd.choice(["W1", "W2"]), rnd.randint(8, 30),
                        at(7 + rnd.random() * 3)) for i in range(routes)]  # fmt: skip
    times, sp = [], None
    for _ in range(rounds):
        t0 = time.perf_counter()
        sp = plan_slots(reqs, dock_list, waves)
        times.append(time.perf_counter() - t0)
    return {"routes": routes, "docks": docks, "placed": len(sp.slots),
            "median_ms": statistics.median(times) * 1000, "max_ms": max(times) * 1000,
            "target_ms": 1000.0}  # fmt: skip


def bench_publish(url: str, routes: int, rounds: int, seed: int) -> dict:
    import paho.mqtt.client as mqtt

    from app.release.channel import Outgoing, ReleaseChannel
    from app.release.messages import route_message
    from app.telemetry.mqtt_client import MqttConfig

    day, plan = _day(routes, seed)
    depot, orders = day.depots[0], {o.id: o for o in day.orders}
    config = MqttConfig(url=url, client_id=f"bench-{uuid.uuid4().hex[:6]}", protocol="5")
    channel = ReleaseChannel(config, depot.id).start()
    if not channel.wait_connected(10):
        raise SystemExit(f"cannot reach the broker at {url}")
    times = []
    try:
        for n in range(rounds):
            messages = [route_message(r, 1 + n, depot=depot, orders=orders) for r in plan.routes]
            out = [Outgoing(m.topic, m.payload) for m in messages]
            t0 = time.perf_counter()
            acked = channel.publish(out)
            times.append(time.perf_counter() - t0)
            if acked != len(out):
                raise SystemExit(f"round {n}: the broker confirmed {acked} of {len(out)}")
    finally:
        channel.stop()
    # A device subscribing afterwards gets every route, retained.
    host, port = url.removeprefix("mqtt://").split(":")
    got: set[str] = set()
    done = threading.Event()
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"dev-{uuid.uuid4().hex[:6]}")

    def on_message(_c, _u, msg):
        if msg.retain:
            got.add(msg.topic)
        if len(got) == len(plan.routes):
            done.set()

    sub.on_message = on_message
    sub.on_connect = lambda c, *_a: c.subscribe(f"fleet/{depot.id}/vehicle/+/route", 1)
    sub.connect(host, int(port))
    sub.loop_start()
    done.wait(10)
    sub.loop_stop()
    sub.disconnect()
    size = statistics.mean(len(m.payload) for m in messages)
    return {"routes": len(plan.routes), "median_ms": statistics.median(times) * 1000,
            "max_ms": max(times) * 1000, "retained_received": len(got),
            "bytes_per_message": round(size), "target_ms": 1000.0}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.release", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--routes", type=int, default=200)
    parser.add_argument("--wave-routes", type=int, default=50)
    parser.add_argument("--slot-routes", type=int, default=60)
    parser.add_argument("--docks", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--broker", help="mqtt://host:port (default: a private Mosquitto)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    load_start = os.getloadavg()
    broker = None if args.broker else PrivateMosquitto()
    url = args.broker or broker.url
    try:
        result = {
            "gate": bench_gate(args.routes, args.rounds, args.seed),
            "publish": bench_publish(url, args.wave_routes, args.rounds, args.seed),
            "slots": bench_slots(args.slot_routes, args.docks, args.rounds, args.seed),
        }
    finally:
        if broker is not None:
            broker.stop()
    result["load_avg"] = {"start": [round(x, 2) for x in load_start],
                          "end": [round(x, 2) for x in os.getloadavg()]}  # fmt: skip
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    g, p, s = result["gate"], result["publish"], result["slots"]
    met = lambda v, t: "met" if v <= t else "NOT met"  # noqa: E731
    print(
        f"gate of {g['routes']} routes ({g['go']} go): median {g['median_ms']:.1f} ms, max "
        f"{g['max_ms']:.1f} ms (target <= 200 ms: {met(g['median_ms'], 200)}); engine context "
        f"built once before: {g['context_build_ms']:.0f} ms"
    )
    print(
        f"release of a wave of {p['routes']} routes: {p['routes']} retained messages "
        f"(~{p['bytes_per_message']} bytes) acknowledged by the broker in median "
        f"{p['median_ms']:.0f} ms, max {p['max_ms']:.0f} ms (target <= 1 s: "
        f"{met(p['median_ms'], 1000)}); a device subscribing after got "
        f"{p['retained_received']} retained"
    )
    print(
        f"slot plan of {s['routes']} routes on {s['docks']} docks: median "
        f"{s['median_ms']:.1f} ms, max {s['max_ms']:.1f} ms (target <= 1 s: "
        f"{met(s['median_ms'], 1000)})"
    )
    print(f"load average {result['load_avg']['start']} -> {result['load_avg']['end']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
