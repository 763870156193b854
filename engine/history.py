"""A recorded day read back as facts: visits with their service times, legs with their
driving times, and what each vehicle's trail says (distance driven, time standing still).

Pure functions over stop events and breadcrumb trails (:class:`Track`), the same whether
they come from the store or from a benchmark driving the digital twin.
"""

from __future__ import annotations

import base64
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from engine.eta import service_window
from engine.learning import DrivenLeg, Visit
from engine.model import Location, Order, slot_builder

#: A vehicle within this many metres of the depot is at the depot.
AT_DEPOT_M = 150.0
#: Slower than this (km/h) counts as standing still (a van crawling in a jam too).
STILL_KMH = 5.0
#: A gap between two fixes longer than this is not driven through (the tracker was silent).
GAP_S = 600.0
#: Faster than this (km/h) between two fixes is a GPS jump, not driving.
JUMP_KMH = 200.0
#: Trails are thinned to one fix per this many seconds before measuring them: GPS noise of
#: a few metres between fixes a second apart would read as walking pace and add distance
#: while the van stands still; over 15 s it stays well under :data:`STILL_KMH`.
THIN_S = 15.0


def thin(ts: np.ndarray, *columns: np.ndarray) -> tuple[np.ndarray, ...]:
    """The first fix of each :data:`THIN_S` slot (arrays in time order)."""
    if len(ts) < 2:
        return (ts, *columns)
    _, first = np.unique(np.floor(ts / THIN_S), return_index=True)
    return (ts[first], *(c[first] for c in columns))


ARRIVED, DEPARTED, DELIVERED, FAILED = "arrived", "departed", "delivered", "failed"


@dataclass(frozen=True, slots=True)
class StopEvent:
    """What a vehicle said about a stop (or itself): arrived, delivered, failed, departed,
    breakdown, break_start/break_end."""

    vehicle_id: str
    stop_id: str | None
    type: str
    ts: datetime


@dataclass(frozen=True)
class Track:
    """A vehicle's breadcrumbs in time order: epoch seconds, latitude, longitude."""

    ts: np.ndarray
    lat: np.ndarray
    lon: np.ndarray

    @classmethod
    def of(cls, rows: Iterable[tuple[float, float, float]]) -> Track:
        arr = np.array(sorted(rows), dtype=np.float64).reshape(-1, 3)
        return cls(arr[:, 0], arr[:, 1], arr[:, 2])

    def __len__(self) -> int:
        return len(self.ts)

    def steps_m(self) -> np.ndarray:
        """Metres between consecutive fixes."""
        if len(self.ts) < 2:
            return np.zeros(0)
        lat1, lat2 = np.radians(self.lat[:-1]), np.radians(self.lat[1:])
        dl = np.radians(self.lon[1:] - self.lon[:-1])
        a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin(dl / 2) ** 2
        steps: np.ndarray = 2 * 6_371_008.8 * np.arcsin(np.minimum(1.0, np.sqrt(a)))
        return steps

    def near(self, where: Location, metres: float = AT_DEPOT_M) -> np.ndarray:
        """Which fixes lie within ``metres`` of ``where`` (a boolean array)."""
        k = math.cos(math.radians(where.lat)) * 111_320.0
        dx = (self.lon - where.lon) * k
        dy = (self.lat - where.lat) * 110_574.0
        near: np.ndarray = dx * dx + dy * dy <= metres * metres
        return near


@dataclass(frozen=True, slots=True)
class TrackFigures:
    """What a trail says between ``start`` and ``end`` (epoch seconds)."""

    distance_m: float
    moving_s: float
    still_s: float
    idle_s: float  # standing still away from the depot and every stop of the route
    start: float
    end: float


