"""What a driver's device receives: the released route as one retained message per vehicle,
and the same stops as an OwnTracks waypoints command.

``fleet/{depot}/vehicle/{vehicle_id}/route`` (retained, QoS 1) carries the route as the
driver needs it: the stops in order with ETA, windows, address and what to hand over, the
planned departure and dock, and the route's ``version`` — every later accepted change is
published again with a higher version; a withdrawn release is a message with status
``withdrawn`` and no stops. A device confirms a version with a ``route_ack`` on
``fleet/{depot}/vehicle/{vehicle_id}/route_ack`` (see ``app.release.dock_events``).

OwnTracks phones mapped to the vehicle (device key ``user/device``) get the stops as
waypoints on ``owntracks/{user}/{device}/cmd`` (``setWaypoints``, merged by the phone by
each waypoint's ``tst``, so stop *k* of a route always has the same key; stops beyond a
shorter new version are overwritten as removed).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from engine.model import Depot, Driver, Order, Route, Vehicle

FORMAT_VERSION = 1
WITHDRAWN = "withdrawn"
WAYPOINT_RADIUS_M = 50
_encode = msgspec.json.Encoder().encode


def route_topic(depot_id: str, vehicle_id: str) -> str:
    return f"fleet/{depot_id}/vehicle/{vehicle_id}/route"


def ack_topic(depot_id: str, vehicle_id: str = "+") -> str:
    return f"fleet/{depot_id}/vehicle/{vehicle_id}/route_ack"


def dock_topic(depot_id: str, dock_id: str = "+") -> str:
    return f"fleet/{depot_id}/dock/{dock_id}/event"


def _iso(moment: datetime | None, tz: ZoneInfo) -> str | None:
    return None if moment is None else moment.astimezone(tz).isoformat(timespec="seconds")


@dataclass(frozen=True)
class RouteMessage:
    """One message for one vehicle: its topic, JSON payload, and what it says."""

    topic: str
    payload: bytes
    route_id: str
    vehicle_id: str
    version: int
    kind: str  # "route" or "withdrawn"
    stops: int
    body: dict[str, Any]


def route_body(
    route: Route,
    version: int,
    *,
    depot: Depot,
    orders: Mapping[str, Order],
    vehicle: Vehicle | None = None,
    driver: Driver | None = None,
    published_at: datetime,
    withdrawn: bool = False,
) -> dict[str, Any]:
    """The route message's JSON object (see the module docstring)."""
    tz = ZoneInfo(depot.timezone)
    dock = next((k for k in depot.docks if k.id == route.dock_id), None)
    body: dict[str, Any] = {
        "v": FORMAT_VERSION,
        "type": "route",
        "depot_id": depot.id,
        "vehicle_id": route.vehicle_id,
        "vehicle_name": vehicle.name if vehicle else "",
        "route_id": route.id,
        "version": version,
        "status": WITHDRAWN if withdrawn else route.status.value,
        "wave": route.wave,
        "driver": {"id": driver.id, "name": driver.name} if driver else None,
        "dock": {"id": dock.id, "name": dock.name} if dock else None,
        "start": _iso(route.start, tz),
        "end": _iso(route.end, tz),
        "depot": {"lat": depot.location.lat, "lon": depot.location.lon, "address": depot.address},
        "published_at": _iso(published_at, tz),
        "stops": [],
    }
    if withdrawn:
        return body
    for seq, stop in enumerate(route.stops, start=1):
        order = orders.get(stop.order_id)
        item: dict[str, Any] = {
            "seq": seq,
            "order_id": stop.order_id,
            "status": stop.status.value,
            "eta": _iso(stop.planned_arrival, tz),
            "departure": _iso(stop.planned_departure, tz),
        }
        if order is not None:
            item.update(
                customer=order.customer,
                address=order.address,
                lat=order.location.lat,
                lon=order.location.lon,
                windows=[
                    {"start": _iso(w.start, tz), "end": _iso(w.end, tz)} for w in order.windows
                ],  # fmt: skip
                service_minutes=round(order.service_time.total_seconds() / 60, 1),
                demand=dict(order.demand),
                priority=order.priority,
            )
        body["stops"].append(item)
    return body


def route_message(
    route: Route,
    version: int,
    *,
    depot: Depot,
    orders: Mapping[str, Order],
    vehicle: Vehicle | None = None,
    driver: Driver | None = None,
    published_at: datetime | None = None,
    withdrawn: bool = False,
) -> RouteMessage:
    """The retained message for ``route`` at ``version`` (or its withdrawal)."""
    body = route_body(route, version, depot=depot, orders=orders, vehicle=vehicle,
                      driver=driver, published_at=published_at or datetime.now(UTC),
                      withdrawn=withdrawn)  # fmt: skip
    return RouteMessage(
        route_topic(depot.id, route.vehicle_id), _encode(body), route.id, route.vehicle_id,
        version, WITHDRAWN if withdrawn else "route", len(body["stops"]), body,
    )  # fmt: skip


def is_owntracks_key(device_key: str) -> bool:
    """OwnTracks devices are mapped as ``user/device``; Traccar ids have no slash."""
    parts = device_key.split("/")
    return len(parts) == 2 and all(parts)


def owntracks_waypoints(
    body: Mapping[str, Any], *, day_start: datetime, previous_stops: int = 0
) -> bytes:
    """The ``setWaypoints`` command for an OwnTracks phone from a route message's body.

    Waypoint ``tst`` keys are ``day_start`` (epoch s) + 1000 x the route's position in the
    day + the stop's sequence, so a new version overwrites the same waypoints; stops past
    the new end (``previous_stops``) are overwritten as removed."""
    base = int(day_start.timestamp()) + 1000 * _route_slot(str(body.get("route_id", "")))
    version = body.get("version")
    points = []
    for stop in body.get("stops", ()):
        if "lat" not in stop:
            continue
        eta = str(stop.get("eta") or "")[11:16]
        label = ", ".join(x for x in (stop.get("customer"), stop.get("address")) if x)
        points.append({
            "_type": "waypoint",
            "desc": f"{stop['seq']}. {eta} {label} (v{version})".strip(),
            "lat": stop["lat"],
            "lon": stop["lon"],
            "rad": WAYPOINT_RADIUS_M,
            "tst": base + int(stop["seq"]),
        })  # fmt: skip
    for seq in range(len(points) + 1, previous_stops + 1):
        points.append({"_type": "waypoint", "desc": f"{seq}. removed from your route (v{version})",
                       "lat": body["depot"]["lat"], "lon": body["depot"]["lon"], "rad": 1,
                       "tst": base + seq})  # fmt: skip
    command = {"_type": "cmd", "action": "setWaypoints",
               "waypoints": {"_type": "waypoints", "waypoints": points}}  # fmt: skip
    return _encode(command)


def _route_slot(route_id: str) -> int:
    """A stable small number per route id (keeps two routes' waypoint keys apart)."""
    return sum(route_id.encode()) % 997


def owntracks_topic(device_key: str) -> str:
    return f"owntracks/{device_key}/cmd"


def day_start(day, timezone: str) -> datetime:
    return datetime.combine(day, time(0), ZoneInfo(timezone))
