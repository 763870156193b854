"""Planning with waves and docks: cut-offs the planner respects, a dock slot per route, and
departures that follow the slots.

- ``wave_planning_day(day)``: the day as the planner should see it. An order available
  only from wave *k* (it came in after the earlier cut-offs) may only ride with a driver
  who leaves with wave *k* or later; this is given to the engine as a skill
  (``wave>=Wk``) the order needs and the later drivers have, so the engine's plan never
  puts a late order on a route that leaves before its goods are in.
- ``with_waves(plan, day)``: each route's wave, from when it leaves.
- ``slot_day(ctx, plan, day)``: dock slots without overlap, departures staggered per wave,
  and the routes re-timed to leave when their loading ends (``engine.release.retime``).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from engine.model import DayInput, Driver, Plan
from engine.planning import DayContext, Snapshot, context
from engine.release import (
    Retimed,
    ScarcityRow,
    available_at,
    ordered,
    plan_slots,
    requests_for,
    retime,
    scarcity,
    wave_for_departure,
)

SKILL_PREFIX = "wave>="


def _order_wave_index(day: DayInput) -> dict[str, int]:
    """order id -> index (in cut-off order) of the first wave its goods make."""
    waves = ordered(day.waves)
    by_id = {w.id: w for w in waves}
    out = {}
    for order in day.orders:
        at = available_at(order, by_id)
        if at is None:
            continue
        k = next((i for i, w in enumerate(waves) if at <= w.cutoff), len(waves) - 1)
        out[order.id] = k
    return out


def driver_wave_index(driver: Driver, day: DayInput) -> int:
    """Index (in cut-off order) of the wave a driver leaves with: the first whose departure
    window is still open at the shift start (the last wave when every window has closed)."""
    waves = ordered(day.waves)
    wave = wave_for_departure(driver.shift_start, waves)
    ids = [w.id for w in waves]
    return ids.index(wave) if wave in ids else len(ids) - 1


def wave_planning_day(day: DayInput) -> DayInput:
    """The day with wave skills added (see the module docstring); unchanged without waves."""
    if not day.waves:
        return day
    waves = ordered(day.waves)
    need = _order_wave_index(day)
    if not any(need.values()):
        return day  # every order makes the first wave: nothing to keep apart
    orders = tuple(
        replace(o, skills=o.skills | {SKILL_PREFIX + waves[need[o.id]].id})
        if need.get(o.id) else o
        for o in day.orders
    )  # fmt: skip
    drivers = tuple(
        replace(d, skills=d.skills | {SKILL_PREFIX + w.id for w in
                                      waves[1 : driver_wave_index(d, day) + 1]})
        for d in day.drivers
    )  # fmt: skip
    return replace(day, orders=orders, drivers=drivers)


def with_waves(plan: Plan, day: DayInput) -> Plan:
    """Each route's wave: the wave its driver leaves with (or, without a driver, the wave
    of its planned start)."""
    if not day.waves:
        return plan
    waves = ordered(day.waves)
    drivers = {d.id: d for d in day.drivers}
    routes = []
    for r in plan.routes:
        driver = drivers.get(r.driver_id) if r.driver_id else None
        if driver is not None:
            wave = waves[driver_wave_index(driver, day)].id
        else:
            wave = wave_for_departure(r.start, waves) or r.wave
        routes.append(r if r.wave == wave else replace(r, wave=wave))
    return replace(plan, routes=tuple(routes))


def wanted_departures(plan: Plan, day: DayInput) -> dict[str, datetime]:
    """route id -> the departure it would like: its driver's shift start."""
    drivers = {d.id: d for d in day.drivers}
    out = {}
    for r in plan.routes:
        driver = drivers.get(r.driver_id) if r.driver_id else None
        if driver is not None:
            out[r.id] = driver.shift_start
        elif r.start is not None:
            out[r.id] = r.start
    return out


