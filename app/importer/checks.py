"""Checks that need the rest of the day: reachability, capacity, skills, whole-day sanity.

Reachability is deliberately optimistic (straight line at :data:`OPTIMISTIC_SPEED_KMH`,
the earliest shift start and the latest shift end of the depot's drivers), so an order is
refused only when no plan could ever serve it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta

from app.importer.report import DayCheck
from app.importer.rows import depot_zone, show
from engine.geo import haversine_m
from engine.model import Depot, Driver, Order, Vehicle, Wave

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


class Reach:
    """Reachability of orders from one depot with its drivers, the shift span cached per
    window (a day's orders share a few windows, and it is asked once per order)."""

    def __init__(self, depot: Depot, drivers: Sequence[Driver]) -> None:
        self.depot, self.drivers = depot, tuple(drivers)
        self._spans: dict[tuple[datetime, datetime], tuple[datetime, datetime] | None] = {}

    def _span(self, order: Order) -> tuple[datetime, datetime] | None:
        key = (order.earliest, order.latest)
        if key not in self._spans:
            shifts = [
                d
                for d in self.drivers
                if d.shift_start < order.latest + _SAME_DAY
                and d.shift_end > order.earliest - _SAME_DAY
            ]
            self._spans[key] = (
                (min(d.shift_start for d in shifts), max(d.shift_end for d in shifts))
                if shifts
                else None
            )
        return self._spans[key]

    def problem(self, order: Order) -> tuple[str, str] | None:
        """(field, reason) when no window can be served within the shifts; NO_DRIVERS to skip."""
        span = self._span(order)
        if span is None:
            return (NO_DRIVERS, "")
        first, last = span
        home = self.depot.location
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
                        f"service from {show(arrive)} and the drive back end {show(back)} at "
                        f"the earliest, after the last shift ends {show(last)}",
                    )
                )
            else:
                return None
        return reasons[0][0], "; ".join(reason for _, reason in reasons)


def reach_problem(order: Order, depot: Depot, drivers: Sequence[Driver]) -> tuple[str, str] | None:
    """(field, reason) when no window can be served within the shifts; NO_DRIVERS to skip."""
    return Reach(depot, drivers).problem(order)


class Fleet:
    """What one depot's vehicles carry and offer, summed up once for all its orders."""

    def __init__(self, depot: Depot, fleet: Sequence[Vehicle]) -> None:
        self.depot, self.fleet = depot, tuple(fleet)
        dims = {d for v in fleet for d in v.capacity}
        self.largest = {d: max(v.capacity.get(d, 0.0) for v in fleet) for d in dims}
        self.offered: frozenset[str] = frozenset().union(*(v.skills for v in fleet))

    def problems(self, order: Order) -> list[tuple[str, str]]:
        """Demand no vehicle carries, skills none offers ([(NO_VEHICLES, "")]: skip)."""
        if not self.fleet:
            return [(NO_VEHICLES, "")]
        depot = self.depot
        problems: list[tuple[str, str]] = []
        for dim, amount in sorted(order.demand.items()):
            largest = self.largest.get(dim, 0.0)
            if amount > largest:
                problems.append(
                    (
                        f"demand_{dim}",
                        f"{amount:g} {dim} is more than any vehicle of depot {depot.id} "
                        f"carries (largest: {largest:g} {dim})",
                    )
                )
        missing = order.skills - self.offered
        if missing:
            problems.append(
                (
                    "skills",
                    f"unknown skill(s) {', '.join(sorted(missing))}: no vehicle of depot "
                    f"{depot.id} offers them (offered: {', '.join(sorted(self.offered)) or 'none'})",
                )
            )
        if not problems and not any(
            v.can_carry(order.demand) and order.skills <= v.skills for v in self.fleet
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


def fleet_problems(order: Order, depot: Depot, fleet: Sequence[Vehicle]) -> list[tuple[str, str]]:
    """Demand no vehicle of the depot carries, skills none offers ([(NO_VEHICLES, "")] skip)."""
    return Fleet(depot, fleet).problems(order)


class DayTally:
    """One pass over a depot's day of orders: demand per dimension, orders per wave, and
    which windows lie outside every driver's shift."""

    def __init__(self, drivers: Sequence[Driver]) -> None:
        self.shifts = [(d.shift_start, d.shift_end) for d in drivers]
        self.count = 0
        self.demand: defaultdict[str, float] = defaultdict(float)
        self.waves: Counter[str] = Counter()
        self.outside_windows = 0
        self.uncovered = 0
        self.uncovered_sample: list[str] = []

    def add(self, order: Order) -> None:
        self.count += 1
        for dim, amount in order.demand.items():
            self.demand[dim] += amount
        self.waves[order.wave or "(none)"] += 1
        if not self.shifts:
            return
        inside = [any(s <= w.end and w.start <= e for s, e in self.shifts) for w in order.windows]
        self.outside_windows += inside.count(False)
        if not any(inside):
            self.uncovered += 1
            self.uncovered_sample = sorted([*self.uncovered_sample, order.id])[:5]


def day_checks(
    depot: Depot,
    day: date,
    vehicles: Sequence[Vehicle],
    drivers: Sequence[Driver],
    orders: Iterable[Order] | DayTally,
    waves: Sequence[Wave] = (),
) -> list[DayCheck]:
    """Whole-day warnings for one depot's day: orders, capacity, drivers, shift coverage,
    waves. ``orders`` is read once (it may stream from the store), or already tallied."""
    if isinstance(orders, DayTally):
        tally = orders
    else:
        tally = DayTally(drivers)
        for order in orders:
            tally.add(order)
    checks: list[DayCheck] = []

    def add(name: str, ok: bool, message: str) -> None:
        checks.append(DayCheck(depot.id, day, name, ok, message))

    if not tally.count:
        add("orders", False, "no orders for this day: nothing to plan")
    dims = sorted({d for v in vehicles for d in v.capacity} | set(tally.demand))
    for dim in dims:
        need = tally.demand.get(dim, 0.0)
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
    add("shift coverage", *_coverage(tally))
    if tally.count:
        add("orders per wave", True, ", ".join(f"{w}: {n}" for w, n in sorted(tally.waves.items())))
    if waves:
        add("waves and docks", *_waves(depot, waves))
    return checks


def _waves(depot: Depot, waves: Sequence[Wave]) -> tuple[bool, str]:
    zone = depot_zone(depot)
    clock = lambda t: t.astimezone(zone).strftime("%H:%M")  # noqa: E731
    parts = [
        f"{w.id} cut-off {clock(w.cutoff)}, leaves {clock(w.depart_from)}-{clock(w.depart_to)}"
        f" from {', '.join(w.docks) if w.docks else 'any dock'}"
        for w in sorted(waves, key=lambda w: w.cutoff)
    ]
    text = "; ".join(parts)
    if not depot.docks:
        return False, f"{text}: the depot has no docks, so no route can get a loading slot"
    return True, f"{len(depot.docks)} docks; {text}"


def _coverage(tally: DayTally) -> tuple[bool, str]:
    if not tally.shifts:
        return (not tally.count, f"no drivers for {tally.count} orders")
    if not tally.outside_windows:
        return True, f"all windows of {tally.count} orders lie within a shift"
    text = f"{tally.outside_windows} window(s) lie outside every shift"
    if tally.uncovered:
        sample = ", ".join(tally.uncovered_sample)
        text += f"; {tally.uncovered} order(s) have no window in any shift (e.g. {sample})"
    return not tally.uncovered, text
