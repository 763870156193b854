"""Plain data for the map page: plan, orders and positions turned into JSON-ready dicts.

No Qt here, so the layer content is testable on its own and cheap to build.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Mapping
from datetime import datetime
from typing import Any

import numpy as np

from engine.model import Depot, Order, Plan, Route, StopStatus

# Distinct, colour-blind-friendlier route colours (Tableau 20, darker half first).
ROUTE_COLOURS = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
    "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39",
    "#7b4173", "#3182bd", "#e6550d", "#31a354", "#756bb1", "#636363",
)  # fmt: skip

STATUS_COLOURS = {
    StopStatus.PLANNED: "#ffffff",
    StopStatus.ARRIVED: "#3182bd",
    StopStatus.DELIVERED: "#31a354",
    StopStatus.FAILED: "#d62728",
    StopStatus.SKIPPED: "#9e9e9e",
}

STALE_AFTER_S = 120.0


def route_colour(index: int) -> str:
    return ROUTE_COLOURS[index % len(ROUTE_COLOURS)]


def plan_layers(
    plan: Plan | None,
    orders: Mapping[str, Order],
    depot: Depot | None,
    late_risk: frozenset[str] = frozenset(),
    geometry: Mapping[str, Any] | None = None,
    *,
    keep_routes: Container[str] = frozenset(),
    stops_of: Callable[[int, Route], list[dict[str, Any]]] | None = None,
    lazy_paths: bool = False,
) -> dict[str, Any]:
    """The depot, route polylines and stop markers of a plan, as one JSON-ready dict.

    ``geometry`` maps a route id to the streets it drives (an N x 2 lat/lon sequence);
    routes without one are drawn as straight legs depot → stops → depot. Routes named in
    ``keep_routes`` are left out of ``routes`` (a caller that still has them drawn).
    ``stops_of(index, route)``: the route's stop markers as :func:`route_stops` makes them
    (a caller that keeps those of unchanged routes).
    ``lazy_paths``: a route's streets are left as a :class:`StreetPath`, turned into pairs
    only as its JSON is written (``json.dumps(..., default=json_default)``), one route at a
    time.
    """
    layers: dict[str, Any] = {"depot": None, "routes": [], "stops": []}
    if depot is not None:
        loc = depot.location
        layers["depot"] = {"id": depot.id, "name": depot.name, "lat": loc.lat, "lon": loc.lon}
    if plan is None:
        return layers
    for index, route in enumerate(plan.routes):
        colour = route_colour(index)
        if stops_of is not None:
            stops = stops_of(index, route)
        else:
            stops = route_stops(route, index, orders, late_risk)
        layers["stops"].extend(stops)
        if route.id in keep_routes:
            continue
        path: list[list[float]] = [[s["lat"], s["lon"]] for s in stops]
        if depot is not None:
            home = [depot.location.lat, depot.location.lon]
            path = [home, *path, home] if path else [home]
        streets = (geometry or {}).get(route.id)
        if streets is not None and len(streets) > 1:
            path = StreetPath(streets) if lazy_paths else street_path(streets)
        layers["routes"].append(
            {"id": route.id, "vehicle": route.vehicle_id, "colour": colour, "path": path}
        )
    return layers


def route_stops(
    route: Route, index: int, orders: Mapping[str, Order], late_risk: Container[str] = ()
) -> list[dict[str, Any]]:
    """The stop markers of the plan's ``index``-th route (orders not known are left out)."""
    colour = route_colour(index)
    out = []
    for seq, stop in enumerate(route.stops, start=1):
        order = orders.get(stop.order_id)
        if order is None:
            continue
        out.append(
            {
                "id": stop.order_id,
                "route": route.id,
                "seq": seq,
                "lat": order.location.lat,
                "lon": order.location.lon,
                "status": str(stop.status),
                "fill": STATUS_COLOURS.get(stop.status, "#ffffff"),
                "colour": colour,
                "late": stop.order_id in late_risk,
                "locked": stop.locked,
                "label": order.customer or order.id,
            }
        )
    return out


def restated_stops(
    records: list[dict[str, Any]],
    before: Route,
    route: Route,
    late_risk: Container[str] = (),
) -> list[dict[str, Any]]:
    """The stop markers ``route_stops`` made of ``before`` (at the same place in the plan),
    for ``route``: the same orders in the same order, whose states, locks or late risk may
    differ. A marker none of that changed for is the same dict; the others are copies."""
    by_id = {r["id"]: r for r in records}
    out = []
    for old, stop in zip(before.stops, route.stops, strict=True):
        record = by_id.get(stop.order_id)
        if record is None:
            continue  # an order not known: left out, as route_stops does
        late = stop.order_id in late_risk
        if old.status != stop.status or old.locked != stop.locked or record["late"] != late:
            record = {
                **record,
                "status": str(stop.status),
                "fill": STATUS_COLOURS.get(stop.status, "#ffffff"),
                "late": late,
                "locked": stop.locked,
            }
        out.append(record)
    return out


def street_path(streets: Any) -> list[list[float]]:
    """An N x 2 lat/lon street path as JSON-ready pairs to ~0.1 m (vectorised: a fleet's
    paths hold hundreds of thousands of points)."""
    return np.round(np.asarray(streets, dtype=float).reshape(-1, 2), 6).tolist()


class StreetPath:
    """A route's streets (N x 2 lat/lon) whose JSON-ready pairs are made as its JSON is
    written (:func:`json_default`). A 2,000-route fleet's street paths hold some 700,000
    points: made for every route at once, their pairs (a list and two floats each, about
    two million objects) were alive together for a moment, and Python's allocator kept the
    room they took (some 60 MB of the window's memory) all day."""

    __slots__ = ("streets",)

    def __init__(self, streets: Any) -> None:
        self.streets = streets

    def pairs(self) -> list[list[float]]:
        return street_path(self.streets)


def json_default(value: Any) -> Any:
    """``json.dumps``'s ``default`` for layers made with ``lazy_paths``."""
    if isinstance(value, StreetPath):
        return value.pairs()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _epoch(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value)


def fix_epoch(position: Any) -> float | None:
    """When a fix-like object (or mapping) was taken, in epoch seconds; None if unknown."""
    ts = position.get("ts") if isinstance(position, Mapping) else getattr(position, "ts", None)
    return _epoch(ts)


def vehicle_record(
    vehicle_id: str, position: Any, now: datetime | None, colour: str = "#333333"
) -> dict[str, Any]:
    """One vehicle marker: position, heading and staleness, from a fix-like object.

    ``position`` may be an object or a mapping with ``lat``, ``lon`` and optionally
    ``heading_deg`` (or ``heading``) and ``ts`` (epoch seconds or an aware datetime).
    """
    get = (
        position.get if isinstance(position, Mapping) else lambda k, d=None: getattr(position, k, d)
    )
    heading = get("heading_deg")
    if heading is None:
        heading = get("heading")
    ts = _epoch(get("ts"))
    age = None if ts is None or now is None else max(0.0, now.timestamp() - ts)
    stale = age is not None and age > STALE_AFTER_S
    return {
        "id": vehicle_id,
        "lat": round(float(get("lat")), 6),  # ~0.1 m: enough for a marker
        "lon": round(float(get("lon")), 6),
        "heading": None if heading is None else round(float(heading)),
        "stale": stale,
        # Shown only beside a stale marker; a fresh one's record stays the same as the
        # clock moves on, so the clock alone never resends it.
        "age": round(age) if stale else None,
        "colour": colour,
    }
