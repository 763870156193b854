"""``python -m bench.eta``: do learned service times and travel factors beat the static ones?

On the digital twin (``app.simulator``: its customers have their own service times, its
streets their own congestion by zone and hour), ``--train-days`` days are planned with the
static inputs and driven; their stop events and breadcrumbs are learned from
(``engine.learning``: service times per address → customer → zone → default, travel
factors per zone and hour). Then, on ``--test-days`` days the learning never saw:

1. **ETA accuracy** — each test day is driven once (planned as today, static); for every
   stop that was reached, the ETA the desk would have shown 60, 30 and 15 minutes before
   the actual arrival is computed as the live monitor computes it (the vehicle's newest
   fix, the stops served by then, the observed speed factor) — once with the static inputs
   and once with the learned ones. Mean absolute error and the share within ±10 minutes.
2. **Plans** — the same day planned with the learned inputs and driven by the same twin
   (same seed, same trouble): late stops (arrival after the window's end, or never
   reached) against the static plan's.

Targets: learned MAE ≥ 30 % lower than static; ≥ 85 % of arrivals within ±10 minutes at
30 minutes out; late stops ≥ 25 % fewer with learned plans. The load average is printed
with the figures (the machine may be shared).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np

from engine.eta import PreparedRoute, TravelTimes
from engine.eta_replay import eta_at
from engine.history import StopEvent, StopVisit, Track, day_history, stop_visits
from engine.learning import (
    LearnedTravelModel,
    ZoneGrid,
    learn_service_times,
    learn_travel_factors,
    learned_orders,
    with_learned_service,
)
from engine.model import DayInput, Location, Order, Plan

log = logging.getLogger(__name__)

HORIZONS_MIN = (60, 30, 15)
FIRST_DAY = date(2026, 11, 2)


@dataclass
class Driven:
    """One day as the twin drove it: stop events, trails, and the stops' visits."""

    events: list[StopEvent]
    tracks: dict[str, Track]
    visits: dict[str, StopVisit]


def drive(day: DayInput, plan: Plan, seed: int, network, rate_hz: float) -> Driven:
    """Run the twin through the whole day; collect what the desk would have stored."""
    from app.simulator import Simulator

    sim = Simulator(plan, day, seed=seed, rate_hz=rate_hz, network=network)
    end = sim.end_time
    t = sim.start_time
    crumbs: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    events: list[StopEvent] = []
    while t < end + 300:
        t += 900.0
        for topic, payload in sim.step(t):
            body = json.loads(payload)
            if topic.endswith("/telemetry"):
                crumbs[body["vehicle_id"]].append((body["ts"], body["lat"], body["lon"]))
            else:
                ts = datetime.fromtimestamp(body["ts"], UTC)
                events.append(StopEvent(body["vehicle_id"], body.get("stop_id"), body["type"], ts))
    tracks = {vid: Track.of(rows) for vid, rows in crumbs.items()}
    return Driven(events, tracks, stop_visits(events))


def model_seconds(travel, points: list[Location]):
    """A (a, b) -> free-flow model seconds lookup over the day's points."""
    mats = travel.matrices(points)
    index = {p: i for i, p in enumerate(points)}

    def seconds(a: Location, b: Location) -> float:
        return float(mats.duration_s[index[a], index[b]])

    return seconds, mats


def late_stops(day: DayInput, plan: Plan, driven: Driven) -> tuple[int, float]:
    """(late stops, late minutes): reached after the last window closed, or never reached
    (late by the time from the window's end to the end of the day) — an order the plan
    left unassigned is never reached."""
    orders = {o.id: o for o in day.orders}
    end_of_day = max(o.latest for o in day.orders).timestamp() + 3600
    count, minutes = 0, 0.0
    for u in plan.unassigned:
        count += 1
        minutes += max(60.0, (end_of_day - orders[u.order_id].latest.timestamp()) / 60)
    for route in plan.routes:
        for stop in route.stops:
            order = orders[stop.order_id]
            visit = driven.visits.get(stop.order_id)
            closes = order.latest.timestamp()
            arrived = visit.arrived if visit is not None else None
            if arrived is None:
                count += 1
                minutes += max(60.0, (end_of_day - closes) / 60)
            elif arrived > closes:
                count += 1
                minutes += (arrived - closes) / 60
    return count, minutes


def eta_errors(
    day: DayInput,
    plan: Plan,
    driven: Driven,
    travel: TravelTimes,
    orders: Mapping[str, Order],
) -> dict[int, list[float]]:
    """Per horizon (minutes), the signed ETA errors (predicted − actual, minutes) of every
    reached stop, predicted as the live monitor would at that moment."""
    depot = day.depots[0].location
    out: dict[int, list[float]] = {h: [] for h in HORIZONS_MIN}
    for route in plan.routes:
        if not route.stops:
            continue
        prepared = PreparedRoute(route, orders, travel)
        track = driven.tracks.get(route.vehicle_id)
        visits = [driven.visits.get(s.order_id) for s in route.stops]
        start = route.start.timestamp() if route.start else -math.inf
        for k, stop in enumerate(route.stops):
            visit = visits[k]
            if visit is None or visit.arrived is None:
                continue
            for h in HORIZONS_MIN:
                t = visit.arrived - h * 60
                if t < start - 15 * 60:
                    continue  # not released yet: the desk shows no ETA
                eta = _eta_at(prepared, route.stops, visits, track, t, depot, stop.order_id)
                if eta is not None:
                    out[h].append((eta - visit.arrived) / 60)
    return out


