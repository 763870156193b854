"""Routes as the drivers receive them: the retained ``fleet/{depot}/vehicle/{id}/route``.

The workstation publishes each released route (and every later accepted change) as one
retained message per vehicle: the stops in order with their ETAs and windows, and the
route's version. The twin reads only what a driver's app needs to drive: which stops, in
which order, and which version (older versions are ignored). Anything else in the message
is left alone; a message that does not parse is refused with the reason, never half-read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import msgspec

from engine.model import Location, Order, TimeWindow

MAX_BYTES = 256 * 1024
MAX_STOPS = 2000


@dataclass(frozen=True)
class SentRoute:
    """A route as sent to a vehicle: its stops' order ids in order, and its version; the
    orders as the message describes them (where, when, how long), for stops the vehicle
    has not heard of; ``withdrawn``: the release was recalled (no stops)."""

    vehicle_id: str
    route_id: str
    version: int
    order_ids: tuple[str, ...]
    start: float | None = None  # planned departure, epoch s (when given)
    orders: tuple[Order, ...] = ()
    withdrawn: bool = False


class RouteMessageError(ValueError):
    """A route message the twin cannot follow, with the reason."""


def route_topic(depot_id: str, vehicle_id: str = "+") -> str:
    return f"fleet/{depot_id}/vehicle/{vehicle_id}/route"


def _stop_id(item: object, k: int) -> str:
    if isinstance(item, str):
        value: object = item
    elif isinstance(item, dict):
        value = next((item[key] for key in ("order_id", "stop_id", "id") if key in item), None)
    else:
        value = None
    if not isinstance(value, str) or not value or len(value) > 200:
        raise RouteMessageError(f"stops[{k}]: expected an order id (order_id or stop_id)")
    return value


def parse_route_message(topic: str, payload: bytes) -> SentRoute:
    """The route in one message on ``fleet/{depot}/vehicle/{id}/route``."""
    parts = topic.split("/")
    if len(parts) != 5 or parts[0] != "fleet" or parts[2] != "vehicle" or parts[4] != "route":
        raise RouteMessageError(f"topic {topic!r}: not fleet/DEPOT/vehicle/ID/route")
    if len(payload) > MAX_BYTES:
        raise RouteMessageError(f"{len(payload)} bytes: larger than {MAX_BYTES}")
    try:
        body = msgspec.json.decode(payload)
    except msgspec.DecodeError as exc:
        raise RouteMessageError(f"not JSON ({exc})") from None
    if not isinstance(body, dict):
        raise RouteMessageError("expected a JSON object")
    vehicle = body.get("vehicle_id", parts[3])
    if vehicle != parts[3]:
        raise RouteMessageError(f"vehicle_id {vehicle!r} is not the topic's {parts[3]!r}")
    version = body.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise RouteMessageError(f"version: expected a whole number, got {version!r}")
    stops = body.get("stops", [])
    if not isinstance(stops, list) or len(stops) > MAX_STOPS:
        raise RouteMessageError(f"stops: expected a list of at most {MAX_STOPS}")
    ids = tuple(_stop_id(item, k) for k, item in enumerate(stops))
    if len(set(ids)) != len(ids):
        raise RouteMessageError("stops: an order appears twice")
    withdrawn = body.get("status") == "withdrawn"
    if withdrawn and ids:
        raise RouteMessageError("a withdrawn route has no stops")
    orders = tuple(
        order for k, item in enumerate(stops)
        if isinstance(item, dict) and (order := _order(item, ids[k], parts[1])) is not None
    )  # fmt: skip
    start = body.get("start")
    start_s = None
    if isinstance(start, (int, float)) and not isinstance(start, bool):
        start_s = float(start)
    elif isinstance(start, str):
        try:
            moment = datetime.fromisoformat(start.replace("Z", "+00:00"))
        except ValueError:
            raise RouteMessageError(f"start: {start!r} is not a time") from None
        if moment.tzinfo is None:
            raise RouteMessageError(f"start: {start!r} has no time zone")
        start_s = moment.timestamp()
    route_id = body.get("route_id", "")
    return SentRoute(parts[3], route_id if isinstance(route_id, str) else "", version, ids,
                     start_s, orders, withdrawn)  # fmt: skip


def _order(item: dict, order_id: str, depot_id: str) -> Order | None:
    """The order a stop describes (lat, lon, windows; service, demand, customer when
    given); None when the stop does not say where and when (the twin must know it)."""
    try:
        lat, lon = float(item["lat"]), float(item["lon"])
        windows = tuple(
            TimeWindow(_aware(w["start"]), _aware(w["end"])) for w in item.get("windows", ())
        )
        if not windows:
            return None
        minutes = float(item.get("service_minutes", 5))
        demand = {str(k): float(v) for k, v in (item.get("demand") or {}).items()}
        return Order(
            order_id, depot_id, Location(lat, lon), demand, windows,
            timedelta(minutes=min(max(minutes, 0.0), 600.0)),
            priority=int(item.get("priority", 0) or 0),
            customer=str(item.get("customer", ""))[:200],
            address=str(item.get("address", ""))[:200],
        )  # fmt: skip
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def _aware(text: object) -> datetime:
    if not isinstance(text, str):
        raise ValueError("not a time")
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("no time zone")
    return moment


def ack_message(depot_id: str, sent: SentRoute, ts: float) -> tuple[str, bytes]:
    """The driver's acknowledgement of a route version (``route_ack``)."""
    body = {"v": 1, "event_id": f"ack-{sent.vehicle_id}-{sent.route_id}-{sent.version}",
            "vehicle_id": sent.vehicle_id, "ts": round(ts, 3), "type": "route_ack",
            "route_id": sent.route_id, "version": sent.version}  # fmt: skip
    return f"fleet/{depot_id}/vehicle/{sent.vehicle_id}/route_ack", msgspec.json.encode(body)
