"""The composition root: builds the workstation's services once and hands them to the window.

``SyncLink`` opens the store (the database, or with a shared PostgreSQL the local copy and
its way there, ``app.sync.link``); ``DayState`` holds the day, ``DayClock`` its one clock;
``LiveSession`` runs telemetry, ``DayJobs`` the background jobs with their typed results
(``app.jobs.day``). ``start()`` opens the day (``app.day.opening``), builds the
``DispatchService`` — the day state's one writer — and starts live telemetry, with the demo
depot's simulated fleet (``app.simulator.driver``), the standing rules (``app.rules``)
and release control (``app.release.service``: the gate, the dock, routes sent to drivers).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection
from datetime import date, datetime
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal

from app.day.clock import DayClock
from app.day.opening import is_demo_depot, load_day, open_depot_day
from app.day.state import DayState
from app.dispatch.preview import states_from_fixes
from app.dispatch.service import DispatchService
from app.exceptions.board import ExceptionBoard
from app.jobs.day import DayJobs, PlannedDay
from app.jobs.heap import HeapKeeper
from app.jobs.runner import JobKind, JobRunner
from app.release.service import ReleaseService
from app.rules.service import RulesService
from app.settings import Settings, user_data_dir
from app.store import SchemaError, StaleVersionError, Store
from app.store.repository_exceptions import ACKNOWLEDGE, RESOLVE, exception_snapshot
from app.sync.commands import exception_command
from app.sync.conflict_view import ConflictView
from app.sync.identity import desk_identity
from app.sync.link import SyncLink
from app.sync.session import local_copy_path
from app.telemetry.session import LiveSession
from app.tiles.service import TileService
from app.travel.choose import TravelChoice, choose
from engine.model import Plan

if TYPE_CHECKING:
    from app.simulator.driver import SimulatorDriver

log = logging.getLogger(__name__)


class AppContext(QObject):
    """Everything the window needs, with no widgets in it."""

    sig_status = Signal(str)

    def __init__(
        self, settings: Settings, *, headless: bool = False, parent: QObject | None = None
    ):
        super().__init__(parent)
        self.settings = settings
        self.headless = headless
        self.link = SyncLink(settings, self)
        self.store = self.link.store
        self.sync = self.link.session  # None without a shared database
        # Who works here and as what: the shared database says, else the user's profile.
        self.identity = desk_identity(
            settings,
            self.sync.shared_url if self.sync is not None else None,
            remember=local_copy_path(user_data_dir(), settings.workstation_id).with_suffix(
                ".identity.json"
            ),
        )
        if self.sync is not None:
            self.sync.user = self.identity.user
        self.state = DayState(self)
        self.clock = DayClock()
        self.jobs = JobRunner(self)
        self.heap: HeapKeeper | None = None
        self.dispatch: DispatchService | None = None  # once the day is open
        self.fleet: SimulatorDriver | None = None  # the demo depot's simulated vans
        self._after_paint: list[Callable[[], None]] = []  # held back by start(defer_live=True)
        self.travel: TravelChoice | None = None  # the open depot's travel source
        self.depot_id = ""  # the depot this desk opened
        self._tower_store: Store | None = None
        self._tower_lock = threading.Lock()
        self._beat_timer = QTimer(self)
        self._beat_timer.setInterval(10_000)
        self._beat_timer.timeout.connect(self._beat)
        self.tiles = self._open_tiles()
        self.board = ExceptionBoard(self)
        self.live = LiveSession(
            settings, self.store, self.state, self.board, self.clock, parent=self
        )
        self.rules = RulesService(self.store, self.state, self.clock, self.board, self.live, self)
        self.release = ReleaseService(settings, self.store, self.state, self.clock, self.live, self)
        self.release.use_jobs(self.jobs)
        self.day_jobs = DayJobs(
            self.state, self.jobs, self.clock, self.live, self.tiles,
            tile_url=settings.tile_url, parent=self,
        )  # fmt: skip
        # The window's signals, from the parts that own them.
        self.sig_route_geometry = self.day_jobs.sig_route_geometry
        self.sig_proposal_ready = self.day_jobs.sig_proposal_ready
        self.sig_day_proposal_ready = self.day_jobs.sig_day_proposal_ready
        self.sig_sync_status = self.link.sig_status
        self.sig_editors = self.link.sig_editors
        self.day_jobs.sig_status.connect(self.sig_status)
        self.day_jobs.sig_planned.connect(self._on_day_jobs_planned)
        self.link.sig_first_plan.connect(self._start_live)
        self.live.sig_stop_results.connect(self._on_live_stop_results)
        self.state.sig_changed.connect(self.link.on_day_changed)
        self.state.sig_changed.connect(self.day_jobs.on_day_changed)

    def keep_heap_settled(self) -> None:
        """For the window (a long-running process): short collector pauses, the day's
        long-lived data frozen after each background job (see :mod:`app.jobs.heap`)."""
        if self.heap is None:
            self.heap = HeapKeeper(self)
            self.jobs.sig_job_finished.connect(self._settle_heap_when_idle)

    def _settle_heap_when_idle(self, _kind: JobKind) -> None:
        if self.heap is not None and self.jobs.is_idle():
            self.heap.settle()

    def _open_tiles(self) -> TileService:
        """Map tiles: from the configured tile server, else drawn from the street network."""
        from app.settings import user_data_dir
        from app.tiles import open_tile_service
        from engine.roads import DEMO_CITY_NETWORK, StreetNetwork

        network = StreetNetwork.load(DEMO_CITY_NETWORK) if DEMO_CITY_NETWORK.exists() else None
        return open_tile_service(user_data_dir(), self.settings.tile_url, network)

    # -- start ---------------------------------------------------------------------------
    def start(self, *, defer_live: bool = False) -> None:
        """Load (or seed) the day, and plan it in the background when no plan is stored.

        ``defer_live``: a stored plan is shown first; release control (its gate builds the
        day's travel matrices) and live telemetry (broker, demo fleet, rules) wait for
        :meth:`attach_live` — the window calls it once the day is painted, so a restart
        shows the stored day in a few seconds instead of after the broker."""
        # With a shared database, the day is read (and the demo seeded) there; the local
        # copy takes it below. Unreachable: the local copy of an earlier start serves.
        try:
            shared = self.link.open_shared()
        except SchemaError as exc:  # the administrator has not upgraded the shared database
            log.error("%s", exc)
            self.sig_status.emit(str(exc))
            return
        # Seeding the demo day on a shared database is an import: a supervisor's.
        may_seed = self.sync is None or (shared is not None and self.role == "supervisor")
        try:
            opened = open_depot_day(
                shared or self.store, self.settings, may_seed=may_seed, actor=self.actor
            )
        finally:
            if shared is not None:
                shared.close()
        if opened is None:
            self.sig_status.emit(
                "No depot yet: import one with `python main.py import FOLDER`"
                if may_seed
                else "No depot yet on the shared database: a supervisor imports one"
                if shared is not None
                else "The shared database is unreachable and this workstation has no "
                "local copy of a day yet: connect it once"
            )
            return
        if opened.seeded:
            self.sig_status.emit(f"Loaded the demo day: {opened.seeded} orders")
        depot, day = opened.depot, opened.day
        self.depot_id = depot.id
        self._beat()
        self._beat_timer.start()
        self.travel = travel = choose(depot)
        if travel.warning:
            self.sig_status.emit(travel.warning)
        self.use_learning(depot.id)
        if travel.network is not None and not self.settings.tile_url:
            from app.tiles.setup import draw_network

            draw_network(self.tiles, travel.network)
        if self.sync is not None:
            self.sync.attach(depot.id, day.day)
            day = load_day(self.store, depot.id, day.day)
        self.dispatch = DispatchService(
            self.store, travel.model, actor=self.actor, role=self.role,
            positions=lambda: states_from_fixes(self.live.positions()), state=self.state,
            on_write=self.sync.on_write if self.sync is not None else None,
        )  # fmt: skip
        self.day_jobs.dispatch = self.dispatch
        self.rules.open_day(depot.id, day.day, self.dispatch, travel.model)
        problems = self.link.check_day(depot.id, day.day)
        if problems:
            self.sig_status.emit(
                f"The stored plan of {day.day} is broken ({problems[0].text}"
                f"{f' and {len(problems) - 1} more' if len(problems) > 1 else ''}): "
                "repair it with `python main.py db check --repair`"
            )
            return
        plan = self.dispatch.open_day(day, depot.id)
        dispatch = self.dispatch

        def open_release() -> None:
            self.release.open_day(depot.id, day.day, dispatch, travel.model, self.actor,
                                  self.role,
                                  submit=self.link.submit if self.sync is not None else None)  # fmt: skip

        if plan is not None and defer_live:
            self.link.attach(self.state, self.board, self.dispatch, self.live.stop_states)
            self._after_paint = [open_release, lambda: self._start_live(self.state.plan or plan)]
            return
        open_release()
        self.link.attach(self.state, self.board, self.dispatch, self.live.stop_states)
        if plan is not None:
            self._start_live(plan)
        elif day.orders and (self.role == "supervisor" or self.sync is None):
            # The first plan of a day: on a desk of its own whoever opens it; on a shared
            # database a supervisor's (the database refuses a dispatcher's plan_day).
            holder = self.link.claim_first_plan(self.actor)
            if holder is None:
                self.plan_day(time_limit_s=self.settings.first_plan_seconds)
            else:  # the other desk's plan shows here when it is stored
                self.sig_status.emit(f"Another desk is planning the day ({holder}): waiting")
        elif day.orders:
            self.sig_status.emit(
                f"The day has no plan yet: planning the day is a supervisor's; "
                f"{self.identity.user} works as a dispatcher"
            )

    def use_learning(self, depot_id: str) -> None:
        """Plans, re-plans and live ETAs use the depot's learned service times and travel
        factors once it has them (``python main.py kpis learn``)."""
        from app.kpis.learn import load_learned

        learned = load_learned(self.store, depot_id)
        self.day_jobs.learned = learned
        self.live.service_profile = learned.service if learned is not None else None
        if learned is not None:
            self.live.travel_sigma = learned.travel.sigma_log
            self.live.service_sigma = learned.service.sigma_log
            self.sig_status.emit(
                f"Plans and ETAs use what {learned.days} recorded days taught "
                f"({learned.first_day} to {learned.last_day})"
            )

    @property
    def live_pending(self) -> bool:
        """Live telemetry is held back until :meth:`attach_live`."""
        return bool(self._after_paint)

    def attach_live(self) -> None:
        """Open release control and start the live telemetry that ``start(defer_live=True)``
        held back (once)."""
        steps, self._after_paint = self._after_paint, []
        if not getattr(self, "_shut_down", False):
            for step in steps:
                step()

    def _on_day_jobs_planned(self, planned: PlannedDay) -> None:
        """A fresh plan: stored (and queued for the shared database), then shown."""
        if self.dispatch is None:
            return
        based_on = (planned.base_plan, planned.base_versions or {})
        try:
            self.link.save_plan(planned.plan, actor=self.actor, based_on=based_on)
        except StaleVersionError as exc:  # the day changed while it was planned: not stored
            log.info("fresh plan not stored: %s", exc)
            if planned.base_plan is None and getattr(exc, "actual_plan", None):
                # Another desk's first plan landed first: that one is the day's, shown here.
                self.sig_status.emit("Another desk stored the day's plan first: showing it")
                self.dispatch.show_stored_plan(fallback=None)
                self.link.note_versions()
                if self.state.plan is not None:
                    self._start_live(self.state.plan)
                return
            self.sig_status.emit(
                "The plan was not stored: the day changed while it was being planned "
                f"({exc}). Plan the day again to include the change."
            )
            return
        self.dispatch.show_stored_plan(fallback=planned.plan)  # remembers versions
        self.link.note_versions()
        if self.state.plan is not None:
            self._start_live(self.state.plan)
        self.sig_status.emit(planned.summary)

    def _on_live_stop_results(self, stops) -> None:
        if self.dispatch is not None:
            self.dispatch.merge_stop_results(stops)

    def _start_live(self, plan: Plan) -> None:
        """Telemetry, ETAs and exceptions over the plan; the demo's simulated fleet too."""
        if self.live.service is not None:
            self.live.watch(plan)
            return
        index = self.state.index
        demo = (
            self.settings.simulate
            and not self.settings.mqtt_url
            and index is not None
            and (
                is_demo_depot(self.settings, index.depot.id)
                or index.depot.id in {d.strip() for d in self.settings.simulate_depots.split(",")}
            )
        )
        if demo and index is not None:
            from app.simulator.driver import demo_day_start

            start = demo_day_start(index.day.day, index.depot.timezone)
            self.clock.simulate(start, self.settings.demo_speedup)
        try:
            self.live.start(plan)
            service = self.live.service
            if service is not None and service.client is not None:
                self.release.connect_broker(service.url, service.client.config.protocol)
            if demo and index is not None and self.live.service is not None:
                from app.simulator.driver import drive_demo_fleet

                self.fleet = drive_demo_fleet(
                    self.live.service, plan, index.day, seed=self.settings.demo_seed,
                    speedup=self.settings.demo_speedup, state=self.state, parent=self,
                    network=self.travel.network if self.travel is not None else None,
                )  # fmt: skip
        except Exception as exc:  # the day still works without live data; say so
            log.exception("live telemetry could not start")
            self.sig_status.emit(f"Live telemetry is off: {exc}")

    # -- for the window ------------------------------------------------------------------
    @property
    def actor(self) -> str:
        """Who the audit log names for this workstation's commands (on PostgreSQL the
        database user, which the database checks)."""
        return f"{self.identity.user}@{self.settings.workstation_id}"

    @property
    def role(self) -> str:
        """``"dispatcher"`` or ``"supervisor"``: from the database, or the user's profile."""
        return self.identity.role

    @property
    def user(self) -> str:
        return self.identity.user

    @property
    def day(self) -> date | None:
        """The date of the day shown (None before one is open)."""
        index = self.state.index
        return index.day.day if index is not None else None

    def now(self) -> datetime:
        """The clock of the day: simulated in the demo, else the wall clock."""
        return self.clock.now()

    def plan_day(self, time_limit_s: float = 30.0) -> None:
        """Plan every order of the day in the background (cancellable, superseding). It
        replaces the whole plan, so it is a supervisor's (a dispatcher is told so), except
        the first plan of a day on a desk of its own."""
        if self.role != "supervisor" and (self.state.plan is not None or self.sync is not None):
            self.sig_status.emit(
                f"Plan the day replaces the whole plan: a supervisor action; "
                f"{self.identity.user} works as a dispatcher"
            )
            return
        self.day_jobs.plan_day(time_limit_s)

    def plan_day_again(self, time_limit_s: float | None = None) -> None:
        """Plan a day that already has a plan again, from now: every stop not served may
        move and locks are dropped; the result is a proposal (accepted as one undoable
        command, a supervisor's), never a silent replacement of the live plan."""
        limit = self.settings.first_plan_seconds if time_limit_s is None else time_limit_s
        self.day_jobs.replan(self.live.positions(), time_limit_s=limit, whole_day=True)

    def replan(
        self, route_ids: Collection[str] | None = None, exception_id: str = "",
        time_limit_s: float = 5.0,
    ) -> None:  # fmt: skip
        """Re-plan the fleet (or only ``route_ids``) in the background; the result is a proposal."""
        self.day_jobs.replan(self.live.positions(), route_ids, exception_id, time_limit_s)

    def suggest_routes(self, order_id: str) -> list[str]:
        """Other routes the engine ranks best for a stop: feasible first, then by cost."""
        return self.day_jobs.suggest_routes(order_id, self.live.positions())

    def resolve_conflict(self, exception_id: str, keep: str) -> None:
        """Settle a sync conflict: keep ``"mine"`` or ``"theirs"``; its exception is resolved."""
        self.link.resolve_conflict(exception_id, keep, actor=self.actor, now=self.now())

    def conflict_view(self, exception_id: str) -> ConflictView | None:
        """An open sync conflict laid out for the conflict dialog: both versions per route,
        who stored the other version and when (None: no such open conflict)."""
        return self.link.conflict_view(exception_id)

    def acknowledge_exception(self, exception_id: str) -> bool:
        """Acknowledge an exception: stored (who, when, in the change log), then shown.
        False when it was acknowledged already (or is not on the board)."""
        return self._exception_state(exception_id, ACKNOWLEDGE)

    def resolve_exception(self, exception_id: str) -> bool:
        """Resolve an exception by hand (acknowledging it too): stored, then shown."""
        return self._exception_state(exception_id, RESOLVE)

    def _exception_state(self, exception_id: str, action: str) -> bool:
        entry = self.board.get(exception_id)
        index = self.state.index
        if entry is None or index is None:
            return False
        if (entry.acknowledged_at is not None and action == ACKNOWLEDGE) or not entry.is_open:
            return False
        at = self.now()
        command = exception_command(
            index.depot.id, index.day.day, exception_id, action, at=at, actor=self.actor,
            snapshot=exception_snapshot(entry.exception),
        )  # fmt: skip
        self.link.record_exception_state(command)  # raises: nothing is shown as done
        if action == ACKNOWLEDGE:
            return self.board.acknowledge(exception_id, at, self.actor)
        return self.board.resolve(exception_id, at, self.actor)

    def announce_editing(self, route_id: str | tuple[str, ...] | None) -> None:
        """Tell the other workstations which route this one edits now (None: none)."""
        self.link.announce_editing(route_id)

    def editors(self) -> dict[str, str]:
        """route id -> who else edits it now, e.g. ``dana@desk-2``."""
        return self.link.editors()

    def database_label(self) -> str:
        return self.link.database_label()

    # -- several depots ----------------------------------------------------------------------
    def tower_store(self) -> Store:
        """The database every desk shares: the shared PostgreSQL, else this desk's own
        (opened on first use, from the tower's or the heartbeat's thread)."""
        if self.sync is None:
            return self.store
        with self._tower_lock:
            if self._tower_store is None:
                from app.store import open_store
                from app.sync.session import _with_timeout

                self._tower_store = open_store(
                    _with_timeout(self.sync.shared_url), workstation=self.settings.workstation_id,
                    migrate=False,
                )  # fmt: skip
            return self._tower_store

    def depot_choices(self) -> list[tuple[str, str]]:
        """(id, name) of every depot this desk can open."""
        from app.day.opening import list_depot_choices

        return list_depot_choices(self.store)

    def _beat(self) -> None:
        """This desk's heartbeat for the control tower, off the window's thread."""
        if not self.depot_id:
            return
        from app.tower.feed import desk_beat

        settings, outbox = self.settings, self.outbox_pending()

        def write() -> None:
            try:
                store = self.tower_store()
            except Exception as exc:  # offline: the next beat tries again
                log.debug("desk heartbeat: shared database unreachable: %s", exc)
                with self._tower_lock:
                    self._tower_store = None
                return
            desk_beat(store, workstation=settings.workstation_id, user=self.user,
                      role=self.role, depot_id=self.depot_id, outbox=outbox)  # fmt: skip

        threading.Thread(target=write, name="desk-beat", daemon=True).start()

    def outbox_pending(self) -> int:
        """Commands written locally and not yet replayed to the shared database."""
        return self.link.outbox_pending()

    def shutdown(self) -> None:
        """Stop jobs, the demo fleet, telemetry and sync; close the store and tile cache
        (idempotent)."""
        if getattr(self, "_shut_down", False):
            return
        self._shut_down = True
        self.jobs.cancel_all()
        self.jobs.wait(5000)
        self.rules.stop()
        self.release.stop()
        self._beat_timer.stop()
        with self._tower_lock:
            if self._tower_store is not None:
                self._tower_store.close()
                self._tower_store = None
        if self.fleet is not None:
            self.fleet.stop()
        self.live.stop()
        self.link.stop()
        self.tiles.shutdown()
        self.store.close()
