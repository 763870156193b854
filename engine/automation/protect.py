"""The stops no rule may move: locked, loaded, or served (or being served right now).

This is not a setting of a rule. Every change a rule wants to make is checked here before
it is written; a change that would move one of these stops off its vehicle, drop it, or
put it elsewhere in a served stop's place is refused as a whole.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from engine.model import Plan, Route, StopStatus

#: Stop states that are history (or in progress): they stay exactly where they are.
SERVED = frozenset(
    {StopStatus.DELIVERED, StopStatus.FAILED, StopStatus.SKIPPED, StopStatus.ARRIVED}
)


def protected_stops(plan: Plan, loaded: Collection[str] = ()) -> frozenset[str]:
    """Order ids of the plan's stops that are locked, loaded (``loaded``: orders whose
    goods are on a vehicle, from the loading records) or served/being served."""
    loaded = set(loaded)
    return frozenset(
        s.order_id
        for r in plan.routes
        for s in r.stops
        if s.locked or s.order_id in loaded or s.status in SERVED
    )


@dataclass(frozen=True)
class Violation:
    """One protected stop a change would disturb, and how."""

    order_id: str
    why: str


def check_change(
    before: Plan, new_routes: Iterable[Route], protected: Collection[str]
) -> list[Violation]:
    """What a change (new versions of some routes of ``before``) would do to protected
    stops: moved to another vehicle, dropped from its route, or a served stop's place in
    its route's history changed. Empty: the change may be written."""
    protected = set(protected)
    vehicle_of = {s.order_id: r.vehicle_id for r in before.routes for s in r.stops}
    old_routes = {r.id: r for r in before.routes}
    out: list[Violation] = []
    seen: set[str] = set()
    for route in new_routes:
        old = old_routes.get(route.id)
        for stop in route.stops:
            seen.add(stop.order_id)
            was = vehicle_of.get(stop.order_id)
            if stop.order_id in protected and was is not None and was != route.vehicle_id:
                out.append(Violation(stop.order_id, f"moved from {was} to {route.vehicle_id}"))
        if old is None:
            continue
        kept = [s.order_id for s in old.stops if s.order_id in protected]
        now_ids = set(route.order_ids)
        for oid in kept:
            if oid not in now_ids:
                out.append(Violation(oid, f"dropped from {old.vehicle_id}'s route"))
        served_before = [s.order_id for s in old.stops if s.status in SERVED]
        served_after = [s.order_id for s in route.stops if s.order_id in set(served_before)]
        if served_after != served_before and not out:
            out.append(Violation(served_before[0], "served stops re-ordered"))
    return out
