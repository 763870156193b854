"""Dry runs: a recorded day's disruptions re-run through the digital twin, with rules and
without, and rule sets side by side.

A day recorded by the twin carries its seed and its trouble, so its re-run meets exactly
the same streets, customers and incidents. A day recorded from real trackers has its
disruptions read back from what happened: breakdowns and failed attempts from the events,
silent trackers from gaps in the fixes, a late start from the first departure, a slow van
from its legs against the plan, and the orders known late from when they came.
"""

from __future__ import annotations

import json
import logging
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from app.rules.dayrun import DayResult, DayRun
from app.simulator.trouble import Incident, LateOrder, TroubleSpec
from app.simulator.world import stable_int
from engine.automation import Rule, RuleError
from engine.model import DayInput, Plan

log = logging.getLogger(__name__)

DEFAULT_RULES = Path(__file__).resolve().parents[2] / "resources" / "rules" / "default.json"
SILENT_GAP_S = 300.0


@dataclass
class DaySource:
    """A day to run: its input, its first plan, and the disruptions to meet."""

    day: DayInput
    plan: Plan
    seed: int
    trouble: TroubleSpec = field(default_factory=TroubleSpec)
    twin_options: dict[str, Any] = field(default_factory=dict)
    label: str = ""
    derived: bool = False  # disruptions read back from a day not driven by the twin

    @classmethod
    def demo(cls, seed: int, day: date, trouble: TroubleSpec | None = None,
             plan_iterations: int = 100, travel=None) -> DaySource:  # fmt: skip
        """The demo day of ``seed``, planned repeatably (by iterations)."""
        from app.simulator.demo_day import generate_demo_day
        from app.travel.choose import travel_model_for
        from engine import planning

        day_input = generate_demo_day(seed, day)
        depot = day_input.depots[0]
        travel = travel or travel_model_for(depot)
        plan = planning.plan(day_input, travel, depot_id=depot.id, time_limit_s=600,
                             iterations=plan_iterations)  # fmt: skip
        return cls(day_input, plan, seed, trouble or TroubleSpec(),
                   label=f"demo seed {seed} {day}")  # fmt: skip

    @classmethod
    def from_file(cls, path: str | Path) -> DaySource:
        from app.store.dayfile import DayFile, DayFileError
        from app.store.dayjson import day_from_json, plan_from_json

        with DayFile(path) as f:
            docs = f.json_rows("day_input")
            if len(docs) != 1:
                raise DayFileError(f"{path}: expected one day_input row, found {len(docs)}")
            try:
                full = day_from_json(docs[0])
                first = f.query("SELECT plan FROM plan_versions ORDER BY version LIMIT 1")
                if not first:
                    raise DayFileError(f"{path}: no plan version: nothing to dry-run")
                plan = plan_from_json(json.loads(first[0][0]))
            except ValueError as exc:
                raise DayFileError(f"{path}: {exc}") from None
            on_plan = {o for r in plan.routes for o in r.order_ids}
            known = {oid: at for oid, at in f.query("SELECT order_id, known_at FROM orders_known")
                     if oid not in on_plan}  # fmt: skip
            late = [LateOrder(float(known[o.id]), o) for o in full.orders if o.id in known]
            day = replace(full, orders=tuple(o for o in full.orders if o.id not in known))
            twin = f.meta_json("twin")
            label = f"{f.depot_id} {f.day} ({Path(path).name})"
            if isinstance(twin, dict) and "seed" in twin:
                trouble = TroubleSpec.parse(str(twin.get("trouble", "default")))
                options = {"late_orders": late, "streets": bool(twin.get("streets", True))}
                return cls(day, plan, int(twin["seed"]), trouble, options, label)
            options = derive_disruptions(f, plan, late)
            seed = stable_int(f.depot_id, f.day) % 2**31
            return cls(day, plan, seed, TroubleSpec.none(), options, label, derived=True)


def derive_disruptions(f, plan: Plan, late: Sequence[LateOrder]) -> dict[str, Any]:
    """A real day's disruptions as the twin can replay them (see the module)."""
    incidents: list[Incident] = []
    for vid, ts in f.query("SELECT vehicle_id, min(ts) FROM events WHERE type = 'breakdown' "
                           "GROUP BY vehicle_id"):  # fmt: skip
        incidents.append(Incident("breakdown", vid, float(ts)))
    failed = {r[0] for r in f.query("SELECT stop_id FROM events WHERE type = 'failed'")}
    for route in plan.routes:
        vid = route.vehicle_id
        ts = [
            r[0] for r in f.query("SELECT ts FROM fixes WHERE vehicle_id = ? ORDER BY ts", (vid,))
        ]
        for a, b in zip(ts, ts[1:], strict=False):
            if b - a >= SILENT_GAP_S:
                incidents.append(Incident("silent", vid, float(a), until=float(b)))
        if not route.stops or route.start is None:
            continue
        planned = {s.order_id: s.planned_arrival for s in route.stops}
        arrived = dict(f.query("SELECT stop_id, min(ts) FROM events WHERE vehicle_id = ? AND "
                               "type = 'arrived' GROUP BY stop_id", (vid,)))  # fmt: skip
        first = route.stops[0]
        if first.order_id in arrived and first.planned_arrival is not None:
            late_by = arrived[first.order_id] - first.planned_arrival.timestamp()
            ratios = []
            order = [s.order_id for s in route.stops if s.order_id in arrived]
            for x, y in zip(order, order[1:], strict=False):
                a, b = planned[x], planned[y]
                plan_s = (b - a).total_seconds() if a is not None and b is not None else 0.0
                if plan_s > 300:
                    ratios.append((arrived[y] - arrived[x]) / plan_s)
            slow = statistics.median(ratios) if len(ratios) >= 3 else 1.0
            if late_by > 900 or slow > 1.25:
                incidents.append(Incident("delay", vid, route.start.timestamp(),
                                          factor=round(min(max(slow, 1.0), 2.5), 2),
                                          late_by_s=max(0.0, round(late_by))))  # fmt: skip
    return {"incidents_list": incidents, "late_orders": list(late), "failed": failed}


