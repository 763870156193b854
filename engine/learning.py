"""Learning from history: service times per address and customer, travel-time factors per
zone and hour, and the planner's and live ETAs' inputs made from them.

Pure functions over plain records (:class:`Visit`, :class:`DrivenLeg`) that the store (or a
benchmark driving the digital twin) supplies.

**Service times** are learned as the log of observed over planned service
(``log(observed / planned)``), with partial pooling down a hierarchy: every visit → its
zone → its customer → its address. Each level's estimate is shrunk towards its parent by
the normal–normal empirical Bayes weight ``n / (n + sigma² / tau²)``: ``sigma²`` is the
spread of single visits around their group, ``tau²`` the spread of true group values around
the parent (both estimated from the history by the method of moments). An address seen
once moves a little from its customer's value; a customer seen twenty times stands on its
own data; a customer never seen gets its zone's value, an empty zone the depot's.

**Travel factors** are ``actual seconds / model seconds`` of driven legs (the model at free
flow, as the planner and the live ETAs use it), in logs, fitted as
``theta(leg) = hour[h] + sum_z w_z * (zone[z] + zone_hour[z, h])`` where ``w_z`` is the
share of the leg's straight line in zone ``z`` (``ZoneGrid``) and ``h`` the local hour it
set off. Penalised least squares (``scipy.sparse.linalg.lsqr`` on a design with penalty
rows) shrinks hours towards the day, zones towards zero and zone-hours towards their zone;
the penalties are the empirical Bayes ratios ``sigma² / tau²`` (re-estimated twice from the
fitted spread). A zone never driven gets the hour's factor.

The fitted spread also gives an ETA band (:func:`eta_band`): the 90th percentile of an
arrival from the service and travel uncertainty of the stops and legs before it.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from engine.model import DayInput, Location, Order
from engine.travel import TravelMatrices, TravelModel, travel_between

#: Observed/planned service ratios outside this range are data errors (a stop event sent
#: twice, a van left standing), not service: they are left out of the learning.
RATIO_RANGE = (0.1, 10.0)
#: Travel ratios outside this range are left out too (a leg with a break in it, a detour).
TRAVEL_RANGE = (0.25, 4.0)
#: Legs whose model time is shorter than this say more about GPS and kerbs than streets.
MIN_LEG_S = 60.0
#: Straight-line samples per leg for its zone shares (the same when learning and predicting).
LEG_SAMPLES = 7
Z90 = 1.2815515655446004  # the standard normal's 90th percentile


# -- zones -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ZoneGrid:
    """Square zones of ``size_m`` metres on a local plane around ``origin`` (named
    ``"col:row"``; the plane is equirectangular, exact enough over a city)."""

    origin: Location
    size_m: float = 2000.0

    def __post_init__(self) -> None:
        if not self.size_m > 0:
            raise ValueError(f"zone size: must be positive, got {self.size_m}")

    def cells(self, lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(column, row) of each point, as integer arrays."""
        k = math.cos(math.radians(self.origin.lat)) * 111_320.0
        x = (np.asarray(lon, dtype=np.float64) - self.origin.lon) * k
        y = (np.asarray(lat, dtype=np.float64) - self.origin.lat) * 110_574.0
        return (
            np.floor(x / self.size_m).astype(np.int64),
            np.floor(y / self.size_m).astype(np.int64),
        )

    def zone(self, where: Location) -> str:
        col, row = self.cells(np.array([where.lat]), np.array([where.lon]))
        return f"{int(col[0])}:{int(row[0])}"

    def leg_shares(self, a: Location, b: Location) -> dict[str, float]:
        """The share of the straight line from ``a`` to ``b`` in each zone."""
        u = (np.arange(LEG_SAMPLES) + 0.5) / LEG_SAMPLES
        cols, rows = self.cells(a.lat + (b.lat - a.lat) * u, a.lon + (b.lon - a.lon) * u)
        out: dict[str, float] = {}
        for c, r in zip(cols.tolist(), rows.tolist(), strict=True):
            key = f"{c}:{r}"
            out[key] = out.get(key, 0.0) + 1.0 / LEG_SAMPLES
        return out

    def to_json(self) -> dict[str, Any]:
        return {"lat": self.origin.lat, "lon": self.origin.lon, "size_m": self.size_m}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ZoneGrid:
        return cls(Location(float(data["lat"]), float(data["lon"])), float(data["size_m"]))


