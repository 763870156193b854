"""A whole day of the digital twin, watched as the workstation watches it, with rules acting.

``DayRun(day, plan, seed=..., rules=...).run()`` drives the twin through the day on a
simulated clock: its messages go through the real decoder into the live state, the live
monitor computes ETAs and exceptions, the rules match and act (every enabled rule acts in
a run, whatever its mode: that is what a dry run is for), changed routes are sent to the
twin, which drives them. It returns the day's figures (:class:`DayResult`) and, with a
``recorder``, writes the day as a recorded-day file. No Qt, no database, no broker.

The figures, as defined in ``docs/rules.md``:

- a stop is **late** when the vehicle arrives after the end of the window service falls in;
  an order never attempted by the end of the day is late too, by the time from its last
  window's end to the end of the day;
- **person actions needed**: every exception that stays open 10 minutes without a rule
  having acted on it in those 10 minutes (someone has to look), every late order no rule
  put on a route within 10 minutes, and every proposal or escalation a rule leaves for a
  person.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from app.dispatch.stop_results import merge_stop_states
from app.rules.actions import ActionRunner, Effect, Situation
from app.rules.facts import DayView, event_occurrences, exception_occurrences, late_order_occurrence
from app.simulator import Simulator, TroubleSpec
from app.telemetry.decode import Decoder, DeviceMap
from app.telemetry.ingest import Ingest
from app.telemetry.monitor import LiveMonitor
from app.telemetry.session import eta_travel_times, route_point_groups
from app.telemetry.state import LiveState
from engine.automation import Match, Rule, RuleMatcher
from engine.eta import TravelTimes
from engine.eta import service_window as window_of
from engine.model import DayInput, Plan, Unassigned, UnassignedReason

log = logging.getLogger(__name__)

PERSON_REACTION = timedelta(minutes=10)
#: A stop a rule moved stays where it was put this long (no rule moves it back and forth).
SETTLE = timedelta(minutes=90)
#: An order never attempted counts as late by at least this many minutes.
UNSERVED_MIN = 60.0
#: Exceptions that moving stops answers (the others need a rule aimed at them).
STOP_TROUBLE = frozenset({"late_risk", "breakdown", "failed_attempt", "capacity"})


@dataclass
class Firing:
    """One rule firing in a run: when, which rule, on what, and what it did."""

    id: str
    at: datetime
    rule: Rule
    match: Match
    effect: Effect
    applied: bool
    mode: str = "acting"

    @property
    def status(self) -> str:
        return self.effect.status if self.mode == "acting" else "shadow"


@dataclass
class DayResult:
    """The day's figures (see the module for the definitions)."""

    orders: int = 0
    late_stops: int = 0
    late_minutes: float = 0.0
    unserved: int = 0
    failed_attempts: int = 0
    exceptions: int = 0
    person_actions: int = 0
    person_actions_by_kind: dict[str, int] = field(default_factory=dict)
    firings: int = 0
    firings_by_status: dict[str, int] = field(default_factory=dict)
    stops_moved: int = 0
    held: dict[str, int] = field(default_factory=dict)
    wall_s: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "orders": self.orders,
            "late_stops": self.late_stops,
            "late_minutes": round(self.late_minutes, 1),
            "unserved": self.unserved,
            "failed_attempts": self.failed_attempts,
            "exceptions": self.exceptions,
            "person_actions": self.person_actions,
            "person_actions_by_kind": dict(sorted(self.person_actions_by_kind.items())),
            "firings": self.firings,
            "firings_by_status": dict(sorted(self.firings_by_status.items())),
            "stops_moved": self.stops_moved,
            "held_by_guard": dict(sorted(self.held.items())),
            "wall_s": round(self.wall_s, 1),
        }


