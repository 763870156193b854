"""The demo depot's dock scanners: each route's orders scanned onto the van during its dock
slot, as ``loaded`` events on ``fleet/{depot}/dock/{dock}/event``.

The orders of a route are scanned one by one, evenly across its slot. One dock is slow
(its loader takes ``slow_factor`` times the planned time, so its routes overrun their
slots) and one loader starts late on one route of the first wave (``late_minutes``), so
the Release board has something to show. Event ids are the route's and the order's, so a
restarted twin repeats nothing the desk has not seen already.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from engine.model import Plan, Route

SLOW_FACTOR = 1.5
LATE_MINUTES = 25.0


class DockScanner:
    """Scan events for the routes of a plan, as the clock passes (see the module)."""

    def __init__(
        self,
        depot_id: str,
        *,
        slow_dock: str | None = None,
        slow_factor: float = SLOW_FACTOR,
        late_minutes: float = LATE_MINUTES,
    ) -> None:
        self.depot_id = depot_id
        self.slow_dock = slow_dock
        self.slow_factor = slow_factor
        self.late_minutes = late_minutes
        self._due: list[tuple[float, str, bytes]] = []  # (ts, topic, payload), by ts
        self._done: set[str] = set()  # event ids published
        self.late_route: str | None = None

    def set_plan(self, plan: Plan) -> None:
        """Scan the plan's routes (as they are now: a re-slotted route scans anew, orders
        already scanned are not scanned again)."""
        routes = [r for r in plan.routes if r.stops and r.dock_id and r.slot_start and r.slot_end]
        first_wave = sorted(routes, key=lambda r: (r.slot_start, r.id))
        if self.late_route is None and len(first_wave) > 2:
            self.late_route = first_wave[2].id  # the third to load: its loader is late
        due: list[tuple[float, str, bytes]] = []
        for route in routes:
            due.extend(self._scans(route))
        self._due = sorted(due, key=lambda item: item[0])

    def _scans(self, route: Route) -> Iterable[tuple[float, str, bytes]]:
        assert route.slot_start is not None and route.slot_end is not None and route.dock_id
        start, end = route.slot_start.timestamp(), route.slot_end.timestamp()
        span = max(end - start, 60.0)
        if route.dock_id == self.slow_dock:
            span *= self.slow_factor
        if route.id == self.late_route:
            start += self.late_minutes * 60
        n = len(route.stops)
        topic = f"fleet/{self.depot_id}/dock/{route.dock_id}/event"
        for k, stop in enumerate(route.stops):
            event_id = f"scan:{route.id}:{stop.order_id}"
            if event_id in self._done:
                continue
            ts = start + span * (k + 1) / (n + 1)
            payload = {"v": 1, "event_id": event_id, "dock_id": route.dock_id, "ts": ts,
                       "type": "loaded", "route_id": route.id, "order_id": stop.order_id}  # fmt: skip
            yield ts, topic, json.dumps(payload).encode()

    def step(self, now: float) -> list[tuple[str, bytes]]:
        """The scans whose time has come (each once)."""
        out = []
        while self._due and self._due[0][0] <= now:
            _ts, topic, payload = self._due.pop(0)
            event_id = json.loads(payload)["event_id"]
            if event_id not in self._done:
                self._done.add(event_id)
                out.append((topic, payload))
        return out