# -- the records history gives -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Visit:
    """One successful delivery: what was planned for it and how long service took."""

    order_id: str
    customer: str
    address: str
    location: Location
    planned_s: float
    observed_s: float


@dataclass(frozen=True, slots=True)
class DrivenLeg:
    """One drive between two points: when it set off, how long it took, and what the travel
    model (at free flow) says it takes."""

    start: Location
    end: Location
    depart: datetime
    seconds: float
    model_s: float


def _key(text: str) -> str:
    return " ".join(text.lower().split())


def _weighted_var(values: np.ndarray) -> float:
    return float(np.var(values)) if len(values) > 1 else 0.0


# -- shrinkage, the one rule both models use ------------------------------------------------


@dataclass(frozen=True, slots=True)
class Level:
    """One level of a hierarchy: per key, (visits, shrunk estimate)."""

    name: str
    estimates: Mapping[str, tuple[int, float]]
    tau2: float


def _shrink_level(
    name: str,
    residuals: Mapping[str, list[float]],
    parents: Mapping[str, list[float]],
    sigma2: float,
) -> Level:
    """Shrink each group's mean residual (against its parent's estimate) towards 0 with the
    empirical Bayes weight, and add it to the group's parent estimate (the mean of its
    visits' parent values: a customer seen in two zones stands between them)."""
    means = {k: float(np.mean(v)) for k, v in residuals.items() if v}
    counts = {k: len(v) for k, v in residuals.items() if v}
    # tau² by moments: the spread of group means less what their noise explains.
    if len(means) >= 3:
        m = np.array(list(means.values()))
        n = np.array([counts[k] for k in means])
        tau2 = max(1e-4, float(np.mean(m**2)) - sigma2 * float(np.mean(1.0 / n)))
    else:
        tau2 = 1e-4
    ratio = sigma2 / tau2
    out = {
        k: (counts[k], float(np.mean(parents[k])) + means[k] * counts[k] / (counts[k] + ratio))
        for k in means
    }
    return Level(name, out, tau2)


