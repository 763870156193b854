"""Rows <-> domain types, and the canonical JSON snapshot of each domain object.

A snapshot is what the change log stores as before/after, and what an upsert compares to
tell an identical row (unchanged) from a changed one: times in UTC ISO form, skills sorted,
quantities as plain floats. Two objects with the same snapshot are the same data.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from app.store.models import (
    BreakRow,
    DepotRow,
    DockRow,
    DriverRow,
    OrderRow,
    RouteRow,
    StopRow,
    VehicleRow,
    WaveRow,
    WindowRow,
)
from engine.model import (
    Break,
    Depot,
    Dock,
    Driver,
    Location,
    Order,
    Route,
    RouteStatus,
    Stop,
    StopStatus,
    TimeWindow,
    Vehicle,
    Wave,
)

Row = TypeVar("Row")
Item = TypeVar("Item")


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


def _quantities(values: Any) -> dict[str, float]:
    return {k: float(values[k]) for k in sorted(values)}


def sync_children(
    collection: list[Row],
    items: Sequence[Item],
    make: Callable[[int], Row],
    fill: Callable[[Row, Item], None],
) -> None:
    """Make an ordered child collection match ``items`` in place, position by position.

    Reusing rows (instead of replacing the list) keeps primary keys (parent, position)
    stable, so the unit of work never inserts a key it has yet to delete.
    """
    for position, item in enumerate(items):
        if position >= len(collection):
            collection.append(make(position))
        fill(collection[position], item)
    del collection[len(items) :]


# -- depots -------------------------------------------------------------------------------
def depot_snapshot(d: Depot) -> dict[str, Any]:
    return {
        "id": d.id,
        "name": d.name,
        "lat": float(d.location.lat),
        "lon": float(d.location.lon),
        "timezone": d.timezone,
        "address": d.address,
        "travel": d.travel,
        "docks": [
            {
                "id": k.id,
                "name": k.name,
                "prep_minutes": float(k.prep_minutes),
                "post_minutes": float(k.post_minutes),
                "load_minutes_per_order": float(k.load_minutes_per_order),
            }
            for k in d.docks
        ],
    }


def depot_from_row(r: DepotRow) -> Depot:
    return Depot(
        id=r.id,
        name=r.name,
        location=Location(r.lat, r.lon),
        timezone=r.timezone,
        docks=tuple(
            Dock(k.id, k.name, k.prep_minutes, k.post_minutes, k.load_minutes_per_order)
            for k in r.docks
        ),
        address=r.address,
        travel=r.travel or "",
    )


def fill_depot(r: DepotRow, d: Depot) -> None:
    r.name, r.lat, r.lon = d.name, float(d.location.lat), float(d.location.lon)
    r.timezone, r.address, r.travel = d.timezone, d.address, d.travel

    def fill(k: DockRow, dock: Dock) -> None:
        k.id, k.name = dock.id, dock.name
        k.prep_minutes, k.post_minutes = dock.prep_minutes, dock.post_minutes
        k.load_minutes_per_order = dock.load_minutes_per_order

    sync_children(r.docks, d.docks, lambda p: DockRow(position=p), fill)


# -- vehicles -----------------------------------------------------------------------------
def vehicle_snapshot(v: Vehicle) -> dict[str, Any]:
    return {
        "id": v.id,
        "depot_id": v.depot_id,
        "type_name": v.type_name,
        "name": v.name,
        "capacity": _quantities(v.capacity),
        "skills": sorted(v.skills),
        "cost_per_km": float(v.cost_per_km),
        "cost_per_hour": float(v.cost_per_hour),
        "fixed_cost": float(v.fixed_cost),
    }


def vehicle_from_row(r: VehicleRow) -> Vehicle:
    return Vehicle(
        id=r.id,
        depot_id=r.depot_id,
        capacity=dict(r.capacity),
        type_name=r.type_name,
        name=r.name,
        skills=frozenset(r.skills),
        cost_per_km=r.cost_per_km,
        cost_per_hour=r.cost_per_hour,
        fixed_cost=r.fixed_cost,
    )


def fill_vehicle(r: VehicleRow, v: Vehicle) -> None:
    s = vehicle_snapshot(v)
    for key in s.keys() - {"id"}:
        setattr(r, key, s[key])


# -- drivers ------------------------------------------------------------------------------
def driver_snapshot(d: Driver) -> dict[str, Any]:
    return {
        "id": d.id,
        "name": d.name,
        "depot_id": d.depot_id,
        "shift_start": iso(d.shift_start),
        "shift_end": iso(d.shift_end),
        "breaks": [
            {
                "earliest": iso(b.earliest),
                "latest": iso(b.latest),
                "duration_s": b.duration.total_seconds(),
            }
            for b in d.breaks
        ],
        "skills": sorted(d.skills),
        "vehicle_id": d.vehicle_id,
    }


def driver_from_row(r: DriverRow) -> Driver:
    return Driver(
        id=r.id,
        name=r.name,
        depot_id=r.depot_id,
        shift_start=r.shift_start,
        shift_end=r.shift_end,
        breaks=tuple(
            Break(b.earliest, b.latest, timedelta(seconds=b.duration_s)) for b in r.breaks
        ),
        skills=frozenset(r.skills),
        vehicle_id=r.vehicle_id,
    )


def fill_driver(r: DriverRow, d: Driver) -> None:
    r.name, r.depot_id, r.vehicle_id = d.name, d.depot_id, d.vehicle_id
    r.shift_start, r.shift_end, r.skills = d.shift_start, d.shift_end, sorted(d.skills)

    def fill(b: BreakRow, brk: Break) -> None:
        b.earliest, b.latest = brk.earliest, brk.latest
        b.duration_s = brk.duration.total_seconds()

    sync_children(r.breaks, d.breaks, lambda p: BreakRow(position=p), fill)


# -- orders -------------------------------------------------------------------------------
def order_snapshot(o: Order) -> dict[str, Any]:
    return {
        "id": o.id,
        "depot_id": o.depot_id,
        "lat": float(o.location.lat),
        "lon": float(o.location.lon),
        "demand": _quantities(o.demand),
        "windows": [{"start": iso(w.start), "end": iso(w.end)} for w in o.windows],
        "service_s": o.service_time.total_seconds(),
        "skills": sorted(o.skills),
        "priority": int(o.priority),
        "customer": o.customer,
        "address": o.address,
        "wave": o.wave,
        "received_at": iso(o.received_at),
    }


def order_from_snapshot(d: dict[str, Any]) -> Order:
    """The order of an ``order_snapshot`` (e.g. carried by an outbox command)."""
    return Order(
        id=d["id"],
        depot_id=d["depot_id"],
        location=Location(float(d["lat"]), float(d["lon"])),
        demand=dict(d.get("demand") or {}),
        windows=tuple(
            TimeWindow(datetime.fromisoformat(w["start"]), datetime.fromisoformat(w["end"]))
            for w in d["windows"]
        ),
        service_time=timedelta(seconds=float(d.get("service_s", 300))),
        skills=frozenset(d.get("skills") or ()),
        priority=int(d.get("priority", 0)),
        customer=d.get("customer", ""),
        address=d.get("address", ""),
        wave=d.get("wave", ""),
        received_at=_moment(d.get("received_at")),
    )


def order_from_row(r: OrderRow) -> Order:
    return Order(
        id=r.id,
        depot_id=r.depot_id,
        location=Location(r.lat, r.lon),
        demand=dict(r.demand),
        windows=tuple(TimeWindow(w.starts_at, w.ends_at) for w in r.windows),
        service_time=timedelta(seconds=r.service_s),
        skills=frozenset(r.skills),
        priority=r.priority,
        customer=r.customer,
        address=r.address,
        wave=r.wave,
        received_at=r.received_at,
    )


def fill_order(r: OrderRow, o: Order) -> None:
    s = order_snapshot(o)
    for key in ("depot_id", "lat", "lon", "demand", "service_s", "skills", "priority"):
        setattr(r, key, s[key])
    r.customer, r.address, r.wave = o.customer, o.address, o.wave
    r.received_at = o.received_at
    r.first_window_start = o.windows[0].start

    def fill(w: WindowRow, window: TimeWindow) -> None:
        w.starts_at, w.ends_at = window.start, window.end

    sync_children(r.windows, o.windows, lambda p: WindowRow(position=p), fill)


# -- waves --------------------------------------------------------------------------------
def wave_snapshot(w: Wave) -> dict[str, Any]:
    return {
        "id": w.id,
        "depot_id": w.depot_id,
        "name": w.name,
        "cutoff": iso(w.cutoff),
        "depart_from": iso(w.depart_from),
        "depart_to": iso(w.depart_to),
        "docks": list(w.docks),
    }


def wave_from_row(r: WaveRow) -> Wave:
    return Wave(r.id, r.depot_id, r.cutoff, r.depart_from, r.depart_to, tuple(r.docks), r.name)


def fill_wave(r: WaveRow, w: Wave) -> None:
    r.name, r.cutoff, r.depart_from, r.depart_to = w.name, w.cutoff, w.depart_from, w.depart_to
    r.docks = list(w.docks)


# -- routes and stops ---------------------------------------------------------------------
def stop_from_row(r: StopRow) -> Stop:
    return Stop(
        order_id=r.order_id,
        planned_arrival=r.planned_arrival,
        planned_departure=r.planned_departure,
        status=StopStatus(r.status),
        locked=r.locked,
        actual_arrival=r.actual_arrival,
        actual_departure=r.actual_departure,
    )


def fill_stop(r: StopRow, sequence: int, s: Stop) -> None:
    r.sequence, r.order_id, r.status, r.locked = sequence, s.order_id, str(s.status), s.locked
    r.planned_arrival, r.planned_departure = s.planned_arrival, s.planned_departure
    r.actual_arrival, r.actual_departure = s.actual_arrival, s.actual_departure


def route_from_row(r: RouteRow) -> Route:
    return Route(
        id=r.id,
        vehicle_id=r.vehicle_id,
        stops=tuple(stop_from_row(s) for s in r.stops),
        driver_id=r.driver_id,
        status=RouteStatus(r.status),
        wave=r.wave,
        start=r.starts_at,
        end=r.ends_at,
        dock_id=r.dock_id,
        slot_start=r.slot_start,
        slot_end=r.slot_end,
    )


def route_snapshot(r: Route) -> dict[str, Any]:
    return {
        "id": r.id,
        "vehicle_id": r.vehicle_id,
        "driver_id": r.driver_id,
        "status": str(r.status),
        "wave": r.wave,
        "start": iso(r.start),
        "end": iso(r.end),
        "dock_id": r.dock_id,
        "slot_start": iso(r.slot_start),
        "slot_end": iso(r.slot_end),
        "stops": [
            {
                "order_id": s.order_id,
                "status": str(s.status),
                "locked": s.locked,
                "planned_arrival": iso(s.planned_arrival),
                "planned_departure": iso(s.planned_departure),
                "actual_arrival": iso(s.actual_arrival),
                "actual_departure": iso(s.actual_departure),
            }
            for s in r.stops
        ],
    }


def _moment(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def route_from_snapshot(d: dict[str, Any]) -> Route:
    """The route of a ``route_snapshot`` (e.g. one carried by an outbox command)."""
    return Route(
        id=d["id"],
        vehicle_id=d["vehicle_id"],
        driver_id=d.get("driver_id"),
        status=RouteStatus(d.get("status", str(RouteStatus.PLANNED))),
        wave=d.get("wave", ""),
        start=_moment(d.get("start")),
        end=_moment(d.get("end")),
        dock_id=d.get("dock_id"),
        slot_start=_moment(d.get("slot_start")),
        slot_end=_moment(d.get("slot_end")),
        stops=tuple(
            Stop(
                order_id=s["order_id"],
                status=StopStatus(s.get("status", str(StopStatus.PLANNED))),
                locked=bool(s.get("locked", False)),
                planned_arrival=_moment(s.get("planned_arrival")),
                planned_departure=_moment(s.get("planned_departure")),
                actual_arrival=_moment(s.get("actual_arrival")),
                actual_departure=_moment(s.get("actual_departure")),
            )
            for s in d.get("stops", ())
        ),
    )