def slot_day(
    ctx: DayContext,
    plan: Plan,
    day: DayInput,
    *,
    started: Mapping[str, bool] | None = None,
    stagger_minutes: float | None = None,
) -> Retimed:
    """Dock slots for every route with stops (routes whose loading ``started`` keep
    theirs), and the routes re-timed to leave when their loading ends."""
    plan = with_waves(plan, day)
    depot = day.depots[0]
    requests = requests_for(plan, wanted=wanted_departures(plan, day), started=started)
    waves = {w.id: w for w in day.waves}
    if stagger_minutes is None:
        slot_plan = plan_slots(requests, depot.docks, waves)
    else:
        slot_plan = plan_slots(requests, depot.docks, waves, stagger_minutes=stagger_minutes)
    return retime(ctx, plan, slot_plan)


def dock_scarcity(ctx: DayContext, plan: Plan, day: DayInput) -> list[ScarcityRow]:
    """The slot plan with every number of docks from all down to one: how departures and
    lateness grow when docks are scarce."""
    plan = with_waves(plan, day)
    requests = requests_for(plan, wanted=wanted_departures(plan, day), keep=False)
    return scarcity(ctx, plan, requests, day.depots[0].docks, {w.id: w for w in day.waves})


@dataclass(frozen=True)
class ReleasePlanReport:
    """What fitting the plan to the docks cost: lateness at stops before the slots (as the
    planner made it), with the slots, and after re-planning from the slotted departures."""

    lateness_planned_s: float
    lateness_slotted_s: float
    lateness_final_s: float
    late_stops_final: int
    replanned: bool


def departure_day(day: DayInput) -> DayInput:
    """The planning day with cut-offs kept apart (``wave_planning_day``) and each driver's
    vehicle leaving no earlier than the wave's departure window opens."""
    day = wave_planning_day(day)
    if not day.waves:
        return day
    waves = ordered(day.waves)
    drivers = []
    for d in day.drivers:
        opens = waves[driver_wave_index(d, day)].depart_from
        if opens > d.shift_start and opens < d.shift_end:
            d = replace(d, shift_start=opens)
        drivers.append(d)
    return replace(day, drivers=tuple(drivers))


def plan_with_release(
    day: DayInput,
    travel: Any,
    *,
    depot_id: str,
    time_limit_s: float,
    stop_event: threading.Event | None = None,
    iterations: int | None = None,
    callbacks: Any = None,
) -> tuple[Plan, ReleasePlanReport | None]:
    """Plan the day so that it can be released: waves' cut-offs respected, every route a
    dock slot, departures following the slots; when the slots make stops late, the routes
    are re-planned from their slotted departures and slotted again (the better plan wins).
    Without waves or docks it is the engine's plan. ``iterations`` bounds the search by
    work instead of time (the same plan on any machine, for tests); ``callbacks`` (an
    ``engine.planning.SolveCallbacks``) hear the first solve's progress."""
    from engine import planning as engine_planning

    pday = departure_day(day)
    replan_s = min(5.0, max(1.0, time_limit_s / 4)) if day.waves else 0.0
    plan = engine_planning.plan(pday, travel, depot_id=depot_id,
                                time_limit_s=max(1.0, time_limit_s - replan_s),
                                stop_event=stop_event, iterations=iterations,
                                callbacks=callbacks)  # fmt: skip
    if not day.waves or not day.depots[0].docks or (stop_event and stop_event.is_set()):
        return with_waves(plan, day), None
    ctx = context(Snapshot(day, Plan(plan.id, plan.depot_id, plan.day)), travel, depot_id)
    first = slot_day(ctx, plan, day)
    best, replanned = first, False
    if first.lateness_after_s > first.lateness_before_s + 60 and not (
        stop_event and stop_event.is_set()
    ):
        proposal = engine_planning.replan(Snapshot(pday, first.plan), travel,
                                          time_limit_s=replan_s, stop_event=stop_event,
                                          iterations=iterations)  # fmt: skip
        again = slot_day(ctx, proposal.plan, day)
        if again.lateness_after_s < first.lateness_after_s:
            best, replanned = again, True
    report = ReleasePlanReport(first.lateness_before_s, first.lateness_after_s,
                               best.lateness_after_s, best.late_stops_after, replanned)  # fmt: skip
    return best.plan, report