def _eta_at(prepared, stops, visits, track, t, depot, order_id) -> float | None:
    """The ETA the desk would have shown at ``t`` (``engine.eta_replay``)."""
    return eta_at(prepared, stops, visits, track, t, depot, order_id)


def _summary(errors: dict[int, list[float]]) -> dict[str, dict[str, float]]:
    out = {}
    for h, values in errors.items():
        arr = np.abs(np.array(values)) if values else np.zeros(0)
        out[str(h)] = {
            "mae_min": round(float(arr.mean()), 2) if len(arr) else float("nan"),
            "within10": round(float((arr <= 10).mean()), 3) if len(arr) else float("nan"),
            "stops": len(arr),
        }
    return out


def run(
    train_days: int,
    test_days: int,
    seed: int,
    plan_seconds: float,
    rate_hz: float,
    zone_m: float,
    orders: int | None = None,
) -> dict:
    from app.simulator.demo_day import generate_demo_day
    from app.telemetry.session import eta_travel_times
    from app.travel.choose import travel_model_for
    from engine.planning import plan as plan_day
    from engine.roads import DEMO_CITY_NETWORK, StreetNetwork

    load_start = os.getloadavg()
    started = time.perf_counter()
    network = StreetNetwork.load(DEMO_CITY_NETWORK)
    days: list[DayInput] = []
    for k in range(train_days + test_days):
        extra = {} if orders is None else {"orders": orders}
        days.append(generate_demo_day(seed * 1000 + k, FIRST_DAY + timedelta(days=k), network,
                                      **extra))  # fmt: skip
    depot = days[0].depots[0]
    base = travel_model_for(depot)
    grid = ZoneGrid(depot.location, zone_m)
    visits, legs = [], []
    for k, day in enumerate(days[:train_days]):
        t0 = time.perf_counter()
        plan = plan_day(day, base, depot_id=depot.id, time_limit_s=plan_seconds)
        driven = drive(day, plan, seed * 1000 + k, network, rate_hz)
        points = [depot.location, *(o.location for o in day.orders)]
        seconds, _ = model_seconds(base, points)
        v, g = day_history(driven.events, driven.tracks, {o.id: o for o in day.orders},
                           depot.location, seconds)  # fmt: skip
        visits += v
        legs += g
        log.info("training day %d: %d visits, %d legs (%.0f s)", k + 1, len(v), len(g),
                 time.perf_counter() - t0)  # fmt: skip
    t0 = time.perf_counter()
    service = learn_service_times(visits, grid)
    travel_profile = learn_travel_factors(legs, grid, depot.timezone)
    learn_s = time.perf_counter() - t0
    errors_static: dict[int, list[float]] = {h: [] for h in HORIZONS_MIN}
    errors_learned: dict[int, list[float]] = {h: [] for h in HORIZONS_MIN}
    late = {"static": [0, 0.0], "learned": [0, 0.0]}
    per_day = []
    for k, day in enumerate(days[train_days:], start=train_days):
        t0 = time.perf_counter()
        day_seed = seed * 1000 + k
        points = [depot.location, *(o.location for o in day.orders)]
        static_travel = eta_travel_times(base, points)
        learned_travel = static_travel.with_factors(travel_profile)
        static_orders = {o.id: o for o in day.orders}
        learned = {o.id: o for o in learned_orders(day.orders, service)}
        plan_static = plan_day(day, base, depot_id=depot.id, time_limit_s=plan_seconds)
        driven = drive(day, plan_static, day_seed, network, rate_hz)
        for h, errs in eta_errors(day, plan_static, driven, static_travel, static_orders).items():
            errors_static[h] += errs
        for h, errs in eta_errors(day, plan_static, driven, learned_travel, learned).items():
            errors_learned[h] += errs
        plan_learned = plan_day(with_learned_service(day, service),
                                LearnedTravelModel(base, travel_profile),
                                depot_id=depot.id, time_limit_s=plan_seconds)  # fmt: skip
        driven_learned = drive(day, plan_learned, day_seed, network, rate_hz)
        ls, lm = late_stops(day, plan_static, driven)
        ll, llm = late_stops(day, plan_learned, driven_learned)
        late["static"][0] += ls
        late["static"][1] += lm
        late["learned"][0] += ll
        late["learned"][1] += llm
        per_day.append({"day": day.day.isoformat(), "seed": day_seed, "late_static": ls,
                        "late_learned": ll, "unassigned_static": len(plan_static.unassigned),
                        "unassigned_learned": len(plan_learned.unassigned),
                        "seconds": round(time.perf_counter() - t0, 1)})  # fmt: skip
    static = _summary(errors_static)
    learned_s = _summary(errors_learned)
    all_static = np.abs(np.concatenate([np.array(v) for v in errors_static.values()]))
    all_learned = np.abs(np.concatenate([np.array(v) for v in errors_learned.values()]))
    mae_static = float(all_static.mean()) if len(all_static) else float("nan")
    mae_learned = float(all_learned.mean()) if len(all_learned) else float("nan")
    out = {
        "train_days": train_days,
        "test_days": test_days,
        "seed": seed,
        "orders_per_day": len(days[0].orders),
        "vehicles": len(days[0].vehicles),
        "zone_m": zone_m,
        "mae_static_min": round(mae_static, 2),
        "mae_learned_min": round(mae_learned, 2),
        "mae_reduction": round(1 - mae_learned / mae_static, 3) if mae_static else None,
        "within10_static": static["30"]["within10"],
        "within10_learned": learned_s["30"]["within10"],
        "late_stops_static": late["static"][0],
        "late_stops_learned": late["learned"][0],
        "late_reduction": round(1 - late["learned"][0] / late["static"][0], 3)
        if late["static"][0]
        else None,
        "late_minutes_static": round(late["static"][1], 1),
        "late_minutes_learned": round(late["learned"][1], 1),
        "by_horizon": {"static": static, "learned": learned_s},
        "learned_from": {
            "visits": len(visits),
            "legs": len(legs),
            "customers": len(service.customers),
            "zones": len(travel_profile.zones),
            "seconds": round(learn_s, 2),
        },  # fmt: skip
        "per_test_day": per_day,
        "targets": {
            "mae_30pct_lower": bool(mae_learned <= 0.7 * mae_static),
            "within10_at_30min_85pct": bool(learned_s["30"]["within10"] >= 0.85),
            "late_stops_25pct_fewer": bool(late["learned"][0] <= 0.75 * late["static"][0]),
        },
        "wall_s": round(time.perf_counter() - started, 1),
        "load_average": {
            "start": [round(x, 2) for x in load_start],
            "end": [round(x, 2) for x in os.getloadavg()],
        },  # fmt: skip
    }
    return out