# -- service times ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceProfile:
    """Learned service times: a log ratio per address, customer and zone, and the default.

    ``predict(order)`` is the order's planned service times the ratio of the most specific
    level that knows it (address, then customer, then zone, then the depot's default).
    """

    grid: ZoneGrid
    default: float  # log ratio over every visit
    zones: Mapping[str, tuple[int, float]]
    customers: Mapping[str, tuple[int, float]]
    addresses: Mapping[str, tuple[int, float]]
    sigma_log: float  # spread of a single visit around its address/customer value
    visits: int = 0

    def log_ratio(self, order: Order) -> tuple[float, str]:
        """(log observed/planned, the level it came from) for an order."""
        hit = self.addresses.get(_key(order.address)) if order.address else None
        if hit is not None:
            return hit[1], "address"
        hit = self.customers.get(_key(order.customer or order.address))
        if hit is not None:
            return hit[1], "customer"
        hit = self.zones.get(self.grid.zone(order.location))
        if hit is not None:
            return hit[1], "zone"
        return self.default, "default"

    def predict(self, order: Order) -> timedelta:
        """The service time to expect at this order (its median)."""
        value, _ = self.log_ratio(order)
        return timedelta(seconds=order.service_time.total_seconds() * math.exp(value))

    def to_json(self) -> dict[str, Any]:
        return {
            "grid": self.grid.to_json(),
            "default": self.default,
            "zones": {k: list(v) for k, v in self.zones.items()},
            "customers": {k: list(v) for k, v in self.customers.items()},
            "addresses": {k: list(v) for k, v in self.addresses.items()},
            "sigma_log": self.sigma_log,
            "visits": self.visits,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ServiceProfile:
        def table(name: str) -> dict[str, tuple[int, float]]:
            return {k: (int(v[0]), float(v[1])) for k, v in data.get(name, {}).items()}

        return cls(
            ZoneGrid.from_json(data["grid"]),
            float(data["default"]),
            table("zones"),
            table("customers"),
            table("addresses"),
            float(data["sigma_log"]),
            int(data.get("visits", 0)),
        )

    @classmethod
    def empty(cls, grid: ZoneGrid) -> ServiceProfile:
        """No history: every order keeps its planned service time."""
        return cls(grid, 0.0, {}, {}, {}, 0.3, 0)


def learn_service_times(visits: Iterable[Visit], grid: ZoneGrid) -> ServiceProfile:
    """Service-time ratios with the fall-back address → customer → zone → default."""
    rows = [
        v
        for v in visits
        if v.planned_s > 0
        and v.observed_s > 0
        and RATIO_RANGE[0] <= v.observed_s / v.planned_s <= RATIO_RANGE[1]
    ]
    if not rows:
        return ServiceProfile.empty(grid)
    r = np.log(np.array([v.observed_s / v.planned_s for v in rows]))
    default = float(np.median(r))
    zone_of = [grid.zone(v.location) for v in rows]
    cust_of = [_key(v.customer or v.address) for v in rows]
    addr_of = [_key(v.address) if v.address else "" for v in rows]
    # sigma²: the spread of single visits within their customer (the finest level that
    # repeats in practice); with no repeats, the whole spread.
    by_cust: dict[str, list[float]] = defaultdict(list)
    for c, x in zip(cust_of, r.tolist(), strict=True):
        by_cust[c].append(x)
    within = [x - float(np.mean(v)) for v in by_cust.values() if len(v) > 1 for x in v]
    dof = sum(len(v) - 1 for v in by_cust.values() if len(v) > 1)
    total = _weighted_var(r)
    sigma2 = float(np.sum(np.square(within)) / dof) if dof >= 5 else max(total, 1e-3)
    sigma2 = max(sigma2, 1e-4)

    def grouped(
        keys: Sequence[str], base: Sequence[float]
    ) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
        residuals: dict[str, list[float]] = defaultdict(list)
        parents: dict[str, list[float]] = defaultdict(list)
        for k, x, b in zip(keys, r.tolist(), base, strict=True):
            if k:
                residuals[k].append(x - b)
                parents[k].append(b)
        return residuals, parents

    zones = _shrink_level("zone", *grouped(zone_of, [default] * len(rows)), sigma2)
    z_base = [zones.estimates[z][1] if z in zones.estimates else default for z in zone_of]
    customers = _shrink_level("customer", *grouped(cust_of, z_base), sigma2)
    c_base = [customers.estimates[c][1] if c in customers.estimates else zb
              for c, zb in zip(cust_of, z_base, strict=True)]  # fmt: skip
    addresses = _shrink_level("address", *grouped(addr_of, c_base), sigma2)
    return ServiceProfile(
        grid,
        default,
        dict(zones.estimates),
        dict(customers.estimates),
        dict(addresses.estimates),
        math.sqrt(sigma2),
        len(rows),
    )


#: Plans budget each stop's service at its learned median times ``exp(z * sigma)``: with
#: z = 1 about the 84th percentile of what history shows, so a route keeps the margin its
#: stops' spread needs (README, "Learning from history", has the figures on the twin).
#: ETAs use the median (z = 0): the best single guess.
PLAN_SERVICE_Z = 1.0


def with_learned_service(
    day: DayInput, profile: ServiceProfile, z: float = PLAN_SERVICE_Z
) -> DayInput:
    """The day with every order's service time as history says it takes, planned at the
    median times ``exp(z * sigma)`` (see :data:`PLAN_SERVICE_Z`)."""
    return replace(day, orders=tuple(learned_orders(day.orders, profile, z)))


def learned_orders(orders: Iterable[Order], profile: ServiceProfile, z: float = 0.0) -> list[Order]:
    """Orders with their learned service times (the median, or ``z`` spreads above it;
    rounded to the second)."""
    out = []
    margin = math.exp(z * profile.sigma_log) if profile.visits else 1.0
    for o in orders:
        seconds = round(profile.predict(o).total_seconds() * margin)
        out.append(o if seconds == o.service_time.total_seconds() else
                   replace(o, service_time=timedelta(seconds=seconds)))  # fmt: skip
    return out


# -- travel factors --------------------------------------------------------------------------


@dataclass(frozen=True)
class TravelProfile:
    """Learned travel-time factors (actual / model at free flow) by zone and local hour."""

    grid: ZoneGrid
    timezone: str
    base: float  # log factor over every leg
    hours: Mapping[int, float]  # hour -> log factor (shrunk to base)
    zones: Mapping[str, float]  # zone -> log offset (all hours)
    zone_hours: Mapping[str, float]  # "zone@hour" -> log offset on top of the zone's
    sigma_log: float  # spread of a single leg around its fitted factor
    legs: int = 0
    day_hours: tuple[int, ...] = (8, 9, 10, 11, 12, 13, 14, 15, 16, 17)
    #: hour -> share of the history's driving (its legs' actual seconds) set off in that
    #: local hour: the weights of the day's mean factor (empty: ``day_hours`` alike).
    hour_weights: Mapping[int, float] = field(default_factory=dict)
    _tz: ZoneInfo = field(init=False, repr=False, compare=False)
    _memo: dict[tuple[Location, Location, int], float] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "_tz", ZoneInfo(self.timezone))
        object.__setattr__(self, "_memo", {})

    def hour_of(self, moment: datetime) -> int:
        return moment.astimezone(self._tz).hour

    def mean_hours(self) -> list[tuple[int, float]]:
        """(hour, weight) of the day's mean factor, the weights summing to 1: the hours the
        fleet drove in the history, by how much it drove in each (a rush hour the vans
        spend on the road counts for more than an evening they are back), else the
        working day's hours alike."""
        total = sum(w for w in self.hour_weights.values() if w > 0)
        if total > 0:
            return [(h, w / total) for h, w in sorted(self.hour_weights.items()) if w > 0]
        return [(h, 1.0 / len(self.day_hours)) for h in self.day_hours]

    def log_factor(self, shares: Mapping[str, float], hour: int) -> float:
        value = self.hours.get(hour, self.base)
        for zone, w in shares.items():
            value += w * (self.zones.get(zone, 0.0) + self.zone_hours.get(f"{zone}@{hour}", 0.0))
        return value

    def factor(
        self, a: Location, b: Location, depart: datetime | int | None, *, keep: bool = True
    ) -> float:
        """actual/model seconds of a drive from ``a`` to ``b`` setting off at ``depart`` (a
        time, a local hour, or None: the working day's mean). Remembered per leg and hour
        unless ``keep`` is false: a leg from a van's live position is asked once (2,000
        vans put 120,000 such legs a minute into the memo, some 100 MB before its bound)."""
        if depart is None:
            return math.exp(
                sum(w * math.log(self.factor(a, b, h, keep=keep)) for h, w in self.mean_hours())
            )
        hour = depart if isinstance(depart, int) else self.hour_of(depart)
        key = (a, b, hour)
        hit = self._memo.get(key)
        if hit is None:
            hit = math.exp(self.log_factor(self.grid.leg_shares(a, b), hour))
            if keep:
                if len(self._memo) > 500_000:
                    self._memo.clear()
                self._memo[key] = hit
        return hit

    def factor_matrix(self, points: Sequence[Location], hour: int | None) -> np.ndarray:
        """Factors between every pair of ``points`` at a local hour (None: the day's mean,
        weighted as :meth:`mean_hours`)."""
        n = len(points)
        lat = np.array([p.lat for p in points])
        lon = np.array([p.lon for p in points])
        u = (np.arange(LEG_SAMPLES) + 0.5) / LEG_SAMPLES
        lat_s = lat[:, None, None] + (lat[None, :, None] - lat[:, None, None]) * u
        lon_s = lon[:, None, None] + (lon[None, :, None] - lon[:, None, None]) * u
        cols, rows = self.grid.cells(lat_s.ravel(), lon_s.ravel())
        keys = np.stack([cols, rows], axis=1)
        unique, inverse = np.unique(keys, axis=0, return_inverse=True)
        names = [f"{int(c)}:{int(r)}" for c, r in unique]
        hours = self.mean_hours() if hour is None else [(hour, 1.0)]
        total = np.zeros(n * n)
        for h, w in hours:
            per_zone = np.array(
                [self.zones.get(z, 0.0) + self.zone_hours.get(f"{z}@{h}", 0.0) for z in names]
            )
            sample = per_zone[inverse.ravel()].reshape(n * n, LEG_SAMPLES)
            total += w * (self.hours.get(h, self.base) + sample.mean(axis=1))
        out: np.ndarray = np.exp(total).reshape(n, n)
        np.fill_diagonal(out, 1.0)
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "grid": self.grid.to_json(),
            "timezone": self.timezone,
            "base": self.base,
            "hours": {str(h): v for h, v in self.hours.items()},
            "zones": dict(self.zones),
            "zone_hours": dict(self.zone_hours),
            "sigma_log": self.sigma_log,
            "legs": self.legs,
            "day_hours": list(self.day_hours),
            "hour_weights": {str(h): w for h, w in self.hour_weights.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TravelProfile:
        return cls(
            ZoneGrid.from_json(data["grid"]),
            str(data["timezone"]),
            float(data["base"]),
            {int(h): float(v) for h, v in data.get("hours", {}).items()},
            {str(k): float(v) for k, v in data.get("zones", {}).items()},
            {str(k): float(v) for k, v in data.get("zone_hours", {}).items()},
            float(data["sigma_log"]),
            int(data.get("legs", 0)),
            tuple(int(h) for h in data.get("day_hours", range(8, 18))),
            {int(h): float(w) for h, w in (data.get("hour_weights") or {}).items()},
        )

    @classmethod
    def empty(cls, grid: ZoneGrid, timezone: str) -> TravelProfile:
        """No history: every drive takes what the model says."""
        return cls(grid, timezone, 0.0, {}, {}, {}, 0.25, 0)


def learn_travel_factors(
    legs: Iterable[DrivenLeg], grid: ZoneGrid, timezone: str, *, rounds: int = 3
) -> TravelProfile:
    """Zone × hour travel factors from driven legs (see the module for the model)."""
    tz = ZoneInfo(timezone)
    rows = [
        leg
        for leg in legs
        if leg.model_s >= MIN_LEG_S
        and TRAVEL_RANGE[0] <= leg.seconds / leg.model_s <= TRAVEL_RANGE[1]
    ]
    if len(rows) < 10:
        return TravelProfile.empty(grid, timezone)
    y = np.log(np.array([leg.seconds / leg.model_s for leg in rows]))
    base = float(np.median(y))
    hours = [leg.depart.astimezone(tz).hour for leg in rows]
    shares = [grid.leg_shares(leg.start, leg.end) for leg in rows]
    hour_ids = sorted(set(hours))
    zone_ids = sorted({z for s in shares for z in s})
    cell_ids = sorted({f"{z}@{h}" for s, h in zip(shares, hours, strict=True) for z in s})
    h_col = {h: i for i, h in enumerate(hour_ids)}
    z_col = {z: len(hour_ids) + i for i, z in enumerate(zone_ids)}
    c_col = {c: len(hour_ids) + len(zone_ids) + i for i, c in enumerate(cell_ids)}
    width = len(hour_ids) + len(zone_ids) + len(cell_ids)
    data, ri, ci = [], [], []
    for i, (s, h) in enumerate(zip(shares, hours, strict=True)):
        data.append(1.0)
        ri.append(i)
        ci.append(h_col[h])
        for z, w in s.items():
            data += [w, w]
            ri += [i, i]
            ci += [z_col[z], c_col[f"{z}@{h}"]]
    from scipy.sparse import csr_matrix, vstack  # imported when used: slow to import
    from scipy.sparse.linalg import lsqr

    design = csr_matrix((data, (ri, ci)), shape=(len(rows), width))
    target = y - base
    sigma2, tau2 = max(float(np.var(target)), 1e-4), {"h": 0.01, "z": 0.01, "c": 0.005}
    coef = np.zeros(width)
    kinds = np.array(["h"] * len(hour_ids) + ["z"] * len(zone_ids) + ["c"] * len(cell_ids))
    for _ in range(rounds):
        penalty = np.sqrt(np.array([sigma2 / tau2[k] for k in kinds]))
        aug = vstack([design, csr_matrix((penalty, (np.arange(width), np.arange(width))))])
        rhs = np.concatenate([target, np.zeros(width)])
        coef = lsqr(aug, rhs, atol=1e-10, btol=1e-10, iter_lim=5000)[0]
        resid = target - design @ coef
        sigma2 = max(float(np.mean(resid**2)), 1e-4)
        for k in tau2:  # the fitted spread of each kind, plus what shrinking took from it
            part = coef[kinds == k]
            if len(part) >= 3:
                tau2[k] = max(1e-4, float(np.mean(part**2)) + 1e-4)
    return TravelProfile(
        grid,
        timezone,
        base,
        {h: base + float(coef[h_col[h]]) for h in hour_ids},
        {z: float(coef[z_col[z]]) for z in zone_ids},
        {c: float(coef[c_col[c]]) for c in cell_ids},
        math.sqrt(sigma2),
        len(rows),
        hour_weights=_driving_by_hour(rows, hours),
    )


def _driving_by_hour(legs: Sequence[DrivenLeg], hours: Sequence[int]) -> dict[int, float]:
    """Local hour -> the share of the legs' driving (actual seconds) set off in it."""
    seconds: dict[int, float] = defaultdict(float)
    for leg, h in zip(legs, hours, strict=True):
        seconds[h] += leg.seconds
    total = sum(seconds.values())
    return {h: round(v / total, 6) for h, v in sorted(seconds.items())} if total > 0 else {}


class LearnedTravelModel:
    """A travel model whose durations are another model's at free flow times the learned
    factors: at the departure's local hour, or (no departure) the working day's mean.

    The planner accepts it like any ``TravelModel``; distances are the base model's.
    """

    def __init__(self, base: TravelModel, profile: TravelProfile) -> None:
        self.base = base
        self.profile = profile

    def _hour(self, depart: datetime | None) -> int | None:
        return None if depart is None else self.profile.hour_of(depart)

    def matrices(
        self, points: Sequence[Location], depart: datetime | None = None
    ) -> TravelMatrices:
        mats = self.base.matrices(points, None)
        factors = self.profile.factor_matrix(points, self._hour(depart))
        return TravelMatrices(mats.distance_m, mats.duration_s * factors)

    def matrices_between(
        self,
        sources: Sequence[Location],
        targets: Sequence[Location],
        depart: datetime | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        distance, duration = travel_between(self.base, sources, targets, None)
        hour = self._hour(depart)
        factors = np.array(
            [[self.profile.factor(a, b, hour) for b in targets] for a in sources]
        ).reshape(len(sources), len(targets))
        return np.asarray(distance), np.asarray(duration) * factors

    def time_key(self, depart: datetime | None) -> int | None:
        return self._hour(depart)


# -- the ETA band ------------------------------------------------------------------------


def eta_band(
    legs_s: Sequence[float], services_s: Sequence[float], travel_sigma: float, service_sigma: float
) -> float:
    """Seconds from the median arrival to its 90th percentile at the last of a run of stops,
    given the drives (``legs_s``) and the services (``services_s``) before it: each a
    lognormal error of its own, summed as independent (a normal approximation)."""
    var = sum((s * travel_sigma) ** 2 for s in legs_s)
    var += sum((s * service_sigma) ** 2 for s in services_s)
    return Z90 * math.sqrt(var)
