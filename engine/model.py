"""The day as data: depots, vehicles, drivers, orders, stops, routes and plans.

Frozen dataclasses with timezone-aware times. Quantities that come in several dimensions
(capacity, demand) are mappings from a dimension name (``"kg"``, ``"m3"``, ...) to an
amount; a dimension a vehicle does not list has capacity 0, one an order does not list has
demand 0. Constructors check their own invariants and raise ``ValueError`` with the field
and the reason, so a bad object never exists.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cached_property
from typing import Any

Quantities = Mapping[str, float]


def _frozen_quantities(owner: object, name: str, values: Mapping[str, float]) -> None:
    for dim, amount in values.items():
        if not isinstance(dim, str) or not dim:
            raise ValueError(f"{name}: dimension names must be non-empty strings, got {dim!r}")
        if amount < 0:
            raise ValueError(f"{name}[{dim}]: must not be negative, got {amount}")
    # A private copy: callers' dicts can't change it behind our back (picklable, unlike a proxy).
    object.__setattr__(owner, name, {k: float(v) for k, v in values.items()})


def _aware(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name}: must be timezone-aware, got {value.isoformat()}")


@dataclass(frozen=True, slots=True)
class Location:
    """A point on the earth in WGS84 degrees."""

    lat: float
    lon: float

    def __post_init__(self) -> None:
        if not -90.0 <= self.lat <= 90.0:
            raise ValueError(f"lat: {self.lat} is outside -90..90")
        if not -180.0 <= self.lon <= 180.0:
            raise ValueError(f"lon: {self.lon} is outside -180..180")


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """A span in which service may start (both ends inclusive)."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        _aware("window start", self.start)
        _aware("window end", self.end)
        if self.end < self.start:
            raise ValueError(
                f"window: end {self.end.isoformat()} is before start {self.start.isoformat()}"
            )

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment <= self.end


@dataclass(frozen=True, slots=True)
class Dock:
    """A loading dock at a depot and how fast it loads.

    A route's slot at a dock is ``prep_minutes`` (the dock made ready), the loading itself
    (``load_minutes_per_order`` per order, at least ``MIN_LOAD_MINUTES``), then
    ``post_minutes`` (paperwork, the dock cleared) after the vehicle has pulled away.
    """

    id: str
    name: str = ""
    prep_minutes: float = 10.0
    post_minutes: float = 5.0
    load_minutes_per_order: float = 1.0

    def __post_init__(self) -> None:
        for name in ("prep_minutes", "post_minutes", "load_minutes_per_order"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"dock {self.id}: {name} must not be negative")

    def load_minutes(self, orders: int) -> float:
        """Minutes of loading for a route of ``orders`` orders at this dock."""
        return max(MIN_LOAD_MINUTES, orders * self.load_minutes_per_order)


MIN_LOAD_MINUTES = 5.0


@dataclass(frozen=True, slots=True)
class Wave:
    """A release wave of a depot's day: orders in by ``cutoff`` leave between
    ``depart_from`` and ``depart_to``, loaded at ``docks`` (empty: any dock of the depot)."""

    id: str
    depot_id: str
    cutoff: datetime
    depart_from: datetime
    depart_to: datetime
    docks: tuple[str, ...] = ()
    name: str = ""

    def __post_init__(self) -> None:
        _aware("wave cutoff", self.cutoff)
        _aware("wave depart_from", self.depart_from)
        _aware("wave depart_to", self.depart_to)
        if self.depart_to < self.depart_from:
            raise ValueError(f"wave {self.id}: depart_to is before depart_from")
        if self.depart_from < self.cutoff:
            raise ValueError(f"wave {self.id}: departures start before the order cut-off")
        object.__setattr__(self, "docks", tuple(self.docks))


@dataclass(frozen=True)
class Depot:
    """Where routes start and end."""

    id: str
    name: str
    location: Location
    timezone: str = "UTC"
    docks: tuple[Dock, ...] = ()
    address: str = ""
    #: Where its travel times come from: ``roads:NAME``, ``osrm:URL``, ``straight[:DETOUR]``
    #: or empty (the street network whose area holds it); read by ``app.travel.choose``.
    travel: str = ""


