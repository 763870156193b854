"""The live day: telemetry in, ETAs and exceptions out, stop results for the plan.

It owns the ``TelemetryService`` (embedded broker by default, or the configured one) on the
day's clock (simulated for the demo depot, whose fleet ``app.simulator.driver`` drives).
Fixes move vehicles; stop events are offered, at most once a second, as stop results to lay
over the plan (the dispatch service writes them into ``DayState``); each evaluation of the
rules feeds the exception board.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from app.day.clock import DayClock
from app.day.state import DayState
from app.exceptions.board import ExceptionBoard
from app.telemetry.service import TelemetryService
from app.telemetry.state import StopState
from engine.eta import LegTravelTimes, TravelTimes
from engine.geo import haversine_matrix_m
from engine.learning import Z90, ServiceProfile
from engine.model import Plan

log = logging.getLogger(__name__)


#: Above this many points the ETAs' travel times are kept per route leg (``LegTravelTimes``)
#: instead of one matrix over all the day's points (24,005 points at 2,000 vehicles would be
#: a 4.6 GB array, several of them while it is built).
MATRIX_MAX_POINTS = 3000


def eta_travel_times(travel, points, groups=None, *, max_points: int | None = None):
    """Travel times for live ETAs: the travel model's matrix between the day's points, and
    for a vehicle between points (its live position) a straight-line speed fitted to it.

    With ``groups`` (each route's points, its depot first) and more than ``max_points``
    points, only each group's points among themselves are asked of the travel model; any
    other pair of the day's points is asked when an ETA needs it (a stop moved to another
    route) and kept. A leg has the same seconds either way."""
    if max_points is None:
        max_points = MATRIX_MAX_POINTS
    if groups is None or len(points) <= max_points:
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
    legs: dict = {}
    ratios: list[np.ndarray] = []
    detour = 1.3
    for group in groups:
        group = list(dict.fromkeys(group))
        if len(group) < 2:
            continue
        duration = travel.matrices(group).duration_s
        lat = np.array([p.lat for p in group])
        lon = np.array([p.lon for p in group])
        straight = haversine_matrix_m(lat, lon)
        mask = (duration > 60) & (straight > 200)
        if mask.any():
            ratios.append(straight[mask] * detour / duration[mask])
        for i, a in enumerate(group):
            row = duration[i]
            for j, b in enumerate(group):
                legs[(a, b)] = float(row[j])
    speed_mps = float(np.median(np.concatenate(ratios))) if ratios else 35 / 3.6

    def lookup(a, b) -> float:
        return float(travel.matrices([a, b]).duration_s[0, 1])

    return LegTravelTimes(legs, known=frozenset(points), lookup=lookup,
                          fallback_speed_kmh=speed_mps * 3.6, detour=detour)  # fmt: skip


def route_point_groups(depot, plan, orders) -> list:
    """Each route's points, the depot first: the groups :func:`eta_travel_times` keeps."""
    return [
        [depot, *(orders[s.order_id].location for s in r.stops if s.order_id in orders)]
        for r in plan.routes
    ]


#: ETAs are kept for the accuracy KPIs every this many seconds of the day's clock, for stops
#: at most this many minutes ahead (``docs/kpis.md``, ETA accuracy).
SAMPLE_EVERY_S = 300
SAMPLE_AHEAD_MIN = 90


def eta_bands(result, travel_sigma: float, service_sigma: float) -> dict:
    """Per pending stop, the 90th percentile of its arrival: the drives and services before
    it each a lognormal error of their own (``engine.learning.eta_band``), summed; a
    driver's break on the way is no drive (its length is what it is)."""
    out = {}
    for route in result.etas.values():
        var = 0.0
        prev = result.evaluated_at
        for s in route.stops:
            leg = max(0.0, (s.eta - prev).total_seconds() - s.break_s)
            var += (leg * travel_sigma) ** 2
            out[s.order_id] = s.eta + timedelta(seconds=Z90 * math.sqrt(var))
            service = max(0.0, (s.departure - s.service_start).total_seconds())
            var += (service * service_sigma) ** 2
            prev = s.departure
    return out


