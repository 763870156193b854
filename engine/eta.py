"""ETAs for every remaining stop of every active route, from where the vehicle is now.

Pure functions over plain data. A route's ETAs start at the vehicle's live position (or
the depot, before it leaves) at ``now``, then follow the remaining stops in order: travel
time from a :class:`TravelTimes` (a matrix for known points, haversine x detour for the
rest) scaled by the speed factor observed on the legs already driven, waiting for window
opening, and service time. A stop being served (arrived) finishes its service first.

Given the route's driver, the driver's break still due (``Driver.break_due``: not taken
yet, its latest start not past) is placed where the engine's evaluation of the route
places it (``engine.evaluate.best_break``: the same code), so the live ETAs of an unchanged
route agree with a re-plan's "before", a drag preview and a suggestion. A driver on a break
now drives on when it ends.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

import numpy as np

from engine.evaluate import best_break, break_on_leg
from engine.geo import haversine_m
from engine.model import (
    Driver,
    Location,
    Order,
    Route,
    RouteStatus,
    Stop,
    StopStatus,
    TimeWindow,
)
from engine.problem import TOLERANCE, BreakSpec

MIN_FACTOR, MAX_FACTOR = 0.8, 2.5


@dataclass(frozen=True, slots=True)
class Position:
    """Where a vehicle was at ``ts`` (from its newest live fix)."""

    vehicle_id: str
    ts: datetime
    lat: float
    lon: float
    speed_kmh: float | None = None

    @property
    def location(self) -> Location:
        return Location(self.lat, self.lon)


class TimeFactors(Protocol):
    """Learned time-of-day factors on a drive (``engine.learning.TravelProfile``)."""

    def factor(self, a: Location, b: Location, depart: datetime, *, keep: bool = True) -> float: ...


class TravelTimes:
    """Seconds between two points: the matrix where both are in it, else the fallback;
    with ``factors``, a drive setting off at a given time takes that many times longer."""

    def __init__(
        self,
        points: Sequence[Location] = (),
        duration_s: np.ndarray | None = None,
        *,
        fallback_speed_kmh: float = 35.0,
        detour: float = 1.3,
        factors: TimeFactors | None = None,
    ) -> None:
        self.factors = factors
        self._index = {p: i for i, p in enumerate(points)}
        self._matrix = None if duration_s is None else np.asarray(duration_s, dtype=np.float64)
        if self._matrix is not None and self._matrix.shape != (len(points), len(points)):
            raise ValueError(
                f"duration_s: shape {self._matrix.shape} does not match {len(points)} points"
            )
        if fallback_speed_kmh <= 0:
            raise ValueError(f"fallback_speed_kmh: must be positive, got {fallback_speed_kmh}")
        self._mps = fallback_speed_kmh / 3.6
        self._detour = detour

    def seconds(self, a: Location, b: Location) -> float:
        if self._matrix is not None:
            i, j = self._index.get(a), self._index.get(b)
            if i is not None and j is not None:
                return float(self._matrix[i, j])
        return haversine_m(a.lat, a.lon, b.lat, b.lon) * self._detour / self._mps

    def factor(self, a: Location, b: Location, depart: datetime, *, keep: bool = True) -> float:
        """How much longer than :meth:`seconds` a drive setting off at ``depart`` takes
        (``keep=False`` for a leg from a live position: not remembered, see TravelProfile)."""
        return 1.0 if self.factors is None else self.factors.factor(a, b, depart, keep=keep)

    def with_factors(self, factors: TimeFactors | None) -> TravelTimes:
        """The same travel times with other time-of-day factors (None: none)."""
        out = object.__new__(type(self))
        out.__dict__.update(self.__dict__)
        out.factors = factors
        return out


class LegTravelTimes(TravelTimes):
    """Travel times kept per leg rather than as a matrix over all the day's points: the legs
    given (each route's points among themselves), and any other pair of known points asked of
    ``lookup`` once and kept; a pair with an unknown point (a live position) is the fallback,
    as in :class:`TravelTimes`. Memory grows with the legs used, not the square of the day."""

    def __init__(
        self,
        legs: dict[tuple[Location, Location], float],
        *,
        known: frozenset[Location] = frozenset(),
        lookup: Callable[[Location, Location], float] | None = None,
        fallback_speed_kmh: float = 35.0,
        detour: float = 1.3,
        factors: TimeFactors | None = None,
    ) -> None:
        super().__init__(fallback_speed_kmh=fallback_speed_kmh, detour=detour, factors=factors)
        self._legs = legs
        self._known = known
        self._lookup = lookup

    def seconds(self, a: Location, b: Location) -> float:
        found = self._legs.get((a, b))
        if found is not None:
            return found
        if self._lookup is not None and a in self._known and b in self._known:
            found = self._legs[(a, b)] = float(self._lookup(a, b))
            return found
        return haversine_m(a.lat, a.lon, b.lat, b.lon) * self._detour / self._mps


@dataclass(frozen=True, slots=True)
class StopEta:
    """The predicted arrival at one remaining stop, against its delivery window."""

    route_id: str
    vehicle_id: str
    order_id: str
    eta: datetime
    service_start: datetime
    departure: datetime
    window: TimeWindow
    planned_arrival: datetime | None = None
    break_s: float = 0.0  # the driver's break taken on the way here (in ``eta``, not driving)

    @property
    def late_s(self) -> float:
        """Seconds after the window closes (negative = slack before it closes)."""
        return (self.eta - self.window.end).total_seconds()


@dataclass(frozen=True)
class RouteEta:
    """ETAs of a route's remaining stops, and what they were computed from."""

    route_id: str
    vehicle_id: str
    stops: tuple[StopEta, ...]
    speed_factor: float
    origin: str  # "live", "depot" or "none"
    end: datetime | None = None

    def of(self, order_id: str) -> StopEta | None:
        for s in self.stops:
            if s.order_id == order_id:
                return s
        return None


def service_window(windows: Sequence[TimeWindow], arrival: datetime) -> TimeWindow:
    """The window service will fall in: the first that has not closed at ``arrival``."""
    for w in windows:
        if arrival <= w.end:
            return w
    return windows[-1]


def observed_speed_factor(legs: Sequence[tuple[float, float]]) -> float:
    """Median of actual/model seconds over driven legs (clamped); 1.0 without data."""
    ratios = sorted(actual / model for model, actual in legs if model > 30 and actual > 0)
    if not ratios:
        return 1.0
    mid = len(ratios) // 2
    median = ratios[mid] if len(ratios) % 2 else (ratios[mid - 1] + ratios[mid]) / 2
    return min(MAX_FACTOR, max(MIN_FACTOR, median))


def route_etas(
    route: Route,
    orders: Mapping[str, Order],
    now: datetime,
    travel: TravelTimes,
    *,
    position: Position | None = None,
    depot: Location | None = None,
    statuses: Mapping[str, StopStatus] | None = None,
    arrived_at: Mapping[str, datetime] | None = None,
    speed_factor: float = 1.0,
    driver: Driver | None = None,
    breaks_taken: int = 0,
    on_break_since: datetime | None = None,
) -> RouteEta:
    """ETAs of the route's stops not yet served, starting from the live position at ``now``.

    ``statuses``/``arrived_at`` (by order id) are what telemetry reported, overriding the
    plan's stop states. Without a position, a route that has not left starts at the depot
    at its planned start (or now, whichever is later). With the route's ``driver``, the
    break still due is placed (``breaks_taken``: how many of the driver's breaks telemetry
    saw started; ``on_break_since``: on one now, since then), as :class:`PreparedRoute` does.
    """
    if driver is not None and driver.breaks:
        return PreparedRoute(route, orders, travel).etas(
            now,
            position=position,
            depot=depot,
            statuses=statuses,
            arrived_at=arrived_at,
            speed_factor=speed_factor,
            driver=driver,
            breaks_taken=breaks_taken,
            on_break_since=on_break_since,
        )
    statuses = statuses or {}
    arrived_at = arrived_at or {}
    if not math.isfinite(speed_factor) or speed_factor <= 0:
        speed_factor = 1.0
    live: Location | None = None  # legs from the live position: not kept (TravelTimes.factor)
    if position is not None:
        here, t, origin = position.location, max(now, position.ts), "live"
        live = here
    elif depot is not None:
        here, origin = depot, "depot"
        t = max(now, route.start) if route.start else now
    else:
        return RouteEta(route.id, route.vehicle_id, (), speed_factor, "none")
    etas: list[StopEta] = []
    for stop in route.stops:
        status = statuses.get(stop.order_id, stop.status)
        if status.is_done:
            continue
        order = orders.get(stop.order_id)
        if order is None:
            continue
        eta, start, here, t = _next(
            stop,
            order,
            status,
            here,
            t,
            now,
            travel,
            speed_factor,
            arrived_at.get(stop.order_id) or stop.actual_arrival,
            here is not live,
        )
        window = service_window(order.windows, eta)
        etas.append(
            StopEta(
                route.id,
                route.vehicle_id,
                stop.order_id,
                eta,
                start,
                t,
                window,
                stop.planned_arrival,
            )
        )
    end = None
    if depot is not None and route.status is not RouteStatus.COMPLETED:
        secs = travel.seconds(here, depot) * speed_factor
        if travel.factors is not None:
            secs *= travel.factor(here, depot, t, keep=here is not live)
        end = t + timedelta(seconds=secs)
    return RouteEta(route.id, route.vehicle_id, tuple(etas), speed_factor, origin, end)


def _next(
    stop: Stop,
    order: Order,
    status: StopStatus,
    here: Location,
    t: datetime,
    now: datetime,
    travel: TravelTimes,
    factor: float,
    arrived: datetime | None,
    keep: bool = True,
) -> tuple[datetime, datetime, Location, datetime]:
    """(arrival, service start, new position, departure) for one stop (``keep``: see
    ``TravelTimes.factor``)."""
    if status is StopStatus.ARRIVED and arrived is not None:
        start = max(arrived, order.earliest)
        depart = max(now, start + order.service_time)
        return arrived, start, order.location, depart
    secs = travel.seconds(here, order.location) * factor
    if travel.factors is not None:
        secs *= travel.factor(here, order.location, t, keep=keep)
    eta = t + timedelta(seconds=secs)
    window = service_window(order.windows, eta)
    start = max(eta, window.start)
    return eta, start, order.location, start + order.service_time


_DONE = frozenset(s for s in StopStatus if s.is_done)


class PreparedRoute:
    """A route's stops joined with their orders once, for ETAs recomputed every second.

    :meth:`etas` returns exactly what :func:`route_etas` returns for the same inputs, but
    the per-stop lookups are done once here and the drive between two stops (or a stop
    and the depot) is asked of the travel model only the first time it is needed.
    """

    __slots__ = (
        "route",
        "stops",
        "_rows",
        "_travel",
        "_legs",
        "_drives",
        "_drive_factor",
        "_floats",
    )

    def __init__(self, route: Route, orders: Mapping[str, Order], travel: TravelTimes) -> None:
        self.route = route
        self.stops = tuple(
            (s, orders[s.order_id], orders[s.order_id].earliest)
            for s in route.stops
            if s.order_id in orders
        )
        # Per stop, unpacked once: order id, plan status, actual and planned arrival,
        # windows, the first window, location and service time.
        self._rows = tuple(
            (
                s.order_id,
                s.status,
                s.actual_arrival,
                s.planned_arrival,
                o.windows,
                o.windows[0],
                o.location,
                o.service_time,
                earliest,
                len(o.windows) == 1,
            )
            for s, o, earliest in self.stops
        )
        self._travel = travel
        self._legs: dict[tuple[int, int] | tuple[int, int, Location | None], float] = {}
        # Drives between stops as timedeltas at one speed factor (the route's factor rarely
        # changes): the same ``timedelta(seconds=leg * factor)`` as computed afresh.
        self._drives: dict[tuple[int, int], timedelta] = {}
        self._drive_factor = 1.0
        self._floats: list[tuple[tuple[tuple[float, float], ...], float, float]] = []

    def leg_s(self, i: int, j: int, depot: Location | None = None) -> float:
        """Model seconds from stop ``i`` to stop ``j`` (index -1 is ``depot``), memoised."""
        key = (i, j) if i >= 0 and j >= 0 else (i, j, depot)  # the depot may differ per call
        secs = self._legs.get(key)
        if secs is None:
            a = depot if i < 0 else self.stops[i][1].location
            b = depot if j < 0 else self.stops[j][1].location
            if a is None or b is None:
                raise ValueError("a leg from or to the depot needs the depot's location")
            secs = self._legs[key] = self._travel.seconds(a, b)
        return secs

    def expected_leg_s(
        self, i: int, j: int, depart: datetime, depot: Location | None = None
    ) -> float:
        """:meth:`leg_s` times the travel times' factor for setting off at ``depart``."""
        secs = self.leg_s(i, j, depot)
        if self._travel.factors is None:
            return secs
        a = depot if i < 0 else self.stops[i][1].location
        b = depot if j < 0 else self.stops[j][1].location
        assert a is not None and b is not None  # leg_s refused a missing depot
        return secs * self._travel.factor(a, b, depart)

    def _timed_drive(
        self, here: int, i: int, live: Location | None, depot: Location | None, t: datetime
    ) -> timedelta:
        """The drive from ``here`` (-2: the live position, -1: the depot, else a stop) to
        stop ``i`` setting off at ``t``, with the travel times' time-of-day factor."""
        b = self.stops[i][1].location
        a: Location | None
        if here == -2:
            assert live is not None
            a, secs = live, self._travel.seconds(live, b)
        else:
            a = depot if here == -1 else self.stops[here][1].location
            secs = self.leg_s(here, i, depot)
        assert a is not None
        return timedelta(seconds=secs * self._travel.factor(a, b, t, keep=here != -2))

    def etas(
        self,
        now: datetime,
        *,
        status: RouteStatus | None = None,
        position: Position | None = None,
        depot: Location | None = None,
        statuses: Mapping[str, StopStatus] | None = None,
        arrived_at: Mapping[str, datetime] | None = None,
        speed_factor: float = 1.0,
        driver: Driver | None = None,
        breaks_taken: int = 0,
        on_break_since: datetime | None = None,
    ) -> RouteEta:
        """Same as :func:`route_etas` on this route (with ``status`` overriding its own)."""
        route = self.route
        statuses = statuses or {}
        arrived_at = arrived_at or {}
        if not math.isfinite(speed_factor) or speed_factor <= 0:
            speed_factor = 1.0
        live: Location | None = None
        if position is not None:
            live, here, t, origin = position.location, -2, max(now, position.ts), "live"
        elif depot is not None:
            here, origin = -1, "depot"
            t = max(now, route.start) if route.start else now
        else:
            return RouteEta(route.id, route.vehicle_id, (), speed_factor, "none")
        if driver is not None and driver.breaks:
            if on_break_since is not None and 0 < breaks_taken <= len(driver.breaks):
                back = on_break_since + driver.breaks[breaks_taken - 1].duration
                t = max(t, back)  # on a break now: drives on at its end
            if driver.break_due(t, breaks_taken) is not None:  # (none due: as without one)
                return self._with_break(
                    now,
                    status or route.status,
                    origin,
                    here,
                    live,
                    t,
                    depot,
                    statuses,
                    arrived_at,
                    speed_factor,
                    driver,
                    breaks_taken,
                )
        travel, rid, vid = self._travel, route.id, route.vehicle_id
        if speed_factor != self._drive_factor:
            self._drives.clear()
            self._drive_factor = speed_factor
        drives = self._drives
        timed = travel.factors is not None  # learned time-of-day factors: no drive memo
        etas: list[StopEta] = []
        append = etas.append
        arrived_status = StopStatus.ARRIVED
        for i, row in enumerate(self._rows):
            oid, plan_status, actual, planned, windows, first, location, service, earliest, one = (
                row
            )
            st = statuses.get(oid, plan_status)
            if st in _DONE:
                continue
            arrived = arrived_at.get(oid) or actual
            if st is arrived_status and arrived is not None:
                eta = arrived
                window = first if one or eta <= first.end else service_window(windows, eta)
                start = max(arrived, earliest)
                t = max(now, start + service)
            else:
                if timed:
                    eta = t + self._timed_drive(here, i, live, depot, t) * speed_factor
                elif here == -2:
                    secs = travel.seconds(live, location)  # type: ignore[arg-type]
                    eta = t + timedelta(seconds=secs * speed_factor)
                elif here == -1:  # from the depot, which may differ per call
                    eta = t + timedelta(seconds=self.leg_s(-1, i, depot) * speed_factor)
                else:
                    drive = drives.get((here, i))
                    if drive is None:
                        secs = self.leg_s(here, i, depot)
                        drive = drives[here, i] = timedelta(seconds=secs * speed_factor)
                    eta = t + drive
                window = first if one or eta <= first.end else service_window(windows, eta)
                start = eta if eta > window.start else window.start  # max(eta, window.start)
                t = start + service
            here = i
            append(StopEta(rid, vid, oid, eta, start, t, window, planned))
        end = None
        if depot is not None and (status or route.status) is not RouteStatus.COMPLETED:
            if here == -2 and live is not None:
                secs = travel.seconds(live, depot)
                if timed:
                    secs *= travel.factor(live, depot, t, keep=False)
            else:
                secs = self.leg_s(here, -1, depot)
                if timed and here >= 0:
                    secs *= travel.factor(self.stops[here][1].location, depot, t)
            end = t + timedelta(seconds=secs * speed_factor)
        return RouteEta(route.id, route.vehicle_id, tuple(etas), speed_factor, origin, end)

    def _with_break(
        self,
        now: datetime,
        status: RouteStatus,
        origin: str,
        here: int,
        live: Location | None,
        t: datetime,
        depot: Location | None,
        statuses: Mapping[str, StopStatus],
        arrived_at: Mapping[str, datetime],
        speed_factor: float,
        driver: Driver,
        taken: int,
    ) -> RouteEta:
        """:meth:`etas` for a route whose driver has a break due: stops being served finish
        first, then the remaining stops are timed as ``engine.evaluate`` times a sequence,
        the break placed by the same code (times in epoch seconds)."""
        route = self.route
        rid, vid = route.id, route.vehicle_id
        fixed: list[StopEta] = []
        todo: list[tuple[int, float | None]] = []  # (row, arrival of a stop being served)
        arrived_status = StopStatus.ARRIVED
        for i, row in enumerate(self._rows):
            oid, plan_status, actual, planned, windows, first, _, service, earliest, _ = row
            st = statuses.get(oid, plan_status)
            if st in _DONE:
                continue
            arrived = arrived_at.get(oid) or actual if st is arrived_status else None
            if arrived is not None and not todo:
                start = max(arrived, earliest)
                t = max(now, start + service)
                window = service_window(windows, arrived)
                fixed.append(StopEta(rid, vid, oid, arrived, start, t, window, planned))
                here = i
                continue
            todo.append((i, None if arrived is None else arrived.timestamp()))
        back = depot is not None and status is not RouteStatus.COMPLETED
        due = driver.break_due(t, taken)
        brk = (
            None
            if due is None
            else BreakSpec(
                due.earliest.timestamp(), due.latest.timestamp(), due.duration.total_seconds()
            )
        )
        shift_end, t0, now_s = driver.shift_end.timestamp(), t.timestamp(), now.timestamp()

        def simulate(break_leg: int) -> tuple[_LiveSchedule, int]:
            return self._schedule(
                todo, here, live, depot, t0, now_s, speed_factor, brk, break_leg, shift_end, back
            )

        sched = simulate(-1)[0] if brk is None else best_break(simulate, len(todo), brk, t0)
        etas = fixed
        append = etas.append
        rows = self._rows
        arrivals, starts, readies = sched.arrivals, sched.starts, sched.ready
        on_the_way = sched.on_the_way
        for k, (i, _) in enumerate(todo):
            oid, _, _, planned, windows, first, _, service, _, one = rows[i]
            arr, begin, ready_s = arrivals[k], starts[k], readies[k]
            eta = _utc(arr)
            start = eta if begin == arr else _utc(begin)
            ready = eta if ready_s == arr else _utc(ready_s)
            window = first if one or ready <= first.end else service_window(windows, ready)
            rest = on_the_way[1] if on_the_way[0] == k else 0.0
            append(StopEta(rid, vid, oid, eta, start, start + service, window, planned, rest))
        end = _utc(sched.end_time) if back else None
        return RouteEta(rid, vid, tuple(etas), speed_factor, origin, end)

    def _schedule(
        self,
        todo: Sequence[tuple[int, float | None]],
        here: int,
        live: Location | None,
        depot: Location | None,
        t: float,
        now: float,
        factor: float,
        brk: BreakSpec | None,
        break_leg: int,
        shift_end: float,
        back: bool,
    ) -> tuple[_LiveSchedule, int]:
        """The schedule of the stops ``todo`` from ``here`` at ``t``, with the break taken
        lazily (``break_leg`` -1) or on that leg, as ``engine.evaluate``'s ``_simulate``
        does; the last leg is the drive back to the depot (when ``back``)."""
        timed = self._travel.factors is not None
        floats = self._floats or self._float_rows()
        legs = self._legs
        n = len(todo)
        sched = _LiveSchedule(t)
        arrivals, starts, departures, ready_at = (
            sched.arrivals, sched.starts, sched.departures, sched.ready,
        )  # fmt: skip
        waiting, lateness = sched.waiting, sched.lateness
        break_start: float | None = None
        overrun = 0.0
        taken_leg = n + 1
        wins: tuple[tuple[float, float], ...] | None = None
        service = 0.0
        for pos in range(n + 1):
            if pos < n:
                i, served = todo[pos]
                wins, service, earliest = floats[i]
                if served is not None:  # being served, out of order: as it is, no break
                    begin = served if served > earliest else earliest
                    t = max(now, begin + service)
                    arrivals.append(served)
                    ready_at.append(served)
                    starts.append(begin)
                    waiting.append(0.0)
                    departures.append(t)
                    here = i
                    continue
                secs = legs.get((here, i)) if here >= 0 and not timed else None
                if secs is None:
                    secs = self._drive_s(here, i, live, depot, t, timed)
            else:
                if not back:
                    break
                secs = self._drive_s(here, -1, live, depot, t, timed)
                wins, service = None, 0.0
            arr = t + secs * factor
            ready = arr
            if brk is not None and break_start is None:
                taken = break_on_leg(brk, t, arr, pos, break_leg, wins, service)
                if taken is not None:
                    taken_leg = pos
                    break_start, ready = taken
                    overrun = max(overrun, break_start - brk.latest)
                    if break_start <= arr:
                        arr = ready  # the break was taken on the way
                        sched.on_the_way = (pos, brk.duration)
            if pos == n:
                t = ready
                break
            assert wins is not None
            begin, late = _float_window_start(wins, ready)
            if late > TOLERANCE:
                lateness[pos] = late
            arrivals.append(arr)
            ready_at.append(ready)
            starts.append(begin)
            waiting.append(begin - arr)
            t = begin + service
            departures.append(t)
            here = i
        if brk is not None and break_start is None and t > brk.earliest:
            overrun = max(overrun, t - brk.latest)  # after the route
        sched.end_time = t
        sched.shift_overrun = max(overrun, t - shift_end if back else 0.0, 0.0)
        return sched, taken_leg

    def _drive_s(
        self, here: int, i: int, live: Location | None, depot: Location | None, t: float,
        timed: bool,
    ) -> float:  # fmt: skip
        """Model seconds from ``here`` (-2: the live position, -1: the depot, else a stop)
        to stop ``i`` (-1: the depot), with the time-of-day factor of setting off at ``t``."""
        travel = self._travel
        b = depot if i == -1 else self.stops[i][1].location
        a: Location | None
        if here == -2:
            a = live
            assert a is not None and b is not None
            secs = travel.seconds(a, b)
        else:
            secs = self.leg_s(here, i, depot)
            a = depot if here == -1 else self.stops[here][1].location
        if timed:
            assert a is not None and b is not None
            secs *= travel.factor(a, b, _utc(t), keep=here != -2)
        return secs

    def _float_rows(self) -> list[tuple[tuple[tuple[float, float], ...], float, float]]:
        """Per stop, once: its windows, service time and earliest start in epoch seconds."""
        self._floats = [
            (
                tuple((w.start.timestamp(), w.end.timestamp()) for w in row[4]),
                row[7].total_seconds(),
                row[8].timestamp(),
            )
            for row in self._rows
        ]
        return self._floats


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _float_window_start(
    windows: tuple[tuple[float, float], ...], arrive: float
) -> tuple[float, float]:
    """(service start, lateness) as ``engine.evaluate`` counts them, in epoch seconds."""
    for a, b in windows:
        if arrive <= b + TOLERANCE:
            return (a if arrive < a else arrive), 0.0
    return arrive, arrive - windows[-1][1]


@dataclass(slots=True)
class _LiveSchedule:
    """A live route's remaining stops in time (epoch seconds), as :func:`best_break` reads
    a schedule; ``ready``: when the driver is ready for each stop (after a break there)."""

    start_time: float
    arrivals: list[float] = field(default_factory=list)
    ready: list[float] = field(default_factory=list)
    starts: list[float] = field(default_factory=list)
    departures: list[float] = field(default_factory=list)
    waiting: list[float] = field(default_factory=list)
    lateness: dict[int, float] = field(default_factory=dict)
    end_time: float = 0.0
    shift_overrun: float = 0.0
    on_the_way: tuple[int, float] = (-1, 0.0)  # (stop, break length) of a break on a drive

    @property
    def feasible(self) -> bool:
        return not self.lateness and self.shift_overrun <= TOLERANCE
