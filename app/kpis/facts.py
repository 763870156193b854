"""A depot's day read from the store as the KPIs' facts (``engine.kpis.DayFacts``).

Where each fact comes from (``docs/kpis.md`` says the same for each KPI):

- stops: the plan's routes and stops, the orders' windows, the ``stop_event`` rows
  (arrived, delivered / failed, departed) of the day's vehicles;
- routes: the plan (planned departure and end; the first route message sent to the driver
  is the plan at dispatch, else the route as stored), the ``route_transition`` rows
  (released, on the road), each vehicle's breadcrumbs (left the depot, back at it, distance
  driven, idle time: running totals the store keeps in ``kpi_track`` as it writes the
  breadcrumbs, read on from the newest fix counted; a day without them has every
  breadcrumb read), the planned distance from the travel model, costs by vehicle type;
- exceptions: ``exception`` rows with their detected / acknowledged / resolved times;
- commands: ``change_log`` rows of kind ``command`` touching the day's routes;
- ETAs: ``eta_sample`` rows, matched to each stop's actual arrival.
"""

from __future__ import annotations

import logging
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from app.jobs.cancel import checkpoint
from app.store import Store, repository
from app.store import repository_kpis as rk
from app.store.repository_release import transitions
from app.store.trail_totals import state_depot
from engine.history import StopVisit, TrackTally, TrailTotals, fold_totals, tallies_of, visit_of
from engine.kpis import (
    ETA_HORIZONS,
    CommandFact,
    DayFacts,
    EtaFact,
    ExceptionFact,
    RouteFact,
    StopFact,
)
from engine.model import DayInput, Location, Plan, Route, RouteStatus, slot_builder

log = logging.getLogger(__name__)

#: The ETA sampler's interval (day clock): a stop's ETA ``H`` minutes out is the sample
#: taken nearest to its arrival minus ``H``, if within half an interval and a minute.
SAMPLE_EVERY = timedelta(minutes=5)
SAMPLE_TOLERANCE = SAMPLE_EVERY / 2 + timedelta(minutes=1)
#: A live pass reads each vehicle's breadcrumbs from its newest one counted, rounded down
#: to this many seconds (vehicles whose rounded times agree share one query).
READ_BUCKET_S = 300.0
#: A live pass reads all of the day's stop events again every this many passes.
FULL_READ_EVERY = 15


@dataclass
class DayData:
    """The day as read: its input, plan, facts, and lookups the pane and report use."""

    day: DayInput
    plan: Plan | None
    facts: DayFacts
    timezone: str
    targets: dict[str, float] = field(default_factory=dict)
    costs: dict[str, dict[str, float]] = field(default_factory=dict)
    vehicle_names: dict[str, str] = field(default_factory=dict)
    driver_names: dict[str, str] = field(default_factory=dict)
    exception_details: dict[str, str] = field(default_factory=dict)
    command_kinds: dict[str, str] = field(default_factory=dict)
    read_s: float = 0.0


class EventCache:
    """The day's stop events and the stops' visits, kept between live passes: a pass reads
    only the events since the newest it holds and works out again only the stops they
    touch. Every :data:`FULL_READ_EVERY` passes (and whenever the day, its vehicles or the
    final pass come) it reads them all again, which also picks up events a tracker sent
    late with older times."""

    def __init__(self) -> None:
        self.key: tuple[str, date, tuple[str, ...]] | None = None
        self.rows: dict[str, list[tuple[str, str | None, str, datetime]]] = defaultdict(list)
        self.seen: set[tuple[str, str | None, str, datetime]] = set()
        self.visits: dict[str, StopVisit] = {}
        self.through: datetime | None = None
        self.passes = 0

    def read(
        self, session: Any, key: tuple[str, date, tuple[str, ...]], start: datetime,
        until: datetime, final: bool,
    ) -> dict[str, StopVisit]:  # fmt: skip
        vehicles = key[2]
        full = (self.key != key or final or self.through is None
                or self.passes % FULL_READ_EVERY == 0)  # fmt: skip
        if full:
            self.key, self.rows, self.seen, self.visits = key, defaultdict(list), set(), {}
            since = start
        else:
            assert self.through is not None
            since = max(start, self.through - timedelta(seconds=1))
        self.passes += 1
        read = rk.stop_events(session, list(vehicles), since, until)
        if full:  # nothing held: every row is new
            new = read
            # The next pass reads from a second before the newest event: only rows that
            # recent can come again (``read`` is oldest first), the rest need no lookup.
            tail = read[-1][3] - timedelta(seconds=1) if read else start
            self.seen = set(read[bisect_left(read, tail, key=_event_time) :])
        else:
            new = [r for r in read if r not in self.seen]
            self.seen.update(new)
        by_stop = self.rows
        if full:  # every stop is new: grouped in one walk, each visit worked out once
            for r in new:
                if r[1]:
                    by_stop[r[1]].append(r)
            self.visits = {stop: visit_of(stop, rows, True) for stop, rows in by_stop.items()}
        else:
            touched = set()
            for r in new:
                if r[1]:
                    by_stop[r[1]].append(r)
                    touched.add(r[1])
            for stop in touched:
                self.visits[stop] = visit_of(stop, by_stop[stop])
        # A full read is oldest first (its newest is the last); rows read on may not be.
        newest = (new[-1][3] if new else None) if full else max((r[3] for r in new), default=None)
        if newest is not None and (self.through is None or newest > self.through):
            self.through = newest
        if full and not new:
            self.through = None
        return self.visits


