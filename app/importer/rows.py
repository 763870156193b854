"""One row -> one domain object, or the reasons it cannot be one.

Each ``parse_*`` function reads a :class:`RowReader`, reports every bad field on it and
returns the object only when the row is entirely good. Checks that need the rest of the day
(reachability, capacity, skills) live in :mod:`app.importer.checks`.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from datetime import date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.importer.fields import RowReader
from engine.geo import haversine_m
from engine.model import Break, Depot, Dock, Driver, Location, Order, TimeWindow, Vehicle, Wave

#: A delivery point further than this from its depot is refused as a likely typo.
MAX_DEPOT_DISTANCE_M = 300_000.0

#: Columns (or JSON keys) each kind understands, besides ``capacity_*``/``demand_*``/windows.
COLUMNS: dict[str, frozenset[str]] = {
    "depots": frozenset({"id", "name", "lat", "lon", "timezone", "docks", "address", "travel"}),
    "docks": frozenset(
        {"id", "depot_id", "name", "prep_minutes", "post_minutes", "load_minutes_per_order"}
    ),
    "waves": frozenset({"id", "depot_id", "name", "cutoff", "depart_from", "depart_to", "docks"}),
    "vehicles": frozenset(
        {"id", "depot_id", "type", "name", "capacity", "skills"}
        | {"cost_per_km", "cost_per_hour", "fixed_cost"}
    ),
    "drivers": frozenset(
        {"id", "name", "depot_id", "shift_start", "shift_end", "skills", "vehicle_id"}
        | {"break_earliest", "break_latest", "break_minutes"}
    ),
    "orders": frozenset(
        {"id", "depot_id", "lat", "lon", "demand", "windows", "service_minutes", "skills"}
        | {"priority", "wave", "customer", "address", "received_at"}
    ),
}
#: Columns a CSV header must have (``depot_id`` may be empty but the rule is per row).
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "depots": ("id", "name", "lat", "lon"),
    "docks": ("id",),
    "waves": ("id", "cutoff", "depart_from", "depart_to"),
    "vehicles": ("id",),
    "drivers": ("id", "name", "shift_start", "shift_end"),
    "orders": ("id", "lat", "lon", "window_start", "window_end"),
}
_WINDOW_COLUMN = re.compile(r"window(\d*)_(start|end)")
_NONE: Mapping[str, str] = {}


def is_known_column(kind: str, column: str) -> bool:
    """Whether a column belongs to the format for this kind of file."""
    if column in COLUMNS[kind]:
        return True
    if kind == "vehicles" and column.startswith("capacity_"):
        return True
    return kind == "orders" and (
        column.startswith("demand_") or _WINDOW_COLUMN.fullmatch(column) is not None
    )


def depot_zone(depot: Depot | None) -> tzinfo:
    """The depot's time zone (UTC when unknown, so times can still be syntax-checked)."""
    try:
        return ZoneInfo(depot.timezone) if depot else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def show(moment: datetime) -> str:
    return moment.isoformat(timespec="minutes")


def resolve_depot(
    r: RowReader, depots: Mapping[str, Depot], refused: Mapping[str, str] = _NONE
) -> Depot | None:
    """The row's depot: named by ``depot_id``, or the only one known when it is empty.

    ``refused`` maps depot ids refused earlier in this import to where, for the message.
    """
    depot_id = r.text("depot_id")
    if not depot_id:
        if len(depots) == 1:
            return next(iter(depots.values()))
        if depots:
            r.error("depot_id", f"missing; required when {len(depots)} depots are known")
        else:
            r.error("depot_id", "missing, and no depot is known (import depots first)")
        return None
    depot = depots.get(depot_id)
    if depot is None and depot_id in refused:
        r.error("depot_id", f"depot {depot_id!r} was refused ({refused[depot_id]})")
    elif depot is None:
        known = ", ".join(sorted(depots)[:5]) or "none"
        r.error("depot_id", f"unknown depot {depot_id!r} (known: {known})")
    return depot


