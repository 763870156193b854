"""Slots into the plan: routes leave when their loading allows, and what that costs.

``retime(ctx, plan, slot_plan)`` gives every slotted route its dock, slot and departure,
and its stops the planned times of leaving then (evaluated, breaks and waiting included);
``scarcity(ctx, plan, requests, docks, waves)`` repeats the slot plan with fewer docks and
reports how departures and lateness grow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from engine.model import Dock, Plan, Route, Wave
from engine.release.slots import SlotPlan, SlotRequest, plan_slots
from engine.solver.domain import DayContext


@dataclass(frozen=True)
class Retimed:
    """The plan with slots and departures, and its lateness before and after."""

    plan: Plan
    slot_plan: SlotPlan
    lateness_before_s: float
    lateness_after_s: float
    late_stops_before: int
    late_stops_after: int
    changed: tuple[str, ...]  # routes whose dock, slot or times changed


def _open_orders(ctx: DayContext, route: Route) -> list[str]:
    return [s.order_id for s in route.stops if s.order_id in ctx.node_of]


def _lateness(ctx: DayContext, route: Route, departure: datetime | None) -> tuple[float, int]:
    if route.vehicle_id not in ctx.vehicle_index:
        return 0.0, 0
    ev = ctx.evaluate(route.vehicle_id, _open_orders(ctx, route), departure)
    return ev.total_lateness, len(ev.lateness)


def retime_route(ctx: DayContext, route: Route, departure: datetime) -> Route:
    """``route`` leaving at ``departure``: its stops' planned times evaluated from then."""
    if route.vehicle_id not in ctx.vehicle_index:
        return replace(route, start=departure)
    orders = _open_orders(ctx, route)
    ev = ctx.evaluate(route.vehicle_id, orders, departure)
    at = {oid: i for i, oid in enumerate(orders)}
    stops = []
    for stop in route.stops:
        i = at.get(stop.order_id)
        if i is None:  # served already: history keeps its times
            stops.append(stop)
            continue
        stops.append(replace(stop, planned_arrival=ctx.clock(ev.arrivals[i]),
                             planned_departure=ctx.clock(ev.departures[i])))  # fmt: skip
    return replace(route, stops=tuple(stops), start=ctx.clock(ev.start_time),
                   end=ctx.clock(ev.end_time))  # fmt: skip


def retime(ctx: DayContext, plan: Plan, slot_plan: SlotPlan) -> Retimed:
    """The plan with each slotted route's dock, slot and departure, stops re-timed."""
    routes, changed = [], []
    before = after = 0.0
    late_before = late_after = 0
    for route in plan.routes:
        slot = slot_plan.slots.get(route.id)
        if slot is None or not route.stops:
            routes.append(route)
            continue
        lb, nb = _lateness(ctx, route, route.start)
        new = retime_route(ctx, route, slot.departure)
        new = replace(new, dock_id=slot.dock_id, slot_start=slot.start, slot_end=slot.end,
                      wave=slot.wave or route.wave)  # fmt: skip
        la, na = _lateness(ctx, new, new.start)
        before, after = before + lb, after + la
        late_before, late_after = late_before + nb, late_after + na
        if new != route:
            changed.append(route.id)
        routes.append(new)
    return Retimed(replace(plan, routes=tuple(routes)), slot_plan, before, after,
                   late_before, late_after, tuple(changed))  # fmt: skip


@dataclass(frozen=True)
class ScarcityRow:
    """The day with ``docks`` docks: slot delays, late departures and stop lateness."""

    docks: int
    total_delay_s: float
    max_delay_s: float
    late_departures: int
    unplaced: int
    lateness_s: float
    late_stops: int


def scarcity(
    ctx: DayContext,
    plan: Plan,
    requests: Sequence[SlotRequest],
    docks: Sequence[Dock],
    waves: Mapping[str, Wave],
    counts: Sequence[int] | None = None,
) -> list[ScarcityRow]:
    """The slot plan with the first ``k`` docks for each ``k`` in ``counts`` (default:
    every count from all docks down to one): how much later routes leave and how much
    later their stops are served when docks are scarce."""
    rows = []
    for k in counts or range(len(docks), 0, -1):
        kept = list(docks[:k])
        ids = {d.id for d in kept}
        limited = {wid: replace(w, docks=tuple(d for d in w.docks if d in ids))
                   for wid, w in waves.items()}  # fmt: skip
        sp = plan_slots(requests, kept, limited)
        timed = retime(ctx, plan, sp)
        late_departures = sum(len(w.late_departures) for w in sp.waves.values())
        rows.append(
            ScarcityRow(
                k,
                sp.total_delay_s,
                max((s.delay_s for s in sp.slots.values()), default=0.0),
                late_departures,
                len(sp.unplaced),
                timed.lateness_after_s,
                timed.late_stops_after,
            )  # fmt: skip
        )
    return rows


def requests_for(
    plan: Plan,
    *,
    wanted: Mapping[str, datetime] | None = None,
    keep: bool = True,
    started: Mapping[str, bool] | None = None,
) -> list[SlotRequest]:
    """One slot request per route with stops: its wave, order count and the departure it
    wants (``wanted``: route id -> e.g. its driver's shift start; default its planned
    start). ``keep``: a route holding a slot asks for the same dock; ``started`` (route id
    -> loading started) pins that route's slot where it is."""
    out = []
    for r in plan.routes:
        if not r.stops or r.start is None:
            continue
        fixed = None
        if started and started.get(r.id) and r.slot_start and r.slot_end and r.dock_id:
            fixed = (r.slot_start, r.slot_end)
        want = (wanted or {}).get(r.id, r.start)
        out.append(SlotRequest(r.id, r.wave, len(r.stops), want,
                               r.dock_id if keep else None, fixed))  # fmt: skip
    return out
