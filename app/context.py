"""The application context: settings, store, day state and jobs, built once at start.

It loads the depot's day from the store, seeds the demo day on first start when the
database is empty, and plans the day in the background when no plan is stored yet.
With a shared PostgreSQL database it works on a local copy of the day instead
(``app.sync.session``): commands are queued for the shared database in the same local
transaction, other workstations' changes arrive by themselves, and it keeps working offline.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from PySide6.QtCore import QObject, Signal

from app.day.state import DayState
from app.dispatch.preview import states_from_fixes
from app.dispatch.service import DispatchService, ReplanScope, diff_changes, replan_job
from app.exceptions.board import ExceptionBoard
from app.jobs.heap import HeapKeeper
from app.jobs.runner import JobRunner
from app.settings import Settings
from app.sync.session import SyncSession, is_shared_url, local_copy_path
from app.telemetry.session import LiveSession, eta_travel_times, merge_stop_states
from app.travel.choose import travel_model_for

log = logging.getLogger(__name__)

#: The kinds of background job the context runs (on its JobRunner).
JOB_KINDS = ("plan", "geometry", "replan", "eta-travel", "prepare", "basemap")


#: Sources of the DayState changes that a dispatch command wrote (see DispatchService).
COMMAND_SOURCES = frozenset({"reassign", "lock", "unlock", "apply", "undo", "redo", "accept"})


class AppContext(QObject):
    """Everything the window needs, with no widgets in it."""

    sig_status = Signal(str)
    sig_route_geometry = Signal(object)  # {route_id: N x 2 lat/lon along the streets}
    sig_proposal_ready = Signal(object, object)  # engine.planning.Proposal, ReplanScope | None
    sig_sync_status = Signal(object)  # app.sync.status.SyncStatus (shared database only)
    sig_editors = Signal(object)  # {route_id: [Editor]}: who else edits which route

    def __init__(
        self, settings: Settings, *, headless: bool = False, parent: QObject | None = None
    ):
        super().__init__(parent)
        from app.store import open_store

        self.settings = settings
        self.headless = headless
        self.sync: SyncSession | None = None
        if is_shared_url(settings.database_url):
            from app.secrets import database_url_with_password
            from app.settings import user_data_dir

            local = local_copy_path(user_data_dir(), settings.workstation_id)
            self.store = open_store(f"sqlite:///{local}", workstation=settings.workstation_id)
            self.sync = SyncSession(
                self.store,
                database_url_with_password(settings.database_url),
                workstation=settings.workstation_id,
                user=settings.user,
                parent=self,
            )
            self.sync.sig_status.connect(self._on_sync_status)
            self.sync.sig_editors.connect(self.sig_editors)
        else:
            self.store = open_store(
                settings.effective_database_url, workstation=settings.workstation_id
            )
        self._local_versions: tuple[dict[str, int], int] | None = None
        self.state = DayState(self)
        self.jobs = JobRunner(self)
        self.heap: HeapKeeper | None = None
        self.jobs.sig_job_done.connect(self._on_job_done)
        self.jobs.sig_job_progress.connect(self._on_job_progress)
        self.depot_id: str = ""
        self.day: date | None = None
        self.dispatch: DispatchService | None = None
        self.tiles = self._open_tiles()
        self.board = ExceptionBoard(self)
        self.live = LiveSession(
            settings,
            self.store,
            self.state,
            self.board,
            simulate=settings.simulate and not settings.mqtt_url,
            speedup=settings.demo_speedup,
            parent=self,
        )
        self.state.sig_changed.connect(self._on_state_changed)

    def keep_heap_settled(self) -> None:
        """For the window (a long-running process): short collector pauses, the day's
        long-lived data frozen after each background job (see :mod:`app.jobs.heap`)."""
        if self.heap is None:
            self.heap = HeapKeeper(self)
            self.jobs.sig_job_finished.connect(self._settle_heap_when_idle)

    def _settle_heap_when_idle(self, _kind: str) -> None:
        if self.heap is not None and not any(self.jobs.is_running(k) for k in JOB_KINDS):
            self.heap.settle()

    def _open_tiles(self):
        """Map tiles: from the configured tile server, else drawn from the street network."""
        from app.settings import user_data_dir
        from app.tiles import open_tile_service
        from engine.roads import DEMO_CITY_NETWORK, StreetNetwork

        network = StreetNetwork.load(DEMO_CITY_NETWORK) if DEMO_CITY_NETWORK.exists() else None
        return open_tile_service(user_data_dir(), self.settings.tile_url, network)

    # -- start ---------------------------------------------------------------------------
    def start(self) -> None:
        """Load (or seed) the day, and plan it in the background when no plan is stored."""
        from app.store import repository

        # With a shared database, the day is read (and the demo seeded) there; the local
        # copy takes it below. Unreachable: the local copy of an earlier start serves.
        shared = self.sync.open_shared() if self.sync is not None else None
        source = shared or self.store
        may_seed = self.sync is None or shared is not None
        try:
            with source.session() as session:
                depots = repository.list_depots(session)
                if not depots and self.settings.demo and may_seed:
                    self._seed_demo(session)
                    depots = repository.list_depots(session)
            if not depots:
                self.sig_status.emit(
                    "No depot yet: import one with `python main.py import FOLDER`"
                    if may_seed
                    else "The shared database is unreachable and this workstation has no "
                    "local copy of a day yet: connect it once"
                )
                return
            depot = next((d for d in depots if d.id == self.settings.depot_id), depots[0])
            self.depot_id = depot.id
            self.day = datetime.now(ZoneInfo(depot.timezone)).date()
            with source.session() as session:
                day = repository.load_day(session, depot.id, self.day)
                if not day.orders and self._is_demo_depot(depot.id) and may_seed:
                    # The demo depot gets a fresh demo day each day it is opened on.
                    self._seed_demo(session)
                    day = repository.load_day(session, depot.id, self.day)
        finally:
            if shared is not None:
                shared.close()
        if self.sync is not None:
            self.sync.attach(depot.id, self.day)
            with self.store.read_session() as session:
                day = repository.load_day(session, depot.id, self.day)
        self.dispatch = DispatchService(
            self.store,
            travel_model_for(depot),
            actor=self.actor,
            role=self.settings.role,
            positions=self._live_positions,
            on_write=self.sync.on_write if self.sync is not None else None,
        )
        plan = self.dispatch.load_plan(depot.id, self.day)
        if self.sync is not None:
            self._local_versions = self._stored_versions()
        self.state.set_day(day, depot.id, plan, source="start")
        if plan is not None:
            self._start_live(plan)
        if plan is None and day.orders:
            self.plan_day(time_limit_s=self.settings.first_plan_seconds)

    def _is_demo_depot(self, depot_id: str) -> bool:
        from app.simulator.demo_day import DEPOT_ID

        return self.settings.demo and depot_id == DEPOT_ID

    def _seed_demo(self, session) -> None:
        from app.simulator.demo_day import generate_demo_day
        from app.store import repository

        demo = generate_demo_day(self.settings.demo_seed)
        actor = self.actor
        repository.upsert_depots(session, demo.depots, actor=actor)
        repository.upsert_vehicles(session, demo.vehicles, actor=actor)
        repository.upsert_drivers(session, demo.drivers, actor=actor)
        repository.upsert_orders(session, demo.orders, actor=actor)
        log.info(
            "seeded the demo day: %d orders, %d vehicles", len(demo.orders), len(demo.vehicles)
        )
        self.sig_status.emit(f"Loaded the demo day: {len(demo.orders)} orders")

    # -- commands -----------------------------------------------------------------------
    def plan_day(self, time_limit_s: float = 30.0) -> None:
        """Plan every order of the day in the background (cancellable, superseding)."""
        index = self.state.index
        if index is None:
            return
        day, depot_id = index.day, index.depot.id

        def job(cancel_event, report):
            from engine import planning

            travel = self.travel_model()  # loading the street network takes a moment: not here
            return planning.plan(
                day,
                travel,
                depot_id=depot_id,
                time_limit_s=time_limit_s,
                stop_event=cancel_event,
            )

        self.sig_status.emit(f"Planning {len(index.orders)} orders…")
        self.jobs.submit("plan", job)

    @property
    def actor(self) -> str:
        """Who the audit log names for this workstation's commands."""
        return f"{self.settings.user}@{self.settings.workstation_id}"

    def travel_model(self):
        """The street network where the depot's city ships one, else haversine."""
        index = self.state.index
        return travel_model_for(index.depot if index else None)

    def now(self) -> datetime:
        """The clock of the day: simulated in the demo, else the wall clock."""
        return self.live.now() or self.state.now or datetime.now(UTC)

    def _live_positions(self) -> dict:
        """Where each vehicle is now, for previews and re-plans (none before live data)."""
        return self.live.positions()

    def _warm_basemap(self) -> None:
        """Draw the overview tiles of the day's area ahead of the map asking for them."""
        if self.settings.tile_url:
            return  # a tile server is filled as the map asks (bulk fetching is not allowed)
        index = self.state.index
        lats = [index.depot.location.lat, *(o.location.lat for o in index.orders.values())]
        lons = [index.depot.location.lon, *(o.location.lon for o in index.orders.values())]
        bbox = (min(lons), min(lats), max(lons), max(lats))
        tiles = self.tiles
        self.jobs.submit(
            "basemap", lambda cancel, report: tiles.fill_area(bbox, range(10, 14), stop=cancel)
        )

    def _build_eta_travel(self) -> None:
        """Street travel times between the day's points for live ETAs, built off-thread."""
        index = self.state.index
        points = [index.depot.location, *(o.location for o in index.orders.values())]

        def job(cancel_event, report):
            return eta_travel_times(self.travel_model(), points)

        self.jobs.submit("eta-travel", job)

    def _start_live(self, plan) -> None:
        """Telemetry, ETAs and exceptions over the plan; the demo's simulated fleet too."""
        if self.live.service is not None:
            self.live.watch(plan)
            return
        index = self.state.index
        simulate = self.live.simulate and index is not None and self._is_demo_depot(index.depot.id)
        self.live.simulate = simulate
        try:
            self.live.start(plan)
        except Exception as exc:  # the day still works without live data; say so
            log.exception("live telemetry could not start")
            self.sig_status.emit(f"Live telemetry is off: {exc}")

    def replan(self, route_ids=None, exception_id: str = "", time_limit_s: float = 5.0) -> None:
        """Re-plan the fleet (or only ``route_ids``) in the background; the result is a proposal."""
        index, plan = self.state.index, self.state.plan
        if index is None or plan is None:
            return
        now = self.now()
        scope = ReplanScope(frozenset(route_ids), exception_id) if route_ids else None
        vehicles = states_from_fixes(self._live_positions())
        statuses = {s.order_id: s.status for r in plan.routes for s in r.stops}
        locked = {s.order_id for r in plan.routes for s in r.stops if s.locked}

        def job(cancel_event, report):
            proposal = replan_job(
                plan,
                index.day,
                self.travel_model(),
                now=now,
                vehicles=vehicles,
                statuses=statuses,
                locked=locked,
                route_ids=route_ids,
                time_limit_s=time_limit_s,
                stop_event=cancel_event,
                progress=report,
            )
            return proposal, scope

        what = f"{len(route_ids)} route(s)" if route_ids else "the fleet"
        self.sig_status.emit(f"Re-planning {what} from {now.astimezone(self._zone()):%H:%M}…")
        self.jobs.submit("replan", job)

    def suggest_routes(self, order_id: str) -> list[str]:
        """Other routes the engine ranks best for a stop: feasible first, then by cost."""
        from app.dispatch.preview import vehicle_states
        from engine.planning import Snapshot, suggest

        index, plan = self.state.index, self.state.plan
        if index is None or plan is None:
            return []
        now = self.now()
        states = vehicle_states(plan, index.day, now, states_from_fixes(self._live_positions()))
        locked = frozenset(s.order_id for r in plan.routes for s in r.stops if s.locked)
        ranked = suggest(
            Snapshot(index.day, plan, now, states, locked), order_id, self.travel_model()
        )
        by_vehicle = {r.vehicle_id: r.id for r in plan.routes}
        current = plan.route_of(order_id)
        return [
            by_vehicle[s.vehicle_id]
            for s in ranked
            if s.vehicle_id in by_vehicle
            and (current is None or by_vehicle[s.vehicle_id] != current.id)
        ]

    def _zone(self):
        index = self.state.index
        return ZoneInfo(index.depot.timezone) if index else UTC

    def _on_state_changed(self, changes) -> None:
        if self.sync is not None and changes.source in COMMAND_SOURCES:
            self.sync.poke()  # replay the command's outbox entry now
        plan_moved = self.state.plan is not None and (changes.everything or changes.routes)
        if plan_moved and changes.source not in ("telemetry", "start"):
            self.live.watch(self.state.plan)  # ETAs and rules follow the new plan
        if changes.everything and self.state.index is not None:
            self._build_eta_travel()
            self._warm_basemap()
        if plan_moved and changes.source != "telemetry":  # a stop result moves no route
            self._trace_routes(None if changes.everything else changes.routes)
        if self.state.plan is not None and changes.everything and self.dispatch is not None:
            # The first drag preview needs the day's travel matrices: build them now, off-thread.
            plan, day, now, dispatch = (
                self.state.plan,
                self.state.index.day,
                self.now(),
                self.dispatch,
            )
            self.jobs.submit("prepare", lambda cancel, report: dispatch.prepare(plan, day, now))

    def _trace_routes(self, route_ids) -> None:
        """Follow each route along the streets for the map, in the background."""
        index, plan = self.state.index, self.state.plan
        if index is None or plan is None:
            return
        legs = {
            r.id: [index.depot.location]
            + [index.orders[s.order_id].location for s in r.stops if s.order_id in index.orders]
            + [index.depot.location]
            for r in plan.routes
            if r.stops and (route_ids is None or r.id in route_ids)
        }

        def job(cancel_event, report):
            travel = self.travel_model()
            if not hasattr(travel, "route_polyline"):
                return {rid: [(p.lat, p.lon) for p in pts] for rid, pts in legs.items()}
            out = {}
            for rid, points in legs.items():
                if cancel_event.is_set():
                    return None
                out[rid] = travel.route_polyline(points)
            return out

        self.jobs.submit("geometry", job)

    def _on_job_done(self, kind: str, result: object) -> None:
        if kind == "geometry" and result is not None:
            self.sig_route_geometry.emit(result)
            return
        if kind == "eta-travel" and result is not None:
            self.live.travel = result
            if self.state.plan is not None:
                self.live.watch(self.state.plan)
            return
        if kind == "replan" and result is not None:
            proposal, scope = result
            self.sig_proposal_ready.emit(proposal, scope)
            return
        if kind != "plan" or result is None:
            return
        from app.store import repository

        if self.sync is not None:
            self.sync.save_plan(result, actor=self.actor)  # the local copy and the outbox
        else:
            with self.store.session() as session:
                repository.save_plan(session, result, actor=self.actor)
        plan = self.dispatch.load_plan(result.depot_id, result.day)  # remembers versions
        if self.sync is not None:
            self._local_versions = self._stored_versions()
        self.state.set_plan(plan or result)
        self._start_live(self.state.plan)
        unassigned = len(result.unassigned)
        self.sig_status.emit(
            f"Planned {sum(len(r.stops) for r in result.routes)} stops on "
            f"{sum(1 for r in result.routes if r.stops)} routes"
            + (f", {unassigned} unassigned" if unassigned else "")
        )

    def _on_job_progress(self, kind: str, payload: object) -> None:
        self.sig_status.emit(f"{kind}: {payload}")

    # -- the shared database ---------------------------------------------------------------
    def _stored_versions(self) -> tuple[dict[str, int], int]:
        """The local route versions and the last catch-up with the shared database (a
        catch-up may leave the same version numbers with other stops)."""
        from sqlalchemy import func, select

        from app.store import repository
        from app.store.models import ChangeLogRow
        from app.sync.outbox import REFRESH_ENTITY

        if not self.depot_id or self.day is None:
            return {}, 0
        with self.store.read_session() as session:
            versions = repository.route_versions(session, self.depot_id, self.day)
            last = session.scalar(
                select(func.max(ChangeLogRow.id)).where(ChangeLogRow.entity == REFRESH_ENTITY)
            )
        return versions, last or 0

    def _on_sync_status(self, status) -> None:
        """The sync thread reported: show others' changes and new conflicts, then say so."""
        try:
            self._follow_local_copy()
            if status.conflicts:
                vehicle_of = {r.id: r.vehicle_id for r in self.state.routes}
                for exc in self.sync.conflict_exceptions(vehicle_of):
                    if self.board.get(exc.id) is None:
                        self.board.add(exc)
        except Exception:  # a failed read must not stop the status from showing
            log.exception("following the local copy failed")
        self.sig_sync_status.emit(status)

    def _follow_local_copy(self) -> None:
        """When the local copy's route versions moved (a catch-up with the shared
        database), put its plan in the day state: only the routes that differ change."""
        if self.dispatch is None or self.state.index is None or self.day is None:
            return
        seen = self._stored_versions()
        if seen == self._local_versions:
            return
        plan = self.dispatch.load_plan(self.depot_id, self.day)
        self._local_versions = seen
        versions = seen[0]
        if plan is None:
            return
        if self.live.service is not None:  # keep what telemetry knows about the stops
            plan, _ = merge_stop_states(plan, self.live.service.feed.state.stops)
            self.dispatch.remember(plan, versions)
        old = self.state.plan
        if old is None:
            self.state.set_plan(plan)
            self._start_live(plan)
            return
        changes = diff_changes(old, plan, "sync")
        if changes.routes or changes.orders:
            self.state.set_plan(plan, changes)
        else:
            self.dispatch.remember(old, versions)  # same stops, new versions: edit on from here

    def resolve_conflict(self, exception_id: str, keep: str) -> None:
        """Settle a sync conflict: keep ``"mine"`` (my version again, on top of what is
        stored now) or ``"theirs"``; the board entry is resolved."""
        if self.sync is None:
            raise KeyError(f"{exception_id!r}: no shared database, so no sync conflicts")
        self.sync.resolve_conflict(exception_id, keep=keep, actor=self.actor)
        self.board.resolve(exception_id, self.now(), self.actor)

    def announce_editing(self, route_id: str | None) -> None:
        """Tell the other workstations which route this one edits now (None: none)."""
        if self.sync is not None:
            self.sync.announce(route_id)

    def editors(self) -> dict[str, str]:
        """route id -> who else edits it now, e.g. ``dana@desk-2``."""
        if self.sync is None:
            return {}
        return {
            rid: ", ".join(f"{e.user}@{e.workstation}" for e in found)
            for rid, found in self.sync.editors().items()
        }

    # -- status ---------------------------------------------------------------------------
    def database_label(self) -> str:
        if self.sync is not None:
            status = self.sync.status
            label = f"PostgreSQL {'online' if status.online else 'offline'}"
            if status.conflicts:
                label += f", {status.conflicts} sync conflict{'s' if status.conflicts > 1 else ''}"
            return label
        url = self.settings.effective_database_url
        kind = "SQLite" if url.startswith("sqlite") else "PostgreSQL"
        return f"{kind} online"

    def outbox_pending(self) -> int:
        """Commands written locally and not yet replayed to the shared database."""
        sync = getattr(self, "sync", None)
        return sync.pending() if sync is not None else 0

    def shutdown(self) -> None:
        """Stop jobs and close the store and tile cache (idempotent)."""
        if getattr(self, "_shut_down", False):
            return
        self._shut_down = True
        for kind in JOB_KINDS:
            self.jobs.cancel(kind)
        self.jobs.wait(5000)
        self.live.stop()
        if self.sync is not None:
            self.sync.stop()
        self.tiles.shutdown()
        self.store.close()
