"""``python -m bench.rules``: the shipped rules against none, and what rules cost live.

1. **days** — for each seed (default 1..10) the demo day is planned (repeatably), then
   driven whole by the digital twin twice, once with no rules and once with the shipped
   rule set acting; prints per seed and in total: late stops, late minutes and person
   actions needed with and without, firings and stops moved, and checks the targets
   (late stops ≥ 30 % fewer, late minutes ≥ 40 % fewer, person actions ≥ 50 % fewer).
   Every firing's change is checked against the protected stops (none may move).
2. **live** — ``--vehicles`` (default 2,000) vehicles driven to mid-morning; then passes
   of the live evaluation (ETAs and exceptions) are timed alone and with the rules'
   matching added (what the rules put on each pass; their actions run elsewhere).

Figures come with the load average: the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import date

TARGETS = {"late_stops": 0.30, "late_minutes": 0.40, "person_actions": 0.50}
DAY = date(2026, 12, 7)


def _cut(with_: float, without: float) -> float:
    return 0.0 if without <= 0 else (without - with_) / without


def run_days(seeds, trouble: str, progress) -> dict:
    from app.rules.dayrun import DayRun
    from app.rules.dryrun import DaySource, default_rules
    from app.simulator.trouble import TroubleSpec
    from app.travel.choose import travel_model_for

    rules = default_rules()
    spec = TroubleSpec.parse(trouble)
    rows = []
    for seed in seeds:
        started = time.perf_counter()
        source = DaySource.demo(seed, DAY, spec)
        travel = travel_model_for(source.day.depot(source.plan.depot_id))
        figures = {}
        for name, rs in (("without", []), ("with", rules)):
            run = DayRun(source.day, source.plan, seed=seed, rules=rs, trouble=spec, travel=travel)
            figures[name] = run.run()
        w, wo = figures["with"], figures["without"]
        row = {
            "seed": seed,
            "late_stops_without": wo.late_stops, "late_stops_with": w.late_stops,
            "late_minutes_without": round(wo.late_minutes, 1),
            "late_minutes_with": round(w.late_minutes, 1),
            "person_actions_without": wo.person_actions, "person_actions_with": w.person_actions,
            "firings": w.firings, "stops_moved": w.stops_moved,
            "seconds": round(time.perf_counter() - started, 1),
            "load": round(os.getloadavg()[0], 1),
        }  # fmt: skip
        rows.append(row)
        progress(row)
    total = {k: sum(r[k] for r in rows) for k in rows[0] if k not in ("seed", "load", "seconds")}
    cuts = {
        "late_stops": _cut(total["late_stops_with"], total["late_stops_without"]),
        "late_minutes": _cut(total["late_minutes_with"], total["late_minutes_without"]),
        "person_actions": _cut(total["person_actions_with"], total["person_actions_without"]),
    }
    return {"seeds": rows, "total": total, "cuts": {k: round(v, 3) for k, v in cuts.items()},
            "targets_met": {k: cuts[k] >= t for k, t in TARGETS.items()}}  # fmt: skip


def run_live(vehicles: int, passes: int) -> dict:
    """Time live evaluation passes at ``vehicles`` vehicles, alone and with rule matching."""
    from dataclasses import replace
    from datetime import UTC, datetime

    from app.rules.dryrun import default_rules
    from app.rules.facts import DayView, event_occurrences, exception_occurrences
    from app.simulator import Simulator, sweep_plan, synthetic_day
    from app.telemetry.decode import Decoder, DeviceMap
    from app.telemetry.ingest import Ingest
    from app.telemetry.monitor import LiveMonitor
    from app.telemetry.state import LiveState
    from engine.automation import RuleMatcher

    day = synthetic_day(vehicles, seed=3, day=DAY)
    plan = sweep_plan(day)
    sim = Simulator(plan, day, seed=3, rate_hz=1 / 30)
    clock = {"now": sim.start_time}
    ingest = Ingest(Decoder(DeviceMap(vehicles=[v.id for v in day.vehicles]), depot_id="SIM",
                            clock=lambda: clock["now"]))  # fmt: skip
    state = LiveState()
    monitor = LiveMonitor(plan, day.orders, depot=day.depots[0].location,
                          fleet={v.id: v for v in day.vehicles})  # fmt: skip
    rules = [replace(r, mode=r.mode.ACTING) for r in default_rules()]
    matcher = RuleMatcher(rules)
    orders = {o.id: o for o in day.orders}
    fleet = {v.id: v for v in day.vehicles}
    vehicle_route = {r.vehicle_id: r.id for r in plan.routes}
    t = sim.start_time
    alone, added, occurrences_seen, matches = [], [], [], 0
    alone_cpu, added_cpu = [], []  # this thread's CPU time: what the neighbours do not inflate
    for k in range(passes + 4):
        t += 60 if k >= 4 else 1800  # drive into the morning first, then a pass a minute
        clock["now"] = t
        for topic, payload in sim.step(t):
            ingest.on_message(topic, payload)
        applied = state.apply(ingest.drain())
        snapshot = state.snapshot()
        started, cpu = time.perf_counter(), time.thread_time()
        result = monitor.evaluate(snapshot, t)
        took, took_cpu = time.perf_counter() - started, time.thread_time() - cpu
        started, cpu = time.perf_counter(), time.thread_time()
        now = datetime.fromtimestamp(t, UTC)
        occ = exception_occurrences(result.changes, vehicle_route.get)
        occ += event_occurrences(applied.events, vehicle_route.get)
        statuses = {oid: st.status for oid, st in snapshot.stops.items()}
        view = DayView(plan, orders, fleet, "SIM", "UTC", now, result.etas, statuses,
                       frozenset(snapshot.positions))  # fmt: skip
        open_ids = {e.id for e in monitor.tracker.open.values()}
        matches += len(matcher.match(occ, now, view.facts, routes=view.route_subjects,
                                     unacknowledged=open_ids))  # fmt: skip
        extra, extra_cpu = time.perf_counter() - started, time.thread_time() - cpu
        if k >= 4:
            alone.append(took)
            added.append(extra)
            alone_cpu.append(took_cpu)
            added_cpu.append(extra_cpu)
            occurrences_seen.append(len(occ))
    return {
        "vehicles": vehicles, "passes": passes,
        "evaluation_p50_s": round(statistics.median(alone), 3),
        "evaluation_max_s": round(max(alone), 3),
        "rules_added_p50_s": round(statistics.median(added), 4),
        "rules_added_max_s": round(max(added), 4),
        "evaluation_cpu_p50_s": round(statistics.median(alone_cpu), 3),
        "rules_added_cpu_p50_s": round(statistics.median(added_cpu), 4),
        "rules_added_cpu_max_s": round(max(added_cpu), 4),
        "occurrences_per_pass_p50": statistics.median(occurrences_seen),
        "matches": matches, "load": round(os.getloadavg()[0], 1),
        "target_met": max(added) <= 0.3,
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.rules", description=__doc__.split("\n")[0])
    p.add_argument("--seeds", default="1-10", help="seeds, e.g. 1-10 or 3,7,9")
    p.add_argument("--trouble", default="default", help="the days' trouble (see --trouble of demo)")
    p.add_argument("--vehicles", type=int, default=2000, help="live part: fleet size")
    p.add_argument("--passes", type=int, default=20, help="live part: evaluation passes timed")
    p.add_argument("--skip-days", action="store_true")
    p.add_argument("--skip-live", action="store_true")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if "-" in args.seeds:
        a, b = (int(x) for x in args.seeds.split("-"))
        seeds = list(range(a, b + 1))
    else:
        seeds = [int(x) for x in args.seeds.split(",")]
    out: dict = {"load_before": round(os.getloadavg()[0], 1)}

    def progress(row: dict) -> None:
        if not args.json:
            print(f"seed {row['seed']:>3}: late stops {row['late_stops_without']:>3} → "
                  f"{row['late_stops_with']:<3} late min {row['late_minutes_without']:>7.0f} → "
                  f"{row['late_minutes_with']:<7.0f} person actions "
                  f"{row['person_actions_without']:>3} → {row['person_actions_with']:<3} "
                  f"firings {row['firings']:>3} moved {row['stops_moved']:>3}  "
                  f"({row['seconds']:.0f} s, load {row['load']})", flush=True)  # fmt: skip

    if not args.skip_days:
        out["days"] = run_days(seeds, args.trouble, progress)
        if not args.json:
            d = out["days"]
            print("total: " + ", ".join(
                f"{k.replace('_', ' ')} {d['cuts'][k] * 100:.0f} % fewer "
                f"(target {t * 100:.0f} %: {'met' if d['targets_met'][k] else 'NOT met'})"
                for k, t in TARGETS.items()), flush=True)  # fmt: skip
    if not args.skip_live:
        out["live"] = run_live(args.vehicles, args.passes)
        if not args.json:
            lv = out["live"]
            print(f"live, {lv['vehicles']} vehicles: evaluation p50 {lv['evaluation_p50_s']} s "
                  f"(max {lv['evaluation_max_s']} s); rules add p50 {lv['rules_added_p50_s']} s, "
                  f"max {lv['rules_added_max_s']} s (target ≤ 0.3 s: "
                  f"{'met' if lv['target_met'] else 'NOT met'}); CPU time: evaluation p50 "
                  f"{lv['evaluation_cpu_p50_s']} s, rules add p50 {lv['rules_added_cpu_p50_s']} s, "
                  f"max {lv['rules_added_cpu_max_s']} s; load {lv['load']}")  # fmt: skip
    out["load_after"] = round(os.getloadavg()[0], 1)
    if args.json:
        print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
