"""The day's KPIs, as published in ``docs/kpis.md``: pure formulas over the day's facts.

:class:`DayFacts` holds what the store knows about one depot's day (stops with their
events, routes with their plan, release, departure and trail, exceptions with their
detected / acknowledged / resolved times, commands, sampled ETAs). :func:`compute` turns it
into :class:`KpiValue` rows for the day and for each route, driver, vehicle and wave;
:func:`rows_behind` gives the facts behind any one number (the drill-down).

Live during the day (``facts.final`` False): a stop counts once it is due (reached, or its
last window closed); a route once it is due to leave; times still running end ``as_of``.
Final after the day: every planned stop is due.
"""

from __future__ import annotations

import functools
import gc
import math
from array import array
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any, NamedTuple, TypeVar

#: A route leaving within this many minutes of its planned departure left on time.
DISPATCH_GRACE_MIN = 5.0
#: The ETA horizons sampled and judged, minutes before the actual arrival.
ETA_HORIZONS = (60, 30, 15)
#: An ETA within this many minutes of the actual arrival is "within".
ETA_WITHIN_MIN = 10.0
#: Who acknowledged or resolved an exception when no person did: a rule, the rules engine
#: (the condition cleared), the system.
NOT_A_PERSON = frozenset({"rule", "rules", "system", "telemetry", "auto"})
#: The actor prefixes of changes a device reported and a desk stored (``app.release.desk``).
DEVICE_PREFIXES = ("dock:", "tracker:")
SCOPES = ("day", "route", "driver", "vehicle", "wave")


# -- the facts ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StopFact:
    """One planned stop of the day and what became of it (times aware, UTC)."""

    order_id: str
    route_id: str
    vehicle_id: str
    driver_id: str
    wave: str
    customer: str
    window_end: datetime  # the last window's end: later than this is late
    planned_arrival: datetime | None
    arrived: datetime | None = None
    done: datetime | None = None  # delivered or failed (the last attempt)
    departed: datetime | None = None
    delivered: bool = False
    attempts: int = 0
    first_delivered: bool = False  # the first attempt delivered

    def due(self, as_of: datetime, final: bool) -> bool:
        return final or self.arrived is not None or self.window_end <= as_of

    @property
    def late_min(self) -> float | None:
        """Minutes after the window closed (negative: early enough); None: never reached."""
        if self.arrived is None:
            return None
        return (self.arrived - self.window_end).total_seconds() / 60

    def on_time(self) -> bool:
        return self.arrived is not None and self.arrived <= self.window_end


@dataclass(frozen=True, slots=True)
class RouteFact:
    """One route of the day: its plan, release, departure, end and trail."""

    route_id: str
    vehicle_id: str
    driver_id: str
    wave: str
    vehicle_type: str
    status: str
    planned_departure: datetime | None
    planned_end: datetime | None
    released_at: datetime | None = None
    departed_at: datetime | None = None
    ended_at: datetime | None = None  # back at the depot (or its last stop done)
    planned_km: float = 0.0
    driven_km: float = 0.0
    idle_min: float = 0.0
    planned_sequence: tuple[str, ...] = ()
    actual_sequence: tuple[str, ...] = ()
    cost_per_km: float = 0.0
    cost_per_hour: float = 0.0
    fixed_cost: float = 0.0

    def on_road_h(self, as_of: datetime) -> float:
        """Hours from departure to the end of the route (or ``as_of`` while on the road)."""
        if self.departed_at is None:
            return 0.0
        end = self.ended_at or as_of
        return max(0.0, (end - self.departed_at).total_seconds() / 3600)

    @property
    def planned_h(self) -> float | None:
        if self.planned_departure is None or self.planned_end is None:
            return None
        return (self.planned_end - self.planned_departure).total_seconds() / 3600


