"""Read and write the domain types of ``engine.model`` (functions taking a Session).

Writes are idempotent by id: an identical item changes nothing (no version bump, no change
log); a changed one is updated, its version rises and one change-log row records before and
after, in the same transaction. Plans and per-route edits live in ``repository_plan`` and
are re-exported here.
"""

from __future__ import annotations

import json
import socket
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import String, Table, func, insert, select, type_coerce
from sqlalchemy.orm import Session

from app.store import convert
from app.store.changelog import log_change
from app.store.models import (
    ChangeLogRow,
    DepotRow,
    DriverRow,
    OrderRow,
    VehicleRow,
    WaveRow,
    WindowRow,
)
from app.store.repository_orders import CANCELLED
from app.store.repository_plan import (
    load_plan,
    plan_versions,
    route_versions,
    save_plan,
    update_route_stops,
)
from engine.model import (
    DayInput,
    Depot,
    Driver,
    Location,
    Order,
    TimeWindow,
    Vehicle,
    Wave,
    stored_order,
)

__all__ = [
    "UpsertCounts",
    "count_day_orders",
    "depot_day_bounds",
    "iter_day_orders",
    "known_ids",
    "list_depots",
    "load_day",
    "load_plan",
    "plan_versions",
    "route_versions",
    "save_plan",
    "settle",
    "update_route_stops",
    "upsert_depots",
    "upsert_drivers",
    "upsert_orders",
    "upsert_vehicles",
    "upsert_waves",
    "load_waves",
]

_CHUNK = 500  # ids per IN (...) query, well under every backend's parameter limit