@dataclass(frozen=True)
class LiveEtas:
    """One evaluation's ETAs as the panes show them, made on the evaluation thread."""

    etas: dict[str, datetime]  # order id -> predicted arrival
    p90: dict[str, datetime]  # order id -> 90th percentile of the arrival
    late: frozenset[str]  # orders whose ETA is past the end of their last window


def live_etas(result, orders, travel_sigma: float, service_sigma: float) -> LiveEtas:
    """The panes' view of an evaluation (``orders``: the day's, by id)."""
    etas = {s.order_id: s.eta for route in result.etas.values() for s in route.stops}
    late = frozenset(oid for oid, eta in etas.items() if oid in orders and eta > orders[oid].latest)
    return LiveEtas(etas, eta_bands(result, travel_sigma, service_sigma), late)


class LiveSession(QObject):
    """Connects telemetry to the day state, the exception board and the panes."""

    # Big payloads go as ``object``: a ``dict`` signal converts its argument to a Qt map and
    # back for every slot (about 15 ms for 4,000 ETAs on the main thread).
    sig_vehicles_moved = Signal(object)  # {vehicle_id: newest fix}
    sig_etas_updated = Signal(object)  # {order_id: predicted arrival (datetime)}
    sig_eta_bands = Signal(object)  # {order_id: 90th percentile of the arrival (datetime)}
    sig_live_etas = Signal(object)  # LiveEtas: the two above, and the late-risk they imply
    sig_connection_changed = Signal(str)
    sig_clock = Signal(object)  # datetime: the clock of the day (simulated in the demo)
    sig_stop_results = Signal(object)  # {order_id: StopState}: lay them over the plan

    def __init__(
        self,
        settings,
        store,
        state: DayState,
        board: ExceptionBoard,
        clock: DayClock,
        *,
        parent: QObject | None = None,
    ):
        super().__init__(parent)
        self.settings, self.store, self.state, self.board = settings, store, state, board
        self.clock = clock
        self.service: TelemetryService | None = None
        self.connection = "disconnected"
        self.travel: TravelTimes | None = None  # street-based once built; haversine until then
        #: Learned service times (``engine.learning.ServiceProfile``): ETAs expect each stop
        #: to take what history says it takes.
        self.service_profile: ServiceProfile | None = None
        #: Spread (sigma of the log) of a drive and of a service around their expected
        #: times: the learned ones once learned (``engine.learning``), else these.
        self.travel_sigma, self.service_sigma = 0.25, 0.3
        self._sampled_slot: int | None = None
        #: Each vehicle's drive time so far over the street model's, as the last live ETAs
        #: found it (``RouteEta.speed_factor``; 1.0 until a leg is driven).
        self.drive_factors: dict[str, float] = {}
        self.evaluation_hooks: list = []  # run after each evaluation (e.g. standing rules)
        self._merge_timer = QTimer(self)
        self._merge_timer.setSingleShot(True)
        self._merge_timer.setInterval(1000)
        self._merge_timer.timeout.connect(self._merge_stop_results)

    # -- start and stop -------------------------------------------------------------------
    def start(
        self,
        plan: Plan,
        *,
        broker_url: str = "",
        protocol: str = "",
        client_id: str = "",
        keep_session: bool = True,
    ) -> None:
        """Start listening over ``plan``, on the day's clock; to ``broker_url`` (another
        desk's demo broker, as ``client_id``, keeping no session there unless
        ``keep_session``) instead of this desk's own broker."""
        index = self.state.index
        if index is None:
            return
        self.service = TelemetryService(
            self.settings,
            self.store,
            depot_id=index.depot.id,
            vehicles=list(index.vehicles),
            clock=self.clock,
            broker_url=broker_url,
            protocol=protocol,
            client_id=client_id,
            keep_session=keep_session,
            parent=self,
        )
        feed = self.service.feed
        feed.sig_fixes_applied.connect(self._on_feed_fixes_applied)
        feed.sig_events_applied.connect(self._on_feed_events_applied)
        feed.sig_connection_changed.connect(self._on_feed_connection_changed)
        self.service.prepare = self._prepare_etas
        self.service.sig_results.connect(self._on_service_results)
        self.service.sig_exceptions_changed.connect(self.board.apply)
        self.service.evaluation_hooks = self.evaluation_hooks
        self.service.start()
        self._restore_live_state()
        self.watch(plan)
        self._restore_exceptions()

    def _day_bounds(self) -> tuple[datetime, datetime] | None:
        """The open day from midnight to midnight on the depot's clock."""
        index = self.state.index
        if index is None:
            return None
        zone = ZoneInfo(index.depot.timezone) if index.depot.timezone else UTC
        since = datetime.combine(index.day.day, time(0), zone)
        return since, since + timedelta(days=1)

    def stored_until(self) -> float | None:
        """Epoch seconds of the day's newest stored fix or stop event of the depot's
        vehicles (where a restarted day left off); None when nothing is stored."""
        bounds, index = self._day_bounds(), self.state.index
        if bounds is None or index is None or self.store is None:
            return None
        from app.telemetry.persist import newest_telemetry

        try:
            with self.store.read_session() as session:
                found = newest_telemetry(session, list(index.vehicles), *bounds)
        except Exception:  # the day starts as on a first start; say so in the log
            log.exception("could not read where the day's telemetry left off")
            return None
        return found.timestamp() if found is not None else None

    def _restore_live_state(self) -> None:
        """The day's stored telemetry (a restart): each vehicle where it was last seen and
        the day's stop events (served stops stay served), as if they had just arrived."""
        bounds, index, service = self._day_bounds(), self.state.index, self.service
        if bounds is None or index is None or service is None or self.store is None:
            return
        from app.telemetry.persist import load_positions, load_stop_events

        since, until = (t.timestamp() for t in bounds)
        vehicles = set(index.vehicles)
        try:
            with self.store.read_session() as session:
                fixes = load_positions(session)
                events = load_stop_events(session, bounds[0])
        except Exception:  # the live day goes on without them; say so in the log
            log.exception("could not read the day's stored telemetry")
            return
        state = service.feed.state
        moved = {f.vehicle_id: f for f in fixes
                 if f.vehicle_id in vehicles and since <= f.ts < until and state.move_to(f)}  # fmt: skip
        events = [e for e in events if e.vehicle_id in vehicles and e.ts < until]
        state.apply_events(events)
        if moved:
            self.sig_vehicles_moved.emit(moved)
        if events:
            self.sig_stop_results.emit(state.stops)
        if moved or events:
            log.info("live state: %d vehicles and %d stop events of the day restored",
                     len(moved), len(events))  # fmt: skip

    def _restore_exceptions(self) -> None:
        """The day's exceptions as stored (a restart): the open ones on the board as they
        were (acknowledged or not) and carried on by the rules under the same ids, the
        first evaluation resolving those whose condition no longer holds; the resolved ones
        on the board as history (who acknowledged and resolved them), as before the
        restart."""
        index, service = self.state.index, self.service
        if index is None or service is None or service.monitor is None or self.store is None:
            return
        from app.exceptions.board import BoardEntry
        from app.store.repository_exceptions import open_exceptions, resolved_exceptions

        since, until = self._day_bounds() or (None, None)
        if since is None or until is None:
            return
        try:
            with self.store.session() as session:
                stored = open_exceptions(session, since, until, actor="rule")
                history = resolved_exceptions(session, since, until)
        except Exception:  # the live day goes on without them; say so in the log
            log.exception("could not read the day's exceptions")
            return
        service.monitor.tracker.adopt(s.exception for s in stored)
        on_board = {e.id for e in self.board.entries()}  # this start's own come first
        history = [s for s in history if s.exception.id not in on_board]
        self.board.load([
            BoardEntry(s.exception, s.acknowledged_at, s.acknowledged_by, s.resolved_by)
            for s in (*history, *stored)
        ])  # fmt: skip
        if stored or history:
            log.info("exceptions: %d open and %d resolved ones of the day restored",
                     len(stored), len(history))  # fmt: skip

    def watch(self, plan: Plan) -> None:
        """Evaluate ETAs and rules over the current plan (after every command)."""
        index = self.state.index
        if self.service is None or index is None:
            return
        orders = index.orders
        if self.service_profile is not None:
            from engine.learning import learned_orders

            orders = {o.id: o for o in learned_orders(index.orders.values(), self.service_profile)}
        self.service.watch(
            plan,
            orders,
            depot=index.depot.location,
            fleet=index.vehicles,
            travel=self.travel,
            timezone=index.depot.timezone,
            drivers=index.drivers,
        )

    def stop(self) -> None:
        if self.service is not None:
            self.service.stop()
            self.service = None

    # -- reads ------------------------------------------------------------------------------
    def positions(self) -> dict:
        return dict(self.service.feed.state.positions) if self.service is not None else {}

    def flags(self) -> dict:
        """Vehicle-level conditions telemetry reported (breakdowns, drivers' breaks)."""
        return dict(self.service.feed.state.flags) if self.service is not None else {}

    def broken_down(self) -> frozenset[str]:
        """Vehicles whose tracker reported a breakdown today (they cannot drive on)."""
        if self.service is None:
            return frozenset()
        flags = dict(self.service.feed.state.flags)
        return frozenset(v for v, f in flags.items() if f.broken_down_at is not None)

    def stop_states(self) -> dict[str, StopState]:
        """What telemetry knows of each stop (arrived, delivered, failed...), by order id."""
        return self.service.feed.state.stops if self.service is not None else {}

    def reject_counts(self) -> dict[str, int]:
        return self.service.ingest.reject_counts() if self.service is not None else {}

    # -- reactions ----------------------------------------------------------------------------
    def _on_feed_fixes_applied(self, moved: dict) -> None:
        self.sig_clock.emit(self.clock.now())
        self.sig_vehicles_moved.emit(moved)

    def _on_feed_events_applied(self, _events: list) -> None:
        # Stop results reach the plan at most once a second: each merge repaints the
        # routes, the timeline and the map, which must not happen on every drain.
        if not self._merge_timer.isActive():
            self._merge_timer.start()

    def _merge_stop_results(self) -> None:
        if self.service is not None:
            self.sig_stop_results.emit(self.service.feed.state.stops)

    @property
    def connection_detail(self) -> str:
        """Why the broker connection is in its state (a refusal in words, a lost link)."""
        return self.service.feed.connection_detail if self.service is not None else ""

    def _on_feed_connection_changed(self, state: str) -> None:
        self.connection = state
        self.sig_connection_changed.emit(state)

    def _prepare_etas(self, result) -> LiveEtas:
        """On the evaluation thread: the ETAs, their bands and late risk, for the panes."""
        index = self.state.index
        orders = index.orders if index is not None else {}
        self._sample_etas_due(result)  # a database write: here too, never on the main thread
        return live_etas(result, orders, self.travel_sigma, self.service_sigma)

    def _on_service_results(self, result, prepared: LiveEtas | None) -> None:
        if prepared is None:  # not made on the evaluation thread (no one asked it to)
            prepared = self._prepare_etas(result)
        self.drive_factors = {e.vehicle_id: e.speed_factor for e in result.etas.values()}
        self.sig_etas_updated.emit(prepared.etas)
        self.sig_eta_bands.emit(prepared.p90)
        self.sig_live_etas.emit(prepared)

    def _sample_etas_due(self, result) -> None:
        slot = int(result.evaluated_at.timestamp() // SAMPLE_EVERY_S)
        if slot != self._sampled_slot:
            self._sampled_slot = slot
            self._sample_etas(result)

    def _sample_etas(self, result) -> None:
        """Keep the ETAs shown now of stops at most 90 minutes ahead (``eta_sample``), for
        the ETA accuracy KPIs (every 5 minutes of the day's clock)."""
        index = self.state.index
        if index is None:
            return
        from app.store import repository_kpis as rk

        now = result.evaluated_at
        horizon = now + timedelta(minutes=SAMPLE_AHEAD_MIN)
        rows = [rk.EtaSample(s.order_id, r.route_id, r.vehicle_id, now, s.eta)
                for r in result.etas.values() for s in r.stops if now < s.eta <= horizon]  # fmt: skip
        if not rows:
            return
        try:
            with self.store.session() as s:
                rk.add_eta_samples(s, index.depot.id, index.day.day, rows)
        except Exception:  # a measurement: a busy database costs one sample
            log.warning("ETA samples not kept this time", exc_info=True)
