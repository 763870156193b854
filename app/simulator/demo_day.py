"""The demo day: a depot on the west side of Salt Lake City, its fleet, drivers and orders.

Everything is drawn from one seeded generator, so a seed and a day always give the same
day (and byte-identical files). Orders lie on real streets of the shipped street network
(© OpenStreetMap contributors); names are invented and addresses are made up from the
city's street grid, so no real person appears.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from app.roads.library import open_network
from engine.model import (
    Break,
    DayInput,
    Depot,
    Dock,
    Driver,
    Location,
    Order,
    TimeWindow,
    Vehicle,
    Wave,
)
from engine.roads import DEMO_CITY_NETWORK, NO_DELIVERY, StreetNetwork

log = logging.getLogger(__name__)

DEMO_TIMEZONE = "America/Denver"
DEPOT_ID = "SLC-W"
#: Near the warehouses between the airport and the Jordan River: the depot snaps to a street here.
DEPOT_NEAR = (40.7560, -111.9600)
#: Salt Lake City's address grid starts at Main St & South Temple; 800 numbers to the mile.
GRID_ORIGIN = (40.76907, -111.89105)
GRID_PER_M = 800.0 / 1609.344

#: (type, count, capacity kg, capacity m3, cost/km, cost/hour, fixed cost, refrigerated count)
FLEET = (
    ("van", 17, 800.0, 8.0, 0.45, 32.0, 60.0, 3),
    ("box_truck", 8, 3000.0, 20.0, 0.85, 38.0, 120.0, 2),
)
#: (start, end, break earliest, break latest, wave): early and late shifts alternate.
SHIFTS = (
    (time(7, 0), time(16, 0), time(11, 0), time(13, 0), "W1"),
    (time(10, 0), time(19, 0), time(14, 0), time(16, 0), "W2"),
)
ORDER_COUNT = 400
#: Docks: (name, minutes per order). Dock 3 is the slow one (an old leveller, one loader).
DOCKS = (("Dock 1", 1.0), ("Dock 2", 1.0), ("Dock 3", 2.0), ("Dock 4", 1.0), ("Dock 5", 1.0))
#: Waves: (id, cut-off, departures from, to, dock numbers). The early shift leaves with W1.
WAVES = (
    ("W1", time(6, 0), time(7, 15), time(8, 0), (1, 2, 3, 4)),
    ("W2", time(9, 0), time(10, 15), time(11, 0), (1, 2, 3, 4, 5)),
)
#: Orders that come in on the day itself, after W1's cut-off (they go with W2).
LATE_ORDERS = 6
SLOTS = (8, 10, 12, 14, 16)
TWO_WINDOWS = (((8, 10), (14, 16)), ((9, 11), (15, 17)), ((10, 12), (16, 18)))

_FIRST = (
    "Ava", "Ben", "Carmen", "Dev", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonah", "Kaia",
    "Luis", "Mara", "Nils", "Oren", "Priya", "Quinn", "Rosa", "Sam", "Tala", "Uma", "Vik",
    "Wren", "Yara", "Zane",
)  # fmt: skip
_LAST = (
    "Alder", "Brooks", "Castillo", "Dunn", "Ellis", "Fujita", "Garza", "Hale", "Ivers",
    "Jensen", "Kowal", "Lund", "Moreau", "Nakai", "Okafor", "Pratt", "Quist", "Reyes",
    "Sorensen", "Tran", "Ulloa", "Vance", "Whit", "Young", "Zeller",
)  # fmt: skip
_TRADES = (
    "Bakery", "Dental", "Hardware", "Florist", "Pharmacy", "Cafe", "Print Shop", "Bike Shop",
    "Deli", "Books", "Market", "Pet Supply", "Auto Parts", "Clinic", "Studio", "Grocers",
)  # fmt: skip


def demo_today() -> date:
    """Today in the demo city's time zone (the demo day's default)."""
    return datetime.now(ZoneInfo(DEMO_TIMEZONE)).date()


def grid_address(net: StreetNetwork, lat: float, lon: float, edge: int) -> str:
    """A made-up street address in the city's grid style, e.g. ``1234 S 900 E``."""
    y_m = (lat - GRID_ORIGIN[0]) * 111_132.0
    x_m = (lon - GRID_ORIGIN[1]) * 111_320.0 * np.cos(np.radians(GRID_ORIGIN[0]))
    gx, gy = x_m * GRID_PER_M, y_m * GRID_PER_M
    u, v = net.edge_u[edge], net.edge_v[edge]
    north_south = abs(net.node_y[u] - net.node_y[v]) >= abs(net.node_x[u] - net.node_x[v])
    along, across = (gy, gx) if north_south else (gx, gy)
    number = max(2, int(abs(along)) // 2 * 2 + (1 if across > 0 else 0))
    side = ("N" if along >= 0 else "S") if north_south else ("E" if along >= 0 else "W")
    block = int(round(abs(across) / 100.0)) * 100
    if north_south:
        street = "Main St" if block == 0 else f"{block} {'E' if across > 0 else 'W'}"
    else:
        street = "South Temple" if block == 0 else f"{block} {'N' if across > 0 else 'S'}"
    return f"{number} {side} {street}"


@dataclass(frozen=True)
class DemoSite:
    """Where a demo day happens: its depot (id, name, near which point), time zone, and how
    addresses are written (the shipped city's grid, or street names from the network)."""

    depot_id: str = DEPOT_ID
    depot_name: str = "Salt Lake West Depot"
    near: tuple[float, float] | None = DEPOT_NEAR  # None: the network's middle
    timezone: str = DEMO_TIMEZONE
    city: str = "Salt Lake City, UT"
    travel: str = ""
    street_names: tuple[str, ...] | None = None  # per edge; None: the shipped city's grid
    prefix: str = ""  # before vehicle, driver and order ids (ids are unique across depots)

    def address(self, net: StreetNetwork, lat: float, lon: float, edge: int, k: int) -> str:
        if self.street_names is None:
            return grid_address(net, lat, lon, edge)
        name = self.street_names[edge] or f"{net.edge_highway(edge).replace('_', ' ')} road"
        return f"{2 + (k * 7919) % 180} {name}"


#: The shipped demo: Salt Lake City's west side.
SLC_SITE = DemoSite()
#: The demo's other depots in the same city (for the control tower): smaller days, no
#: simulated fleet. (site, orders, vehicles)
NEIGHBOUR_SITES: tuple[tuple[DemoSite, int, int], ...] = (
    (DemoSite("SLC-N", "Salt Lake North Depot", (40.805, -111.905), prefix="N-"), 160, 10),
    (DemoSite("SLC-S", "Salt Lake South Depot", (40.625, -111.890), prefix="S-"), 120, 8),
)


def generate_demo_depots(seed: int = 7, day: date | None = None) -> list[DayInput]:
    """The demo's neighbouring depots' days (the main one is :func:`generate_demo_day`)."""
    net = open_network(DEMO_CITY_NETWORK)
    return [
        generate_demo_day(seed + 100 + k, day, net, orders=orders, vehicles=vehicles, site=site)
        for k, (site, orders, vehicles) in enumerate(NEIGHBOUR_SITES)
    ]


def site_for_network(
    name: str,
    network_path: Path,
    net: StreetNetwork,
    *,
    near: tuple[float, float] | None = None,
    timezone: str = "UTC",
    depot_id: str = "",
    depot_name: str = "",
) -> DemoSite:
    """A demo site on an imported street network: its depot, time zone and street names."""
    import pyarrow.parquet as pq

    names: tuple[str, ...] = ("",) * net.edge_count
    schema = pq.read_schema(network_path)
    if "name" in schema.names:
        column = pq.read_table(network_path, columns=["name"]).column("name")
        names = tuple(str(v or "") for v in column.to_pylist())
    title = name.replace("_", " ").replace("-", " ").title()
    return DemoSite(
        depot_id=depot_id or f"{name.upper().replace('_', '-')[:20]}-1",
        depot_name=depot_name or f"{title} Depot",
        near=near,
        timezone=timezone,
        city=title,
        travel=f"roads:{name}",
        street_names=names,
        prefix=f"{depot_id or name.upper()}-",
    )


def _depot(net: StreetNetwork, site: DemoSite = SLC_SITE) -> Depot:
    usable = np.array([c in ("tertiary", "unclassified", "secondary") for c in net.classes])
    if not usable.any():
        usable = np.array([c not in NO_DELIVERY for c in net.classes])
    on_usable = np.unique(
        np.concatenate([net.edge_u, net.edge_v])[np.tile(usable[net.edge_class], 2)]
    )
    if site.near is None:  # the middle of the network: the node nearest its median point
        x, y = float(np.median(net.node_x)), float(np.median(net.node_y))
    else:
        fx, fy = net.projection.forward(site.near[0], site.near[1])
        x, y = float(fx), float(fy)
    node = on_usable[np.argmin(np.hypot(net.node_x[on_usable] - x, net.node_y[on_usable] - y))]
    lat, lon = round(float(net.node_lat[node]), 6), round(float(net.node_lon[node]), 6)
    edge = int(np.flatnonzero((net.edge_u == node) | (net.edge_v == node))[0])
    docks = tuple(
        Dock(f"{site.depot_id}-{i}", name, load_minutes_per_order=rate)
        for i, (name, rate) in enumerate(DOCKS, start=1)
    )
    address = f"{site.address(net, lat, lon, edge, 0)}, {site.city}"
    return Depot(site.depot_id, site.depot_name, Location(lat, lon), site.timezone, docks,
                 address, site.travel)  # fmt: skip


def _fleet_mix(size: int | None) -> list[tuple]:
    """FLEET, or its mix of vans and trucks (and refrigerated ones) scaled to ``size``."""
    if size is None:
        return list(FLEET)
    total = sum(row[1] for row in FLEET)
    vans = round(size * FLEET[0][1] / total)
    counts = (vans, size - vans)
    return [
        (name, n, kg, m3, km, hour, fixed, min(n, round(cold * n / count)))
        for (name, count, kg, m3, km, hour, fixed, cold), n in zip(FLEET, counts, strict=True)
    ]


def _fleet(
    day: date, rng: np.random.Generator, size: int | None = None, site: DemoSite = SLC_SITE
) -> tuple[tuple[Vehicle, ...], tuple[Driver, ...]]:
    tz = ZoneInfo(site.timezone)
    depot_id = site.depot_id
    vehicles: list[Vehicle] = []
    drivers: list[Driver] = []
    for type_name, count, kg, m3, per_km, per_hour, fixed, cold in _fleet_mix(size):
        if not count:
            continue
        cold_at = set(np.linspace(0, count - 1, cold).round().astype(int).tolist())
        for i in range(count):
            vid = f"{site.prefix}V{len(vehicles) + 1:02d}"
            skills = {"tail_lift"} if type_name == "box_truck" else set()
            if i in cold_at:
                skills.add("refrigerated")
            label = "Van" if type_name == "van" else "Truck"
            vehicles.append(
                Vehicle(vid, depot_id, {"kg": kg, "m3": m3}, type_name, f"{label} {i + 1:02d}",
                        frozenset(skills), per_km, per_hour, fixed)
            )  # fmt: skip
    for n, vehicle in enumerate(vehicles):
        start, end, b_from, b_to, _ = SHIFTS[n % 2]
        at = lambda t: datetime.combine(day, t, tz)  # noqa: E731
        name = f"{_FIRST[rng.integers(len(_FIRST))]} {_LAST[rng.integers(len(_LAST))]}"
        brk = Break(at(b_from), at(b_to), timedelta(minutes=30))
        drivers.append(
            Driver(f"{site.prefix}D{n + 1:02d}", name, depot_id, at(start), at(end), (brk,),
                   vehicle_id=vehicle.id)
        )  # fmt: skip
    return tuple(vehicles), tuple(drivers)


def _windows(day: date, rng: np.random.Generator, tz: ZoneInfo) -> tuple[TimeWindow, ...]:
    at = lambda h: datetime.combine(day, time(h), tz)  # noqa: E731
    kind = rng.random()
    spans: tuple[tuple[int, int], ...]
    if kind < 0.25:
        spans = ((8, 12),)
    elif kind < 0.50:
        spans = ((13, 17),)
    elif kind < 0.90:
        h = int(SLOTS[rng.integers(len(SLOTS))])
        spans = ((h, h + 2),)
    else:
        spans = TWO_WINDOWS[rng.integers(len(TWO_WINDOWS))]
    return tuple(TimeWindow(at(a), at(b)) for a, b in spans)


def _demand(rng: np.random.Generator) -> tuple[dict[str, float], int, frozenset[str]]:
    """(demand, service minutes, skills): parcels mostly, some pallets, a few heavy loads."""
    kind = rng.random()
    if kind < 0.70:
        kg, m3, minutes = rng.uniform(3, 40), rng.uniform(0.02, 0.3), int(rng.integers(3, 6))
    elif kind < 0.96:
        kg, m3, minutes = rng.uniform(40, 160), rng.uniform(0.3, 1.2), int(rng.integers(5, 9))
    else:
        kg, m3, minutes = rng.uniform(250, 700), rng.uniform(1.2, 3.0), 10
    skills = {"tail_lift"} if kg > 400 else set()
    if rng.random() < 0.06:
        skills.add("refrigerated")
    return {"kg": round(kg, 1), "m3": round(m3, 2)}, minutes, frozenset(skills)


def generate_demo_day(
    seed: int = 7,
    day: date | None = None,
    network: StreetNetwork | None = None,
    *,
    orders: int = ORDER_COUNT,
    vehicles: int | None = None,
    site: DemoSite = SLC_SITE,
) -> DayInput:
    """A realistic, feasible day at the demo depot; the same seed and day give the same day.

    ``orders`` and ``vehicles`` size it (the benchmark's larger days; the fleet keeps its
    mix of vans and trucks); the defaults are the demo day. ``site`` puts the day on
    another network (its depot, time zone and street names: :func:`site_for_network`).
    """
    day = day or demo_today()
    net = network or open_network(DEMO_CITY_NETWORK)
    rng = np.random.default_rng([seed, day.toordinal()])
    depot = _depot(net, site)
    fleet, drivers = _fleet(day, rng, vehicles, site)
    tz = ZoneInfo(site.timezone)
    points = net.random_street_points(rng, orders)
    out: list[Order] = []
    for i in range(orders):
        lat, lon = round(float(points.lat[i]), 6), round(float(points.lon[i]), 6)
        windows = _windows(day, rng, tz)
        demand, minutes, skills = _demand(rng)
        priority = int(rng.choice([0, 1, 2], p=[0.87, 0.10, 0.03]))
        if rng.random() < 0.5:
            customer = f"{_LAST[rng.integers(len(_LAST))]} {_TRADES[rng.integers(len(_TRADES))]}"
        else:
            customer = f"{_FIRST[rng.integers(len(_FIRST))]} {_LAST[rng.integers(len(_LAST))]}"
        out.append(
            Order(
                id=f"{site.prefix}O{day:%Y%m%d}-{i + 1:04d}",
                depot_id=site.depot_id,
                location=Location(lat, lon),
                demand=demand,
                windows=windows,
                service_time=timedelta(minutes=minutes),
                skills=skills,
                priority=priority,
                customer=customer,
                address=site.address(net, lat, lon, int(points.edge[i]), i + 1),
                wave="W1" if windows[0].start.hour < 12 else "W2",
            )
        )
    out = _arrivals(out, day, seed, tz)
    return DayInput(day, (depot,), fleet, drivers, tuple(out), waves=_waves(day, site))


def _waves(day: date, site: DemoSite = SLC_SITE) -> tuple[Wave, ...]:
    tz, depot_id = ZoneInfo(site.timezone), site.depot_id
    at = lambda t: datetime.combine(day, t, tz)  # noqa: E731
    return tuple(
        Wave(wid, depot_id, at(cut), at(a), at(b), tuple(f"{depot_id}-{n}" for n in docks))
        for wid, cut, a, b, docks in WAVES
    )


def _arrivals(orders: list[Order], day: date, seed: int, tz: ZoneInfo | None = None) -> list[Order]:
    """When each order came in: the afternoon and evening before, except a few afternoon
    deliveries ordered on the morning itself, after W1's cut-off (their own stream of
    random numbers, so the orders themselves are those of the same seed without it)."""
    rng = np.random.default_rng([seed, day.toordinal(), 2])
    tz = tz or ZoneInfo(DEMO_TIMEZONE)
    eve = datetime.combine(day - timedelta(days=1), time(15, 0), tz)
    afternoon = [i for i, o in enumerate(orders) if o.earliest.hour >= 13 and o.wave == "W2"]
    late = set(rng.choice(afternoon, size=min(LATE_ORDERS, len(afternoon)), replace=False).tolist())
    morning = datetime.combine(day, time(6, 20), tz)
    out = []
    for i, order in enumerate(orders):
        if i in late:
            at = morning + timedelta(minutes=int(rng.integers(0, 140)))
        else:
            at = eve + timedelta(minutes=int(rng.integers(0, 8 * 60 + 30)))
        out.append(replace(order, received_at=at))
    return out


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _num(value: float) -> str:
    return f"{value:.6f}".rstrip("0").rstrip(".")


def _write(path: Path, header: list[str], rows: Iterable[list[object]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_demo_day(day_input: DayInput, out_dir: str | Path) -> list[Path]:
    """Write the day as depots/docks/waves/vehicles/drivers/orders CSV files in the import
    format.

    Returns the files written. Orders may have at most two windows (``window2_*``).
    """
    for order in day_input.orders:
        if len(order.windows) > 2:
            raise ValueError(f"order {order.id}: {len(order.windows)} windows; CSV holds two")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    dims = list(day_input.dimensions)
    files = [
        _write(
            out / "depots.csv",
            ["id", "name", "lat", "lon", "timezone", "docks", "address", "travel"],
            ([d.id, d.name, _num(d.location.lat), _num(d.location.lon), d.timezone,
              len(d.docks), d.address, d.travel] for d in day_input.depots),
        ),
        _write(
            out / "vehicles.csv",
            ["id", "depot_id", "type", "name", *[f"capacity_{d}" for d in dims], "skills",
             "cost_per_km", "cost_per_hour", "fixed_cost"],
            ([v.id, v.depot_id, v.type_name, v.name, *[_num(v.capacity.get(d, 0)) for d in dims],
              ";".join(sorted(v.skills)), _num(v.cost_per_km), _num(v.cost_per_hour),
              _num(v.fixed_cost)] for v in day_input.vehicles),
        ),
        _write(
            out / "drivers.csv",
            ["id", "name", "depot_id", "shift_start", "shift_end", "break_earliest",
             "break_latest", "break_minutes", "skills", "vehicle_id"],
            ([d.id, d.name, d.depot_id, _iso(d.shift_start), _iso(d.shift_end),
              *([_iso(d.breaks[0].earliest), _iso(d.breaks[0].latest),
                 _num(d.breaks[0].duration.total_seconds() / 60)] if d.breaks else ["", "", ""]),
              ";".join(sorted(d.skills)), d.vehicle_id or ""] for d in day_input.drivers),
        ),
        _write(
            out / "docks.csv",
            ["id", "depot_id", "name", "prep_minutes", "post_minutes", "load_minutes_per_order"],
            ([k.id, d.id, k.name, _num(k.prep_minutes), _num(k.post_minutes),
              _num(k.load_minutes_per_order)] for d in day_input.depots for k in d.docks),
        ),
        _write(
            out / "waves.csv",
            ["id", "depot_id", "name", "cutoff", "depart_from", "depart_to", "docks"],
            ([w.id, w.depot_id, w.name, _iso(w.cutoff), _iso(w.depart_from), _iso(w.depart_to),
              ";".join(w.docks)] for w in day_input.waves),
        ),
        _write(
            out / "orders.csv",
            ["id", "depot_id", "lat", "lon", *[f"demand_{d}" for d in dims], "window_start",
             "window_end", "window2_start", "window2_end", "service_minutes", "skills",
             "priority", "wave", "customer", "address", "received_at"],
            ([o.id, o.depot_id, _num(o.location.lat), _num(o.location.lon),
              *[_num(o.demand.get(d, 0)) for d in dims],
              _iso(o.windows[0].start), _iso(o.windows[0].end),
              *([_iso(o.windows[1].start), _iso(o.windows[1].end)] if len(o.windows) > 1
                else ["", ""]),
              _num(o.service_time.total_seconds() / 60), ";".join(sorted(o.skills)), o.priority,
              o.wave, o.customer, o.address,
              _iso(o.received_at) if o.received_at else ""] for o in day_input.orders),
        ),
    ]  # fmt: skip
    log.info("demo day %s written to %s", day_input.day, out)
    return files