@dataclass(frozen=True, slots=True)
class ExceptionFact:
    """An exception of the day with its detected / acknowledged / resolved times."""

    exception_id: str
    type: str
    severity: str
    vehicle_id: str
    order_id: str
    route_id: str
    detected: datetime
    acknowledged: datetime | None = None
    acknowledged_by: str = ""
    resolved: datetime | None = None
    resolved_by: str = ""
    window_end: datetime | None = None  # its stop's last window end
    stop_on_time: bool | None = None  # its stop reached in time (None: not yet known)

    @property
    def by_person(self) -> bool:
        """A person acknowledged or resolved it (not a rule, nor the condition clearing)."""
        return any(_is_person(who) for who in (self.acknowledged_by, self.resolved_by))


@dataclass(frozen=True, slots=True)
class CommandFact:
    """A command of the day from the change log: who, what, which routes."""

    command_id: str
    kind: str
    actor: str
    at: datetime
    route_ids: tuple[str, ...] = ()
    label: str = ""

    @property
    def by_rule(self) -> bool:
        return self.actor.startswith("rule:")

    @property
    def by_device(self) -> bool:
        """A device reported it and a desk stored it: a dock's scans made a route ready, a
        tracker's fixes put it on the road (``dock:…``, ``tracker:…``; older days name the
        device itself, ``dock D1-1`` or ``V07 tracker``)."""
        a = self.actor
        return a.startswith(DEVICE_PREFIXES) or a.startswith("dock ") or a.endswith(" tracker")


@dataclass(frozen=True, slots=True)
class EtaFact:
    """An ETA the desk showed ``horizon_min`` minutes before the stop's actual arrival."""

    order_id: str
    route_id: str
    vehicle_id: str
    horizon_min: int
    predicted_at: datetime
    eta: datetime
    arrived: datetime

    @property
    def error_min(self) -> float:
        return (self.eta - self.arrived).total_seconds() / 60


@dataclass(frozen=True)
class DayFacts:
    """Everything the KPIs of one depot's day are computed from."""

    depot_id: str
    day: date
    as_of: datetime
    final: bool
    stops: tuple[StopFact, ...] = ()
    routes: tuple[RouteFact, ...] = ()
    exceptions: tuple[ExceptionFact, ...] = ()
    commands: tuple[CommandFact, ...] = ()
    etas: tuple[EtaFact, ...] = ()
    rule_firings: int = 0


def _is_person(who: str) -> bool:
    return bool(who) and who not in NOT_A_PERSON and not who.startswith("rule:")


# -- the values ---------------------------------------------------------------------------


class KpiValue(NamedTuple):
    """One number: a KPI for one scope (``day`` or a route, driver, vehicle, wave).

    A named tuple: a 2,000-vehicle day has some 150,000 of them, made in a fraction of the
    time frozen dataclasses take."""

    name: str
    scope: str
    key: str
    value: float | None
    numerator: float
    denominator: float
    unit: str

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "scope": self.scope,
            "key": self.key,
            "value": None if self.value is None else round(self.value, 4),
            "numerator": round(self.numerator, 4),
            "denominator": round(self.denominator, 4),
            "unit": self.unit,
        }


@dataclass(frozen=True)
class Group:
    """The facts of one scope (the whole day, or one route, driver, vehicle or wave)."""

    stops: Sequence[StopFact]
    routes: Sequence[RouteFact]
    exceptions: Sequence[ExceptionFact]
    commands: Sequence[CommandFact]
    etas: Sequence[EtaFact]
    as_of: datetime
    final: bool
    rule_firings: float = 0.0
    #: Row selections already made for this group (several KPIs count the same rows).
    memo: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)


Figure = tuple[float | None, float, float]  # value, numerator, denominator
ROWS = ("stops", "routes", "exceptions", "commands", "etas")