class DayRun:
    """One run of a day; see the module."""

    def __init__(
        self,
        day: DayInput,
        plan: Plan,
        *,
        seed: int,
        rules: Sequence[Rule] = (),
        trouble: TroubleSpec | None = None,
        travel=None,
        loaded: frozenset[str] = frozenset(),
        step_s: float = 30.0,
        eval_s: float = 60.0,
        rate_hz: float = 0.1,
        iterations: int | None = 300,
        recorder=None,
        network=None,
        streets: bool | None = None,
        honour_modes: bool = False,
        twin_options: dict[str, Any] | None = None,
    ) -> None:
        """``honour_modes``: shadow rules only record what they would do (a recorded demo
        day); otherwise every enabled rule acts (a dry run). ``twin_options`` go to the
        twin (a recorded day's incidents, late orders and failed attempts)."""
        from app.travel.choose import travel_model_for

        self.day0 = day
        self.plan0 = plan
        self.depot = day.depot(plan.depot_id)
        self.tz = ZoneInfo(self.depot.timezone)
        options = {"streets": streets, **(twin_options or {})}
        self.twin = Simulator(plan, day, seed=seed, trouble=trouble, rate_hz=rate_hz,
                              network=network, **options)  # fmt: skip
        self.honour_modes = honour_modes
        self.travel = travel if travel is not None else travel_model_for(self.depot)
        self.rules = [r for r in rules if r.enabled]
        self.matcher = RuleMatcher(self.rules, zone=self.tz)
        self.runner = ActionRunner(self.travel, iterations=iterations)
        self.loaded = loaded
        self.step_s, self.eval_s = step_s, eval_s
        self.recorder = recorder
        self.seed = seed

    # -- the run -------------------------------------------------------------------------
    def run(self) -> DayResult:
        started = time.perf_counter()
        twin = self.twin
        day, plan = self.day0, self.plan0
        all_orders = {**{o.id: o for o in day.orders}, **twin.orders}
        points = [self.depot.location, *(o.location for o in all_orders.values())]
        try:
            groups = route_point_groups(self.depot.location, plan, all_orders)
            eta_travel = eta_travel_times(self.travel, points, groups)
        except Exception:  # a point off the network: straight lines for the ETAs
            log.warning("dry run: street ETAs unavailable, using straight lines", exc_info=True)
            eta_travel = TravelTimes()
        fleet = {v.id: v for v in day.vehicles}
        drivers = {d.id: d for d in day.drivers}
        clock = {"now": twin.start_time}
        decoder = Decoder(DeviceMap(vehicles=[v.id for v in day.vehicles]),
                          depot_id=plan.depot_id, clock=lambda: clock["now"])  # fmt: skip
        ingest = Ingest(decoder)
        state = LiveState()

        def monitor_for(p: Plan, tracker=None) -> LiveMonitor:
            m = LiveMonitor(p, all_orders, depot=self.depot.location, fleet=fleet,
                            travel=eta_travel, drivers=drivers)  # fmt: skip
            if tracker is not None:
                m.tracker = tracker
            return m

        monitor = monitor_for(plan)
        version = 1
        self._record_start(day, plan)
        exceptions: dict[str, dict[str, Any]] = {}
        late_known: dict[str, datetime] = {}
        firings: list[Firing] = []
        arrivals: dict[str, float] = {}
        failed: set[str] = set()
        etas: dict = {}
        t = twin.start_time - 60
        next_eval = t
        hard_end = datetime.combine(day.day, datetime.max.time(), self.tz).timestamp()
        end = twin.end_time
        while t < hard_end:
            t += self.step_s
            clock["now"] = t
            for topic, payload in twin.step(t):
                ingest.on_message(topic, payload)
            if t < next_eval:
                continue
            next_eval = t + self.eval_s
            now = datetime.fromtimestamp(t, UTC)
            applied = state.apply(ingest.drain())
            self._record_telemetry(applied)
            for ev in applied.events:
                if ev.stop_id and ev.type == "arrived":
                    arrivals.setdefault(ev.stop_id, ev.ts)
                if ev.stop_id and ev.type == "failed":
                    failed.add(ev.stop_id)
            occurrences = []
            for order in twin.orders_due(t):
                day = replace(day, orders=(*day.orders, order))
                plan = replace(plan, unassigned=(*plan.unassigned, Unassigned(
                    order.id, UnassignedReason.NO_FEASIBLE_ROUTE, f"known at {now.astimezone(self.tz):%H:%M}")))  # fmt: skip
                late_known[order.id] = now
                occurrences.append(late_order_occurrence(order, now))
                self._record_rows("orders_known", [(order.id, t)])
            result = monitor.evaluate(state, now)
            etas = result.etas
            self._track_exceptions(exceptions, result.changes, now)
            vehicle_route = {r.vehicle_id: r.id for r in plan.routes}
            occurrences += exception_occurrences(result.changes, vehicle_route.get)
            occurrences += event_occurrences(applied.events, vehicle_route.get)
            if not self.rules:
                if t > end + 300:
                    end = twin.end_time
                    if t > end + 300:
                        break
                continue
            merged, _ = merge_stop_states(plan, state.stops)
            view = DayView(merged, all_orders, fleet, plan.depot_id, self.depot.timezone, now,
                           etas, {oid: st.status for oid, st in state.stops.items()},
                           frozenset(state.positions))  # fmt: skip
            open_ids = {k for k, e in exceptions.items() if e["resolved_at"] is None}
            matches = self.matcher.match(occurrences, now, view.facts, routes=view.route_subjects,
                                         unacknowledged=open_ids)  # fmt: skip
            for match in matches:
                merged, _ = merge_stop_states(plan, state.stops)
                sit = Situation(
                    day, merged, now, _states(state), etas, self.loaded,
                    frozenset(v for v, f in state.flags.items() if f.broken_down_at),
                    settled_orders(firings, now),
                )  # fmt: skip
                effect = self.runner.run(match, sit)
                self.matcher.fired(match, now)
                acting = match.rule.acts or not self.honour_modes
                applied_change = acting and effect.changes_anything
                fid = f"F{len(firings) + 1:04d}"
                firings.append(Firing(fid, now, match.rule, match, effect, applied_change,
                                      "acting" if acting else "shadow"))  # fmt: skip
                self._record_firing(firings[-1])
                if not acting:
                    continue
                if effect.reschedule:
                    waves = dict(effect.reschedule)
                    day = replace(day, orders=tuple(replace(o, wave=waves[o.id]) if o.id in waves
                                                    else o for o in day.orders))  # fmt: skip
                if effect.changes_plan:
                    version += 1
                    plan = _apply(plan, effect.routes)
                    monitor = monitor_for(plan, monitor.tracker)
                    self._record_plan(version, now, match.rule, fid, plan)
                    if match.rule.then.send:
                        for route in effect.routes:
                            twin.set_route(route.vehicle_id, route.order_ids, version,
                                           route_id=route.id, at=t)  # fmt: skip
                elif effect.status == "send":
                    version += 1
                    for rid in effect.send:
                        route = next(r for r in plan.routes if r.id == rid)
                        twin.set_route(route.vehicle_id, route.order_ids, version,
                                       route_id=rid, at=t)  # fmt: skip
            end = twin.end_time
            if t > end + 300:
                break
        result = self._figures(day, plan, arrivals, failed, exceptions, late_known, firings,
                               working_day_end(day))  # fmt: skip
        result.held = dict(self.matcher.stats.held)
        result.wall_s = time.perf_counter() - started
        self.final_plan, self.final_day, self.firings = plan, day, firings
        self._record_end(exceptions, result)
        return result

    # -- figures ---------------------------------------------------------------------------
    def _figures(self, day, plan, arrivals, failed, exceptions, late_known, firings, day_end):
        res = DayResult()
        orders = {o.id: o for o in day.orders}
        res.orders = len(orders)
        for oid, order in orders.items():
            at = arrivals.get(oid)
            if at is None:
                res.unserved += 1
                res.late_stops += 1
                res.late_minutes += max(UNSERVED_MIN, (day_end - order.latest).total_seconds() / 60)
                continue
            window = window_of(order.windows, datetime.fromtimestamp(at, UTC))
            late = at - window.end.timestamp()
            if late > 0:
                res.late_stops += 1
                res.late_minutes += late / 60
        res.failed_attempts = len(failed)
        res.exceptions = len(exceptions)
        res.firings = len(firings)
        for f in firings:
            res.firings_by_status[f.status] = res.firings_by_status.get(f.status, 0) + 1
            if f.applied:
                res.stops_moved += len(f.effect.moved)
        needs = _person_actions(exceptions, late_known, firings, plan)
        res.person_actions = len(needs)
        for kind in needs:
            res.person_actions_by_kind[kind] = res.person_actions_by_kind.get(kind, 0) + 1
        return res

    # -- recording ---------------------------------------------------------------------------
    def _record_rows(self, table: str, rows) -> None:
        if self.recorder is not None:
            self.recorder.rows(table, rows)

    def _record_start(self, day: DayInput, plan: Plan) -> None:
        if self.recorder is None:
            return
        from app.store.dayjson import day_to_json, plan_to_json

        self.recorder.json_row("day_input", day_to_json(day))
        late = [lo.order for lo in self.twin.late_orders]
        if late:  # the orders known later in the day: in the input, with when they came
            doc = day_to_json(replace(day, orders=(*day.orders, *late)))
            self.recorder.conn.execute("DELETE FROM day_input")
            self.recorder.json_row("day_input", doc)
        at = self.twin.start_time - 60
        self._record_rows("plan_versions", [(1, at, "planner", "plan", None,
                                             _dumps(plan_to_json(plan)))])  # fmt: skip
        self._record_rows("rules", [(r.id, r.version, r.depot_id, _dumps(r.to_json()))
                                    for r in self.rules])  # fmt: skip
        self.recorder.set_meta({
            "twin": {"seed": self.seed, "trouble": self.twin.trouble_spec.text(),
                     "streets": self.twin.roads.net is not None,
                     "incidents": [i.to_json() for i in self.twin.trouble]},
        })  # fmt: skip

    def _record_telemetry(self, applied) -> None:
        if self.recorder is None:
            return
        self.recorder.rows("fixes", [(f.vehicle_id, f.ts, f.lat, f.lon, f.speed_kmh, f.heading_deg)
                                     for f in applied.breadcrumbs])  # fmt: skip
        self.recorder.rows("events", [(e.event_id, e.vehicle_id, e.ts, e.type, e.stop_id, e.reason)
                                      for e in applied.events])  # fmt: skip

    def _record_plan(self, version: int, now: datetime, rule: Rule, fid: str, plan: Plan) -> None:
        if self.recorder is None:
            return
        from app.store.dayjson import plan_to_json

        actor = f"rule:{rule.id}@v{rule.version}"
        self._record_rows("plan_versions", [(version, now.timestamp(), actor, "rule", fid,
                                             _dumps(plan_to_json(plan)))])  # fmt: skip

    def _record_firing(self, f: Firing) -> None:
        if self.recorder is None:
            return
        occ = f.match.occurrence
        moved = [[m.order_id, m.from_vehicle, m.to_vehicle] for m in f.effect.moved]
        self._record_rows("rule_firings", [(
            f.id, f.at.timestamp(), f.rule.id, f.rule.version, f.mode, f.rule.then.action.value,
            f"{occ.kind}:{occ.key}", occ.vehicle_id, occ.order_id, f.effect.status, f.effect.text,
            _dumps(moved), f.effect.lateness_before_s, f.effect.lateness_after_s,
            f.id if f.applied else None,
        )])  # fmt: skip
        if f.applied:
            after = {r.id: list(r.order_ids) for r in f.effect.routes}
            self._record_rows("commands", [(
                f.id, f.at.timestamp(), f"rule:{f.rule.id}@v{f.rule.version}", "rule_firing",
                f.effect.text, f.rule.id, f.rule.version, None, _dumps({"routes": after}),
            )])  # fmt: skip

    def _track_exceptions(self, exceptions: dict, changes, now: datetime) -> None:
        for exc in changes.opened:
            exceptions[exc.id] = {"exc": exc, "detected_at": exc.detected_at, "resolved_at": None}
        for exc in changes.updated:
            if exc.id in exceptions:
                exceptions[exc.id]["exc"] = exc
            self._record_rows("exception_updates", [(exc.id, now.timestamp(), exc.severity.value,
                                                     exc.detail, exc.minutes_late)])  # fmt: skip
        for exc in changes.resolved:
            if exc.id in exceptions:
                exceptions[exc.id]["resolved_at"] = exc.resolved_at
                exceptions[exc.id]["exc"] = exc

    def _record_end(self, exceptions: dict, result: DayResult) -> None:
        if self.recorder is None:
            return
        rows = []
        for eid, e in exceptions.items():
            exc = e["exc"]
            resolved = e["resolved_at"].timestamp() if e["resolved_at"] else None
            rows.append((eid, exc.type.value, exc.severity.value, exc.vehicle_id, exc.order_id,
                         e["detected_at"].timestamp(), None, None, resolved,
                         "rules" if resolved else None, exc.detail, exc.suggested_action,
                         exc.minutes_late))  # fmt: skip
        self._record_rows("exceptions", rows)
        self.recorder.set_meta({"result": result.to_json()})


