"""The release gate: may this route leave? Seven checks, each saying what, why and how to fix.

``check_route(facts)`` is pure and cheap (the route's evaluation is computed beforehand and
passed in), so a whole day's gate is a loop. A check a supervisor has overridden with a
written reason counts as passed but stays visible as overridden. ``wave_gate`` sums a
wave's routes into go / no-go and the wave's status.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from engine.model import Dock, Driver, Order, Route, RouteStatus, Vehicle, Wave
from engine.solver.domain import RouteReport

AWAY_FROM_DEPOT_M = 1000.0  # a vehicle further than this from the depot is not there to load


class Check(enum.StrEnum):
    """The gate's checks, in the order a person reads them."""

    VEHICLE = "vehicle"
    DRIVER = "driver"
    CAPACITY = "capacity"
    WINDOWS = "windows"
    DOCK = "dock_slot"
    LOADING = "loading"
    CUTOFF = "cutoff"


CHECKS = tuple(Check)


@dataclass(frozen=True, slots=True)
class Override:
    """A supervisor's decision to release despite a red check, with the written reason."""

    check: str
    actor: str
    reason: str
    at: datetime


@dataclass(frozen=True, slots=True)
class GateCheck:
    """One check of one route: ``ok``, and in words what was found, why it matters, and how
    to fix it (empty when ok). ``override``: a supervisor let it pass anyway."""

    name: str
    ok: bool
    what: str
    why: str = ""
    fix: str = ""
    overridable: bool = True
    override: Override | None = None

    @property
    def passed(self) -> bool:
        return self.ok or self.override is not None


@dataclass(frozen=True, slots=True)
class Loading:
    """How far a route's loading is: ``scanned`` of ``expected`` orders, or marked loaded
    by hand (``marked_by``)."""

    scanned: int = 0
    expected: int = 0
    marked_by: str = ""
    dock_id: str | None = None

    @property
    def complete(self) -> bool:
        return bool(self.marked_by) or (self.expected > 0 and self.scanned >= self.expected)


@dataclass(frozen=True)
class RouteFacts:
    """Everything the gate looks at for one route (gathered by the caller).

    ``report``: the route evaluated from ``departure`` (None when it could not be: the
    reason is ``report_error``). ``dock_clash``: routes whose slot overlaps this one's at
    the same dock. ``vehicle_busy``: another route of this vehicle still out.
    ``vehicle_away_m``: how far the vehicle's last fix is from the depot (None: unknown).
    """

    route: Route
    vehicle: Vehicle | None
    driver: Driver | None
    orders: Mapping[str, Order]
    departure: datetime | None
    report: RouteReport | None = None
    report_error: str = ""
    wave: Wave | None = None
    waves: Mapping[str, Wave] = field(default_factory=dict)
    dock: Dock | None = None
    dock_clash: tuple[str, ...] = ()
    loading: Loading = Loading()
    vehicle_busy: str | None = None
    vehicle_away_m: float | None = None
    broken_down: bool = False
    overrides: Mapping[str, Override] = field(default_factory=dict)
    timezone: str = "UTC"


@dataclass(frozen=True)
class GateParams:
    """The gate's limits (the depot's rules)."""

    max_hours: float = 10.0  # from the shift start to the end of the route, break included
    late_tolerance_min: float = 0.0  # lateness at a stop the gate lets pass