@dataclass(frozen=True)
class Definition:
    """A published KPI: its name, title, unit, which rows it counts, which way is better,
    and its formula (as code and as the words of ``docs/kpis.md``)."""

    name: str
    title: str
    unit: str
    rows: str
    better: str  # "higher" or "lower"
    formula: Callable[[Group], Figure]
    behind: Callable[[Group], Sequence[Any]]
    target: float | None = None  # the default target (a depot may set its own)


def _share(hits: int, total: int) -> Figure:
    return (100.0 * hits / total if total else None, float(hits), float(total))


def _ratio(num: float, den: float) -> Figure:
    return (num / den if den else None, num, den)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) by linear interpolation, as numpy's default."""
    if not values:
        return None
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def _pct(values: Sequence[float], q: float) -> Figure:
    return (percentile(values, q), float(sum(values)), float(len(values)))


def _minutes(a: datetime | None, b: datetime | None) -> float | None:
    return None if a is None or b is None else (b - a).total_seconds() / 60


# -- row selections (what each number counts) ---------------------------------------------


_T = TypeVar("_T")


def _once(select: Callable[[Group], _T]) -> Callable[[Group], _T]:
    """``select`` made once per group: every KPI counting the same rows shares them."""

    def once(g: Group) -> _T:
        try:
            return g.memo[select]  # type: ignore[no-any-return]
        except KeyError:
            out = g.memo[select] = select(g)
            return out

    once.__name__ = select.__name__
    once.__doc__ = select.__doc__
    return once


@_once
def due_stops(g: Group) -> list[StopFact]:
    return [s for s in g.stops if s.due(g.as_of, g.final)]


@_once
def attempted_stops(g: Group) -> list[StopFact]:
    return [s for s in g.stops if s.attempts > 0]


@_once
def late_stops(g: Group) -> list[StopFact]:
    return [s for s in due_stops(g) if not s.on_time()]


@_once
def dispatch_due(g: Group) -> list[RouteFact]:
    """Routes whose planned departure (plus the grace) has passed, or that left."""
    out = []
    for r in g.routes:
        if r.planned_departure is None:
            continue
        grace = (g.as_of - r.planned_departure).total_seconds() / 60 >= DISPATCH_GRACE_MIN
        if g.final or r.departed_at is not None or grace:
            out.append(r)
    return out


def _left_on_time(r: RouteFact) -> bool:
    late = _minutes(r.planned_departure, r.departed_at)
    return late is not None and late <= DISPATCH_GRACE_MIN


@_once
def release_due(g: Group) -> list[RouteFact]:
    """Routes due to depart whose release is known: released, or not yet on the road (a
    route that left with no release recorded, e.g. from a day before release control or a
    recorded twin day, says nothing about releasing)."""
    return [r for r in dispatch_due(g) if r.released_at is not None or r.departed_at is None]


def _released_on_time(r: RouteFact) -> bool:
    return (
        r.released_at is not None
        and r.planned_departure is not None
        and r.released_at <= r.planned_departure
    )


@_once
def departed_routes(g: Group) -> list[RouteFact]:
    return [r for r in g.routes if r.departed_at is not None]


@_once
def acked(g: Group) -> list[ExceptionFact]:
    return [e for e in g.exceptions if e.acknowledged is not None]


@_once
def resolved(g: Group) -> list[ExceptionFact]:
    return [e for e in g.exceptions if e.resolved is not None]


@_once
def stop_exceptions_known(g: Group) -> list[ExceptionFact]:
    return [e for e in g.exceptions if e.order_id and e.stop_on_time is not None]


def _recovered(e: ExceptionFact) -> bool:
    return bool(e.stop_on_time) and (
        e.resolved is None or e.window_end is None or e.resolved <= e.window_end
    )


@_once
def person_commands(g: Group) -> list[CommandFact]:
    return [c for c in g.commands if not c.by_rule and not c.by_device]


@_once
def handled_exceptions(g: Group) -> list[ExceptionFact]:
    return [e for e in g.exceptions if e.by_person]