@dataclass(frozen=True)
class UpsertCounts:
    """What an upsert did. ``outside_day``: items not on the ``day`` given (still stored)."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    outside_day: int = 0

    @property
    def total(self) -> int:
        return self.inserted + self.updated + self.unchanged


@dataclass(frozen=True)
class _Kind:
    entity: str
    row: type[Any]
    snapshot: Callable[[Any], dict[str, Any]]
    from_row: Callable[[Any], Any]
    fill: Callable[[Any, Any], None]


_DEPOT = _Kind(
    "depot", DepotRow, convert.depot_snapshot, convert.depot_from_row, convert.fill_depot
)
_VEHICLE = _Kind(
    "vehicle", VehicleRow, convert.vehicle_snapshot, convert.vehicle_from_row, convert.fill_vehicle
)
_DRIVER = _Kind(
    "driver", DriverRow, convert.driver_snapshot, convert.driver_from_row, convert.fill_driver
)
_ORDER = _Kind(
    "order", OrderRow, convert.order_snapshot, convert.order_from_row, convert.fill_order
)
_KINDS = {k.entity: k for k in (_DEPOT, _VEHICLE, _DRIVER, _ORDER)}


def _existing(session: Session, row: type[Any], ids: Sequence[str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        found.update((r.id, r) for r in session.scalars(select(row).where(row.id.in_(chunk))))
    return found


def _upsert(session: Session, kind: _Kind, items: Iterable[Any], actor: str) -> UpsertCounts:
    batch = list(items)
    ids = [item.id for item in batch]
    if len(set(ids)) != len(ids):
        dupes = sorted(i for i, n in Counter(ids).items() if n > 1)
        raise ValueError(f"upsert {kind.entity}s: duplicate ids in one batch: {dupes[:10]}")
    if kind is not _DEPOT:
        _check_depots(session, kind.entity, batch)
    existing = _existing(session, kind.row, ids)
    now = datetime.now(UTC)
    inserted = updated = unchanged = 0
    if kind is _ORDER:  # the big kind: new rows go in as plain multi-row INSERTs
        fresh = [item for item in batch if item.id not in existing]
        _insert_orders(session, fresh, actor, now)
        inserted = len(fresh)
        batch = [item for item in batch if item.id in existing]
    for item in batch:
        after = kind.snapshot(item)
        row = existing.get(item.id)
        if row is None:
            row = kind.row(id=item.id)
            kind.fill(row, item)
            row.updated_at, row.updated_by = now, actor
            session.add(row)
            log_change(session, kind.entity, item.id, "insert", actor=actor, after=after)
            inserted += 1
            continue
        before = kind.snapshot(kind.from_row(row))
        if before == after:
            unchanged += 1
            continue
        kind.fill(row, item)
        row.updated_at, row.updated_by = now, actor  # also forces the version bump
        log_change(session, kind.entity, item.id, "update", actor=actor, before=before, after=after)
        updated += 1
    session.flush()
    return UpsertCounts(inserted, updated, unchanged)


def _insert_orders(session: Session, items: Sequence[Order], actor: str, now: datetime) -> None:
    """New orders with their windows and change-log rows, without building ORM objects
    (an import of a few hundred thousand orders would spend most of its time there)."""
    if not items:
        return
    origin = session.info.get("workstation") or socket.gethostname()
    orders: list[dict[str, Any]] = []
    windows: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    for o in items:
        snap = convert.order_snapshot(o)
        orders.append({
            "id": o.id, "depot_id": o.depot_id, "lat": snap["lat"], "lon": snap["lon"],
            "demand": snap["demand"], "service_s": snap["service_s"], "skills": snap["skills"],
            "priority": snap["priority"], "customer": o.customer, "address": o.address,
            "wave": o.wave, "received_at": o.received_at,
            "first_window_start": o.windows[0].start, "version": 1,
            "updated_at": now, "updated_by": actor,
        })  # fmt: skip
        windows.extend(
            {"order_id": o.id, "position": p, "starts_at": w.start, "ends_at": w.end}
            for p, w in enumerate(o.windows)
        )
        changes.append({
            "entity": "order", "entity_id": o.id, "operation": "insert", "origin": origin,
            "actor": actor, "at": now, "before": None, "after": snap,
        })  # fmt: skip
    session.flush()  # pending ORM writes first, so rows land in the order they were made
    connection = session.connection()
    for row, values in ((OrderRow, orders), (WindowRow, windows), (ChangeLogRow, changes)):
        connection.execute(insert(cast(Table, row.__table__)), values)


def settle(session: Session) -> None:
    """Write what is pending and let go of the loaded rows (the transaction stays open), so
    a long import holds one batch of rows at a time, not the whole file."""
    session.flush()
    session.expunge_all()


def _check_depots(session: Session, entity: str, batch: list[Any]) -> None:
    """Refuse, before writing anything, items whose depot is not stored."""
    known = set(session.scalars(select(DepotRow.id)))
    unknown = [item for item in batch if item.depot_id not in known]
    if unknown:
        first = unknown[0]
        raise ValueError(
            f"{entity} {first.id}: depot {first.depot_id!r} is not in the store "
            f"(known: {', '.join(sorted(known)) or 'none'}; {len(unknown)} {entity}(s) affected)"
            " - import the depot first"
        )


def _with_day_count(
    session: Session, counts: UpsertCounts, items: list[Any], day: date | None, start: Callable
) -> UpsertCounts:
    if day is None:
        return counts
    zones = {r.id: _zone(r) for r in session.scalars(select(DepotRow))}
    outside = sum(
        1
        for item in items
        if item.depot_id in zones and start(item).astimezone(zones[item.depot_id]).date() != day
    )
    return UpsertCounts(counts.inserted, counts.updated, counts.unchanged, outside)


def upsert_depots(
    session: Session, items: Iterable[Depot], *, actor: str, day: date | None = None
) -> UpsertCounts:
    """Insert or update depots (with their docks) by id. ``day`` is not used for depots."""
    return _upsert(session, _DEPOT, items, actor)


def upsert_vehicles(
    session: Session, items: Iterable[Vehicle], *, actor: str, day: date | None = None
) -> UpsertCounts:
    """Insert or update vehicles by id (their depot must be stored). ``day`` is not used."""
    return _upsert(session, _VEHICLE, items, actor)


def upsert_drivers(
    session: Session, items: Iterable[Driver], *, actor: str, day: date | None = None
) -> UpsertCounts:
    """Insert or update drivers (with breaks) by id; ``day`` counts shifts starting elsewhen."""
    batch = list(items)
    counts = _upsert(session, _DRIVER, batch, actor)
    return _with_day_count(session, counts, batch, day, lambda d: d.shift_start)


def upsert_orders(
    session: Session, items: Iterable[Order], *, actor: str, day: date | None = None
) -> UpsertCounts:
    """Insert or update orders (with windows) by id; ``day`` counts orders of other days.

    An order belongs to the depot-local day its first window starts on, whatever ``day``
    says; ``outside_day`` tells the importer how many rows are not for the day it imports.
    """
    batch = list(items)
    counts = _upsert(session, _ORDER, batch, actor)
    return _with_day_count(session, counts, batch, day, lambda o: o.earliest)


def upsert_day(session: Session, day: DayInput, *, actor: str) -> None:
    """Insert or update every depot, wave, vehicle, driver and order of ``day`` (a generated
    day)."""
    upsert_depots(session, day.depots, actor=actor)
    upsert_waves(session, day.waves, actor=actor)
    upsert_vehicles(session, day.vehicles, actor=actor)
    upsert_drivers(session, day.drivers, actor=actor)
    upsert_orders(session, day.orders, actor=actor)


def _zone(depot: DepotRow) -> ZoneInfo:
    try:
        return ZoneInfo(depot.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"depot {depot.id}: time zone {depot.timezone!r} is not a known IANA name"
        ) from exc


def depot_day_bounds(depot_timezone: str, day: date) -> tuple[datetime, datetime]:
    """The UTC instants where ``day`` starts and ends in the depot's time zone (DST-aware)."""
    zone = ZoneInfo(depot_timezone)
    start = datetime.combine(day, time(0), zone)
    end = datetime.combine(day + timedelta(days=1), time(0), zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def _depot_row(session: Session, depot_id: str) -> DepotRow:
    row = session.get(DepotRow, depot_id)
    if row is None:
        known = sorted(session.scalars(select(DepotRow.id)))
        raise KeyError(f"no depot {depot_id!r} in the store (known: {', '.join(known) or 'none'})")
    return row


def load_depot(session: Session, depot_id: str) -> Depot:
    """One depot (no orders: for a caller that needs its place or its docks only)."""
    return convert.depot_from_row(_depot_row(session, depot_id))


def load_day(session: Session, depot_id: str, day: date) -> DayInput:
    """The depot's day: orders whose first window and drivers whose shift start on ``day``
    (in the depot's time zone), and every vehicle of the depot; each sorted by id.
    Cancelled orders are not part of it (see ``repository_orders.cancelled_orders``)."""
    depot_row = _depot_row(session, depot_id)
    _zone(depot_row)
    start, end = depot_day_bounds(depot_row.timezone, day)
    vehicles = session.scalars(
        select(VehicleRow).where(VehicleRow.depot_id == depot_id).order_by(VehicleRow.id)
    )
    drivers = session.scalars(
        select(DriverRow)
        .where(DriverRow.depot_id == depot_id)
        .where(DriverRow.shift_start >= start, DriverRow.shift_start < end)
        .order_by(DriverRow.id)
    )
    vehicle_list = tuple(convert.vehicle_from_row(r) for r in vehicles)
    order_list = _day_orders(session, depot_id, start, end)
    dims = sorted(
        {d for v in vehicle_list for d in v.capacity} | {d for o in order_list for d in o.demand}
    )
    return DayInput(
        day=day,
        depots=(convert.depot_from_row(depot_row),),
        vehicles=vehicle_list,
        drivers=tuple(convert.driver_from_row(r) for r in drivers),
        orders=order_list,
        dimensions=tuple(dims) if dims else DayInput.dimensions,
        waves=load_waves(session, depot_id, day),
    )


def _day_orders(
    session: Session, depot_id: str, start: datetime, end: datetime
) -> tuple[Order, ...]:
    """The orders of :func:`load_day`, sorted by id, read as plain columns (two SELECTs, no
    object per order and window: a 2,000-vehicle day holds 40,000 of each)."""
    wanted = (
        OrderRow.depot_id == depot_id,
        OrderRow.status != CANCELLED,
        OrderRow.first_window_start >= start,
        OrderRow.first_window_start < end,
    )
    windows: dict[str, list[tuple[datetime, datetime]]] = {}
    connection = session.connection()  # Core rows: no ORM loading step per row
    # SQLite's times as their text, each distinct text read once (a day's windows share
    # a handful of times: 40,000 orders, some 80,000 window times) by the column's own
    # reading; other databases hand them read.
    as_text = connection.dialect.name == "sqlite"
    starts, ends = WindowRow.starts_at, WindowRow.ends_at
    q = (
        select(WindowRow.order_id, type_coerce(starts, String) if as_text else starts,
               type_coerce(ends, String) if as_text else ends)
        .join(OrderRow, WindowRow.order_id == OrderRow.id)
        .where(*wanted)
        .order_by(WindowRow.order_id, WindowRow.position)
    )  # fmt: skip
    read_time = starts.type.result_processor(connection.dialect, None) if as_text else None
    times: dict[Any, Any] = {}
    starts_at: Any
    ends_at: Any
    for oid, starts_at, ends_at in connection.execute(q).all():
        if read_time is not None:
            if starts_at not in times:
                times[starts_at] = read_time(starts_at)
            if ends_at not in times:
                times[ends_at] = read_time(ends_at)
            starts_at, ends_at = times[starts_at], times[ends_at]
        windows.setdefault(oid, []).append((starts_at, ends_at))
    # Demand and skills as the stored JSON text, each distinct text decoded once (a day's
    # orders share a handful of demands and skill sets; PostgreSQL may hand them decoded).
    q2 = select(
        OrderRow.id, OrderRow.depot_id, OrderRow.lat, OrderRow.lon,
        type_coerce(OrderRow.demand, String), OrderRow.service_s,
        type_coerce(OrderRow.skills, String), OrderRow.priority, OrderRow.customer,
        OrderRow.address, OrderRow.wave, OrderRow.received_at,
    ).where(*wanted).order_by(OrderRow.id)  # fmt: skip
    demands: dict[str, dict[str, float]] = {}
    skill_sets: dict[str, frozenset[str]] = {}
    spans: dict[Any, Any] = {}  # orders with the same windows share them
    out = []
    for row in connection.execute(q2).all():
        oid, depot, lat, lon, demand_doc, service_s, skills_doc, priority, customer, address = row[
            :10
        ]
        demand: Any = demand_doc
        if isinstance(demand_doc, str):
            if demand_doc not in demands:
                demands[demand_doc] = json.loads(demand_doc)
            demand = demands[demand_doc]
        skills: Any = skills_doc
        if isinstance(skills_doc, str):
            if skills_doc not in skill_sets:
                skill_sets[skills_doc] = frozenset(json.loads(skills_doc))
            skills = skill_sets[skills_doc]
        # Checked when stored: built without the checks (``engine.model.stored_order``).
        out.append(stored_order(oid, depot, lat, lon, demand, windows.get(oid, ()), service_s,
                                skills, priority, customer, address, row.wave,
                                row.received_at, spans))  # fmt: skip
    return tuple(out)


def count_day_orders(session: Session, depot_id: str, day: date) -> int:
    """How many (not cancelled) orders the depot's ``day`` holds."""
    depot_row = _depot_row(session, depot_id)
    start, end = depot_day_bounds(depot_row.timezone, day)
    query = (
        select(func.count())
        .select_from(OrderRow)
        .where(OrderRow.depot_id == depot_id, OrderRow.status != CANCELLED)
        .where(OrderRow.first_window_start >= start, OrderRow.first_window_start < end)
    )
    return session.scalar(query) or 0


def iter_day_orders(
    session: Session, depot_id: str, day: date, chunk: int = 2000
) -> Iterator[Order]:
    """The orders of the depot's ``day`` one at a time, read ``chunk`` rows at a time as
    plain rows (no ORM objects held), for checks over a day too big to hold."""
    depot_row = _depot_row(session, depot_id)
    start, end = depot_day_bounds(depot_row.timezone, day)
    orders, windows = OrderRow.__table__, WindowRow.__table__
    connection = session.connection()
    last = ""
    while True:
        rows = connection.execute(
            select(orders)
            .where(orders.c.depot_id == depot_id, orders.c.id > last)
            .where(orders.c.status != CANCELLED)
            .where(orders.c.first_window_start >= start, orders.c.first_window_start < end)
            .order_by(orders.c.id)
            .limit(chunk)
        ).all()
        if not rows:
            return
        last = rows[-1].id
        spans: dict[str, list[TimeWindow]] = {r.id: [] for r in rows}
        for w in connection.execute(
            select(windows.c.order_id, windows.c.starts_at, windows.c.ends_at)
            .where(windows.c.order_id.in_(list(spans)))
            .order_by(windows.c.order_id, windows.c.position)
        ):
            spans[w.order_id].append(TimeWindow(w.starts_at, w.ends_at))
        for r in rows:
            yield Order(
                id=r.id, depot_id=r.depot_id, location=Location(r.lat, r.lon),
                demand=dict(r.demand), windows=tuple(spans[r.id]),
                service_time=timedelta(seconds=r.service_s), skills=frozenset(r.skills),
                priority=r.priority, customer=r.customer, address=r.address, wave=r.wave,
                received_at=r.received_at,
            )  # fmt: skip


def wave_day(wave: Wave, depot_timezone: str) -> date:
    """The depot-local day a wave belongs to: the day its departures start."""
    return wave.depart_from.astimezone(ZoneInfo(depot_timezone)).date()


def _wave_key(depot_id: str, day: date, wave_id: str) -> str:
    return f"{depot_id}/{day.isoformat()}/{wave_id}"


def upsert_waves(session: Session, items: Iterable[Wave], *, actor: str) -> UpsertCounts:
    """Insert or update waves by (depot, day, id): idempotent, versioned, change-logged."""
    batch = list(items)
    _check_depots(session, "wave", batch)
    zones = {r.id: r.timezone for r in session.scalars(select(DepotRow))}
    now = datetime.now(UTC)
    inserted = updated = unchanged = 0
    for wave in batch:
        day = wave_day(wave, zones[wave.depot_id])
        key = _wave_key(wave.depot_id, day, wave.id)
        after = convert.wave_snapshot(wave)
        row = session.get(WaveRow, key)
        if row is None:
            row = WaveRow(key=key, id=wave.id, depot_id=wave.depot_id, day=day)
            convert.fill_wave(row, wave)
            row.updated_at, row.updated_by = now, actor
            session.add(row)
            log_change(session, "wave", key, "insert", actor=actor, after=after)
            inserted += 1
            continue
        before = convert.wave_snapshot(convert.wave_from_row(row))
        if before == after:
            unchanged += 1
            continue
        convert.fill_wave(row, wave)
        row.updated_at, row.updated_by = now, actor
        log_change(session, "wave", key, "update", actor=actor, before=before, after=after)
        updated += 1
    session.flush()
    return UpsertCounts(inserted, updated, unchanged)


def load_waves(session: Session, depot_id: str, day: date) -> tuple[Wave, ...]:
    """The depot's waves of ``day``, in the order they close (cut-off, then departure)."""
    rows = session.scalars(
        select(WaveRow)
        .where(WaveRow.depot_id == depot_id, WaveRow.day == day)
        .order_by(WaveRow.cutoff, WaveRow.depart_from, WaveRow.id)
    )
    return tuple(convert.wave_from_row(r) for r in rows)


def list_depots(session: Session) -> list[Depot]:
    """Every stored depot, sorted by id."""
    rows = session.scalars(select(DepotRow).order_by(DepotRow.id))
    return [convert.depot_from_row(r) for r in rows]


def known_ids(session: Session, kind: str) -> set[str]:
    """The stored ids of one kind: ``depot``, ``vehicle``, ``driver`` or ``order`` (or plural)."""
    key = kind[:-1] if kind.endswith("s") and kind[:-1] in _KINDS else kind
    if key not in _KINDS:
        raise ValueError(f"known_ids: kind must be one of {sorted(_KINDS)}, got {kind!r}")
    row = _KINDS[key].row
    return set(session.scalars(select(row.id)))