def _event_time(row: tuple[str, str | None, str, datetime]) -> datetime:
    return row[3]


class TallyCache:
    """Each vehicle's trail totals of one day, kept between passes (and in the store), and
    the day's stop events (:class:`EventCache`)."""

    def __init__(self) -> None:
        self.events = EventCache()
        self.planned: dict[str, Any] = {}  # route -> [its sequence, planned km]
        self.key: tuple[str, date] | None = None
        self.tallies: dict[str, TrackTally] = {}
        self.through: dict[str, datetime] = {}
        self.stops: dict[str, tuple[Any, ...]] = {}  # route -> its stops' facts (last pass)
        self.totals: dict[str, TrailTotals] = {}  # the totals the tallies are worked from
        self.tallied: dict[str, tuple[int, list[Location]]] = {}  # the totals and stops used
        self.kept: set[str] = set()  # vehicles whose totals the store kept as fixes came
        self.read = 0  # breadcrumbs the last pass read


def day_bounds(timezone: str, day: date) -> tuple[datetime, datetime]:
    """The day in the depot's time zone, plus six hours for routes that run late."""
    start, end = repository.depot_day_bounds(timezone, day)
    return start, end + timedelta(hours=6)


def load_day_data(
    store: Store,
    depot_id: str,
    day: date,
    *,
    as_of: datetime | None = None,
    final: bool | None = None,
    travel: Any = None,
    tallies: TallyCache | None = None,
    day_input: DayInput | None = None,
    plan: Plan | None = None,
) -> DayData:
    """Everything the day's KPIs are computed from, as of ``as_of`` (default: now).

    ``final`` defaults to: the day is over in the depot's time zone. ``travel`` gives the
    planned distances (``engine.travel`` model; default: the depot's). ``tallies`` keeps
    the trails' totals between live passes. ``day_input`` and ``plan``: the day as the
    desk holds it in memory (the live pane), instead of reading it again."""
    import time

    started = time.perf_counter()
    with store.read_session() as s:
        if day_input is None:
            day_input = repository.load_day(s, depot_id, day)
        if plan is None:
            plan = repository.load_plan(s, depot_id, day)
        depot = day_input.depot(depot_id)
        start, end = day_bounds(depot.timezone, day)
        as_of = as_of or datetime.now(UTC)
        if final is None:
            final = as_of >= end - timedelta(hours=6)
        until = min(as_of, end)
        routes = [r for r in plan.routes if r.stops] if plan else []
        vehicle_ids = sorted({r.vehicle_id for r in routes})
        route_ids = [r.id for r in routes]
        tallies = tallies or TallyCache()
        visits = tallies.events.read(s, (depot_id, day, tuple(vehicle_ids)), start,
                                     until + timedelta(seconds=1), final)  # fmt: skip
        moves = transitions(s, depot_id, day)
        published = rk.first_publications(s, route_ids)
        exc_rows = rk.exceptions(s, start, until + timedelta(seconds=1), vehicle_ids,
                                 [o.id for o in day_input.orders])  # fmt: skip
        cmd_rows = rk.commands(s, plan.id if plan else None, start, route_ids)
        samples = rk.eta_samples(s, depot_id, day)
        settings = rk.settings(s, depot_id)
        warm = tallies.key == (depot_id, day) and bool(tallies.planned)
        # A warm live pass holds the trails' totals and planned distances already.
        stored_tracks: dict[str, tuple[datetime, int, dict[str, Any]]] = (
            {PLANNED_KEY: (as_of, len(tallies.planned), tallies.planned)}
            if warm
            else rk.load_tracks(s, depot_id, day)
        )
    checkpoint()  # in a job: a window closing ends a day's KPIs here (and route by route)
    tally = _update_tallies(store, depot_id, day, routes, day_input, start, until,
                            stored_tracks, tallies)  # fmt: skip
    checkpoint()
    costs = _costs(day_input, settings)
    facts = DayFacts(
        depot_id,
        day,
        as_of,
        final,
        stops=tuple(_stop_facts(day_input, plan, visits, tallies.stops)),
        routes=tuple(
            _route_facts(
                store,
                stored_tracks,
                day_input,
                routes,
                moves,
                published,
                visits,
                tally,
                costs,
                travel,
                as_of,
                final,
            )
        ),  # fmt: skip
        exceptions=tuple(_exception_facts(exc_rows, plan, day_input, visits, as_of, final)),
        commands=tuple(
            CommandFact(c.id, c.kind, c.actor, c.at, c.route_ids, c.label) for c in cmd_rows
        ),  # fmt: skip
        etas=tuple(eta_facts(samples, visits)),
        rule_firings=sum(1 for c in cmd_rows if c.actor.startswith("rule:")),
    )
    tallies.planned = dict(stored_tracks.get(PLANNED_KEY, (as_of, 0, {}))[2])
    return DayData(
        day_input, plan, facts, depot.timezone,
        targets={k.removeprefix("target:"): float(v["value"]) for k, v in settings.items()
                 if k.startswith("target:") and "value" in v},
        costs=costs,
        vehicle_names={v.id: v.name or v.id for v in day_input.vehicles},
        driver_names={d.id: d.name for d in day_input.drivers},
        exception_details={e.id: e.detail for e in exc_rows},
        command_kinds={c.id: c.kind for c in cmd_rows},
        read_s=time.perf_counter() - started,
    )  # fmt: skip