def working_day_end(day: DayInput) -> datetime:
    """The end of the working day: the last driver's shift end (else the last window's)."""
    ends = [d.shift_end for d in day.drivers] or [o.latest for o in day.orders]
    return max(ends)


def settled_orders(firings: Sequence[Firing], now: datetime) -> frozenset[str]:
    """Orders a rule moved within ``SETTLE``: rules leave them where they were put."""
    return frozenset(m.order_id for f in firings if f.applied and now - f.at < SETTLE
                     for m in f.effect.moved)  # fmt: skip


def _dumps(doc: Any) -> str:
    import json

    return json.dumps(doc, separators=(",", ":"))


def _states(state: LiveState):
    from app.dispatch.preview import states_from_fixes

    return states_from_fixes(state.positions, state.flags)


def _apply(plan: Plan, routes) -> Plan:
    new = {r.id: r for r in routes}
    on = {o for r in routes for o in r.order_ids}
    return replace(plan, routes=tuple(new.get(r.id, r) for r in plan.routes),
                   unassigned=tuple(u for u in plan.unassigned if u.order_id not in on))  # fmt: skip


def _person_actions(
    exceptions: dict, late_known: dict, firings: Sequence[Firing], plan
) -> list[str]:
    """See the module: exceptions a person must look at, late orders to place by hand,
    and what rules leave to a person."""
    acted: dict[str, list[datetime]] = {}  # vehicle / order / exception -> applied firings
    for f in firings:
        if not f.applied:
            continue
        occ = f.match.occurrence
        for key in (occ.key, occ.vehicle_id, occ.order_id,
                    *(m.order_id for m in f.effect.moved),
                    *(m.from_vehicle for m in f.effect.moved if m.from_vehicle)):  # fmt: skip
            if key:
                acted.setdefault(key, []).append(f.at)

    def handled(keys, since: datetime) -> bool:
        return any(since - timedelta(minutes=1) <= at <= since + PERSON_REACTION
                   for k in keys if k for at in acted.get(k, ()))  # fmt: skip

    needs: list[str] = []
    for eid, e in exceptions.items():
        exc, detected, resolved = e["exc"], e["detected_at"], e["resolved_at"]
        if resolved is not None and resolved - detected < PERSON_REACTION:
            continue  # it cleared before anyone would have acted
        # Moving stops answers trouble with the stops; a silent tracker or a van off its
        # route needs a rule aimed at that very exception.
        keys = (eid, exc.vehicle_id, exc.order_id) if exc.type.value in STOP_TROUBLE else (eid,)
        if handled(keys, detected):
            continue
        needs.append(exc.type.value)
    for oid, known in late_known.items():
        if not handled((oid,), known):
            needs.append("late_order")
    needs += [f"rule_{f.status}" for f in firings if f.status in ("proposal", "escalate")]
    return needs
