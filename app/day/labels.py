"""How a person reads the day: one name per vehicle, and what a stop is (customer, address,
window, ETA), the same in every pane.

``DayLabels`` is built from the day's index and plan and asked by the panes; a vehicle reads
``V18 · Truck 01 · Yara Kowal`` (id, name, today's driver) wherever it appears.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo

from engine.model import Driver, Order, Plan, Vehicle

SEP = " · "


def vehicle_label(vehicle_id: str, vehicle: Vehicle | None, driver: Driver | None) -> str:
    """``V18 · Truck 01 · Yara Kowal``: id, the vehicle's name, the driver (those known)."""
    parts = [vehicle_id]
    if vehicle is not None and vehicle.name and vehicle.name != vehicle_id:
        parts.append(vehicle.name)
    if driver is not None and driver.name:
        parts.append(driver.name)
    return SEP.join(parts)


def clock(moment: datetime | None, zone: tzinfo) -> str:
    """``HH:MM`` in the depot's time zone (— when unknown)."""
    return moment.astimezone(zone).strftime("%H:%M") if moment is not None else "—"


def window_text(order: Order, zone: tzinfo) -> str:
    """The order's delivery windows in depot time, e.g. ``09:00–11:00, 14:00–16:00``."""
    return ", ".join(f"{clock(w.start, zone)}–{clock(w.end, zone)}" for w in order.windows)


class DayLabels:
    """Names and stop descriptions of one day's plan (cheap to build; rebuilt per plan)."""

    def __init__(
        self,
        orders: Mapping[str, Order],
        vehicles: Mapping[str, Vehicle],
        drivers: Mapping[str, Driver],
        plan: Plan | None,
        timezone: str = "UTC",
    ) -> None:
        self.orders, self.vehicles, self.drivers = orders, vehicles, drivers
        self.zone = ZoneInfo(timezone or "UTC")
        driver_of: dict[str, Driver] = {}
        for d in drivers.values():  # the driver assigned to the vehicle, unless the plan says
            if d.vehicle_id and d.vehicle_id not in driver_of:
                driver_of[d.vehicle_id] = d
        self.route_of: dict[str, str] = {}
        self.vehicle_of_route: dict[str, str] = {}
        for route in plan.routes if plan is not None else ():
            self.vehicle_of_route[route.id] = route.vehicle_id
            driver = drivers.get(route.driver_id or "")
            if driver is not None:
                driver_of[route.vehicle_id] = driver
            for stop in route.stops:
                self.route_of[stop.order_id] = route.id
        self._driver_of = driver_of
        self._names: dict[str, str] = {}

    def vehicle(self, vehicle_id: str | None) -> str:
        """The one name of a vehicle (its id when unknown; "" for none)."""
        if not vehicle_id:
            return ""
        name = self._names.get(vehicle_id)
        if name is None:
            name = self._names[vehicle_id] = vehicle_label(
                vehicle_id, self.vehicles.get(vehicle_id), self._driver_of.get(vehicle_id)
            )
        return name

    def route(self, route_id: str) -> str:
        """A route by its vehicle's name."""
        vid = self.vehicle_of_route.get(route_id)
        return self.vehicle(vid) if vid else route_id

    def vehicle_names(self) -> dict[str, str]:
        """Every vehicle of the day (and of the plan) by id -> its one name."""
        ids = set(self.vehicles) | set(self.vehicle_of_route.values())
        return {vid: self.vehicle(vid) for vid in sorted(ids)}

    def customer(self, order_id: str | None) -> str:
        """``Customer, address`` of a stop (its order id when the order is unknown)."""
        if not order_id:
            return ""
        order = self.orders.get(order_id)
        if order is None:
            return order_id
        return ", ".join(p for p in (order.customer, _street(order.address)) if p) or order_id

    def window(self, order_id: str | None) -> str:
        order = self.orders.get(order_id or "")
        return window_text(order, self.zone) if order is not None else ""

    def clock(self, moment: datetime | None) -> str:
        return clock(moment, self.zone)

    def stop_tooltip(self, order_id: str, eta: datetime | None = None, status: str = "") -> str:
        """Several lines: customer, address, window, ETA, vehicle, order id."""
        order = self.orders.get(order_id)
        if order is None:
            return f"Order {order_id}"
        lines = [order.customer or f"Order {order_id}"]
        if order.address:
            lines.append(order.address)
        when = f"Window {window_text(order, self.zone)}"
        if eta is not None:
            late = (eta - order.latest).total_seconds() / 60
            when += f" · ETA {clock(eta, self.zone)}"
            if late > 0:
                when += f" ({late:.0f} min late)"
        lines.append(when)
        route = self.route_of.get(order_id)
        on = self.route(route) if route else "unassigned"
        lines.append(f"{on} · order {order_id}" + (f" · {status}" if status else ""))
        return "\n".join(lines)


def _street(address: str) -> str:
    """The street part of an address (``1234 S 900 E, Salt Lake City, UT`` -> ``1234 S 900 E``)."""
    return address.split(",", 1)[0].strip()