@_once
def _route_hours(g: Group) -> float:
    return sum(r.on_road_h(g.as_of) for r in g.routes)


def _cost(r: RouteFact, as_of: datetime) -> float:
    if r.departed_at is None:
        return 0.0
    return r.driven_km * r.cost_per_km + r.on_road_h(as_of) * r.cost_per_hour + r.fixed_cost


def _lis(seq: Sequence[int]) -> int:
    """Length of the longest increasing subsequence (patience sorting)."""
    import bisect

    tails: list[int] = []
    for x in seq:
        i = bisect.bisect_left(tails, x)
        if i == len(tails):
            tails.append(x)
        else:
            tails[i] = x
    return len(tails)


@functools.lru_cache(maxsize=16384)
def sequence_kept(r: RouteFact) -> tuple[int, int]:
    """(stops served in the planned order, stops served that were planned): the longest run
    of served stops whose planned positions rise."""
    pos = {oid: i for i, oid in enumerate(r.planned_sequence)}
    served = [pos[o] for o in r.actual_sequence if o in pos]
    return _lis(served), len(served)


def eta_at(g: Group, horizon: int) -> list[EtaFact]:
    key = ("eta", horizon)
    if key not in g.memo:
        g.memo[key] = [e for e in g.etas if e.horizon_min == horizon]
    return g.memo[key]  # type: ignore[no-any-return]


# -- the published KPIs ------------------------------------------------------------------


def _percentile_of(times: Callable[[Group], list[float]], q: float) -> Callable[[Group], Figure]:
    def formula(g: Group) -> Figure:
        return _pct(times(g), q)

    return formula


@_once
def _ack_times(g: Group) -> list[float]:
    return [_minutes(e.detected, e.acknowledged) or 0.0 for e in acked(g)]


@_once
def _resolve_times(g: Group) -> list[float]:
    return [_minutes(e.detected, e.resolved) or 0.0 for e in resolved(g)]


def _eta_mae(h: int) -> Callable[[Group], Figure]:
    def formula(g: Group) -> Figure:
        rows = eta_at(g, h)
        return _ratio(sum(abs(e.error_min) for e in rows), float(len(rows)))

    return formula


def _eta_within(h: int) -> Callable[[Group], Figure]:
    def formula(g: Group) -> Figure:
        rows = eta_at(g, h)
        return _share(sum(abs(e.error_min) <= ETA_WITHIN_MIN for e in rows), len(rows))

    return formula


def _eta_rows(h: int) -> Callable[[Group], list[EtaFact]]:
    return lambda g: eta_at(g, h)


def _count(rows: Callable[[Group], Sequence[Any]]) -> Callable[[Group], Figure]:
    return lambda g: (float(len(rows(g))), float(len(rows(g))), 1.0)