def load_rule_file(path: str | Path) -> list[Rule]:
    """Rules from a JSON file (a list, or ``{"rules": [...]}``); errors name the rule."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not JSON (line {exc.lineno}: {exc.msg})") from None
    items = data.get("rules") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ValueError(f'{path}: expected a list of rules or {{"rules": [...]}}')
    rules, seen = [], set()
    for k, item in enumerate(items):
        try:
            rule = Rule.from_json(item)
        except RuleError as exc:
            name = item.get("id", f"#{k + 1}") if isinstance(item, dict) else f"#{k + 1}"
            raise ValueError(f"{path}: rule {name}: {exc}") from None
        key = (rule.id, rule.depot_id)
        if key in seen:
            raise ValueError(f"{path}: rule {rule.id} appears twice")
        seen.add(key)
        rules.append(rule)
    return rules


def default_rules() -> list[Rule]:
    """The rule set the workstation ships (enabled, in shadow mode)."""
    return load_rule_file(DEFAULT_RULES)


@dataclass
class RunFigures:
    name: str
    rules: list[str]
    result: DayResult

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "rules": self.rules, **self.result.to_json()}


def dry_run(
    source: DaySource,
    rule_sets: Sequence[tuple[str, Sequence[Rule]]],
    *,
    travel=None,
    progress: Callable[[str], None] | None = None,
    iterations: int | None = 300,
) -> dict[str, Any]:
    """Run the day without rules, then with each rule set (every enabled rule acting);
    the report's top-level ``*_with`` figures are the first set's."""
    from app.travel.choose import travel_model_for

    travel = travel or travel_model_for(source.day.depot(source.plan.depot_id))
    runs: list[RunFigures] = []
    for name, rules in [("without", ()), *rule_sets]:
        if progress is not None:
            progress(
                f"running {source.label or 'the day'} {'without rules' if not rules else 'with ' + name}"
            )
        run = DayRun(source.day, source.plan, seed=source.seed, rules=list(rules),
                     trouble=source.trouble, travel=travel, iterations=iterations,
                     twin_options=source.twin_options)  # fmt: skip
        runs.append(RunFigures(name, [r.id for r in rules if r.enabled], run.run()))
    base, sets = runs[0], runs[1:]
    report: dict[str, Any] = {
        "day": source.day.day.isoformat(),
        "depot": source.plan.depot_id,
        "source": source.label,
        "seed": source.seed,
        "disruptions": "read back from the recording"
        if source.derived
        else f"twin seed {source.seed}, trouble {source.trouble.text()}",
        "ran_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "without": base.result.to_json(),
        "sets": [s.to_json() for s in sets],
    }
    first = sets[0].result if sets else base.result
    report.update({
        "firings": first.firings,
        "stops_moved": first.stops_moved,
        "late_stops_with": first.late_stops,
        "late_stops_without": base.result.late_stops,
        "late_minutes_with": round(first.late_minutes, 1),
        "late_minutes_without": round(base.result.late_minutes, 1),
        "person_actions_with": first.person_actions,
        "person_actions_without": base.result.person_actions,
    })  # fmt: skip
    return report


def change(with_: float, without: float) -> str:
    """``-42 %`` style text of with vs without (``—`` when there is nothing to compare)."""
    if without <= 0:
        return "—" if with_ <= 0 else "+∞"
    return f"{(with_ - without) / without * 100:+.0f} %"


def report_text(report: dict[str, Any]) -> str:
    """The dry run as a table: without rules, then each set, and the changes."""
    rows = [("", "firings", "stops moved", "late stops", "late min", "person actions")]
    base = report["without"]
    rows.append(("without rules", "—", "—", str(base["late_stops"]), f"{base['late_minutes']:.0f}",
                 str(base["person_actions"])))  # fmt: skip
    for s in report["sets"]:
        rows.append((f"with {s['name']}", str(s["firings"]), str(s["stops_moved"]),
                     f"{s['late_stops']} ({change(s['late_stops'], base['late_stops'])})",
                     f"{s['late_minutes']:.0f} ({change(s['late_minutes'], base['late_minutes'])})",
                     f"{s['person_actions']} ({change(s['person_actions'], base['person_actions'])})"))  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [f"Dry run of {report['source']} — disruptions: {report['disruptions']}"]
    for r in rows:
        lines.append(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
        )
    for s in report["sets"]:
        by = ", ".join(f"{k} {v}" for k, v in s["firings_by_status"].items()) or "none"
        lines.append(f"{s['name']}: firings by outcome: {by}; held by the guard rails: "
                     + (", ".join(f"{k} {v}" for k, v in s["held_by_guard"].items()) or "none"))  # fmt: skip
    return "\n".join(lines)