# -- trails -----------------------------------------------------------------------------------


def _update_tallies(
    store: Store,
    depot_id: str,
    day: date,
    routes: Sequence[Route],
    day_input: DayInput,
    start: datetime,
    until: datetime,
    stored: Mapping[str, tuple[datetime, int, dict[str, Any]]],
    cache: TallyCache | None,
) -> dict[str, TrackTally]:
    """Each vehicle's trail totals through ``until``: the cache's, else those the store
    kept as the breadcrumbs arrived (``kpi_track``, when they go no further than
    ``until``), plus the breadcrumbs since; a vehicle with neither has every breadcrumb
    of its day read and folded (an older store, or a day as of an earlier moment)."""
    cache = cache or TallyCache()
    if cache.key != (depot_id, day):
        cache.key, cache.tallies, cache.through, cache.totals = (depot_id, day), {}, {}, {}
        cache.kept, cache.tallied = set(), {}
    orders = {o.id: o for o in day_input.orders}
    depot = day_input.depots[0].location
    for vid, (through, _fixes, state) in stored.items():
        if vid == PLANNED_KEY or through > until or state_depot(state) != depot:
            continue
        if vid in cache.totals and cache.through[vid] >= through:
            continue
        kept = TrailTotals.from_json(state)
        if kept is not None:
            cache.totals[vid], cache.through[vid] = kept, through
            cache.tallies.pop(vid, None)
            cache.kept.add(vid)
    stops_of: dict[str, list[Location]] = defaultdict(list)
    for r in routes:
        stops_of[r.vehicle_id] += [orders[s.order_id].location for s in r.stops
                                   if s.order_id in orders]  # fmt: skip
    # Vehicles grouped by how far their totals go (to the :data:`READ_BUCKET_S` below):
    # one query per group from its earliest, so a van back early does not make every
    # other van's fixes since then be read again on each pass.
    since_of: dict[float, list[str]] = defaultdict(list)
    for vid in sorted(stops_of):
        seen = cache.through.get(vid, start).timestamp()
        since_of[seen - seen % READ_BUCKET_S].append(vid)
    with store.read_session() as s:
        read = [rk.trails(s, vids, _dt(bucket) or start, until)
                for bucket, vids in sorted(since_of.items())]  # fmt: skip
    vids = [v for r in read for v in r.vehicle_ids]
    cache.read = sum(len(r.ts) for r in read)
    if vids:
        offsets = np.cumsum([0] + [len(r.ts) for r in read[:-1]])
        bounds = np.concatenate(
            [[0]] + [r.bounds[1:] + o for r, o in zip(read, offsets, strict=True)]
        )
        ts = np.concatenate([r.ts for r in read])
        lat = np.concatenate([r.lat for r in read])
        lon = np.concatenate([r.lon for r in read])
        keep = _newer(vids, bounds, ts, cache, start)
        if not keep.all():
            bounds = np.concatenate(
                [[0], np.cumsum(np.add.reduceat(keep.astype(np.int64), bounds[:-1]))]
            )
            ts, lat, lon = ts[keep], lat[keep], lon[keep]
        has = np.diff(bounds) > 0
        # Totals read on (or folded from scratch) all at once; a tally given without
        # totals (older callers) reads on fix by fix.
        on = [k for k, v in enumerate(vids) if has[k] and not (v in cache.tallies
                                                                 and v not in cache.totals)]  # fmt: skip
        if on:
            rows = np.concatenate([np.arange(bounds[k], bounds[k + 1]) for k in on])
            lengths = [int(bounds[k + 1] - bounds[k]) for k in on]
            folded = fold_totals(ts[rows], lat[rows], lon[rows], np.cumsum([0, *lengths]),
                                 depot, [cache.totals.get(vids[k]) for k in on])  # fmt: skip
            for k, totals in zip(on, folded, strict=True):
                cache.totals[vids[k]] = totals
        on_set = set(on)
        for k, vid in enumerate(vids):
            if not has[k]:
                continue
            a, b = int(bounds[k]), int(bounds[k + 1])
            if k not in on_set:
                cache.tallies[vid].add(ts[a:b], lat[a:b], lon[a:b], stops_of[vid], depot)
            cache.through[vid] = datetime.fromtimestamp(float(ts[b - 1]), UTC)
    # Idle time against each route's stops, for the totals that moved or whose stops did.
    due = [v for v in sorted(stops_of) if v in cache.totals
           and cache.tallied.get(v) != (id(cache.totals[v]), stops_of[v])]  # fmt: skip
    if due:
        for vid, tally in zip(due, tallies_of([cache.totals[v] for v in due],
                                              [stops_of[v] for v in due], depot), strict=True):  # fmt: skip
            cache.tallies[vid] = tally
            cache.tallied[vid] = (id(cache.totals[vid]), stops_of[vid])
    return cache.tallies