def _defs() -> list[Definition]:
    # fmt: off
    d = [
        Definition("on_time_dispatch_pct", "On-time dispatch", "%", "routes", "higher",
                   lambda g: _share(sum(_left_on_time(r) for r in dispatch_due(g)),
                                    len(dispatch_due(g))), dispatch_due, 90.0),
        Definition("on_time_release_pct", "Released by the planned departure", "%", "routes",
                   "higher", lambda g: _share(sum(_released_on_time(r) for r in release_due(g)),
                                              len(release_due(g))), release_due, 95.0),
        Definition("departure_delay_median_min", "Departure delay (median)", "min", "routes",
                   "lower", _percentile_of(_departure_delays, 50), departed_routes, 5.0),
        Definition("on_time_delivery_pct", "On-time delivery", "%", "stops", "higher",
                   lambda g: _share(sum(s.on_time() for s in due_stops(g)), len(due_stops(g))),
                   due_stops, 95.0),
        Definition("late_stops", "Late stops", "stops", "stops", "lower", _count(late_stops),
                   late_stops),
        Definition("lateness_median_min", "Lateness of late stops (median)", "min", "stops",
                   "lower", _percentile_of(_late_minutes, 50), late_stops),
        Definition("first_attempt_success_pct", "First-attempt success", "%", "stops", "higher",
                   lambda g: _share(sum(s.first_delivered for s in attempted_stops(g)),
                                    len(attempted_stops(g))), attempted_stops, 95.0),
        Definition("exception_ack_median_min", "Time to acknowledge (median)", "min",
                   "exceptions", "lower", _percentile_of(_ack_times, 50), acked, 5.0),
        Definition("exception_ack_p90_min", "Time to acknowledge (90th percentile)", "min",
                   "exceptions", "lower", _percentile_of(_ack_times, 90), acked, 15.0),
        Definition("exception_resolve_median_min", "Time to resolve (median)", "min",
                   "exceptions", "lower", _percentile_of(_resolve_times, 50), resolved, 30.0),
        Definition("exception_resolve_p90_min", "Time to resolve (90th percentile)", "min",
                   "exceptions", "lower", _percentile_of(_resolve_times, 90), resolved, 90.0),
        Definition("exception_recovered_pct", "Recovered before the window was missed", "%",
                   "exceptions", "higher",
                   lambda g: _share(sum(_recovered(e) for e in stop_exceptions_known(g)),
                                    len(stop_exceptions_known(g))), stop_exceptions_known, 80.0),
        Definition("exceptions_per_route", "Exceptions per route", "per route", "exceptions",
                   "lower", lambda g: _ratio(float(len(g.exceptions)),
                                             float(len(departed_routes(g)))),
                   lambda g: list(g.exceptions)),
        Definition("route_time_planned_h", "Route time, planned", "h", "routes", "lower",
                   lambda g: _sum_figure([r.planned_h or 0.0 for r in departed_routes(g)]),
                   departed_routes),
        Definition("route_time_actual_h", "Route time, actual", "h", "routes", "lower",
                   lambda g: _sum_figure([r.on_road_h(g.as_of) for r in departed_routes(g)]),
                   departed_routes),
        Definition("route_time_vs_plan_pct", "Route time against plan", "%", "routes", "lower",
                   lambda g: _vs_plan([r.on_road_h(g.as_of) for r in _ended(g)],
                                      [r.planned_h or 0.0 for r in _ended(g)]), _ended, 105.0),
        Definition("distance_planned_km", "Distance, planned", "km", "routes", "lower",
                   lambda g: _sum_figure([r.planned_km for r in departed_routes(g)]),
                   departed_routes),
        Definition("distance_driven_km", "Distance, driven", "km", "routes", "lower",
                   lambda g: _sum_figure([r.driven_km for r in departed_routes(g)]),
                   departed_routes),
        Definition("distance_vs_plan_pct", "Distance against plan", "%", "routes", "lower",
                   lambda g: _vs_plan([r.driven_km for r in _ended(g)],
                                      [r.planned_km for r in _ended(g)]), _ended, 105.0),
        Definition("sequence_adherence_pct", "Stops in the planned order", "%", "routes",
                   "higher", _adherence, departed_routes, 90.0),
        Definition("dwell_median_min", "Dwell at a stop (median)", "min", "stops", "lower",
                   _percentile_of(_dwell_minutes, 50), _dwelt),
        Definition("idle_pct", "Idle time on the road", "%", "routes", "lower", _idle,
                   departed_routes, 10.0),
        Definition("stops_per_hour", "Stops per hour on the road", "per h", "routes", "higher",
                   lambda g: _ratio(float(len(attempted_stops(g))), _route_hours(g)),
                   departed_routes),
        Definition("distance_per_stop_km", "Distance per stop", "km", "routes", "lower",
                   lambda g: _ratio(sum(r.driven_km for r in g.routes),
                                    float(len(attempted_stops(g)))), departed_routes),
        Definition("cost_per_delivered_stop", "Cost per delivered stop", "cost", "routes",
                   "lower", lambda g: _ratio(sum(_cost(r, g.as_of) for r in g.routes),
                                             float(sum(s.delivered for s in g.stops))),
                   departed_routes),
        Definition("person_actions_per_route_hour", "Dispatcher workload", "per route-h",
                   "commands", "lower",
                   lambda g: _ratio(float(len(person_commands(g)) + len(handled_exceptions(g))),
                                    _route_hours(g)), person_commands),
        Definition("person_commands", "Person commands", "commands", "commands", "lower",
                   _count(person_commands), person_commands),
        Definition("exceptions_handled", "Exceptions handled by a person", "exceptions",
                   "exceptions", "lower", _count(handled_exceptions), handled_exceptions),
        Definition("rule_firings_per_route_hour", "Rule firings", "per route-h", "commands",
                   "lower", lambda g: _ratio(g.rule_firings, _route_hours(g)), rule_commands),
        Definition("active_route_hours", "Active route-hours", "h", "routes", "higher",
                   lambda g: (_route_hours(g), _route_hours(g), 1.0), departed_routes),
    ]
    for h in ETA_HORIZONS:
        d.append(Definition(f"eta_mae_{h}_min", f"ETA error {h} min out (mean absolute)", "min",
                            "etas", "lower", _eta_mae(h), _eta_rows(h), 5.0 if h <= 30 else 8.0))
        d.append(Definition(f"eta_within10_{h}_pct", f"ETAs within ±10 min, {h} min out", "%",
                            "etas", "higher", _eta_within(h), _eta_rows(h), 85.0))
    # fmt: on
    return d


