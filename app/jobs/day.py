"""The day's background jobs and their typed results: plan, re-plan, route shapes, live-ETA
travel times, basemap tiles and the first drag preview's engine context.

Each kind returns its own result class; ``DayJobs`` routes a finished job by that type
(never by a kind string) to a signal or to the live session. Suggestions for a stop are
quick enough to run on the caller's thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from PySide6.QtCore import QObject, Signal

from app.day.clock import DayClock
from app.day.state import ChangeSource, DayChanges, DayState
from app.dispatch.preview import (
    PlanningTimes,
    states_from_fixes,
    vehicle_states,
)
from app.dispatch.replan import unlocked
from app.dispatch.service import DispatchService, ReplanScope, replan_job
from app.jobs.runner import JobKind, JobRunner
from app.release.loaded import loaded_orders
from app.telemetry.session import LiveSession, eta_travel_times, route_point_groups
from app.tiles.service import TileService
from app.travel.choose import travel_model_for
from engine.eta import TravelTimes
from engine.model import DayInput, Plan
from engine.planning import Proposal, Quality, SolveCallbacks

log = logging.getLogger(__name__)

LatLon = tuple[float, float]


@dataclass(frozen=True)
class PlannedDay:
    """``JobKind.PLAN``: a fresh plan of every order of the day (not stored yet), with the
    plan it was started on (``base_plan``: None, the day had none) and its route versions:
    a plan stored meanwhile makes it a conflict, never an overwrite."""

    plan: Plan
    base_plan: str | None = None
    base_versions: dict[str, int] | None = None
    late_stops: int = 0  # stops planned to arrive after their window
    late_min: float = 0.0  # and by how many minutes in all
    seconds: float = 0.0  # how long the planning took

    @property
    def summary(self) -> str:
        unassigned = len(self.plan.unassigned)
        took = f" in {self.seconds:.0f} s" if self.seconds else ""
        return (
            f"Planned {sum(len(r.stops) for r in self.plan.routes)} stops on "
            f"{sum(1 for r in self.plan.routes if r.stops)} routes{took}"
            + (f", {unassigned} unassigned" if unassigned else "")
            + (
                f", {self.late_stops} late by {self.late_min:.0f} min in all"
                if self.late_stops
                else ", none late"
            )
        )


def plan_lateness(plan: Plan, day: DayInput) -> tuple[int, float]:
    """(stops planned to arrive after their window closes, their minutes late in all)."""
    orders = {o.id: o for o in day.orders}
    late = [
        (s.planned_arrival - orders[s.order_id].latest).total_seconds() / 60.0
        for r in plan.routes
        for s in r.stops
        if s.planned_arrival is not None
        and s.order_id in orders
        and s.planned_arrival > orders[s.order_id].latest
    ]
    return len(late), sum(late)


class PlanProgress(SolveCallbacks):
    """The first plan's progress for the status bar: the phase, the time used of its limit,
    the best plan's quality so far (stops served, minutes late, kilometres) and its cost
    (lower is better: distance, time and lateness)."""

    def __init__(self, report: Callable[[str], None], orders: int, limit_s: float) -> None:
        self._report, self._orders, self._limit = report, orders, limit_s
        self._started = time.monotonic()
        self._phase = "building the travel matrices"
        self._cost = ""
        self._quality = ""

    def _say(self) -> None:
        used = time.monotonic() - self._started
        self._report(
            f"{self._orders} orders, {self._phase}, {used:.0f} of {self._limit:.0f} s"
            + (f", best so far {self._quality}" if self._quality else "")
            + (f", cost {self._cost}" if self._cost else "")
        )

    def on_quality(self, best: Quality, elapsed_s: float) -> None:
        self._quality = (
            f"serves {best.served:,} of {best.clients:,} stops, "
            f"{best.lateness_s / 60:,.0f} min late, {best.distance_m / 1000:,.0f} km"
        )
        self._say()

    def on_matrices(self, seconds: float) -> None:
        self._phase = "searching"
        self._started += seconds  # the limit counts from here (the matrices are apart)
        self._say()

    def on_phase(self, name: str) -> None:
        self._phase = f"searching ({name})"
        self._say()

    def on_progress(self, best_cost: float, elapsed_s: float) -> None:
        self._cost = f"{best_cost:,.0f}"
        self._say()


@dataclass(frozen=True)
class ReplanReady:
    """``JobKind.REPLAN``: a proposal to accept or reject, and what it may change."""

    proposal: Proposal
    scope: ReplanScope | None
    whole_day: bool = False  # "Plan the day" on a live day: locks dropped, served kept


@dataclass(frozen=True)
class RouteShapes:
    """``JobKind.GEOMETRY``: each route's path along the streets (lat, lon points)."""

    polylines: dict[str, list[LatLon]]


