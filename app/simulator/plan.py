"""Plans for the simulator when none is given: a quick sweep plan, or a synthetic fleet.

``sweep_plan`` cuts a day's orders into routes by angle around the depot (capacity
permitting) and orders each route nearest-first — good enough to drive vehicles around
realistically, not an optimiser. ``synthetic_day`` makes a day with no files at all (the
load generator's fleet of any size around a point).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from engine.eta import TravelTimes
from engine.model import (
    DayInput,
    Depot,
    Location,
    Order,
    Plan,
    Route,
    RouteStatus,
    Stop,
    TimeWindow,
    Vehicle,
)

CITY_CENTER = Location(40.7608, -111.8910)


def sweep_plan(
    day: DayInput,
    *,
    depot_id: str | None = None,
    travel: TravelTimes | None = None,
    max_stops: int = 18,
    start: time = time(8, 0),
) -> Plan:
    """Routes by angle sweep around the depot, nearest-neighbour inside each, with times."""
    depot = day.depot(depot_id) if depot_id else day.depots[0]
    travel = travel or TravelTimes(fallback_speed_kmh=30.0)
    vehicles = [v for v in day.vehicles if v.depot_id == depot.id]
    orders = sorted(
        (o for o in day.orders if o.depot_id == depot.id),
        key=lambda o: math.atan2(
            o.location.lat - depot.location.lat, o.location.lon - depot.location.lon
        ),
    )
    per_vehicle = max(1, min(max_stops, math.ceil(len(orders) / max(1, len(vehicles)))))
    routes: list[Route] = []
    start_at = datetime.combine(day.day, start, tzinfo=ZoneInfo(depot.timezone))
    i = 0
    for v in vehicles:
        group: list[Order] = []
        load: dict[str, float] = {}
        while i < len(orders) and len(group) < per_vehicle:
            o = orders[i]
            if not v.can_carry({d: load.get(d, 0) + a for d, a in o.demand.items()}):
                break
            group.append(o)
            for d, a in o.demand.items():
                load[d] = load.get(d, 0) + a
            i += 1
        if group:
            routes.append(
                _timed_route(
                    f"R-{v.id}",
                    v,
                    _nearest_first(depot.location, group),
                    depot.location,
                    start_at,
                    travel,
                )
            )
    return Plan(f"sim-{day.day:%Y%m%d}", depot.id, day.day, tuple(routes))


def _nearest_first(origin: Location, group: list[Order]) -> list[Order]:
    left, out, here = list(group), [], origin
    while left:
        nxt = min(
            left,
            key=lambda o: (
                (o.location.lat - here.lat) ** 2 + ((o.location.lon - here.lon) * 0.76) ** 2
            ),
        )
        left.remove(nxt)
        out.append(nxt)
        here = nxt.location
    return out


def _timed_route(
    rid: str,
    v: Vehicle,
    group: Sequence[Order],
    depot: Location,
    start: datetime,
    travel: TravelTimes,
) -> Route:
    t, here, stops = start, depot, []
    for o in group:
        arrive = t + timedelta(seconds=travel.seconds(here, o.location))
        begin = max(arrive, o.earliest)
        stops.append(Stop(o.id, planned_arrival=arrive, planned_departure=begin + o.service_time))
        t, here = begin + o.service_time, o.location
    end = t + timedelta(seconds=travel.seconds(here, depot))
    return Route(rid, v.id, tuple(stops), status=RouteStatus.ACTIVE, start=start, end=end)


def synthetic_day(
    vehicles: int,
    *,
    seed: int = 0,
    day: date | None = None,
    center: Location | None = None,
    radius_km: float = 12.0,
    stops_per_vehicle: int = 12,
) -> DayInput:
    """A depot at ``center`` with ``vehicles`` vans and orders scattered around it."""
    day = day or datetime.now(UTC).date()
    center = center or CITY_CENTER
    rng = np.random.default_rng(seed)
    depot = Depot("SIM", "Simulated depot", center)
    fleet = tuple(Vehicle(f"V{i + 1:04d}", "SIM", {"kg": 1000.0}) for i in range(vehicles))
    n = vehicles * stops_per_vehicle
    r = radius_km * np.sqrt(rng.random(n))
    a = 2 * math.pi * rng.random(n)
    lat = center.lat + r * np.sin(a) / 111.0
    lon = center.lon + r * np.cos(a) / (111.0 * math.cos(math.radians(center.lat)))
    base = datetime.combine(day, time(8, 0), tzinfo=UTC)
    orders = []
    for k in range(n):
        slot = int(rng.integers(0, 4))
        w = TimeWindow(base + timedelta(hours=2 * slot), base + timedelta(hours=2 * slot + 4))
        orders.append(
            Order(
                f"S{k + 1:06d}",
                "SIM",
                Location(float(lat[k]), float(lon[k])),
                {"kg": float(rng.integers(5, 40))},
                (w,),
                service_time=timedelta(minutes=int(rng.integers(2, 8))),
            )
        )
    return DayInput(day, (depot,), fleet, (), tuple(orders))