def _steps(track: Track) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each step between consecutive fixes: metres, seconds, whether it counts (no gap over
    :data:`GAP_S`, no jump faster than :data:`JUMP_KMH`) and whether it stood still (under
    :data:`STILL_KMH`)."""
    steps = track.steps_m()
    dt = np.diff(track.ts)
    ok = (dt > 0) & (dt <= GAP_S)
    speed = np.where(dt > 0, steps / np.maximum(dt, 1e-9) * 3.6, 0.0)
    ok &= speed <= JUMP_KMH
    return steps, dt, ok, ok & (speed < STILL_KMH)


def track_figures(
    track: Track, stops: Sequence[Location] = (), depot: Location | None = None,
    start: float | None = None, end: float | None = None,
) -> TrackFigures:  # fmt: skip
    """Distance driven, time moving, standing still, and idle (still, away from the depot
    and the route's stops) between ``start`` and ``end`` (default: the whole trail).

    Gaps over :data:`GAP_S` and jumps faster than :data:`JUMP_KMH` are neither driven nor
    counted as time."""
    if len(track) < 2:
        return TrackFigures(0.0, 0.0, 0.0, 0.0, start or 0.0, end or 0.0)
    lo = 0 if start is None else int(np.searchsorted(track.ts, start, side="left"))
    hi = len(track) if end is None else int(np.searchsorted(track.ts, end, side="right"))
    part = Track(*thin(track.ts[lo:hi], track.lat[lo:hi], track.lon[lo:hi]))
    if len(part) < 2:
        return TrackFigures(0.0, 0.0, 0.0, 0.0, start or 0.0, end or 0.0)
    steps, dt, ok, still = _steps(part)
    away = np.ones(len(part), dtype=bool)
    for where in [*stops, *([depot] if depot is not None else [])]:
        away &= ~part.near(where, AT_DEPOT_M)
    idle = still & away[:-1] & away[1:]
    return TrackFigures(
        float(steps[ok & ~still].sum()),
        float(dt[ok & ~still].sum()),
        float(dt[still].sum()),
        float(dt[idle].sum()),
        float(part.ts[0]),
        float(part.ts[-1]),
    )


@dataclass(frozen=True, slots=True)
class StopVisit:
    """One stop of one vehicle as its events tell it (times in epoch seconds)."""

    order_id: str
    vehicle_id: str
    arrived: float | None
    done: float | None  # delivered or failed
    departed: float | None
    delivered: bool
    attempts: int
    first_delivered: bool = False  # the first attempt (delivered/failed event) delivered


def stop_visits(events: Iterable[StopEvent]) -> dict[str, StopVisit]:
    """Per stop: first arrival, when it was done (last delivered/failed), departure, whether
    it was delivered, how many attempts (delivered/failed events) it took, and whether the
    first of them delivered."""
    by_stop: dict[str, list[EventRow]] = defaultdict(list)
    for ev in events:
        if ev.stop_id:
            by_stop[ev.stop_id].append((ev.vehicle_id, ev.stop_id, ev.type, ev.ts))
    return {oid: visit_of(oid, rows) for oid, rows in by_stop.items()}


#: A stop event as the store reads it: (vehicle, stop, type, ts).
EventRow = tuple[str, str | None, str, datetime]


def visit_of(order_id: str, rows: Sequence[EventRow], ordered: bool = False) -> StopVisit:
    """One stop's visit (:func:`stop_visits`) from its events as rows, in any order (or
    ``ordered``: already in time order, as a full read of the day gives them)."""
    if not ordered:
        rows = sorted(rows, key=_when)
    # One walk over the stop's events (a big day has a few hundred thousand).
    arrived = ended = left = None
    attempts, delivered, first = 0, False, False
    for _vehicle, _stop, kind, ts in rows:
        if kind == ARRIVED:
            if arrived is None:
                arrived = ts
        elif kind in (DELIVERED, FAILED):
            if not attempts:
                first = kind == DELIVERED
            attempts += 1
            ended = ts
            delivered = delivered or kind == DELIVERED
        elif kind == DEPARTED:
            left = ts
    done = ended.timestamp() if ended is not None else None
    return _stop_visit(
        order_id,
        rows[-1][0],
        arrived.timestamp() if arrived is not None else None,
        done,
        left.timestamp() if left is not None else done,
        delivered,
        attempts,
        first,
    )


_stop_visit: Callable[..., StopVisit] = slot_builder(StopVisit)  # every field, in order


def _when(row: EventRow) -> datetime:
    return row[3]


def day_history(
    events: Sequence[StopEvent],
    tracks: Mapping[str, Track],
    orders: Mapping[str, Order],
    depot: Location,
    model_s: Callable[[Location, Location], float],
) -> tuple[list[Visit], list[DrivenLeg]]:
    """The day's service visits and driven legs, for learning.

    A visit is a delivered stop: service from arrival (or the window's opening, if it came
    early and waited) to departure. A leg runs from one stop's departure to the next stop's
    arrival of the same vehicle; the first from the last fix at the depot, the last to the
    first fix back there. Legs with a breakdown or a break in them are left out.
    """
    visits: list[Visit] = []
    legs: list[DrivenLeg] = []
    per_vehicle: dict[str, list[StopEvent]] = defaultdict(list)
    for ev in events:
        per_vehicle[ev.vehicle_id].append(ev)
    all_visits = stop_visits(events)
    for vid, evs in per_vehicle.items():
        evs.sort(key=lambda e: e.ts)
        if any(e.type == "breakdown" for e in evs):
            cut = next(e.ts for e in evs if e.type == "breakdown")
            evs = [e for e in evs if e.ts < cut]
        pauses = [(e.ts.timestamp(), e.type) for e in evs if e.type.startswith("break_")]
        seen: list[str] = []
        for e in evs:
            if e.stop_id and e.type == ARRIVED and e.stop_id not in seen:
                seen.append(e.stop_id)
        chain = [all_visits[oid] for oid in seen if oid in orders]
        for v in chain:
            order = orders[v.order_id]
            if v.delivered and v.arrived is not None and v.departed is not None:
                opens = service_window(order.windows, _dt(v.arrived)).start.timestamp()
                observed = v.departed - max(v.arrived, opens)
                if observed > 0 and v.attempts == 1:
                    visits.append(Visit(v.order_id, order.customer, order.address,
                                        order.location, order.service_time.total_seconds(),
                                        observed))  # fmt: skip
        track = tracks.get(vid)
        hops: list[tuple[Location, float | None, Location, float | None]] = []
        if track is not None and len(track) and chain and chain[0].arrived is not None:
            at = track.near(depot) & (track.ts < chain[0].arrived)
            left = float(track.ts[at][-1]) if at.any() else None
            hops.append((depot, left, orders[chain[0].order_id].location, chain[0].arrived))
        for a, b in zip(chain, chain[1:], strict=False):
            hops.append((orders[a.order_id].location, a.departed,
                         orders[b.order_id].location, b.arrived))  # fmt: skip
        last = chain[-1] if chain else None
        if track is not None and len(track) and last is not None and last.departed is not None:
            back = track.near(depot) & (track.ts > last.departed)
            home = float(track.ts[back][0]) if back.any() else None
            hops.append((orders[last.order_id].location, last.departed, depot, home))
        for a_loc, t0, b_loc, t1 in hops:
            if t0 is None or t1 is None or t1 <= t0:
                continue
            if any(t0 < t < t1 for t, _ in pauses):
                continue
            legs.append(DrivenLeg(a_loc, b_loc, _dt(t0), t1 - t0, model_s(a_loc, b_loc)))
    return visits, legs


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


#: Trail totals are kept per bucket of this many seconds, so any stretch of the day (one
#: route of a vehicle that drove two) can be summed from them.
BUCKET_S = 300


class BucketRows(Mapping[int, list[float]]):
    """Per-bucket totals held as one array, a row per bucket in the order kept, read as
    ``{bucket start: [totals...]}``: what :meth:`TrailTotals.from_json` and
    :func:`tallies_of` give, without a list per bucket (a 2,000-vehicle day has some
    100,000 buckets). Read only; a row read is a new list."""

    __slots__ = ("starts", "rows", "_at")

    def __init__(self, starts: np.ndarray, rows: np.ndarray) -> None:
        self.starts = starts  # int64, one per row
        self.rows = rows  # float64, (len(starts), columns)
        self._at: dict[int, int] | None = None

    def __getitem__(self, start: int) -> list[float]:
        if self._at is None:
            self._at = {b: i for i, b in enumerate(self.starts.tolist())}
        row: list[float] = self.rows[self._at[start]].tolist()
        return row

    def __iter__(self) -> Iterator[int]:
        return iter(self.starts.tolist())

    def __len__(self) -> int:
        return len(self.starts)


@dataclass
class TrackTally:
    """Running totals of one vehicle's trail, fed fix by fix in time order: distance,
    moving, still and idle seconds per :data:`BUCKET_S` bucket, and when it left the depot
    and came back. Its state is plain JSON (kept in the store between passes)."""

    last: tuple[float, float, float] | None = None  # ts, lat, lon of the newest fix
    fixes: int = 0
    buckets: Mapping[int, list[float]] | None = None  # start -> [metres, moving, still, idle]
    exits: list[float] | None = None  # times it left the depot
    returns: list[float] | None = None  # times it came back
    at_depot: bool | None = None
    seen: float = -math.inf  # the newest fix fed (``last`` is the newest one measured)

    def add(
        self,
        ts: np.ndarray,
        lat: np.ndarray,
        lon: np.ndarray,
        stops: Sequence[Location] = (),
        depot: Location | None = None,
    ) -> None:
        """Count the fixes (newer than the last one counted; older ones are skipped)."""
        if self.buckets is None:
            self.buckets, self.exits, self.returns = {}, [], []
        assert self.exits is not None and self.returns is not None
        if not isinstance(self.buckets, dict):  # as :func:`tallies_of` gives them
            self.buckets = dict(self.buckets.items())
        buckets = self.buckets
        keep = ts > self.seen
        ts, lat, lon = ts[keep], lat[keep], lon[keep]
        if not len(ts):
            return
        self.fixes += len(ts)
        self.seen = float(ts[-1])
        if depot is not None:  # leaving and coming back, fix by fix
            here = Track(ts, lat, lon).near(depot)
            prev = self.at_depot
            for t, at in zip(ts.tolist(), here.tolist(), strict=True):
                if prev is True and not at:
                    self.exits.append(t)
                elif prev is False and at:
                    self.returns.append(t)
                prev = at
            self.at_depot = bool(here[-1])
        if self.last is not None:  # the slot of the last fix measured is taken
            keep = np.floor(ts / THIN_S) > math.floor(self.last[0] / THIN_S)
            ts, lat, lon = ts[keep], lat[keep], lon[keep]
            if not len(ts):
                return
        ts, lat, lon = thin(ts, lat, lon)
        if self.last is not None:
            ts = np.concatenate([[self.last[0]], ts])
            lat = np.concatenate([[self.last[1]], lat])
            lon = np.concatenate([[self.last[2]], lon])
        self.last = (float(ts[-1]), float(lat[-1]), float(lon[-1]))
        track = Track(ts, lat, lon)
        home = track.near(depot) if depot is not None else np.zeros(len(ts), dtype=bool)
        if len(ts) < 2:
            return
        steps, dt, ok, still = _steps(track)
        away = ~home
        for where in stops:
            away &= ~track.near(where, AT_DEPOT_M)
        idle = still & away[:-1] & away[1:]
        moving = ok & ~still
        bucket = (np.floor(ts[:-1] / BUCKET_S) * BUCKET_S).astype(np.int64)
        for b in np.unique(bucket).tolist():
            m = bucket == b
            row = buckets.setdefault(int(b), [0.0, 0.0, 0.0, 0.0])
            row[0] += float(steps[m & moving].sum())
            row[1] += float(dt[m & moving].sum())
            row[2] += float(dt[m & still].sum())
            row[3] += float(dt[m & idle].sum())

    def figures(self, start: float | None = None, end: float | None = None) -> TrackFigures:
        """Totals over the buckets that start in [start, end) (default: all)."""
        lo = -math.inf if start is None else math.floor(start / BUCKET_S) * BUCKET_S
        hi = math.inf if end is None else end
        if isinstance(self.buckets, BucketRows):
            return self._figures_of_rows(self.buckets, lo, hi, start, end)
        span = [b for b in (self.buckets or {}) if lo <= b < hi]
        rows = [self.buckets[b] for b in span] if span else []  # type: ignore[index]
        # Each column summed left to right, as ``sum`` over the rows one by one does.
        sums = [sum(column) for column in zip(*rows, strict=False)] if rows else [0, 0, 0, 0]
        first = float(min(span)) if span else (start or 0.0)
        last = float(max(span) + BUCKET_S) if span else (end or 0.0)
        return TrackFigures(sums[0], sums[1], sums[2], sums[3], first, last)

    @staticmethod
    def _figures_of_rows(
        buckets: BucketRows, lo: float, hi: float, start: float | None, end: float | None
    ) -> TrackFigures:
        """:meth:`figures` over rows held as an array: each column summed row by row in
        order (``add.accumulate``, not the pairwise ``sum``), then ``+ 0.0`` as Python's
        ``sum`` starts from zero (a total of -0.0 reads 0.0): the same sums to the bit."""
        starts = buckets.starts
        wanted = (starts >= lo) & (starts < hi)
        if not wanted.any():
            return TrackFigures(0, 0, 0, 0, start or 0.0, end or 0.0)
        span = starts[wanted]
        sums = (np.add.accumulate(buckets.rows[wanted], axis=0)[-1] + 0.0).tolist()
        first, last = float(span.min()), float(span.max() + BUCKET_S)
        return TrackFigures(sums[0], sums[1], sums[2], sums[3], first, last)

    def to_json(self) -> dict[str, object]:
        return {
            "last": list(self.last) if self.last else None,
            "fixes": self.fixes,
            "buckets": {str(k): [round(x, 2) for x in v] for k, v in (self.buckets or {}).items()},
            "exits": self.exits or [],
            "returns": self.returns or [],
            "at_depot": self.at_depot,
            "seen": self.seen if math.isfinite(self.seen) else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> TrackTally:
        last = data.get("last")
        buckets = data.get("buckets") or {}
        assert isinstance(buckets, Mapping)
        exits, returns = data.get("exits") or [], data.get("returns") or []
        assert isinstance(exits, list) and isinstance(returns, list)
        at_depot = data.get("at_depot")
        seen = data.get("seen")
        return cls(
            tuple(float(x) for x in last) if isinstance(last, list) else None,  # type: ignore[arg-type]
            int(data.get("fixes") or 0),  # type: ignore[call-overload]
            {int(k): [float(x) for x in v] for k, v in buckets.items()},
            [float(x) for x in exits],
            [float(x) for x in returns],
            at_depot if isinstance(at_depot, bool) else None,
            float(seen) if isinstance(seen, int | float) else -math.inf,
        )


def fold_trails(
    ts: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    bounds: np.ndarray,
    stops: Sequence[Sequence[Location]],
    depot: Location | None = None,
) -> list[TrackTally]:
    """New trail totals of many vehicles at once: vehicle ``k``'s fixes are rows
    ``bounds[k]:bounds[k + 1]`` (each in time order, at least one), ``stops[k]`` its stops.

    The same totals as ``TrackTally().add(...)`` fed each vehicle's fixes in one go (a day
    read from scratch), worked out with array operations over every fix of every vehicle
    instead of a few dozen small ones per vehicle and bucket."""
    bounds = np.asarray(bounds, dtype=np.int64)
    n_vehicles = len(bounds) - 1
    counts = np.diff(bounds)
    if n_vehicles < 1 or (counts < 1).any():
        raise ValueError("fold_trails: every vehicle needs at least one fix")
    veh = np.repeat(np.arange(n_vehicles), counts)
    ends = bounds[1:] - 1
    exits: list[list[float]] = [[] for _ in range(n_vehicles)]
    returns: list[list[float]] = [[] for _ in range(n_vehicles)]
    buckets: list[dict[int, list[float]]] = [{} for _ in range(n_vehicles)]
    at_depot: list[bool | None] = [None] * n_vehicles
    same = veh[1:] == veh[:-1]  # consecutive fixes of one vehicle
    if depot is not None:  # leaving and coming back, fix by fix
        here = Track(ts, lat, lon).near(depot)
        for i in np.nonzero(same & here[:-1] & ~here[1:])[0].tolist():
            exits[veh[i + 1]].append(float(ts[i + 1]))
        for i in np.nonzero(same & ~here[:-1] & here[1:])[0].tolist():
            returns[veh[i + 1]].append(float(ts[i + 1]))
        at_depot = [bool(at) for at in here[ends].tolist()]
    # Thinned as :func:`thin` does each vehicle: the first fix of each slot.
    slot = np.floor(ts / THIN_S)
    first = np.ones(len(ts), dtype=bool)
    first[1:] = ~same | (slot[1:] != slot[:-1])
    seen = ts[ends].tolist()
    ts, lat, lon, veh = ts[first], lat[first], lon[first], veh[first]
    last = np.searchsorted(veh, np.arange(n_vehicles + 1))[1:] - 1
    out = [
        TrackTally((t, a, o), n, buckets[k], exits[k], returns[k], at_depot[k], s)
        for k, (t, a, o, n, s) in enumerate(zip(ts[last].tolist(), lat[last].tolist(),
                                                lon[last].tolist(), counts.tolist(), seen,
                                                strict=True))
    ]  # fmt: skip
    track = Track(ts, lat, lon)
    home = track.near(depot) if depot is not None else np.zeros(len(ts), dtype=bool)
    away = ~home
    # Each fix against each stop of its own vehicle (vehicles with fewer stops: no stop).
    widest = max((len(s) for s in stops), default=0)
    stop_lat = np.full((n_vehicles, widest), np.nan)
    stop_lon = np.full((n_vehicles, widest), np.nan)
    stop_k = np.full((n_vehicles, widest), np.nan)
    for k, where in enumerate(stops):
        for j, loc in enumerate(where):
            stop_lat[k, j], stop_lon[k, j] = loc.lat, loc.lon
            stop_k[k, j] = math.cos(math.radians(loc.lat)) * 111_320.0
    for j in range(widest):
        dx = (lon - stop_lon[veh, j]) * stop_k[veh, j]
        dy = (lat - stop_lat[veh, j]) * 110_574.0
        away &= ~(dx * dx + dy * dy <= AT_DEPOT_M * AT_DEPOT_M)
    pair = veh[1:] == veh[:-1]
    steps, dt, ok, still = _steps(track)
    idle = still & away[:-1] & away[1:]
    moving = ok & ~still
    # Keep the steps between fixes of one vehicle; group them by vehicle and bucket (both
    # ascending, so each group is one run of rows).
    idx = np.nonzero(pair)[0]
    if not len(idx):
        return out
    owner = veh[idx]
    bucket = (np.floor(ts[idx] / BUCKET_S) * BUCKET_S).astype(np.int64)
    starts = np.ones(len(idx), dtype=bool)
    starts[1:] = (owner[1:] != owner[:-1]) | (bucket[1:] != bucket[:-1])
    group = np.cumsum(starts) - 1
    n_groups = int(group[-1]) + 1
    sums = np.zeros((n_groups, 4))
    for col, (values, mask) in enumerate(((steps, moving), (dt, moving), (dt, still),
                                          (dt, idle))):  # fmt: skip
        chosen = mask[idx]
        if not chosen.any():
            continue
        g = group[chosen]
        v = values[idx][chosen]
        cut = np.ones(len(g), dtype=bool)
        cut[1:] = g[1:] != g[:-1]
        at = np.nonzero(cut)[0]
        # The same sums as ``values[mask].sum()`` per group: each group's values in order.
        sums[g[at], col] = np.add.reduceat(v, at)
    heads = np.nonzero(starts)[0]
    for gi, (k, b) in enumerate(zip(owner[heads].tolist(), bucket[heads].tolist(),
                                    strict=True)):  # fmt: skip
        buckets[k][b] = [float(x) for x in sums[gi]]
    return out


def _empty_still() -> np.ndarray:
    return np.zeros((0, 6))


def _pack(arr: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(arr, dtype="<f8").tobytes()).decode("ascii")


def _unpack(text: object, width: int) -> np.ndarray:
    if not isinstance(text, str) or not text:
        return np.zeros((0, width))
    return np.frombuffer(base64.b64decode(text), dtype="<f8").reshape(-1, width)


@dataclass
class TrailTotals:
    """A vehicle's trail totals of one day that need no plan, kept as its fixes arrive
    (``app.store.trail_totals``) or folded from every breadcrumb (an older store).

    Per :data:`BUCKET_S` bucket: metres driven, seconds moving and standing still — the
    same numbers :func:`fold_trails` works out — and the steps it stood still away from
    the depot (bucket, seconds and both ends), so idle time (still away from the depot
    *and every stop of the route*) is worked out against the plan when the KPIs are, and
    a re-plan or a new order changes nothing kept. ``tail`` holds the thinned fixes of
    the newest bucket: newer fixes re-sum that bucket from its own steps, so the sums are
    those of one fold of the whole trail, to the bit. Kept as JSON with the numbers as
    packed float64 (exact, and quick to read back for 2,000 vans)."""

    fixes: int = 0
    seen: float = -math.inf  # the newest fix fed, as the store reads its time
    at_depot: bool | None = None
    exits: list[float] = field(default_factory=list)
    returns: list[float] = field(default_factory=list)
    buckets: Mapping[int, list[float]] = field(default_factory=dict)  # [metres, moving, still]
    still: np.ndarray = field(default_factory=_empty_still)  # [bucket, dt, lat, lon, lat, lon]
    tail: list[list[float]] = field(default_factory=list)  # [ts, lat, lon], oldest first
    seen_n: int = 0  # fixes counted at ``seen`` (SQLite's times are whole seconds)

    def to_json(self) -> dict[str, object]:
        rows = np.array([[k, *v] for k, v in self.buckets.items()]).reshape(-1, 4)
        return {
            "kept": 2,
            "fixes": self.fixes,
            "seen": self.seen if math.isfinite(self.seen) else None,
            "seen_n": self.seen_n,
            "at_depot": self.at_depot,
            "exits": _pack(np.array(self.exits)),
            "returns": _pack(np.array(self.returns)),
            "buckets": _pack(rows),
            "still": _pack(self.still),
            "tail": _pack(np.array(self.tail).reshape(-1, 3)),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> TrailTotals | None:
        """The totals kept in ``data``; None for a state of another kind (an older one)."""
        if data.get("kept") != 2:
            return None
        seen = data.get("seen")
        at_depot = data.get("at_depot")
        rows = _unpack(data.get("buckets"), 4)
        return cls(
            int(data.get("fixes") or 0),  # type: ignore[call-overload]
            float(seen) if isinstance(seen, int | float) else -math.inf,
            at_depot if isinstance(at_depot, bool) else None,
            _unpack(data.get("exits"), 1)[:, 0].tolist(),
            _unpack(data.get("returns"), 1)[:, 0].tolist(),
            BucketRows(rows[:, 0].astype(np.int64), rows[:, 1:]),
            _unpack(data.get("still"), 6),
            _unpack(data.get("tail"), 3).tolist(),
            int(data.get("seen_n") or 0),  # type: ignore[call-overload]
        )


def fold_totals(
    ts: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    bounds: np.ndarray,
    depot: Location,
    prior: Sequence[TrailTotals | None] | None = None,
) -> list[TrailTotals]:
    """Trail totals of many vehicles at once: vehicle ``k``'s new fixes are rows
    ``bounds[k]:bounds[k + 1]`` (in the store's order, at least one), read on from
    ``prior[k]`` (its totals so far, every new fix at or after its ``seen``; None: none).

    Worked out as :func:`fold_trails` does a whole trail; the bucket the prior totals
    ended in is summed again from its kept fixes and the new ones, so totals kept batch
    by batch are those of one fold of every fix."""
    bounds = np.asarray(bounds, dtype=np.int64)
    n = len(bounds) - 1
    counts = np.diff(bounds)
    if n < 1 or (counts < 1).any():
        raise ValueError("fold_totals: every vehicle needs at least one fix")
    prior = list(prior) if prior is not None else [None] * n
    sums_of: list[dict[int, list[float]]] = [{} if p is None else dict(p.buckets.items())
                                             for p in prior]  # fmt: skip
    out = [TrailTotals(buckets=sums_of[k]) if p is None else TrailTotals(
        p.fixes, p.seen, p.at_depot, list(p.exits), list(p.returns), sums_of[k],
        p.still, list(p.tail), p.seen_n) for k, p in enumerate(prior)]  # fmt: skip
    veh = np.repeat(np.arange(n), counts)
    starts, ends = bounds[:-1], bounds[1:] - 1
    here = Track(ts, lat, lon).near(depot)
    same = veh[1:] == veh[:-1]
    for k, first_at in enumerate(here[starts].tolist()):  # from the prior totals' last fix
        t = out[k]
        if t.at_depot is True and not first_at:
            t.exits.append(float(ts[starts[k]]))
        elif t.at_depot is False and first_at:
            t.returns.append(float(ts[starts[k]]))
    for i in np.nonzero(same & here[:-1] & ~here[1:])[0].tolist():
        out[veh[i + 1]].exits.append(float(ts[i + 1]))
    for i in np.nonzero(same & ~here[:-1] & here[1:])[0].tolist():
        out[veh[i + 1]].returns.append(float(ts[i + 1]))
    at_end = np.repeat(ts[ends], counts)
    ties = np.bincount(veh[ts == at_end], minlength=n).tolist()
    for k, (home_end, t_end, c) in enumerate(zip(here[ends].tolist(), ts[ends].tolist(),
                                                 counts.tolist(), strict=True)):  # fmt: skip
        t = out[k]
        t.seen_n = ties[k] + (t.seen_n if t.seen == t_end else 0)
        t.at_depot, t.seen, t.fixes = bool(home_end), float(t_end), t.fixes + int(c)
    # Thinned as :func:`thin` does each trail: the first fix of each slot, none in the
    # slot of the newest fix already measured.
    slot = np.floor(ts / THIN_S)
    first = np.ones(len(ts), dtype=bool)
    first[1:] = ~same | (slot[1:] != slot[:-1])
    taken = np.array([math.floor(p.tail[-1][0] / THIN_S) if p is not None and p.tail
                      else -math.inf for p in prior])  # fmt: skip
    first &= slot > taken[veh]
    # Each vehicle's kept tail, then its new thinned fixes.
    pieces: list[np.ndarray] = []
    owners: list[np.ndarray] = []
    chosen = np.nonzero(first)[0]
    cut = np.searchsorted(veh[chosen], np.arange(n + 1))
    fresh = np.column_stack([ts, lat, lon])
    redo = np.full(n, np.inf)  # the first bucket summed again, per vehicle
    for k in range(n):
        tail = out[k].tail
        if tail:
            pieces.append(np.array(tail, dtype=np.float64).reshape(-1, 3))
            owners.append(np.full(len(tail), k))
            redo[k] = math.floor(tail[0][0] / BUCKET_S) * BUCKET_S
        rows = chosen[cut[k] : cut[k + 1]]
        pieces.append(fresh[rows])
        owners.append(np.full(len(rows), k))
    seq = np.concatenate(pieces)
    ts, lat, lon = seq[:, 0].copy(), seq[:, 1].copy(), seq[:, 2].copy()
    veh = np.concatenate(owners).astype(np.int64)
    last = np.searchsorted(veh, np.arange(n + 1))
    bucket_of = (np.floor(ts / BUCKET_S) * BUCKET_S).astype(np.int64)
    for k in range(n):
        a, b = int(last[k]), int(last[k + 1])
        if b > a:
            top = bucket_of[b - 1]
            out[k].tail = seq[a:b][bucket_of[a:b] == top].tolist()
    track = Track(ts, lat, lon)
    home = track.near(depot)
    pair = veh[1:] == veh[:-1]
    steps, dt, ok, still = _steps(track)
    moving = ok & ~still
    idx = np.nonzero(pair)[0]
    if not len(idx):
        return out
    owner = veh[idx]
    bucket = bucket_of[idx]
    heads_mask = np.ones(len(idx), dtype=bool)
    heads_mask[1:] = (owner[1:] != owner[:-1]) | (bucket[1:] != bucket[:-1])
    group = np.cumsum(heads_mask) - 1
    sums = np.zeros((int(group[-1]) + 1, 3))
    for col, (values, mask) in enumerate(((steps, moving), (dt, moving), (dt, still))):
        sel = mask[idx]
        if not sel.any():
            continue
        g = group[sel]
        v = values[idx][sel]
        at = np.nonzero(np.concatenate([[True], g[1:] != g[:-1]]))[0]
        sums[g[at], col] = np.add.reduceat(v, at)  # as :func:`fold_trails` sums them
    heads = np.nonzero(heads_mask)[0]
    for gi, (k, b) in enumerate(zip(owner[heads].tolist(), bucket[heads].tolist(),
                                    strict=True)):  # fmt: skip
        sums_of[k][b] = sums[gi].tolist()
    # The steps stood still away from the depot: those of the buckets summed again
    # replace the kept ones.
    away = idx[(still & ~home[:-1] & ~home[1:])[idx]]
    rows = np.column_stack([bucket_of[away].astype(np.float64), dt[away], lat[away],
                            lon[away], lat[away + 1], lon[away + 1]])  # fmt: skip
    split = np.searchsorted(veh[away], np.arange(n + 1))
    for k in range(n):
        mine = rows[split[k] : split[k + 1]]
        kept = out[k].still
        if len(kept):
            kept = kept[kept[:, 0] < redo[k]]
        if len(mine) or len(kept) != len(out[k].still):
            out[k].still = np.concatenate([kept, mine]) if len(kept) else mine
    return out


def tallies_of(
    totals: Sequence[TrailTotals], stops: Sequence[Sequence[Location]], depot: Location
) -> list[TrackTally]:
    """Each vehicle's :class:`TrackTally` (idle time against its route's ``stops``) from
    its kept totals: the same as :func:`fold_trails` over its whole trail."""
    idle_at: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    counts = [len(t.still) for t in totals]
    if sum(counts):
        arr = np.concatenate([t.still for t in totals if len(t.still)])
        veh = np.repeat(np.arange(len(totals)), counts)
        away = np.ones(len(arr), dtype=bool)
        widest = max((len(s) for s in stops), default=0)
        for j in range(widest):
            s_lat = np.array([s[j].lat if j < len(s) else np.nan for s in stops])
            s_lon = np.array([s[j].lon if j < len(s) else np.nan for s in stops])
            s_k = np.array([math.cos(math.radians(s[j].lat)) * 111_320.0 if j < len(s)
                            else np.nan for s in stops])  # fmt: skip
            for la, lo in ((2, 3), (4, 5)):
                dx = (arr[:, lo] - s_lon[veh]) * s_k[veh]
                dy = (arr[:, la] - s_lat[veh]) * 110_574.0
                away &= ~(dx * dx + dy * dy <= AT_DEPOT_M * AT_DEPOT_M)
        sel = np.nonzero(away)[0]
        if len(sel):
            owner, bucket, v = veh[sel], arr[sel, 0], arr[sel, 1]
            at = np.nonzero(np.concatenate([[True], (owner[1:] != owner[:-1])
                                            | (bucket[1:] != bucket[:-1])]))[0]  # fmt: skip
            idle_at = (owner[at], bucket[at].astype(np.int64), np.add.reduceat(v, at))
    # Every vehicle's bucket rows as one array, then each one's idle column: the idle
    # totals set at their (vehicle, bucket) rows, 0.0 elsewhere.
    grids = [_bucket_grid(t.buckets) for t in totals]
    sizes = [len(g[0]) for g in grids]
    cuts = np.cumsum([0, *sizes])
    starts = np.concatenate([g[0] for g in grids]) if grids else np.zeros(0, np.int64)
    table = np.zeros((len(starts), 4))
    if len(starts):
        table[:, :3] = np.concatenate([g[1] for g in grids])
    if idle_at is not None and len(starts):
        owner_of = np.repeat(np.arange(len(totals)), sizes)
        code = owner_of * _CODE + starts // BUCKET_S
        order = np.argsort(code, kind="stable")
        wanted = idle_at[0].astype(np.int64) * _CODE + idle_at[1] // BUCKET_S
        pos = np.minimum(np.searchsorted(code[order], wanted), len(code) - 1)
        hit = (code[order][pos] == wanted) & (starts[order[pos]] == idle_at[1])
        table[order[pos[hit]], 3] = idle_at[2][hit]
    out = []
    for k, t in enumerate(totals):
        a, b = int(cuts[k]), int(cuts[k + 1])
        last = tuple(t.tail[-1]) if t.tail else None
        out.append(TrackTally(last, t.fixes, BucketRows(starts[a:b], table[a:b]),  # type: ignore[arg-type]
                              list(t.exits), list(t.returns), t.at_depot, t.seen))  # fmt: skip
    return out


#: Vehicle and bucket as one code in :func:`tallies_of` (bucket numbers stay below it).
_CODE = 1 << 32


def _bucket_grid(buckets: Mapping[int, list[float]]) -> tuple[np.ndarray, np.ndarray]:
    """A vehicle's bucket starts (int64) and [metres, moving, still] rows, in order."""
    if isinstance(buckets, BucketRows):
        return buckets.starts, buckets.rows
    if not buckets:
        return np.zeros(0, np.int64), np.zeros((0, 3))
    return np.array(list(buckets), dtype=np.int64), np.array(list(buckets.values()))