@dataclass(frozen=True)
class EtaTravel:
    """``JobKind.ETA_TRAVEL``: travel times between the day's points for live ETAs."""

    travel: TravelTimes


@dataclass(frozen=True)
class BasemapTiles:
    """``JobKind.BASEMAP``: overview tiles drawn into the cache (added, failed)."""

    added: int
    failed: int


@dataclass(frozen=True)
class DragPrepared:
    """``JobKind.PREPARE``: the engine context of the first drag preview is built."""

    plan_id: str


JobResult = PlannedDay | ReplanReady | RouteShapes | EtaTravel | BasemapTiles | DragPrepared
Job = Callable[[threading.Event, Callable[[Any], None]], JobResult | None]


class DayJobs(QObject):
    """Starts the day's jobs on the runner and hands each typed result on."""

    sig_status = Signal(str)
    sig_planned = Signal(object)  # PlannedDay: store it, then show it
    sig_proposal_ready = Signal(object, object)  # engine.planning.Proposal, ReplanScope | None
    sig_day_proposal_ready = Signal(object)  # Proposal: the live day planned again, from now
    sig_route_geometry = Signal(object)  # {route_id: [(lat, lon), ...] along the streets}

    def __init__(
        self,
        state: DayState,
        runner: JobRunner,
        clock: DayClock,
        live: LiveSession,
        tiles: TileService,
        *,
        tile_url: str = "",
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.state, self.runner, self.clock, self.live, self.tiles = (
            state, runner, clock, live, tiles,
        )  # fmt: skip
        self.tile_url = tile_url
        self.dispatch: DispatchService | None = None  # once the day is open
        #: The depot's learned service times and travel factors (``app.kpis.learn``), used
        #: by plans, re-plans and live ETAs once learned (``main.py kpis learn``).
        self.learned: Any = None
        #: A recorded day is shown (replay): its stops, positions and exceptions come
        #: from the recording, so no live ETA travel is built for it.
        self.recorded = False
        #: What else the preparation after a new plan warms on its thread: the whole-day
        #: contexts of suggestions, urgent insertions, the dock dialog and the slot plan
        #: (each ``warm(plan, day, now)``), so their first use is as fast as the next.
        self.warmers: list[Callable[[Plan, DayInput, datetime], object]] = []
        #: The routes a street trace still owes the map (None: every route): a newer trace
        #: supersedes a running one, so it takes over what that one had not delivered.
        self._untraced: set[str] | None = set()
        runner.sig_job_done.connect(self._on_runner_job_done)
        runner.sig_job_progress.connect(self._on_runner_job_progress)

    def travel_model(self):
        """The street network where the depot's city ships one, else haversine."""
        index = self.state.index
        return travel_model_for(index.depot if index else None)

    def planning_inputs(self, day: DayInput, travel: Any) -> tuple[DayInput, Any]:
        """The day and travel model plans are made with: the learned service times and
        travel factors where the depot has them, else as given; legs timed as the plan
        and the live ETAs time them (``PlanningTimes.travel``)."""
        times = PlanningTimes(self.learned)  # what previews use too (the dispatch service's)
        return times.day(day), times.travel(travel)

    def _submit(self, kind: JobKind, job: Job) -> None:
        self.runner.submit(kind, job)

    # -- what follows a change of the day -------------------------------------------------
    def on_day_changed(self, changes: DayChanges) -> None:
        """Rebuild what depends on the day: ETA travel, basemap, route shapes, the first
        drag's engine context; and keep the live ETAs and rules on the shown plan."""
        state, plan = self.state, self.state.plan
        plan_moved = plan is not None and (changes.everything or bool(changes.routes))
        if plan is not None and plan_moved and changes.source not in (
            ChangeSource.TELEMETRY, ChangeSource.START,
        ):  # fmt: skip
            self.live.watch(plan)  # ETAs and rules follow the new plan
        if changes.everything and state.index is not None:
            self.build_eta_travel()
            self.warm_basemap()
        if plan_moved and changes.source != ChangeSource.TELEMETRY:  # stop results move no route
            self.trace_routes(None if changes.everything else changes.routes)
        if state.plan is not None and changes.everything and self.dispatch is not None:
            self.prepare_drag(self.dispatch)

    # -- the jobs ------------------------------------------------------------------------
    def plan_day(self, time_limit_s: float = 30.0) -> None:
        """Plan every order of the day in the background (cancellable, superseding)."""
        index = self.state.index
        if index is None:
            return
        day, depot_id = index.day, index.depot.id
        shown = self.state.plan  # what this plan is based on: stored over it only if unchanged
        base_plan = shown.id if shown is not None else None
        base_versions: dict[str, int] = {}
        if shown is not None and self.dispatch is not None:
            base_versions = self.dispatch.versions_of(shown) or {}

        def job(cancel_event, report) -> PlannedDay:
            from app.release.planning import plan_with_release

            travel = self.travel_model()  # loading the street network takes a moment: not here
            planned_day, travel = self.planning_inputs(day, travel)  # learned, where known
            # Waves' cut-offs kept apart, a dock slot per route, departures following them.
            started = time.monotonic()
            progress = PlanProgress(report, len(day.orders), time_limit_s)
            plan, _report = plan_with_release(planned_day, travel, depot_id=depot_id,
                                              time_limit_s=time_limit_s, stop_event=cancel_event,
                                              callbacks=progress)  # fmt: skip
            late, late_min = plan_lateness(plan, day)
            return PlannedDay(plan, base_plan, base_versions, late, late_min,
                              time.monotonic() - started)  # fmt: skip

        self.sig_status.emit(f"Planning {len(index.orders)} orders…")
        self._submit(JobKind.PLAN, job)

    def replan(
        self,
        positions: Mapping[str, Any],
        route_ids: Collection[str] | None = None,
        exception_id: str = "",
        time_limit_s: float = 5.0,
        *,
        whole_day: bool = False,
        unavailable: Collection[str] = (),
        drive_factors: Mapping[str, float] | None = None,
    ) -> None:
        """Re-plan the fleet (or only ``route_ids``) in the background; the result is a
        proposal. ``positions``: the vehicles' latest fixes. ``whole_day``: the day planned
        again from now (what "Plan the day" does once stops are served or routes released):
        every stop not served may move, locks included (they are dropped). ``unavailable``:
        vehicles broken down: their open stops go to the others. Whatever the re-plan, the
        stops the dock loaded onto a van that has not left stay on it (re-sequenced at
        most: ``app.release.loaded``), and the proposal says so. ``drive_factors``: each
        vehicle's drive time so far over the street model's (the live ETAs' speed factor):
        the proposal names the vans of its scope that drive much slower."""
        index, plan = self.state.index, self.state.plan
        if index is None or plan is None:
            return
        now = self.clock.now()
        scope = ReplanScope(frozenset(route_ids), exception_id) if route_ids else None
        vehicles = states_from_fixes(positions)
        statuses = {s.order_id: s.status for r in plan.routes for s in r.stops}
        locked = {s.order_id for r in plan.routes for s in r.stops if s.locked}
        started = plan
        factors = dict(drive_factors or {})
        store = self.dispatch.store if self.dispatch is not None else None
        if whole_day:
            plan, locked, scope, route_ids = unlocked(plan), set(), None, None

        def job(cancel_event, report) -> ReplanReady:
            # Timed as the plan and the live ETAs are (planning_inputs): the proposal's
            # "before" is the day the dispatcher sees, not the rest of it at peak speeds.
            day, travel = self.planning_inputs(index.day, self.travel_model())
            proposal = replan_job(
                plan, day, travel, now=now, vehicles=vehicles,
                statuses=statuses, locked=locked, route_ids=route_ids, time_limit_s=time_limit_s,
                stop_event=cancel_event, progress=report, unavailable=frozenset(unavailable),
                loaded=loaded_orders(store, plan), drive_factors=factors,
            )  # fmt: skip
            if self.dispatch is not None:  # accepted against what it saw, not what is shown then
                self.dispatch.note_replan_base(proposal, started)
            return ReplanReady(proposal, scope, whole_day)

        what = f"{len(route_ids)} route(s)" if route_ids else "the fleet"
        what = "the day again" if whole_day else what
        self.sig_status.emit(f"Re-planning {what} from {now.astimezone(self._zone()):%H:%M}…")
        self._submit(JobKind.REPLAN, job)

    def suggest_routes(self, order_id: str, positions: Mapping[str, Any]) -> list[str]:
        """Other routes the engine ranks best for a stop: feasible first, then by cost
        (from the dispatch service's kept engine context: no rebuild of the day)."""
        from engine.planning import Snapshot, suggest

        index, plan = self.state.index, self.state.plan
        if index is None or plan is None:
            return []
        now = self.clock.now()
        if self.dispatch is not None:
            ranked = self.dispatch.suggest(plan, index.day, order_id, now)
        else:
            day, travel = self.planning_inputs(index.day, self.travel_model())
            states = vehicle_states(plan, day, now, states_from_fixes(positions))
            ranked = suggest(Snapshot(day, plan, now, states), order_id, travel)
        by_vehicle = {r.vehicle_id: r.id for r in plan.routes}
        current = plan.route_of(order_id)
        return [
            by_vehicle[s.vehicle_id]
            for s in ranked
            if s.vehicle_id in by_vehicle
            and (current is None or by_vehicle[s.vehicle_id] != current.id)
        ]

    def trace_routes(self, route_ids: Collection[str] | None) -> None:
        """Follow each route along the streets for the map, in the background."""
        index, plan = self.state.index, self.state.plan
        if index is None or plan is None:
            return
        if route_ids is None or self._untraced is None:
            self._untraced = None
        else:  # with what a superseded trace had not delivered yet
            self._untraced |= set(route_ids)
        owed = self._untraced
        legs = {
            r.id: [index.depot.location]
            + [index.orders[s.order_id].location for s in r.stops if s.order_id in index.orders]
            + [index.depot.location]
            for r in plan.routes
            if r.stops and (owed is None or r.id in owed)
        }

        def job(cancel_event, report) -> RouteShapes | None:
            travel = self.travel_model()
            if not hasattr(travel, "route_polyline"):
                return RouteShapes(
                    {rid: [(p.lat, p.lon) for p in pts] for rid, pts in legs.items()}
                )
            out = {}
            for rid, points in legs.items():
                if cancel_event.is_set():
                    return None
                out[rid] = travel.route_polyline(points)
            return RouteShapes(out)

        self._submit(JobKind.GEOMETRY, job)

    def build_eta_travel(self) -> None:
        """Street travel times between the day's points for live ETAs, built off-thread.
        Not before the day has a plan (there are no ETAs without one): the plan's arrival
        builds them, a big day from each route's legs instead of a matrix over all its
        points (a new 2,000-van day would otherwise build a 4,001 x 4,001 one first).
        Never for a recorded day (replay): its points may lie off the depot's streets."""
        index, plan = self.state.index, self.state.plan
        if index is None or plan is None or self.recorded:
            return  # a recorded day is shown as it was recorded: no live ETAs
        points = [index.depot.location, *(o.location for o in index.orders.values())]
        groups = route_point_groups(index.depot.location, plan, index.orders)
        learned = self.learned

        def job(cancel_event, report) -> EtaTravel:
            travel = eta_travel_times(self.travel_model(), points, groups)
            if learned is not None:  # drives take what history says at their hour
                travel = travel.with_factors(learned.travel)
            return EtaTravel(travel)

        self._submit(JobKind.ETA_TRAVEL, job)

    def warm_basemap(self) -> None:
        """Draw the overview tiles of the day's area ahead of the map asking for them."""
        index = self.state.index
        if self.tile_url or index is None:
            return  # a tile server is filled as the map asks (bulk fetching is not allowed)
        lats = [index.depot.location.lat, *(o.location.lat for o in index.orders.values())]
        lons = [index.depot.location.lon, *(o.location.lon for o in index.orders.values())]
        bbox = (min(lons), min(lats), max(lons), max(lats))
        tiles = self.tiles

        def job(cancel_event, report) -> BasemapTiles:
            return BasemapTiles(*tiles.fill_area(bbox, range(10, 14), stop=cancel_event))

        self._submit(JobKind.BASEMAP, job)

    def prepare_drag(self, dispatch: DispatchService) -> None:
        """The first drag preview needs the live positions and the drivers' pairing, and
        suggestions, insertions and the release dialogs the whole day's context: build
        them now, off the window's thread (a click meanwhile waits for them)."""
        index, plan = self.state.index, self.state.plan
        if index is None or plan is None:
            return
        day, now = index.day, self.clock.now()
        warmers = list(self.warmers)

        def job(cancel_event, report) -> DragPrepared:
            dispatch.prepare(plan, day, now)
            for warm in warmers:
                if cancel_event.is_set():  # a newer plan: its own preparation follows
                    break
                try:
                    warm(plan, day, now)
                except Exception:  # the first click builds it then, and says what failed
                    log.exception("building the day's context ahead failed")
            return DragPrepared(plan.id)

        self._submit(JobKind.PREPARE, job)

    # -- results -------------------------------------------------------------------------
    def _on_runner_job_done(self, kind: JobKind, result: object) -> None:
        match result:
            case PlannedDay():
                self.sig_planned.emit(result)
            case ReplanReady(proposal=proposal, whole_day=True):
                self.sig_day_proposal_ready.emit(proposal)
            case ReplanReady(proposal=proposal, scope=scope):
                self.sig_proposal_ready.emit(proposal, scope)
            case RouteShapes(polylines=polylines):
                self._untraced = set()  # the latest trace: it held every route owed
                self.sig_route_geometry.emit(polylines)
            case EtaTravel(travel=travel):
                self.live.travel = travel
                if self.state.plan is not None:
                    self.live.watch(self.state.plan)
            case BasemapTiles() | DragPrepared() | None:
                pass
            case _ if kind is JobKind.RELEASE_GATE:
                pass  # release control takes its own (app.release.service)
            case _:
                log.warning("job %s returned %r, which nothing takes", kind, type(result))

    def _on_runner_job_progress(self, kind: JobKind, payload: object) -> None:
        self.sig_status.emit(f"{kind}: {payload}")

    def _zone(self) -> tzinfo:
        index = self.state.index
        return ZoneInfo(index.depot.timezone) if index else UTC