@_once
def _departure_delays(g: Group) -> list[float]:
    return [_minutes(r.planned_departure, r.departed_at) or 0.0 for r in departed_routes(g)
            if r.planned_departure is not None]  # fmt: skip


@_once
def _late_minutes(g: Group) -> list[float]:
    return [s.late_min for s in late_stops(g) if s.late_min is not None]


@_once
def _dwell_minutes(g: Group) -> list[float]:
    return [_minutes(s.arrived, s.departed) or 0.0 for s in _dwelt(g)]


@_once
def rule_commands(g: Group) -> list[CommandFact]:
    return [c for c in g.commands if c.by_rule]


def _sum_figure(values: Sequence[float]) -> Figure:
    return (float(sum(values)) if values else None, float(sum(values)), float(len(values)))


def _vs_plan(actual: Sequence[float], planned: Sequence[float]) -> Figure:
    return _ratio(100.0 * sum(actual), float(sum(planned)))


@_once
def _ended(g: Group) -> list[RouteFact]:
    return [r for r in g.routes if r.departed_at is not None and r.ended_at is not None]


@_once
def _dwelt(g: Group) -> list[StopFact]:
    return [s for s in g.stops if s.arrived is not None and s.departed is not None]


def _adherence(g: Group) -> Figure:
    kept = [sequence_kept(r) for r in departed_routes(g)]
    return _share(sum(k for k, _ in kept), sum(n for _, n in kept))


def _idle(g: Group) -> Figure:
    idle = sum(r.idle_min for r in departed_routes(g)) / 60
    return _ratio(100.0 * idle, _route_hours(g))


DEFINITIONS: tuple[Definition, ...] = tuple(_defs())
BY_NAME: Mapping[str, Definition] = {d.name: d for d in DEFINITIONS}


# -- computing ----------------------------------------------------------------------------


def _scope_keys(facts: DayFacts) -> dict[str, Callable[[Any], str]]:
    return {
        "route": lambda x: x.route_id,
        "driver": lambda x: x.driver_id,
        "vehicle": lambda x: x.vehicle_id,
        "wave": lambda x: x.wave,
    }