@dataclass(frozen=True)
class RouteGate:
    """The gate of one route: every check, and go / no-go."""

    route_id: str
    vehicle_id: str
    wave: str
    status: RouteStatus
    checks: tuple[GateCheck, ...]

    @property
    def go(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def red(self) -> tuple[GateCheck, ...]:
        """The checks that stop it (failed and not overridden)."""
        return tuple(c for c in self.checks if not c.passed)

    @property
    def overridden(self) -> tuple[GateCheck, ...]:
        return tuple(c for c in self.checks if not c.ok and c.override is not None)

    @property
    def releasable(self) -> bool:
        """Green and not released yet: a dispatcher may release it."""
        return self.go and not self.status.is_released

    def check(self, name: str) -> GateCheck:
        return next(c for c in self.checks if c.name == name)


@functools.lru_cache(maxsize=16)
def _zone(tz: str) -> ZoneInfo:
    return ZoneInfo(tz)


def _clock(moment: datetime | None, tz: str) -> str:
    if moment is None:
        return "--:--"
    local = moment.astimezone(_zone(tz))
    return f"{local.hour:02d}:{local.minute:02d}"


def _minutes(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def check_route(facts: RouteFacts, params: GateParams = GateParams()) -> RouteGate:
    """The seven checks of one route (see :class:`Check`)."""
    checks = [
        _vehicle(facts),
        _driver(facts, params),
        _capacity(facts),
        _windows(facts, params),
        _dock(facts),
        _loading(facts),
        _cutoff(facts),
    ]
    with_overrides = []
    for check in checks:
        override = facts.overrides.get(check.name)
        if override is not None and not check.ok and check.overridable:
            check = GateCheck(check.name, check.ok, check.what, check.why, check.fix,
                              check.overridable, override)  # fmt: skip
        with_overrides.append(check)
    r = facts.route
    return RouteGate(r.id, r.vehicle_id, r.wave, r.status, tuple(with_overrides))


def _vehicle(f: RouteFacts) -> GateCheck:
    name, vid = Check.VEHICLE.value, f.route.vehicle_id
    if f.vehicle is None:
        return GateCheck(name, False, f"vehicle {vid} is not in the depot's fleet",
                         "the route has no vehicle to load", "re-plan the route onto a vehicle "
                         "of the fleet, or import the vehicle", overridable=False)  # fmt: skip
    if f.broken_down:
        return GateCheck(name, False, f"{vid} has reported a breakdown",
                         "a broken-down vehicle cannot take the route",
                         "move the route's stops to another vehicle (re-plan), or clear the "
                         "breakdown once the vehicle is repaired")  # fmt: skip
    if f.vehicle_busy:
        return GateCheck(name, False, f"{vid} is still out on route {f.vehicle_busy}",
                         "one vehicle cannot drive two routes at once",
                         f"wait until {f.vehicle_busy} is completed, or give this route to "
                         "another vehicle")  # fmt: skip
    if f.vehicle_away_m is not None and f.vehicle_away_m > AWAY_FROM_DEPOT_M:
        return GateCheck(name, False,
                         f"{vid} was last seen {f.vehicle_away_m / 1000:.1f} km from the depot",
                         "it must be at the depot to be loaded and leave",
                         "check where the vehicle is (call the driver); release once it is "
                         "back")  # fmt: skip
    return GateCheck(name, True, f"{vid} ({f.vehicle.type_name or 'vehicle'}) is available")


def _driver(f: RouteFacts, params: GateParams) -> GateCheck:
    name, tz, d = Check.DRIVER.value, f.timezone, f.driver
    if d is None:
        return GateCheck(name, False, f"no driver is assigned to {f.route.vehicle_id}'s route",
                         "a route without a driver cannot leave",
                         "assign a driver to the vehicle (drivers import: vehicle_id) and "
                         "re-plan", overridable=False)  # fmt: skip
    problems, fixes = [], []
    if f.departure is not None and f.departure < d.shift_start:
        problems.append(f"the route leaves {_clock(f.departure, tz)}, before {d.name}'s shift "
                        f"starts {_clock(d.shift_start, tz)}")  # fmt: skip
        fixes.append("let the route leave later (dock slot) or start the shift earlier")
    report = f.report
    if report is not None and report.shift_overrun_s > 60:
        brk = d.breaks[0] if d.breaks else None
        with_break = (f" with the {brk.duration.total_seconds() / 60:.0f}-minute break "
                      f"(start {_clock(brk.earliest, tz)}-{_clock(brk.latest, tz)})"
                      if brk else "")  # fmt: skip
        problems.append(f"the route{with_break} ends {_clock(report.end, tz)}: "
                        f"{_minutes(report.shift_overrun_s)} past {d.name}'s shift "
                        f"(ends {_clock(d.shift_end, tz)})")  # fmt: skip
        fixes.append("move stops to another route (re-plan), or extend the shift")
    if report is not None:
        worked = (report.end - d.shift_start).total_seconds()
        if worked > params.max_hours * 3600 + 60:
            problems.append(
                f"{d.name} would work {_minutes(worked)} from the shift start "
                f"{_clock(d.shift_start, tz)} (at most {params.max_hours:g} h)"
            )
            fixes.append("shorten the route (move stops to another route)")
    if problems:
        return GateCheck(name, False, "; ".join(problems),
                         "the driver's shift, break and hours must cover the whole route",
                         "; ".join(dict.fromkeys(fixes)))  # fmt: skip
    span = f"{_clock(d.shift_start, tz)}-{_clock(d.shift_end, tz)}"
    end = f", route back {_clock(report.end, tz)}" if report is not None else ""
    return GateCheck(name, True, f"{d.name}, shift {span}{end}")


def _capacity(f: RouteFacts) -> GateCheck:
    name = Check.CAPACITY.value
    if f.vehicle is None:
        return GateCheck(name, False, "no vehicle, so no capacity", "see the vehicle check",
                         "see the vehicle check", overridable=False)  # fmt: skip
    load: dict[str, float] = {}
    missing = []
    for stop in f.route.stops:
        order = f.orders.get(stop.order_id)
        if order is None:
            missing.append(stop.order_id)
            continue
        for dim, amount in order.demand.items():
            load[dim] = load.get(dim, 0.0) + amount
    dims = sorted(set(load) | set(f.vehicle.capacity))
    parts, over = [], []
    for dim in dims:
        have, need = f.vehicle.capacity.get(dim, 0.0), load.get(dim, 0.0)
        share = f" ({need / have:.0%})" if have else ""
        parts.append(f"{dim} {need:,.1f} of {have:,.1f}{share}")
        if need > have + 1e-9:
            over.append(f"{dim} {need:,.1f} > {have:,.1f} by {need - have:,.1f}")
    if missing:
        return GateCheck(
            name,
            False,
            f"orders {', '.join(missing[:5])} are not in the day",
            "their load is unknown",
            "re-import the orders or remove the stops",
        )
    if over:
        return GateCheck(
            name,
            False,
            f"over capacity: {'; '.join(over)}",
            f"{f.vehicle.id} cannot carry the route's load",
            "move stops to another route, or give the route a larger vehicle",
        )
    return GateCheck(name, True, ", ".join(parts) or "nothing to carry")


def _windows(f: RouteFacts, params: GateParams) -> GateCheck:
    name, tz = Check.WINDOWS.value, f.timezone
    if f.report is None:
        return GateCheck(name, False, f"the route could not be evaluated: {f.report_error}",
                         "without an evaluation no window is known to be met",
                         "re-plan the route")  # fmt: skip
    tolerance = params.late_tolerance_min * 60
    late = [(oid, s) for oid, s in f.report.late_s.items() if s > tolerance]
    start = f"from departure {_clock(f.departure, tz)}"
    if late:
        late.sort(key=lambda item: -item[1])
        shown = ", ".join(f"{oid} +{_minutes(s)}" for oid, s in late[:5])
        more = f" and {len(late) - 5} more" if len(late) > 5 else ""
        return GateCheck(name, False,
                         f"{len(late)} of {len(f.report.order_ids)} stops late by evaluation "
                         f"{start}: {shown}{more}",
                         "a stop served after its window is a broken promise to a customer",
                         "release earlier, re-plan the route, or move the late stops to "
                         "another route")  # fmt: skip
    n = len(f.report.order_ids)
    return GateCheck(name, True, f"all {n} stops within their windows {start}")


def _dock(f: RouteFacts) -> GateCheck:
    name, tz, r = Check.DOCK.value, f.timezone, f.route
    if not r.dock_id or r.slot_start is None or r.slot_end is None:
        return GateCheck(
            name,
            False,
            "no dock slot held",
            "the route must load somewhere, without taking another's dock time",
            "plan the dock slots (Release ▸ Plan dock slots)",
        )
    where = f.dock.name or f.dock.id if f.dock is not None else r.dock_id
    slot = f"{where} {_clock(r.slot_start, tz)}-{_clock(r.slot_end, tz)}"
    if f.dock is None:
        return GateCheck(name, False, f"{slot}: the depot has no dock {r.dock_id}",
                         "the slot is on a dock that does not exist",
                         "plan the dock slots again")  # fmt: skip
    if f.wave is not None and f.wave.docks and f.dock.id not in f.wave.docks:
        return GateCheck(name, False, f"{slot}: wave {f.wave.id} loads at "
                         f"{', '.join(f.wave.docks)}, not at {f.dock.id}",
                         "the wave's docks are where its goods are staged",
                         "plan the dock slots again")  # fmt: skip
    if f.dock_clash:
        return GateCheck(name, False, f"{slot} overlaps the slot of "
                         f"{', '.join(f.dock_clash[:3])}",
                         "two vehicles cannot load at one dock at once",
                         "plan the dock slots again (one route moves to a free time or "
                         "dock)")  # fmt: skip
    load_end = r.slot_end - timedelta(minutes=f.dock.post_minutes)
    if f.departure is not None and load_end > f.departure + timedelta(seconds=60):
        return GateCheck(
            name,
            False,
            f"{slot}: loading ends {_clock(load_end, tz)}, after the "
            f"planned departure {_clock(f.departure, tz)}",
            "the route cannot leave before it is loaded",
            "plan the dock slots again (the departure follows the slot)",
        )
    return GateCheck(name, True, f"{slot}, leaves {_clock(f.departure, tz)}")


def _loading(f: RouteFacts) -> GateCheck:
    name, ld = Check.LOADING.value, f.loading
    expected = ld.expected or len(f.route.stops)
    if ld.marked_by:
        return GateCheck(name, True, f"marked loaded by {ld.marked_by} "
                         f"({ld.scanned} of {expected} scanned)")  # fmt: skip
    if expected and ld.scanned >= expected:
        return GateCheck(name, True, f"{ld.scanned} of {expected} orders scanned")
    where = f" at {ld.dock_id}" if ld.dock_id else ""
    return GateCheck(name, False, f"{ld.scanned} of {expected} orders scanned{where}",
                     "a route must not leave with goods still on the dock",
                     "finish loading (the scanner reports each order), or mark it loaded "
                     "by hand once checked")  # fmt: skip


def available_at(order: Order, waves: Mapping[str, Wave]) -> datetime | None:
    """When an order's goods are at the depot: when it came in, else by its wave's
    cut-off (None: unknown, taken as in time)."""
    if order.received_at is not None:
        return order.received_at
    wave = waves.get(order.wave)
    return wave.cutoff if wave is not None else None


def _cutoff(f: RouteFacts) -> GateCheck:
    name, tz, wave = Check.CUTOFF.value, f.timezone, f.wave
    if wave is None:
        what = (f"route has no wave {f.route.wave!r} in the day: cut-offs not checked"
                if f.route.wave else "route has no wave: cut-offs not checked")  # fmt: skip
        return GateCheck(name, True, what)
    late = []
    for stop in f.route.stops:
        order = f.orders.get(stop.order_id)
        if order is None:
            continue
        at = available_at(order, f.waves)
        if at is not None and at > wave.cutoff:
            how = "arrived" if order.received_at is not None else f"is in wave {order.wave}, in by"
            late.append(f"{order.id} {how} {_clock(at, tz)}")
    if late:
        shown = ", ".join(late[:4]) + (f" and {len(late) - 4} more" if len(late) > 4 else "")
        later = sorted((w for w in f.waves.values() if w.cutoff > wave.cutoff),
                       key=lambda w: w.cutoff)  # fmt: skip
        nxt = f"a {later[0].id} route" if later else "a later route"
        return GateCheck(name, False,
                         f"{len(late)} order(s) after {wave.id}'s cut-off "
                         f"{_clock(wave.cutoff, tz)}: {shown}",
                         "goods that come in after the cut-off are not staged for this wave",
                         f"move them to {nxt}, or a supervisor overrides if the goods are "
                         "on the dock")  # fmt: skip
    return GateCheck(name, True, f"every order in by {wave.id}'s cut-off "
                     f"{_clock(wave.cutoff, tz)}")  # fmt: skip


# -- waves -----------------------------------------------------------------------------


class WaveStatus(enum.StrEnum):
    OPEN = "open"  # orders still come in (before the cut-off)
    LOADING = "loading"  # cut-off passed, nothing released yet
    RELEASING = "releasing"  # some routes released
    RELEASED = "released"  # every route released (or out)
    DEPARTED = "departed"  # every route on the road or done


@dataclass(frozen=True)
class WaveGate:
    """A wave's routes, how many may go, and where the wave stands."""

    wave: str
    status: WaveStatus
    routes: tuple[str, ...]
    green: tuple[str, ...]  # may go (released ones count)
    red: tuple[str, ...]
    released: tuple[str, ...]
    late: bool  # past its departure window with routes not released
    cutoff: datetime | None = None
    depart_from: datetime | None = None
    depart_to: datetime | None = None

    @property
    def go(self) -> bool:
        return bool(self.routes) and not self.red


def wave_gate(wave_id: str, gates: Sequence[RouteGate], wave: Wave | None,
              now: datetime) -> WaveGate:  # fmt: skip
    """Sum a wave's route gates; the status follows the clock and the releases."""
    mine = [g for g in gates if g.wave == wave_id]
    released = tuple(g.route_id for g in mine if g.status.is_released)
    departed = [g for g in mine if g.status.rank >= RouteStatus.ACTIVE.rank]
    if mine and len(departed) == len(mine):
        status = WaveStatus.DEPARTED
    elif mine and len(released) == len(mine):
        status = WaveStatus.RELEASED
    elif released:
        status = WaveStatus.RELEASING
    elif wave is not None and now < wave.cutoff:
        status = WaveStatus.OPEN
    else:
        status = WaveStatus.LOADING
    green = tuple(g.route_id for g in mine if g.go or g.status.is_released)
    red = tuple(g.route_id for g in mine if not g.go and not g.status.is_released)
    late = wave is not None and now > wave.depart_to and len(released) < len(mine)
    return WaveGate(wave_id, status, tuple(g.route_id for g in mine), green, red, released,
                    late, wave.cutoff if wave else None, wave.depart_from if wave else None,
                    wave.depart_to if wave else None)  # fmt: skip
