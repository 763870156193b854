"""Find orders of the day by id, customer or address (what Ctrl+F searches).

Every word typed must appear (case- and accent-insensitive) in the order's id, customer or
address; hits whose id starts with the text come first, then customer, then address
matches, each in id order. Cancelled orders are found too, marked as such.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from engine.model import Order, Plan


@dataclass(frozen=True)
class OrderHit:
    """One order found: what to show in the list and where it is in the plan."""

    order_id: str
    customer: str
    address: str
    route_id: str | None
    vehicle_id: str | None
    status: str  # "planned", "delivered", ..., "unassigned" or "cancelled"
    window: str  # "09:00–11:00" in the depot's time zone
    planned_arrival: datetime | None = None

    @property
    def on_map(self) -> bool:
        """Whether the map and timeline can show it (it is on a route)."""
        return self.route_id is not None


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _window(order: Order, zone) -> str:
    return ", ".join(
        f"{w.start.astimezone(zone):%H:%M}–{w.end.astimezone(zone):%H:%M}" for w in order.windows
    )


def find_orders(
    text: str,
    orders: Mapping[str, Order],
    plan: Plan | None,
    zone,
    cancelled: Iterable[Order] = (),
    limit: int = 50,
) -> list[OrderHit]:
    """The orders matching ``text`` (every word, anywhere in id, customer or address)."""
    words = [_fold(w) for w in text.split() if w.strip()]
    if not words:
        return []
    where = {s.order_id: (r, s) for r in plan.routes for s in r.stops} if plan else {}
    gone = {o.id: o for o in cancelled if o.id not in orders}
    ranked: list[tuple[int, str, OrderHit]] = []
    for order in (*orders.values(), *gone.values()):
        fields = (_fold(order.id), _fold(order.customer), _fold(order.address))
        joined = " ".join(fields)
        if not all(w in joined for w in words):
            continue
        first = words[0]
        rank = 0 if fields[0].startswith(first) else 1 if first in fields[1] else 2
        route, stop = where.get(order.id, (None, None))
        if order.id in gone:
            status = "cancelled"
        elif stop is None:
            status = "unassigned"
        else:
            status = str(stop.status)
        hit = OrderHit(
            order.id, order.customer, order.address,
            route.id if route is not None else None,
            route.vehicle_id if route is not None else None,
            status, _window(order, zone), stop.planned_arrival if stop is not None else None,
        )  # fmt: skip
        ranked.append((rank, order.id, hit))
    ranked.sort(key=lambda item: (item[0], item[1]))
    return [hit for _, _, hit in ranked[:limit]]


def hit_line(hit: OrderHit, vehicle_names: Sequence[str] | Mapping[str, str] = ()) -> str:
    """One line for a list: ``O0123 · Rosa's Bakery · 12 Elm St · V07 · planned``."""
    names = dict(vehicle_names) if isinstance(vehicle_names, Mapping) else {}
    vehicle = names.get(hit.vehicle_id or "", hit.vehicle_id or "no route")
    parts = [hit.order_id, hit.customer, hit.address, vehicle, hit.status]
    return " · ".join(p for p in parts if p)