@dataclass
class KpiReport:
    """Every KPI of a day for every scope, and the groups they were computed from.

    The figures are kept compactly: per scope and key one array holding each KPI's value
    (NaN when it has none), numerator and denominator, in the order of ``names``;
    :meth:`value` and :attr:`values` make the :class:`KpiValue` rows when asked. A
    2,000-vehicle day has some 150,000 figures: as named tuples with an index over them
    they held about 50 MB of the window all day."""

    facts: DayFacts
    names: tuple[str, ...] = ()
    figures: dict[tuple[str, str], array[float]] = field(default_factory=dict)
    groups: dict[tuple[str, str], Group] = field(default_factory=dict)
    _slots: dict[str, int] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._slots = {name: i for i, name in enumerate(self.names)}

    def value(self, name: str, scope: str = "day", key: str = "") -> KpiValue | None:
        row, i = self.figures.get((scope, key)), self._slots.get(name)
        if row is None or i is None:
            return None
        return _value(name, scope, key, row, i)

    @property
    def values(self) -> list[KpiValue]:
        """Every figure as a row, scope by scope (made anew at each call)."""
        return self.values_in(SCOPES)

    def values_in(self, scopes: Iterable[str]) -> list[KpiValue]:
        """The figures of those scopes as rows."""
        wanted, names = set(scopes), list(enumerate(self.names))
        return [_value(name, scope, key, row, i)
                for (scope, key), row in self.figures.items() if scope in wanted
                for i, name in names]  # fmt: skip

    def day_values(self) -> dict[str, KpiValue]:
        return {v.name: v for v in self.values if v.scope == "day"}

    def keys(self, scope: str) -> list[str]:
        return sorted(k for s, k in self.groups if s == scope)


def _value(name: str, scope: str, key: str, row: array[float], i: int) -> KpiValue:
    value = row[3 * i]
    return KpiValue(name, scope, key, None if math.isnan(value) else value, row[3 * i + 1],
                    row[3 * i + 2], BY_NAME[name].unit)  # fmt: skip


def groups_of(facts: DayFacts, scopes: Iterable[str] | None = None) -> dict[tuple[str, str], Group]:
    """The day's group, and one per route, driver, vehicle and wave (or those ``scopes``)."""
    out = {("day", ""): _group(facts, facts.stops, facts.routes, facts.exceptions,
                               facts.commands, facts.etas, float(facts.rule_firings))}  # fmt: skip
    route_of_vehicle = {r.vehicle_id: r for r in facts.routes}
    route_by_id = {r.route_id: r for r in facts.routes}
    wanted = set(SCOPES if scopes is None else scopes)
    for scope, key in _scope_keys(facts).items():
        if scope not in wanted:
            continue
        stops: dict[str, list[StopFact]] = defaultdict(list)
        routes: dict[str, list[RouteFact]] = defaultdict(list)
        excs: dict[str, list[ExceptionFact]] = defaultdict(list)
        cmds: dict[str, list[CommandFact]] = defaultdict(list)
        etas: dict[str, list[EtaFact]] = defaultdict(list)
        for s in facts.stops:
            stops[key(s)].append(s)
        for r in facts.routes:
            routes[key(r)].append(r)
        for e in facts.exceptions:
            owner = route_by_id.get(e.route_id) or route_of_vehicle.get(e.vehicle_id)
            if owner is not None:
                excs[key(owner)].append(e)
        for c in facts.commands:
            for k in {key(route_by_id[rid]) for rid in c.route_ids if rid in route_by_id}:
                cmds[k].append(c)
        for t in facts.etas:
            owner = route_by_id.get(t.route_id)
            if owner is not None:
                etas[key(owner)].append(t)
        for k in set(routes) | set(stops):
            if not k:
                continue
            rules = float(sum(c.by_rule for c in cmds.get(k, ())))
            out[(scope, k)] = _group(facts, stops.get(k, ()), routes.get(k, ()), excs.get(k, ()),
                                     cmds.get(k, ()), etas.get(k, ()), rules)  # fmt: skip
    return out