def read_point(r: RowReader, depot: Depot | None = None) -> Location | None:
    """lat/lon in range, not (0,0), not swapped, and (with a depot) near it."""
    lat, lon = r.coordinate("lat"), r.coordinate("lon")
    if lat is None or lon is None:
        return None
    if lat == 0 and lon == 0:
        r.error("lat,lon", "(0, 0) is not a real place: coordinates are missing")
        return None
    if not -90 <= lat <= 90:
        if abs(lat) <= 180 and abs(lon) <= 90:
            r.error(
                "lat", f"{lat} is outside -90..90 but valid as a longitude: looks swapped with lon"
            )
        else:
            r.error("lat", f"{lat} is outside -90..90")
        return None
    if not -180 <= lon <= 180:
        r.error("lon", f"{lon} is outside -180..180")
        return None
    if depot is not None:
        home = depot.location
        away = haversine_m(lat, lon, home.lat, home.lon)
        if away > MAX_DEPOT_DISTANCE_M:
            swapped = haversine_m(lon, lat, home.lat, home.lon) if abs(lon) <= 90 else math.inf
            if swapped <= MAX_DEPOT_DISTANCE_M:
                r.error(
                    "lat",
                    f"looks swapped: ({lat}, {lon}) is {away / 1000:.0f} km from depot "
                    f"{depot.id}, ({lon}, {lat}) would be {swapped / 1000:.1f} km",
                )
            else:
                r.error(
                    "lat,lon",
                    f"({lat}, {lon}) is {away / 1000:.0f} km from depot {depot.id} "
                    f"(more than {MAX_DEPOT_DISTANCE_M / 1000:.0f} km): wrong coordinates?",
                )
            return None
    return Location(lat, lon)


def parse_depot(r: RowReader) -> Depot | None:
    depot_id, name = r.text("id", required=True), r.text("name", required=True)
    point = read_point(r)
    zone = r.text("timezone", default="UTC")
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        r.error("timezone", f"{zone!r} is not an IANA time zone name (e.g. America/Denver)")
    docks = _docks(r, depot_id)
    address = r.text("address")
    travel = _travel(r)
    if r.errors or point is None:
        return None
    return Depot(depot_id, name, point, zone, docks, address, travel)


def _travel(r: RowReader) -> str:
    """The depot's travel source, checked: a street network it names must be imported."""
    from app.roads.library import find_network
    from app.settings import user_data_dir
    from app.travel.choose import TravelSource

    try:
        source = TravelSource.parse(r.text("travel"))
        if source.kind == "roads":
            find_network(user_data_dir(), source.value)
    except ValueError as exc:
        r.error("travel", str(exc))
        return ""
    except KeyError as exc:
        r.error("travel", str(exc.args[0]))
        return ""
    return source.text()


def _docks(r: RowReader, depot_id: str) -> tuple[Dock, ...]:
    raw = r.values.get("docks")
    if isinstance(raw, list):
        if not all(isinstance(n, str) and n.strip() for n in raw):
            r.error("docks", "expected a list of dock names")
            return ()
        return tuple(Dock(f"{depot_id}-{n.strip()}", n.strip()) for n in raw)
    count = r.whole("docks")
    return tuple(Dock(f"{depot_id}-{i}", f"Dock {i}") for i in range(1, (count or 0) + 1))


def parse_dock(
    r: RowReader, depots: Mapping[str, Depot], refused: Mapping[str, str] = _NONE
) -> tuple[str, Dock] | None:
    """(depot id, dock): a dock row names an existing dock of the depot (by id) to set its
    loading rates, or adds one."""
    dock_id = r.text("id", required=True)
    depot = resolve_depot(r, depots, refused)
    name = r.text("name")
    known = next((k for k in depot.docks if k.id == dock_id), None) if depot else None
    rates = {}
    for field in ("prep_minutes", "post_minutes", "load_minutes_per_order"):
        value = r.number(field)
        rates[field] = value if value is not None else getattr(known or Dock(""), field)
    if r.errors or depot is None:
        return None
    return depot.id, Dock(dock_id, name or (known.name if known else dock_id), **rates)


