"""Checks that need the rest of the day: reachability, capacity, skills, whole-day sanity.

Reachability is deliberately optimistic (straight line at :data:`OPTIMISTIC_SPEED_KMH`,
the earliest shift start and the latest shift end of the depot's drivers), so an order is
refused only when no plan could ever serve it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import date, timedelta

from app.importer.report import DayCheck
from app.importer.rows import depot_zone, show
from engine.geo import haversine_m
from engine.model import Depot, Driver, Order, Vehicle

OPTIMISTIC_SPEED_KMH = 90.0
#: Drivers whose shift lies within this of an order's windows count for its reachability.
_SAME_DAY = timedelta(hours=18)

NO_DRIVERS = "no_drivers"
NO_VEHICLES = "no_vehicles"


def _window_field(index: int, end: str) -> str:
    return f"window{'' if index == 0 else index + 1}_{end}"


def day_of(order: Order, depot: Depot) -> date:
    """The order's day: its first window's date in the depot's time zone."""
    return order.earliest.astimezone(depot_zone(depot)).date()


def reach_problem(order: Order, depot: Depot, drivers: Sequence[Driver]) -> tuple[str, str] | None:
    """(field, reason) when no window can be served within the shifts; NO_DRIVERS to skip."""
    shifts = [
        d
        for d in drivers
        if d.shift_start < order.latest + _SAME_DAY and d.shift_end > order.earliest - _SAME_DAY
    ]
    if not shifts:
        return (NO_DRIVERS, "")
    first = min(d.shift_start for d in shifts)
    last = max(d.shift_end for d in shifts)
    home = depot.location
    metres = haversine_m(home.lat, home.lon, order.location.lat, order.location.lon)
    travel = timedelta(seconds=metres / (OPTIMISTIC_SPEED_KMH / 3.6))
    reasons: list[tuple[str, str]] = []
    for i, w in enumerate(order.windows):
        arrive = max(w.start, first + travel)
        if arrive > w.end:
            reasons.append(
                (
                    _window_field(i, "end"),
                    f"window ends {show(w.end)}, but a vehicle leaving at the first shift "
                    f"start {show(first)} arrives {show(arrive)} at the earliest "
                    f"({metres / 1000:.1f} km at {OPTIMISTIC_SPEED_KMH:.0f} km/h)",
                )
            )
        elif arrive + order.service_time + travel > last:
            back = arrive + order.service_time + travel
            reasons.append(
                (
                    _window_field(i, "start"),
                    f"service from {show(arrive)} and the drive back end {show(back)} at the "
                    f"earliest, after the last shift ends {show(last)}",
                )
            )
        else:
            return None
    return reasons[0][0], "; ".join(reason for _, reason in reasons)


def fleet_problems(order: Order, depot: Depot, fleet: Sequence[Vehicle]) -> list[tuple[str, str]]:
    """Demand no vehicle of the depot carries, skills none offers ([(NO_VEHICLES, "")] skip)."""
    if not fleet:
        return [(NO_VEHICLES, "")]
    problems: list[tuple[str, str]] = []
    for dim, amount in sorted(order.demand.items()):
        largest = max(v.capacity.get(dim, 0.0) for v in fleet)
        if amount > largest:
            problems.append(
                (
                    f"demand_{dim}",
                    f"{amount:g} {dim} is more than any vehicle of depot {depot.id} carries "
                    f"(largest: {largest:g} {dim})",
                )
            )
    offered = frozenset().union(*(v.skills for v in fleet))
    missing = order.skills - offered
    if missing:
        problems.append(
            (
                "skills",
                f"unknown skill(s) {', '.join(sorted(missing))}: no vehicle of depot "
                f"{depot.id} offers them (offered: {', '.join(sorted(offered)) or 'none'})",
            )
        )
    if not problems and not any(
        v.can_carry(order.demand) and order.skills <= v.skills for v in fleet
    ):
        needs = ", ".join(f"{a:g} {d}" for d, a in sorted(order.demand.items()))
        problems.append(
            (
                "demand",
                f"no single vehicle of depot {depot.id} carries {needs} and has skills "
                f"{', '.join(sorted(order.skills))}",
            )
        )
    return problems


def day_checks(
    depot: Depot,
    day: date,
    vehicles: Sequence[Vehicle],
    drivers: Sequence[Driver],
    orders: Sequence[Order],
) -> list[DayCheck]:
    """Whole-day warnings for one depot's day: capacity, drivers, shift coverage, waves."""
    checks: list[DayCheck] = []

    def add(name: str, ok: bool, message: str) -> None:
        checks.append(DayCheck(depot.id, day, name, ok, message))

    dims = sorted({d for v in vehicles for d in v.capacity} | {d for o in orders for d in o.demand})
    for dim in dims:
        need = sum(o.demand.get(dim, 0.0) for o in orders)
        have = sum(v.capacity.get(dim, 0.0) for v in vehicles)
        share = f" ({need / have:.0%} of it)" if have else ""
        add(
            f"capacity {dim}",
            need <= have,
            f"total demand {need:,.1f} {dim}, fleet capacity {have:,.1f} {dim}{share}"
            + ("" if need <= have else ": the fleet cannot carry the day in one trip each"),
        )
    nd, nv = len(drivers), len(vehicles)
    if nd == nv:
        add("drivers vs vehicles", True, f"{nd} drivers for {nv} vehicles")
    elif nd < nv:
        add("drivers vs vehicles", False, f"{nd} drivers for {nv} vehicles: {nv - nd} stay parked")
    else:
        add("drivers vs vehicles", False, f"{nd} drivers for {nv} vehicles: {nd - nv} without one")
    add("shift coverage", *_coverage(orders, drivers))
    waves = Counter(o.wave or "(none)" for o in orders)
    add(
        "orders per wave",
        True,
        ", ".join(f"{w}: {n}" for w, n in sorted(waves.items())) or "no orders",
    )
    return checks


def _coverage(orders: Sequence[Order], drivers: Sequence[Driver]) -> tuple[bool, str]:
    if not drivers:
        return (not orders, f"no drivers for {len(orders)} orders")
    outside_windows = 0
    uncovered: list[str] = []
    for order in orders:
        inside = [
            any(d.shift_start <= w.end and w.start <= d.shift_end for d in drivers)
            for w in order.windows
        ]
        outside_windows += inside.count(False)
        if not any(inside):
            uncovered.append(order.id)
    if not outside_windows:
        return True, f"all windows of {len(orders)} orders lie within a shift"
    text = f"{outside_windows} window(s) lie outside every shift"
    if uncovered:
        sample = ", ".join(sorted(uncovered)[:5])
        text += f"; {len(uncovered)} order(s) have no window in any shift (e.g. {sample})"
    return not uncovered, text
