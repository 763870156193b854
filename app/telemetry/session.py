"""The live day: telemetry in, ETAs and exceptions out, stop results laid over the plan.

It owns the ``TelemetryService`` (embedded broker by default, or the configured one) and,
for the demo depot, the fleet simulator driven in-process on a simulated clock. Fixes move
vehicles, stop events update the stops of the plan held in ``DayState`` (one change record
per batch), and each evaluation of the rules feeds the exception board.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from app.day.state import Changes, DayState
from app.exceptions.board import ExceptionBoard
from engine.eta import TravelTimes
from engine.geo import haversine_matrix_m
from engine.model import Plan

log = logging.getLogger(__name__)

#: Where the simulated demo day starts (depot clock): drivers have just left the depot.
DEMO_START = time(7, 30)


def _dt(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def merge_stop_states(plan: Plan, stops: dict) -> tuple[Plan, frozenset[str]]:
    """The plan with telemetry's stop results laid over it; and the routes that changed."""
    changed: set[str] = set()
    routes = []
    for route in plan.routes:
        new_stops = []
        for stop in route.stops:
            st = stops.get(stop.order_id)
            if st is None or st.status == stop.status:
                new_stops.append(stop)
                continue
            new_stops.append(
                replace(
                    stop,
                    status=st.status,
                    actual_arrival=_dt(st.arrived_at) or stop.actual_arrival,
                    actual_departure=_dt(st.departed_at or st.done_at) or stop.actual_departure,
                )
            )
            changed.add(route.id)
        routes.append(replace(route, stops=tuple(new_stops)) if route.id in changed else route)
    return (replace(plan, routes=tuple(routes)) if changed else plan), frozenset(changed)


def eta_travel_times(travel, points) -> TravelTimes:
    """Travel times for live ETAs: the travel model's matrix between the day's points, and
    for a vehicle between points (its live position) a straight-line speed fitted to it."""
    matrices = travel.matrices(points)
    duration = matrices.duration_s
    lat = np.array([p.lat for p in points])
    lon = np.array([p.lon for p in points])
    straight = haversine_matrix_m(lat, lon)
    mask = (duration > 60) & (straight > 200)
    detour = 1.3
    speed_mps = (
        float(np.median(straight[mask] * detour / duration[mask])) if mask.any() else 35 / 3.6
    )
    return TravelTimes(points, duration, fallback_speed_kmh=speed_mps * 3.6, detour=detour)


class LiveSession(QObject):
    """Connects telemetry to the day state, the exception board and the panes."""

    sig_vehicles_moved = Signal(dict)  # vehicle_id -> newest fix
    sig_etas_updated = Signal(dict)  # order_id -> predicted arrival (datetime)
    sig_connection_changed = Signal(str)
    sig_clock = Signal(object)  # datetime: the clock of the day (simulated in the demo)

    def __init__(
        self,
        settings,
        store,
        state: DayState,
        board: ExceptionBoard,
        *,
        simulate: bool,
        speedup: float,
        parent: QObject | None = None,
    ):
        super().__init__(parent)
        self.settings, self.store, self.state, self.board = settings, store, state, board
        self.simulate = simulate
        self.speedup = speedup
        self.service = None
        self.simulator = None
        self.connection = "disconnected"
        self.travel: TravelTimes | None = None  # street-based once built; haversine until then
        self._clock = None
        self._merge_timer = QTimer(self)
        self._merge_timer.setSingleShot(True)
        self._merge_timer.setInterval(1000)
        self._merge_timer.timeout.connect(self._merge_stop_results)

    # -- start and stop -------------------------------------------------------------------
    def start(self, plan: Plan) -> None:
        """Start listening (and, for the demo, driving the simulated fleet) over ``plan``."""
        from app.telemetry.service import SimClock, TelemetryService

        index = self.state.index
        if index is None:
            return
        if self.simulate:
            zone = ZoneInfo(index.depot.timezone)
            start = datetime.combine(index.day.day, DEMO_START, zone).timestamp()
            self._clock = SimClock(start, self.speedup)
        else:
            self._clock = lambda: datetime.now(UTC).timestamp()
        self.service = TelemetryService(
            self.settings, self.store, vehicles=list(index.vehicles), clock=self._clock, parent=self
        )
        feed = self.service.feed
        feed.sig_fixes_applied.connect(self._on_feed_fixes_applied)
        feed.sig_events_applied.connect(self._on_feed_events_applied)
        feed.sig_connection_changed.connect(self._on_feed_connection_changed)
        self.service.sig_etas_updated.connect(self._on_service_etas_updated)
        self.service.sig_exceptions_changed.connect(self.board.apply)
        self.service.start()
        self.watch(plan)
        if self.simulate:
            from app.simulator import Simulator

            rate = min(1.0, 10.0 / max(self.speedup, 1.0))  # keep the broker's load moderate
            self.simulator = Simulator(plan, index.day, seed=self.settings.demo_seed, rate_hz=rate)
            self.service.drive_simulator(self.simulator)
            log.info(
                "demo: simulating the fleet from %s at %gx",
                DEMO_START.strftime("%H:%M"),
                self.speedup,
            )

    def watch(self, plan: Plan) -> None:
        """Evaluate ETAs and rules over the current plan (after every command)."""
        index = self.state.index
        if self.service is None or index is None:
            return
        self.service.watch(plan, index.orders, depot=index.depot.location, fleet=index.vehicles)

    def stop(self) -> None:
        if self.service is not None:
            self.service.stop()
            self.service = None

    # -- reads ------------------------------------------------------------------------------
    def now(self) -> datetime | None:
        return None if self._clock is None else datetime.fromtimestamp(self._clock(), UTC)

    def positions(self) -> dict:
        return dict(self.service.feed.state.positions) if self.service is not None else {}

    def reject_counts(self) -> dict[str, int]:
        return self.service.ingest.reject_counts() if self.service is not None else {}

    # -- reactions ----------------------------------------------------------------------------
    def _on_feed_fixes_applied(self, moved: dict) -> None:
        now = self.now()
        if now is not None:
            self.state.set_now(now)
            self.sig_clock.emit(now)
        self.sig_vehicles_moved.emit(moved)

    def _on_feed_events_applied(self, _events: list) -> None:
        # Stop results reach the plan at most once a second: each merge repaints the
        # routes, the timeline and the map, which must not happen on every 150 ms drain.
        if not self._merge_timer.isActive():
            self._merge_timer.start()

    def _merge_stop_results(self) -> None:
        plan = self.state.plan
        if plan is None or self.service is None:
            return
        merged, changed = merge_stop_states(plan, self.service.feed.state.stops)
        if changed:
            self.state.set_plan(merged, Changes(routes=changed, source="telemetry"))

    def _on_feed_connection_changed(self, state: str) -> None:
        self.connection = state
        self.sig_connection_changed.emit(state)

    def _on_service_etas_updated(self, result) -> None:
        etas = {s.order_id: s.eta for route in result.etas.values() for s in route.stops}
        self.sig_etas_updated.emit(etas)