def _newer(
    vids: Sequence[str], bounds: np.ndarray, ts: np.ndarray, cache: TallyCache, start: datetime
) -> np.ndarray:
    """Which fixes read are newer than their vehicle's totals (its read started at its
    group's): after the newest counted, and at the newest counted second those beyond
    the ones counted there (SQLite's times are whole seconds)."""
    counted = np.array([cache.totals[v].seen if v in cache.totals
                        else cache.through.get(v, start).timestamp() for v in vids])  # fmt: skip
    per_fix = np.repeat(counted, np.diff(bounds))
    keep = ts > per_fix
    ties = np.nonzero(ts == per_fix)[0]
    if len(ties):
        owner = np.searchsorted(bounds, ties, side="right") - 1
        taken: dict[int, int] = defaultdict(int)
        for i, k in zip(ties.tolist(), owner.tolist(), strict=True):
            totals = cache.totals.get(vids[k])
            if totals is not None:
                taken[k] += 1
                keep[i] = taken[k] > totals.seen_n
    return keep


# -- stops, routes, exceptions, ETAs -----------------------------------------------------------


def _dt(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


_stop_fact = slot_builder(StopFact)


def _stop_facts(
    day: DayInput,
    plan: Plan | None,
    visits: Mapping[str, StopVisit],
    kept: dict[str, tuple[Any, ...]] | None = None,
) -> list[StopFact]:
    """Every stop's fact. ``kept`` (route id -> the route, the day, its stops' visits and
    their facts, from the last pass) spares a live pass the routes nothing happened on."""
    orders = {o.id: o for o in day.orders}
    at = datetime.fromtimestamp  # epoch seconds to UTC times (as ``_dt``), 120,000 a pass
    out = []
    placed: set[str] = set()
    kept = {} if kept is None else kept
    for route in plan.routes if plan else ():
        seen = tuple(visits.get(stop.order_id) for stop in route.stops)
        last = kept.get(route.id)
        if last is not None and last[0] is route and last[1] is day and last[2] == seen:
            out += last[3]
            placed.update(last[4])
            continue
        facts = []
        for stop, v in zip(route.stops, seen, strict=True):
            order = orders.get(stop.order_id)
            if order is None:
                continue
            if v is None:  # nothing happened there yet
                facts.append(_stop_fact(
                    order.id, route.id, route.vehicle_id, route.driver_id or "", route.wave,
                    order.customer, order.latest, stop.planned_arrival, None, None, None,
                    False, 0, False,
                ))  # fmt: skip
                continue
            arrived, done, departed = v.arrived, v.done, v.departed
            facts.append(_stop_fact(
                order.id, route.id, route.vehicle_id, route.driver_id or "", route.wave,
                order.customer, order.latest, stop.planned_arrival,
                None if arrived is None else at(arrived, UTC),
                None if done is None else at(done, UTC),
                None if departed is None else at(departed, UTC),
                bool(v.delivered), v.attempts, bool(v.first_delivered),
            ))  # fmt: skip
        ids = [f.order_id for f in facts]
        kept[route.id] = (route, day, seen, facts, ids)
        out += facts
        placed.update(ids)
    for gone in set(kept) - {r.id for r in (plan.routes if plan else ())}:
        del kept[gone]
    for order in day.orders:  # orders no route took: never on time
        if order.id not in placed:
            out.append(StopFact(order.id, "", "", "", order.wave, order.customer, order.latest,
                                None))  # fmt: skip
    return out


def _costs(day: DayInput, settings: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """Per vehicle type: cost per km, per hour and fixed per route — the setting
    ``cost:TYPE`` where there is one, else the mean of the type's vehicles' own costs."""
    out: dict[str, dict[str, float]] = {}
    by_type: dict[str, list[Any]] = defaultdict(list)
    for v in day.vehicles:
        by_type[v.type_name].append(v)
    for type_name, vehicles in by_type.items():
        out[type_name] = {
            "per_km": float(np.mean([v.cost_per_km for v in vehicles])),
            "per_hour": float(np.mean([v.cost_per_hour for v in vehicles])),
            "fixed": float(np.mean([v.fixed_cost for v in vehicles])),
        }
        given = settings.get(f"cost:{type_name}", {})
        out[type_name].update({k: float(given[k]) for k in ("per_km", "per_hour", "fixed")
                               if k in given})  # fmt: skip
    return out


#: The ``kpi_track`` row (in place of a vehicle) that keeps each route's planned distance,
#: by its sequence: the street model's matrix is paid for once per route version.
PLANNED_KEY = "~planned"
#: Up to this many points the planned distances come from one matrix of the whole day.
WHOLE_DAY_MATRIX_MAX = 3000


def _planned_km(
    store: Store, day: DayInput, routes: Sequence[Route], sequences: Mapping[str, Sequence[str]],
    travel: Any, stored: Mapping[str, tuple[datetime, int, dict[str, Any]]],
) -> dict[str, float]:  # fmt: skip
    """Each route's planned distance: the travel model along depot → stops → depot."""
    orders = {o.id: o for o in day.orders}
    known = dict(stored[PLANNED_KEY][2]) if PLANNED_KEY in stored else {}
    wanted = {r.id: [o for o in sequences.get(r.id, r.order_ids) if o in orders] for r in routes}
    out = {rid: float(known[rid][1]) for rid, seq in wanted.items()
           if rid in known and known[rid][0] == "|".join(seq)}  # fmt: skip
    missing = [rid for rid in wanted if rid not in out]
    if isinstance(stored, dict):  # the caller keeps them for its next pass
        stored[PLANNED_KEY] = (datetime.now(UTC), len(known), known)
    if not missing:
        return out
    depot = day.depots[0].location
    points = [depot, *(o.location for o in day.orders)]
    if travel is None:
        from app.travel.choose import travel_model_for

        travel = travel_model_for(day.depots[0])
    from engine.travel import HaversineTravelModel

    off_street: list[str] = []  # why each matrix fell back (told once, not per route)

    def matrix(pts: Sequence[Location]) -> Any:
        try:
            return travel.matrices(pts).distance_m
        except Exception as exc:  # a point off the street network: straight lines x 1.3
            off_street.append(str(exc))
            return HaversineTravelModel().matrices(pts).distance_m

    index = {o.id: i + 1 for i, o in enumerate(day.orders)}
    # One matrix of the day's points while it is small; a big day's (40,000 orders: a
    # matrix of 13 GB) one per route, along its own stops.
    whole = matrix(points) if len(points) <= WHOLE_DAY_MATRIX_MAX else None
    if whole is None and hasattr(travel, "snap_ahead"):  # a street network: one search
        travel.snap_ahead(points)
    legs = getattr(travel, "leg_distances_m", None)
    if whole is None and legs is not None:
        # A model that gives a route's legs without its matrix (straight lines): every
        # route's legs at once, each summed in its order as the route's matrix would be.
        lat = np.fromiter((p.lat for p in points), dtype=np.float64, count=len(points))
        lon = np.fromiter((p.lon for p in points), dtype=np.float64, count=len(points))
        seqs = [[0, *(index[o] for o in wanted[rid]), 0] for rid in missing]
        width = max(len(q) for q in seqs) - 1
        frm = np.zeros((len(seqs), width), dtype=np.int64)
        to = np.zeros((len(seqs), width), dtype=np.int64)
        for k, q in enumerate(seqs):
            frm[k, : len(q) - 1], to[k, : len(q) - 1] = q[:-1], q[1:]
        metres = np.cumsum(legs(lat[frm], lon[frm], lat[to], lon[to]), axis=1)[:, -1]
        for rid, m in zip(missing, metres.tolist(), strict=True):  # depot to depot pads: 0 m
            out[rid] = m / 1000
            known[rid] = ["|".join(wanted[rid]), out[rid]]
        missing = []
    for rid in missing:
        checkpoint()  # a street matrix per route: a big day's take minutes
        seq = [0, *(index[o] for o in wanted[rid]), 0]
        if whole is not None:
            metres = sum(whole[a, b] for a, b in zip(seq, seq[1:], strict=False))
        else:
            own = matrix([points[i] for i in seq])
            metres = sum(own[k, k + 1] for k in range(len(seq) - 1))
        out[rid] = float(metres) / 1000
        known[rid] = ["|".join(wanted[rid]), out[rid]]
    if off_street:
        if whole is not None:
            log.warning("planned distances on straight lines: %s", off_street[0])
        else:
            log.warning("planned distances of %d of %d routes on straight lines; the first: %s",
                        len(off_street), len(missing), off_street[0])  # fmt: skip
    try:
        with store.session() as s:
            rk.save_tracks(s, day.depots[0].id, day.day,
                           {PLANNED_KEY: (datetime.now(UTC), len(known), known)})  # fmt: skip
    except Exception:  # a cache: computed again next time
        log.warning("planned distances not stored this time", exc_info=True)
    return out


def _route_facts(
    store: Store,
    stored: Mapping[str, tuple[datetime, int, dict[str, Any]]],
    day: DayInput,
    routes: Sequence[Route],
    moves: Sequence[Any],
    published: Mapping[str, list[str]],
    visits: Mapping[str, StopVisit],
    tallies: Mapping[str, TrackTally],
    costs: Mapping[str, Mapping[str, float]],
    travel: Any,
    as_of: datetime,
    final: bool,
) -> list[RouteFact]:
    vehicles = {v.id: v for v in day.vehicles}
    released: dict[str, datetime] = {}
    on_road: dict[str, datetime] = {}
    planned_dep: dict[str, datetime] = {}
    for t in moves:
        if t.to_status is RouteStatus.RELEASED:
            released.setdefault(t.route_id, t.at)
            if t.planned_departure is not None:
                planned_dep.setdefault(t.route_id, t.planned_departure)
        elif t.to_status is RouteStatus.ACTIVE:
            on_road.setdefault(t.route_id, t.at)
    planned_km = _planned_km(store, day, routes, published, travel, stored)
    out = []
    for r in routes:
        vehicle = vehicles.get(r.vehicle_id)
        vtype = vehicle.type_name if vehicle else ""
        cost = costs.get(vtype, {})
        tally = tallies.get(r.vehicle_id)
        planned = planned_dep.get(r.id) or r.start or r.stops[0].planned_arrival
        route_visits = [visits[s.order_id] for s in r.stops if s.order_id in visits]
        first_arrival = min((v.arrived for v in route_visits if v.arrived), default=None)
        departed = on_road.get(r.id)
        if departed is None and tally is not None and tally.exits:
            lo = (planned.timestamp() - 3 * 3600) if planned else -np.inf
            hi = first_arrival if first_arrival is not None else np.inf
            exits = [t for t in tally.exits if lo <= t <= hi]
            departed = _dt(exits[-1]) if exits else None
        if departed is None and tally is not None and tally.buckets and first_arrival:
            departed = _dt(min(min(tally.buckets), first_arrival))  # no fix at the depot
        done = [v.departed or v.done for v in route_visits if (v.departed or v.done)]
        all_done = len(done) == len(r.stops)
        ended = None
        if done and (all_done or final):
            last = max(x for x in done if x is not None)
            back = [t for t in (tally.returns or []) if t >= last] if tally else []
            ended = _dt(back[0]) if back else (_dt(last) if final or tally is None else None)
        window_end = (ended or as_of).timestamp()
        figures = tally.figures(departed.timestamp(), window_end) if tally and departed else None
        actual = [v.order_id for v in sorted(route_visits, key=lambda v: v.arrived or np.inf)
                  if v.arrived is not None]  # fmt: skip
        out.append(RouteFact(
            r.id, r.vehicle_id, r.driver_id or "", r.wave, vtype, r.status.value, planned,
            r.end, released.get(r.id), departed, ended, planned_km.get(r.id, 0.0),
            figures.distance_m / 1000 if figures else 0.0,
            figures.idle_s / 60 if figures else 0.0,
            tuple(published.get(r.id, r.order_ids)), tuple(actual),
            cost.get("per_km", 0.0), cost.get("per_hour", 0.0), cost.get("fixed", 0.0),
        ))  # fmt: skip
    return out


def _exception_facts(
    rows: Sequence[rk.StoredException],
    plan: Plan | None,
    day: DayInput,
    visits: Mapping[str, StopVisit],
    as_of: datetime,
    final: bool,
) -> list[ExceptionFact]:
    orders = {o.id: o for o in day.orders}
    route_of_order = {s.order_id: r.id for r in (plan.routes if plan else ()) for s in r.stops}
    route_of_vehicle = {r.vehicle_id: r.id for r in (plan.routes if plan else ()) if r.stops}
    out = []
    for e in rows:
        order = orders.get(e.order_id)
        window_end = order.latest if order else None
        on_time = None
        if order is not None:
            v = visits.get(order.id)
            if v is not None and v.arrived is not None:
                on_time = v.arrived <= order.latest.timestamp()
            elif final or order.latest <= as_of:
                on_time = False
        route = route_of_order.get(e.order_id) or route_of_vehicle.get(e.vehicle_id, "")
        out.append(ExceptionFact(
            e.id, e.type, e.severity, e.vehicle_id, e.order_id, route, e.detected_at,
            e.acknowledged_at, e.acknowledged_by, e.resolved_at, e.resolved_by, window_end,
            on_time,
        ))  # fmt: skip
    return out


def eta_facts(samples: Sequence[rk.EtaSample], visits: Mapping[str, StopVisit]) -> list[EtaFact]:
    """For each reached stop and horizon, the sample taken nearest to (arrival − horizon)."""
    by_order: dict[str, list[rk.EtaSample]] = defaultdict(list)
    for s in samples:
        by_order[s.order_id].append(s)
    out = []
    for oid, rows in by_order.items():
        v = visits.get(oid)
        if v is None or v.arrived is None:
            continue
        arrived = datetime.fromtimestamp(v.arrived, UTC)
        for h in ETA_HORIZONS:
            target = arrived - timedelta(minutes=h)
            best = min(rows, key=lambda s: abs(s.predicted_at - target))
            if abs(best.predicted_at - target) <= SAMPLE_TOLERANCE and best.predicted_at < arrived:
                out.append(EtaFact(oid, best.route_id, best.vehicle_id, h, best.predicted_at,
                                   best.eta, arrived))  # fmt: skip
    return out


def local_zone(data: DayData) -> ZoneInfo:
    return ZoneInfo(data.timezone)