def _print(result: dict) -> None:
    print(f"ETA on the twin: {result['train_days']} training days, {result['test_days']} test "
          f"days (seed {result['seed']}, {result['orders_per_day']} orders, "
          f"{result['vehicles']} vehicles a day)")  # fmt: skip
    print(f"{'':12}{'static':>22}{'learned':>22}")
    for h in HORIZONS_MIN:
        s, lrn = result["by_horizon"]["static"][str(h)], result["by_horizon"]["learned"][str(h)]
        print(f"{h:>3} min out  MAE {s['mae_min']:5.2f} min, {s['within10']:5.1%} ±10"
              f"  MAE {lrn['mae_min']:5.2f} min, {lrn['within10']:5.1%} ±10  ({s['stops']} stops)")  # fmt: skip
    print(f"all horizons MAE {result['mae_static_min']} -> {result['mae_learned_min']} min "
          f"({result['mae_reduction']:.0%} lower; target ≥ 30 %)")  # fmt: skip
    print(f"late stops, static plans {result['late_stops_static']} -> learned plans "
          f"{result['late_stops_learned']} ({result['late_reduction']:.0%} fewer; target ≥ 25 %)")  # fmt: skip
    print(
        f"within ±10 min at 30 min out, learned: {result['within10_learned']:.1%} (target ≥ 85 %)"
    )
    print("targets: " + ", ".join(f"{k} {'met' if v else 'NOT met'}"
                                  for k, v in result["targets"].items()))  # fmt: skip
    la = result["load_average"]
    print(f"wall {result['wall_s']} s; load average {la['start']} -> {la['end']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.eta", description=__doc__.split("\n")[0])
    parser.add_argument("--train-days", type=int, default=10)
    parser.add_argument("--test-days", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--plan-seconds", type=float, default=5.0,
                        help="time limit of each plan (default 5)")  # fmt: skip
    parser.add_argument("--rate", type=float, default=0.1,
                        help="breadcrumbs per second per vehicle (default 0.1)")  # fmt: skip
    parser.add_argument("--zone-m", type=float, default=2000.0,
                        help="side of a learned traffic zone in metres (default 2000)")  # fmt: skip
    parser.add_argument("--orders", type=int, default=None, help="orders per day (default 400)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.train_days < 1 or args.test_days < 1:
        parser.error("--train-days and --test-days must be at least 1")
    logging.basicConfig(level=logging.INFO if not args.json else logging.WARNING,
                        format="%(message)s", stream=sys.stderr)  # fmt: skip
    result = run(args.train_days, args.test_days, args.seed, args.plan_seconds, args.rate,
                 args.zone_m, args.orders)  # fmt: skip
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _print(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