def _group(
    facts: DayFacts,
    stops: Iterable[StopFact],
    routes: Iterable[RouteFact],
    exceptions: Iterable[ExceptionFact],
    commands: Iterable[CommandFact],
    etas: Iterable[EtaFact],
    firings: float,
) -> Group:
    return Group(tuple(stops), tuple(routes), tuple(exceptions), tuple(commands), tuple(etas),
                 facts.as_of, facts.final, firings)  # fmt: skip


@contextmanager
def gc_paused() -> Iterator[None]:
    """No garbage collection while a pass builds its facts and values: a 2,000-vehicle day
    makes some 300,000 objects, none of them garbage until the pass ends, and the
    collector's passes over them cost a third of the time; it runs again after the pass."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def compute(
    facts: DayFacts, names: Iterable[str] | None = None, scopes: Iterable[str] | None = None
) -> KpiReport:
    """Every KPI (or those ``names``) for the day and for each route, driver, vehicle and
    wave (or only those ``scopes``; the day is always computed)."""
    wanted = [BY_NAME[n] for n in names] if names is not None else list(DEFINITIONS)
    nan = math.nan
    with gc_paused():
        groups = groups_of(facts, scopes)
        figures: dict[tuple[str, str], array[float]] = {}
        for (scope, key), group in groups.items():
            same = _same_as_its_route(scope, group, groups)
            if same is not None and ("route", same) in figures:  # e.g. a van that drove one route
                figures[(scope, key)] = figures[("route", same)]  # the same figures, shared
                continue
            row = array("d")
            for d in wanted:
                value, num, den = d.formula(group)
                row.extend((nan if value is None else value, num, den))
            figures[(scope, key)] = row
        for group in groups.values():  # the rows each formula selected: made again if drilled
            group.memo.clear()
    return KpiReport(facts, tuple(d.name for d in wanted), figures, groups)


def _same_as_its_route(
    scope: str, group: Group, groups: Mapping[tuple[str, str], Group]
) -> str | None:
    """The route whose group holds exactly this driver's, vehicle's or wave's facts (it
    has one route and nothing else: every KPI is that route's), else None.

    A one-route group's facts include its route's (each stop, exception, command and ETA
    of the route belongs to the route's vehicle, driver and wave), so equal counts are
    equal facts, in the same order."""
    if scope in ("day", "route") or len(group.routes) != 1:
        return None
    rid = group.routes[0].route_id
    own = groups.get(("route", rid))
    if own is None or own.rule_firings != group.rule_firings:
        return None
    for rows in ROWS:
        if len(getattr(own, rows)) != len(getattr(group, rows)):
            return None
    return rid


def rows_behind(report: KpiReport, name: str, scope: str = "day", key: str = "") -> list[Any]:
    """The facts a number counts (stops, routes, exceptions, commands or ETA samples)."""
    group = report.groups.get((scope, key))
    if group is None:
        return []
    return list(BY_NAME[name].behind(group))


def with_rule_firings(facts: DayFacts, firings: int) -> DayFacts:
    """The facts with the day's rule firings counted (from the rules' own record)."""
    return replace(facts, rule_firings=firings)


def on_time_by_hour(stops: Iterable[StopFact], tz: Any) -> dict[int, tuple[int, int]]:
    """Local hour of arrival -> (on time, reached): the on-time-by-hour chart."""
    out: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for s in stops:
        if s.arrived is None:
            continue
        h = s.arrived.astimezone(tz).hour
        out[h][1] += 1
        out[h][0] += int(s.on_time())
    return {h: (v[0], v[1]) for h, v in sorted(out.items())}


def lateness_minutes(stops: Iterable[StopFact]) -> list[float]:
    """Minutes after the window's end of every reached stop (negative: in time)."""
    return [s.late_min for s in stops if s.late_min is not None]