def parse_wave(
    r: RowReader, depots: Mapping[str, Depot], day: date, refused: Mapping[str, str] = _NONE
) -> Wave | None:
    """A wave: cut-off, departure window and the docks it loads at (ids or names)."""
    wave_id = r.text("id", required=True)
    depot = resolve_depot(r, depots, refused)
    tz = depot_zone(depot)
    cutoff = r.time("cutoff", tz, day, required=True)
    start = r.time("depart_from", tz, day, required=True)
    end = r.time("depart_to", tz, day, required=True)
    if start and end and end < start:
        r.error("depart_to", f"{show(end)} is before depart_from {show(start)}")
    if cutoff and start and start < cutoff:
        r.error("depart_from", f"{show(start)} is before the cut-off {show(cutoff)}: "
                "nothing could be loaded")  # fmt: skip
    docks: list[str] = []
    by_name = {k.name.lower(): k.id for k in depot.docks} if depot else {}
    ids = {k.id for k in depot.docks} if depot else set()
    for name in sorted(r.names("docks")):
        dock = name if name in ids else by_name.get(name.lower())
        if dock is None:
            shown = ", ".join(sorted(ids)[:6]) or "none"
            r.error("docks", f"dock {name!r} is not a dock of depot {depot.id if depot else '?'}"
                    f" (docks: {shown})")  # fmt: skip
        else:
            docks.append(dock)
    if r.errors or depot is None or cutoff is None or start is None or end is None:
        return None
    return Wave(wave_id, depot.id, cutoff, start, end, tuple(docks), r.text("name"))


def parse_vehicle(
    r: RowReader, depots: Mapping[str, Depot], refused: Mapping[str, str] = _NONE
) -> Vehicle | None:
    vehicle_id = r.text("id", required=True)
    depot = resolve_depot(r, depots, refused)
    capacity = r.quantities("capacity")
    if not capacity and not any(f.startswith("capacity") for f, _ in r.errors):
        r.error("capacity", "at least one capacity_<dim> is required (e.g. capacity_kg)")
    costs = {k: r.number(k, default=0.0) for k in ("cost_per_km", "cost_per_hour", "fixed_cost")}
    type_name, name, skills = r.text("type"), r.text("name"), r.names("skills")
    if r.errors or depot is None:
        return None
    return Vehicle(
        vehicle_id, depot.id, capacity, type_name, name, skills,
        costs["cost_per_km"] or 0.0, costs["cost_per_hour"] or 0.0, costs["fixed_cost"] or 0.0,
    )  # fmt: skip


def parse_driver(
    r: RowReader, depots: Mapping[str, Depot], day: date, refused: Mapping[str, str] = _NONE
) -> Driver | None:
    driver_id, name = r.text("id", required=True), r.text("name", required=True)
    depot = resolve_depot(r, depots, refused)
    tz = depot_zone(depot)
    start = r.time("shift_start", tz, day, required=True)
    end = r.time("shift_end", tz, day, required=True)
    if start and end and end <= start:
        r.error("shift_end", f"{show(end)} is not after shift_start {show(start)}")
    breaks = _break(r, tz, day)
    for b in breaks if start is not None and end is not None and end > start else ():
        assert start is not None and end is not None  # the loop runs only then
        if max(b.earliest, start) > min(b.latest, end - b.duration):
            r.error(
                "break_earliest",
                f"a {b.duration.total_seconds() / 60:g}-minute break starting "
                f"{show(b.earliest)}..{show(b.latest)} does not fit in the shift "
                f"{show(start)}..{show(end)}",
            )
    skills, vehicle_id = r.names("skills"), r.text("vehicle_id") or None
    if r.errors or depot is None or start is None or end is None:
        return None
    return Driver(driver_id, name, depot.id, start, end, breaks, skills, vehicle_id)


