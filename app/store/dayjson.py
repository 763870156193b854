"""A day and a plan as JSON documents, and back: the recorded day's own copy of its input.

The snapshots are :mod:`app.store.convert`'s (the change log's form); reading one back
builds the domain objects, whose constructors check every invariant. A document that
does not read raises ``ValueError`` naming the part (``orders[12]: ...``): a recorded day
comes from another desk and is trusted no more than an import file.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from app.store.convert import (
    depot_snapshot,
    driver_snapshot,
    order_snapshot,
    route_from_snapshot,
    route_snapshot,
    vehicle_snapshot,
)
from engine.model import (
    Break,
    DayInput,
    Depot,
    Dock,
    Driver,
    Location,
    Order,
    Plan,
    TimeWindow,
    Unassigned,
    UnassignedReason,
    Vehicle,
)

T = TypeVar("T")


def _moment(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"expected an ISO time, got {value!r}")
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone")
    return moment


def _depot(d: dict) -> Depot:
    return Depot(str(d["id"]), str(d.get("name", "")), Location(float(d["lat"]), float(d["lon"])),
                 str(d.get("timezone", "UTC")),
                 tuple(Dock(str(k["id"]), str(k.get("name", ""))) for k in d.get("docks", ())),
                 str(d.get("address", "")), str(d.get("travel", "")))  # fmt: skip


def _vehicle(d: dict) -> Vehicle:
    return Vehicle(str(d["id"]), str(d["depot_id"]), {str(k): float(v) for k, v in d["capacity"].items()},
                   str(d.get("type_name", "")), str(d.get("name", "")), frozenset(d.get("skills", ())),
                   float(d.get("cost_per_km", 0)), float(d.get("cost_per_hour", 0)),
                   float(d.get("fixed_cost", 0)))  # fmt: skip


def _driver(d: dict) -> Driver:
    breaks = tuple(Break(_moment(b["earliest"]), _moment(b["latest"]),
                         timedelta(seconds=float(b["duration_s"]))) for b in d.get("breaks", ()))  # fmt: skip
    return Driver(str(d["id"]), str(d.get("name", "")), str(d["depot_id"]), _moment(d["shift_start"]),
                  _moment(d["shift_end"]), breaks, frozenset(d.get("skills", ())),
                  d.get("vehicle_id"))  # fmt: skip


def _order(d: dict) -> Order:
    windows = tuple(TimeWindow(_moment(w["start"]), _moment(w["end"])) for w in d["windows"])
    return Order(str(d["id"]), str(d["depot_id"]), Location(float(d["lat"]), float(d["lon"])),
                 {str(k): float(v) for k, v in d.get("demand", {}).items()}, windows,
                 timedelta(seconds=float(d.get("service_s", 300))), frozenset(d.get("skills", ())),
                 int(d.get("priority", 0)), str(d.get("customer", "")), str(d.get("address", "")),
                 str(d.get("wave", "")))  # fmt: skip


def _each(items: Any, name: str, read: Callable[[dict], T]) -> tuple[T, ...]:
    if not isinstance(items, list):
        raise ValueError(f"{name}: expected a list")
    out = []
    for k, item in enumerate(items):
        try:
            if not isinstance(item, dict):
                raise ValueError("expected an object")
            out.append(read(item))
        except (KeyError, TypeError, ValueError) as exc:
            why = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
            raise ValueError(f"{name}[{k}]: {why}") from None
    return tuple(out)


def day_to_json(day: DayInput) -> dict[str, Any]:
    return {
        "day": day.day.isoformat(),
        "dimensions": list(day.dimensions),
        "depots": [depot_snapshot(d) for d in day.depots],
        "vehicles": [vehicle_snapshot(v) for v in day.vehicles],
        "drivers": [driver_snapshot(d) for d in day.drivers],
        "orders": [order_snapshot(o) for o in day.orders],
    }


def day_from_json(data: Any) -> DayInput:
    if not isinstance(data, dict):
        raise ValueError("day: expected an object")
    try:
        the_day = date.fromisoformat(str(data["day"]))
    except (KeyError, ValueError):
        raise ValueError("day: expected YYYY-MM-DD") from None
    return DayInput(
        the_day,
        _each(data.get("depots"), "depots", _depot),
        _each(data.get("vehicles"), "vehicles", _vehicle),
        _each(data.get("drivers", []), "drivers", _driver),
        _each(data.get("orders"), "orders", _order),
        tuple(str(d) for d in data.get("dimensions", ("kg", "m3"))),
    )


def plan_to_json(plan: Plan) -> dict[str, Any]:
    return {
        "id": plan.id,
        "depot_id": plan.depot_id,
        "day": plan.day.isoformat(),
        "routes": [route_snapshot(r) for r in plan.routes],
        "unassigned": [[u.order_id, str(u.reason), u.detail] for u in plan.unassigned],
    }


def _unassigned(item: Any) -> Unassigned:
    order_id, reason, detail = item
    return Unassigned(str(order_id), UnassignedReason(reason), str(detail))


def plan_from_json(data: Any) -> Plan:
    if not isinstance(data, dict):
        raise ValueError("plan: expected an object")
    try:
        routes = _each(data.get("routes"), "plan.routes", route_from_snapshot)
        unassigned = tuple(_unassigned(u) for u in data.get("unassigned", ()))
        return Plan(str(data["id"]), str(data["depot_id"]), date.fromisoformat(str(data["day"])),
                    routes, unassigned)  # fmt: skip
    except (KeyError, TypeError) as exc:
        raise ValueError(f"plan: {exc}") from None
