"""The day's counts in words, the same wherever they are shown (the routes pane, the KPI
pane's heading, the day report): routes that carry stops, the stops on them, and the
day's orders on no route."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


def _n(count: int, one: str, many: str) -> str:
    return f"{count:,} {one if count == 1 else many}"


@dataclass(frozen=True)
class DayCounts:
    """``routes``: routes with at least one stop; ``empty``: routes without one (a vehicle
    the plan did not use); ``routed``: stops on the routes; ``unassigned``: the day's
    orders on no route."""

    routes: int
    routed: int
    unassigned: int
    empty: int = 0

    @classmethod
    def of(cls, route_stops: Iterable[Iterable[str]], order_ids: Iterable[str]) -> DayCounts:
        """From each route's order ids and the day's order ids."""
        routes = empty = 0
        on_route: set[str] = set()
        for ids in route_stops:
            seq = tuple(ids)
            on_route.update(seq)
            if seq:
                routes += 1
            else:
                empty += 1
        unassigned = sum(1 for oid in order_ids if oid not in on_route)
        return cls(routes, len(on_route), unassigned, empty)

    @property
    def stops_text(self) -> str:
        """``400 routed stops · 1 unassigned`` (the unassigned part only when there are)."""
        text = _n(self.routed, "routed stop", "routed stops")
        return text + (f" · {self.unassigned:,} unassigned" if self.unassigned else "")

    @property
    def routes_text(self) -> str:
        """``25 routes`` (``25 routes (+2 without stops)`` when some carry none)."""
        text = _n(self.routes, "route", "routes")
        return text + (f" (+{self.empty:,} without stops)" if self.empty else "")

    @property
    def text(self) -> str:
        """``25 routes · 400 routed stops · 1 unassigned``."""
        return f"{self.routes_text} · {self.stops_text}"