def _break(r: RowReader, tz: tzinfo, day: date) -> tuple[Break, ...]:
    names = ("break_earliest", "break_latest", "break_minutes")
    given = [n for n in names if r.has(n)]
    if not given:
        return ()
    for n in names:
        if n not in given:
            r.error(n, f"missing; a break needs all of {', '.join(names)}")
    earliest = r.time("break_earliest", tz, day)
    latest = r.time("break_latest", tz, day)
    minutes = r.number("break_minutes")
    if earliest and latest and latest < earliest:
        r.error("break_latest", f"{show(latest)} is before break_earliest {show(earliest)}")
        return ()
    if earliest is None or latest is None or minutes is None:
        return ()
    return (Break(earliest, latest, timedelta(minutes=minutes)),)


def parse_order(
    r: RowReader, depots: Mapping[str, Depot], day: date, refused: Mapping[str, str] = _NONE
) -> Order | None:
    order_id = r.text("id", required=True)
    depot = resolve_depot(r, depots, refused)
    point = read_point(r, depot)
    demand = r.quantities("demand")
    windows = _windows(r, depot_zone(depot), day)
    service = r.number("service_minutes", default=5.0)
    priority = r.whole("priority")
    skills, wave = r.names("skills"), r.text("wave")
    customer, address = r.text("customer"), r.text("address")
    received = r.time("received_at", depot_zone(depot), day)
    if r.errors or depot is None or point is None or not windows or service is None:
        return None
    return Order(
        order_id, depot.id, point, demand, windows, timedelta(minutes=service), skills,
        priority or 0, customer, address, wave, received,
    )  # fmt: skip


def _window_fields(r: RowReader) -> list[tuple[str, str]]:
    """(start field, end field) of every window the row names, in order."""
    raw = r.values.get("windows")
    if isinstance(raw, list):
        pairs = []
        for i, item in enumerate(raw):
            if not isinstance(item, dict):
                r.error(f"windows[{i}]", 'expected an object {"start": ..., "end": ...}')
                continue
            r.values[f"windows[{i}].start"] = item.get("start")
            r.values[f"windows[{i}].end"] = item.get("end")
            pairs.append((f"windows[{i}].start", f"windows[{i}].end"))
        return pairs
    if raw is not None:
        r.error("windows", "expected a list of {start, end} objects")
    numbers = sorted({n for k, n in _window_columns(tuple(r.values)) if r.has(k)} | {1})
    names = [f"window{'' if n == 1 else n}" for n in numbers]
    return [(f"{w}_start", f"{w}_end") for w in names]


@functools.lru_cache(maxsize=64)
def _window_columns(keys: tuple[str, ...]) -> tuple[tuple[str, int], ...]:
    """(column, window number) of the window columns among ``keys`` (a file's rows share
    their keys, so this is worked out once per file, not per row)."""
    return tuple(
        (k, int(m[1] or 1)) for k in keys if (m := _WINDOW_COLUMN.fullmatch(k)) is not None
    )


def _windows(r: RowReader, tz: tzinfo, day: date) -> tuple[TimeWindow, ...]:
    pairs = _window_fields(r)
    if not pairs:
        r.error("windows", "missing (required): at least one delivery window")
        return ()
    good: list[tuple[str, TimeWindow]] = []
    for start_name, end_name in pairs:
        for name, partner in ((start_name, end_name), (end_name, start_name)):
            if not r.has(name) and r.has(partner):
                r.error(name, f"missing: {partner} is given, a window needs both ends")
        if not (r.has(start_name) and r.has(end_name)):
            if not r.has(start_name) and not r.has(end_name):
                r.error(start_name, "missing (required): a window needs a start and an end")
            continue
        start = r.time(start_name, tz, day)
        end = r.time(end_name, tz, day)
        if start is None or end is None:
            continue
        if end < start:
            r.error(end_name, f"{show(end)} is before {start_name} {show(start)}")
            continue
        good.append((start_name, TimeWindow(start, end)))
    good.sort(key=lambda item: item[1].start)
    for (a_name, a), (b_name, b) in zip(good, good[1:], strict=False):
        if b.start <= a.end:
            r.error(
                b_name,
                f"window {show(b.start)}..{show(b.end)} overlaps the window "
                f"{show(a.start)}..{show(a.end)} ({a_name}); merge them into one",
            )
    if len(good) != len(pairs):
        return ()
    return tuple(w for _, w in good)