@dataclass(frozen=True)
class Vehicle:
    """A vehicle with its capacity in several dimensions, skills and costs."""

    id: str
    depot_id: str
    capacity: Quantities
    type_name: str = ""
    name: str = ""
    skills: frozenset[str] = frozenset()
    cost_per_km: float = 0.0
    cost_per_hour: float = 0.0
    fixed_cost: float = 0.0

    def __post_init__(self) -> None:
        _frozen_quantities(self, "capacity", self.capacity)
        object.__setattr__(self, "skills", frozenset(self.skills))
        for name in ("cost_per_km", "cost_per_hour", "fixed_cost"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: must not be negative")

    def can_carry(self, demand: Quantities) -> bool:
        return all(amount <= self.capacity.get(dim, 0.0) for dim, amount in demand.items())


@dataclass(frozen=True, slots=True)
class Break:
    """A break of ``duration`` that must start between ``earliest`` and ``latest``."""

    earliest: datetime
    latest: datetime
    duration: timedelta

    def __post_init__(self) -> None:
        _aware("break earliest", self.earliest)
        _aware("break latest", self.latest)
        if self.latest < self.earliest:
            raise ValueError("break: latest start is before earliest start")
        if self.duration < timedelta(0):
            raise ValueError("break: duration must not be negative")


@dataclass(frozen=True)
class Driver:
    """A driver and the shift they work today."""

    id: str
    name: str
    depot_id: str
    shift_start: datetime
    shift_end: datetime
    breaks: tuple[Break, ...] = ()
    skills: frozenset[str] = frozenset()
    vehicle_id: str | None = None

    def __post_init__(self) -> None:
        _aware("shift_start", self.shift_start)
        _aware("shift_end", self.shift_end)
        if self.shift_end <= self.shift_start:
            raise ValueError("shift: end must be after start")
        object.__setattr__(self, "skills", frozenset(self.skills))
        object.__setattr__(self, "breaks", tuple(self.breaks))

    def break_due(self, free_at: datetime, taken: int = 0) -> Break | None:
        """The break still to place for the driver free to drive on at ``free_at``, having
        started ``taken`` of their breaks today: the next one, unless its latest start is
        already past (a break missed is not placed later). The evaluation of a route and the
        live ETAs both ask this, so they place the same break or none."""
        if taken >= len(self.breaks):
            return None
        b = self.breaks[taken]
        return b if b.latest >= free_at else None


@dataclass(frozen=True)
class Order:
    """A delivery to make: where, how much, when, and what it needs."""

    id: str
    depot_id: str
    location: Location
    demand: Quantities
    windows: tuple[TimeWindow, ...]
    service_time: timedelta = timedelta(minutes=5)
    skills: frozenset[str] = frozenset()
    priority: int = 0
    customer: str = ""
    address: str = ""
    wave: str = ""
    received_at: datetime | None = None  # when the order came in; None: before its cut-off

    def __post_init__(self) -> None:
        _frozen_quantities(self, "demand", self.demand)
        if self.received_at is not None:
            _aware("received_at", self.received_at)
        object.__setattr__(self, "skills", frozenset(self.skills))
        windows = tuple(sorted(self.windows, key=lambda w: w.start))
        if not windows:
            raise ValueError("windows: an order needs at least one delivery window")
        for a, b in zip(windows, windows[1:], strict=False):
            if b.start <= a.end:
                raise ValueError("windows: delivery windows must not overlap")
        object.__setattr__(self, "windows", windows)
        if self.service_time < timedelta(0):
            raise ValueError("service_time: must not be negative")

    @property
    def earliest(self) -> datetime:
        return self.windows[0].start

    @property
    def latest(self) -> datetime:
        return self.windows[-1].end


def stored_order(
    id: str,
    depot_id: str,
    lat: float,
    lon: float,
    demand: Quantities,
    windows: Sequence[tuple[datetime, datetime]],
    service_s: float,
    skills: frozenset[str],
    priority: int,
    customer: str,
    address: str,
    wave: str,
    received_at: datetime | None,
    shared: dict[Any, tuple[TimeWindow, ...]] | None = None,
) -> Order:
    """An order as the store gives it back, checked when it was stored: built as
    :class:`Order` builds it, without its checks (a 2,000-vehicle day reads 40,000 orders
    and their windows). Windows as (start, end), in the order they were stored.

    ``shared``: the windows made so far, by their (start, end)s; orders with the same
    windows share them (a window is immutable; a day's orders share a handful)."""
    if not windows:  # not as stored: the checks say what is wrong
        return Order(id, depot_id, Location(lat, lon), demand, (), timedelta(seconds=service_s))
    key = tuple(windows) if shared is not None else None
    spans = shared.get(key) if shared is not None else None
    if spans is None:
        made = []
        for start, end in windows:
            w = object.__new__(TimeWindow)
            object.__setattr__(w, "start", start)
            object.__setattr__(w, "end", end)
            made.append(w)
        spans = tuple(sorted(made, key=lambda w: w.start)) if len(made) > 1 else (made[0],)
        if shared is not None:
            shared[key] = spans
    where = object.__new__(Location)
    object.__setattr__(where, "lat", lat)
    object.__setattr__(where, "lon", lon)
    order = object.__new__(Order)
    order.__dict__.update(
        id=id, depot_id=depot_id, location=where,
        demand={k: float(v) for k, v in demand.items()},
        windows=spans,
        service_time=timedelta(seconds=service_s), skills=frozenset(skills),
        priority=priority, customer=customer, address=address, wave=wave,
        received_at=received_at,
    )  # fmt: skip
    return order


class StopStatus(enum.StrEnum):
    PLANNED = "planned"
    ARRIVED = "arrived"
    DELIVERED = "delivered"
    FAILED = "failed"
    SKIPPED = "skipped"

    @property
    def is_done(self) -> bool:
        """Served stops are history: a re-plan never moves them."""
        return self in (StopStatus.DELIVERED, StopStatus.FAILED, StopStatus.SKIPPED)


class RouteStatus(enum.StrEnum):
    """A route's lifecycle, in order: planned -> loading -> ready -> released -> on the road
    (``active``, from its first departure fix) -> completed."""

    PLANNED = "planned"
    LOADING = "loading"
    READY = "ready"
    RELEASED = "released"
    ACTIVE = "active"
    COMPLETED = "completed"

    @property
    def rank(self) -> int:
        """Position in the lifecycle (planned 0 ... completed 5)."""
        return _LIFECYCLE.index(self)

    @property
    def label(self) -> str:
        """How a person says it: ``on the road`` for active."""
        return "on the road" if self is RouteStatus.ACTIVE else self.value

    @property
    def is_released(self) -> bool:
        """Released to its driver (or further): changes now reach the driver."""
        return self.rank >= RouteStatus.RELEASED.rank


_LIFECYCLE = tuple(RouteStatus)


@dataclass(frozen=True, slots=True)
class Stop:
    """One order's place on a route, with what the plan expects and what happened."""

    order_id: str
    planned_arrival: datetime | None = None
    planned_departure: datetime | None = None
    status: StopStatus = StopStatus.PLANNED
    locked: bool = False
    actual_arrival: datetime | None = None
    actual_departure: datetime | None = None


@dataclass(frozen=True)
class Route:
    """A vehicle's sequence of stops for the day."""

    id: str
    vehicle_id: str
    stops: tuple[Stop, ...] = ()
    driver_id: str | None = None
    status: RouteStatus = RouteStatus.PLANNED
    wave: str = ""
    start: datetime | None = None
    end: datetime | None = None
    dock_id: str | None = None  # where it loads, in [slot_start, slot_end)
    slot_start: datetime | None = None
    slot_end: datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "stops", tuple(self.stops))
        if (self.slot_start is None) != (self.slot_end is None):
            raise ValueError(f"route {self.id}: a dock slot needs both its start and its end")
        if self.slot_start and self.slot_end and self.slot_end < self.slot_start:
            raise ValueError(f"route {self.id}: dock slot ends before it starts")
        seen: set[str] = set()
        for stop in self.stops:
            if stop.order_id in seen:
                raise ValueError(f"route {self.id}: order {stop.order_id} appears twice")
            seen.add(stop.order_id)

    @cached_property  # a route never changes: worked out once (the live window asks often)
    def order_ids(self) -> tuple[str, ...]:
        return tuple(s.order_id for s in self.stops)


class UnassignedReason(enum.StrEnum):
    WINDOW_UNREACHABLE = "window_unreachable"
    NO_VEHICLE_WITH_SKILL = "no_vehicle_with_skill"
    CAPACITY = "capacity"
    SHIFT = "shift"
    NO_FEASIBLE_ROUTE = "no_feasible_route"


@dataclass(frozen=True, slots=True)
class Unassigned:
    """An order the plan does not serve, and why."""

    order_id: str
    reason: UnassignedReason
    detail: str = ""


@dataclass(frozen=True)
class Plan:
    """The routes of one depot's day, plus the orders left out (with reasons)."""

    id: str
    depot_id: str
    day: date
    routes: tuple[Route, ...] = ()
    unassigned: tuple[Unassigned, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "routes", tuple(self.routes))
        object.__setattr__(self, "unassigned", tuple(self.unassigned))
        seen: dict[str, str] = {}
        for route in self.routes:
            for oid in route.order_ids:
                if oid in seen:
                    raise ValueError(f"order {oid} is on routes {seen[oid]} and {route.id}")
                seen[oid] = route.id

    def route_of(self, order_id: str) -> Route | None:
        for route in self.routes:
            if order_id in route.order_ids:
                return route
        return None


@dataclass(frozen=True)
class DayInput:
    """Everything a depot's day starts from: the input to validation and planning."""

    day: date
    depots: tuple[Depot, ...]
    vehicles: tuple[Vehicle, ...]
    drivers: tuple[Driver, ...]
    orders: tuple[Order, ...]
    dimensions: tuple[str, ...] = field(default=("kg", "m3"))
    waves: tuple[Wave, ...] = ()

    def depot(self, depot_id: str) -> Depot:
        for depot in self.depots:
            if depot.id == depot_id:
                return depot
        raise KeyError(depot_id)


def slot_builder(cls: type) -> Any:
    """A constructor of the frozen, slotted dataclass ``cls`` that takes every field in
    order and sets each through its slot (its ``__init__`` sets each by name through
    ``object.__setattr__``: a 2,000-vehicle day's KPI pass builds 40,000 stop facts and
    as many stop visits)."""
    import dataclasses

    names = [f.name for f in dataclasses.fields(cls)]
    setters = {f"_set_{n}": getattr(cls, n).__set__ for n in names}
    body = "".join(f"    _set_{n}(made, {n})\n" for n in names)
    source = f"def build({', '.join(names)}):\n    made = _new(_cls)\n{body}    return made\n"
    space: dict[str, Any] = {"_new": object.__new__, "_cls": cls, **setters}
    exec(source, space)  # noqa: S102 - the source is made of the class's own field names
    return space["build"]
