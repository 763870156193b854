"""The composition root: builds the workstation's services once and hands them to the window.

``SyncLink`` opens the store and the day (``app.sync.link``); ``DayState`` holds the day,
``DayClock`` its one clock, ``LiveSession`` telemetry, ``DayJobs`` the background jobs.
``start()`` builds the ``DispatchService`` (the day state's one writer), the standing rules
(``app.rules``), release control (``app.release``) and the live start (``app.day.live_start``).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Collection
from datetime import date, datetime

from PySide6.QtCore import QObject, Signal

from app.day.clock import DayClock
from app.day.live_start import LiveStart
from app.day.opening import load_day
from app.day.state import DayState
from app.dispatch.preview import states_from_fixes
from app.dispatch.service import DispatchService
from app.exceptions.board import ExceptionBoard
from app.exceptions.desk import ExceptionDesk
from app.exceptions.follow import OthersOnTheBoard
from app.jobs.day import DayJobs, PlannedDay
from app.jobs.heap import HeapKeeper
from app.jobs.runner import JobRunner
from app.release.service import ReleaseService
from app.rules.service import RulesService
from app.settings import Settings
from app.sync.conflict_view import ConflictView
from app.sync.link import SyncLink
from app.telemetry.session import LiveSession
from app.tiles.setup import draw_desk_network, open_desk_tiles
from app.tower.desk import DeskHeartbeat
from app.travel.choose import TravelChoice, TravelWhenReady, choose_soon

log = logging.getLogger(__name__)

#: The street travel's junction results (38-46 MB on a 2,000-vehicle day) are let go at a
#: heap trim or settle once nobody asked for them for this long: asked for by the day's
#: opening work (done within the first minute), they then lie unused; what a later re-plan
#: needs is computed again (a few junctions: milliseconds; all of such a day's: some
#: seconds). After 2 minutes they were the window's peak, at 2-3 minutes into the day.
TRAVEL_IDLE_S = 45


class AppContext(QObject):
    """Everything the window needs, with no widgets in it."""

    sig_status = Signal(str)
    _sig_travel_chosen = Signal(object)  # Future[TravelChoice], done (from its thread)

    def __init__(
        self, settings: Settings, *, headless: bool = False, parent: QObject | None = None
    ):
        super().__init__(parent)
        self.settings, self.headless = settings, headless
        self.link = SyncLink(settings, self)
        self.store = self.link.store
        self.sync = self.link.session  # None without a shared database
        self.identity = self.link.identity()  # who works here and as what
        self.state = DayState(self)
        self.clock = DayClock()
        self.store.clock = self.clock.now  # what is stored and shown of a change: the day's time
        self.jobs = JobRunner(self)
        self.heap: HeapKeeper | None = None
        self.dispatch: DispatchService | None = None  # once the day is open
        self.travel: TravelChoice | None = None  # the open depot's travel source, once read
        self._travel_pending = False  # its street network is still being read
        self._painted = False  # the window has drawn the stored day (see attach_live)
        self.depot_id = ""  # the depot this desk opened
        self.tower = DeskHeartbeat(settings, self.link, self.identity, self)
        self.tiles = open_desk_tiles(settings.tile_url)
        self.board = ExceptionBoard(self)
        self.exceptions = ExceptionDesk(
            self.board, self.state, self.link, now=self.now, actor=self.actor
        )
        self.live = LiveSession(
            settings, self.store, self.state, self.board, self.clock, parent=self
        )
        self.rules = RulesService(self.store, self.state, self.clock, self.board, self.live, self)
        self.release = ReleaseService(settings, self.store, self.state, self.clock, self.live, self)
        self.release.use_jobs(self.jobs)
        self.others: OthersOnTheBoard | None = None  # other desks' hands on the board
        self.live_start = LiveStart(
            settings, self.live, self.state, self.clock, on_broker=self.release.connect_broker,
            status=self.sig_status.emit, peers=self.tower, user=self.identity.user, parent=self,
        )  # fmt: skip
        self.day_jobs = DayJobs(
            self.state, self.jobs, self.clock, self.live, self.tiles,
            tile_url=settings.tile_url, parent=self,
        )  # fmt: skip
        self.sig_route_geometry = self.day_jobs.sig_route_geometry
        self.sig_proposal_ready = self.day_jobs.sig_proposal_ready
        self.sig_day_proposal_ready = self.day_jobs.sig_day_proposal_ready
        self.sig_sync_status = self.link.sig_status
        self.sig_editors = self.link.sig_editors
        self._sig_travel_chosen.connect(self._on_travel_chosen)
        self.day_jobs.sig_status.connect(self.sig_status)
        self.day_jobs.sig_planned.connect(self._on_day_jobs_planned)
        self.link.sig_first_plan.connect(self.live_start.start)
        self.state.sig_changed.connect(self.link.on_day_changed)
        self.state.sig_changed.connect(self.day_jobs.on_day_changed)

    def keep_heap_settled(self) -> None:
        """For the window: short collector pauses, the day's data frozen after each job."""
        if self.heap is None:
            self.heap = HeapKeeper(self).follow(self.jobs)
            self.heap.releasers.append(self._release_idle_travel)

    def _release_idle_travel(self) -> None:
        """The street travel's junction results nobody asked for in ``TRAVEL_IDLE_S``."""
        release = getattr(self.travel.model if self.travel else None, "release_idle", None)
        if release is not None:
            release(TRAVEL_IDLE_S)

    def start(self, *, defer_live: bool = False) -> None:
        """Load (or seed) the day, and plan it in the background when no plan is stored.
        ``defer_live``: a stored plan is shown first; release control and live telemetry
        wait for :meth:`attach_live` (the window calls it once the day is painted)."""
        opened, message = self.link.open_day(self.settings, role=self.role, actor=self.actor)
        if message:
            self.sig_status.emit(message)
        if opened is None:
            draw_desk_network(self.tiles, None)  # the demo city's streets
            return
        depot, day = opened.depot, opened.day
        self.depot_id = depot.id
        self.tower.start(depot.id)
        # The street network is read on a thread of its own while the stored day is shown;
        # what asks the travel model meanwhile waits for it (TravelWhenReady).
        chosen = choose_soon(depot)
        if chosen.done() or not defer_live:
            self._use_travel(chosen.result())
            model = chosen.result().model
        else:
            self._travel_pending = True
            if not self.settings.tile_url:  # a map tile asked meanwhile waits for the streets
                self.tiles.await_renderer()
            model = TravelWhenReady(chosen)
            chosen.add_done_callback(self._travel_chosen_elsewhere)
        self.use_learning(depot.id)
        if self.sync is not None:
            self.sync.attach(depot.id, day.day)
            day = load_day(self.store, depot.id, day.day)
        self.dispatch = dispatch = DispatchService(
            self.store, model, actor=self.actor, role=self.role,
            positions=self.vehicle_states, state=self.state,
            on_write=self.sync.on_write if self.sync is not None else None,
        )  # fmt: skip
        self.day_jobs.dispatch = self.dispatch
        self.day_jobs.warmers = [dispatch.warm]  # a first suggestion as fast as the next
        dispatch.use_learned(self.day_jobs.learned)  # previews time stops as plans do
        self.live.sig_stop_results.connect(self.dispatch.merge_stop_results)
        self.rules.open_day(depot.id, day.day, self.dispatch, model)
        self._follow_other_desks()
        if problem := self.link.day_problem(depot.id, day.day):
            self.sig_status.emit(problem)
            return
        plan = dispatch.open_day(day, depot.id)

        def open_release() -> None:
            self.release.open_day(depot.id, day.day, dispatch, model, self.actor,
                                  self.role,
                                  submit=self.link.submit if self.sync is not None else None)  # fmt: skip

        if plan is not None and defer_live:
            self.link.attach(self.state, self.board, self.dispatch, self.live.stop_states)
            self.live_start.hold(
                [open_release, lambda: self.live_start.start(self.state.plan or plan)]
            )
            return
        if self._travel_pending:  # the live day starts now: on the depot's streets
            self._on_travel_chosen(chosen)
        open_release()
        self.link.attach(self.state, self.board, self.dispatch, self.live.stop_states)
        if plan is not None:
            self.live_start.start(plan)
        elif day.orders:
            if message := self.link.first_plan(self.actor, self.identity):
                self.sig_status.emit(message)
            else:
                self.plan_day(time_limit_s=self.settings.first_plan_seconds)

    def _follow_other_desks(self) -> None:
        """Exceptions acknowledged or resolved on other desks show so here (they write the
        shared database's change log, or the one SQLite file the desks share)."""
        if self.others is not None:
            return
        try:
            shared = self.sync.desk.shared() if self.sync is not None and self.sync.desk else None
        except Exception:  # the board goes on with this desk's own hands; say so in the log
            log.exception("other desks' acknowledgements cannot be followed")
            return
        self.others = OthersOnTheBoard(
            self.board, shared or self.store, self.settings.workstation_id, parent=self
        ).start()

    def use_learning(self, depot_id: str) -> None:
        """Plans, re-plans and live ETAs use the depot's learned profile once it has one."""
        from app.kpis.learn import use_learned

        if message := use_learned(self.store, depot_id, self.day_jobs, self.live):
            self.sig_status.emit(message)

    @property
    def live_pending(self) -> bool:
        """Live telemetry is held back until :meth:`attach_live`."""
        return self.live_start.pending

    def attach_live(self) -> None:
        """Open release control and live telemetry held back by ``start(defer_live=True)``
        (once the depot's street network is read, too)."""
        self._painted = True
        if not self._travel_pending:
            self.live_start.release()

    def _use_travel(self, travel: TravelChoice) -> None:
        """The depot's travel source: the simulated fleet drives its streets, the basemap
        draws them, its warning is told."""
        self.travel = travel
        self.live_start.network = travel.network
        if travel.warning:
            self.sig_status.emit(travel.warning)
        draw_desk_network(self.tiles, travel.network)

    def _travel_chosen_elsewhere(self, chosen) -> None:
        """On the reading thread: hand the choice to the window's thread (not after exit)."""
        with contextlib.suppress(RuntimeError):  # the context is gone already
            self._sig_travel_chosen.emit(chosen)

    def draw_streets(self) -> None:
        """A window that opens no live day (a recorded one): its basemap draws the demo
        city's streets."""
        if self.travel is None and not self._travel_pending:
            draw_desk_network(self.tiles, None)

    def _on_travel_chosen(self, chosen) -> None:
        if not self._travel_pending:
            return
        self._travel_pending = False
        try:
            self._use_travel(chosen.result())
        except Exception as exc:  # the same failure reaches whatever asks the model
            log.exception("the depot's travel model could not be made")
            self.sig_status.emit(f"Travel times are not available: {exc}")
            draw_desk_network(self.tiles, None)
        if self._painted:
            self.live_start.release()

    def _on_day_jobs_planned(self, planned: PlannedDay) -> None:
        """A fresh plan: stored (and queued for the shared database), then shown."""
        if self.dispatch is None:
            return
        message, shown = self.link.store_fresh_plan(planned, self.dispatch, actor=self.actor)
        if shown and self.state.plan is not None:
            self.live_start.start(self.state.plan)
        if message:
            self.sig_status.emit(message)

    @property
    def actor(self) -> str:
        """Who the audit log names for this desk's commands (the database checks it)."""
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
        """Plan every order of the day in the background (cancellable, superseding): a
        supervisor's, except the first plan of a day on a desk of its own."""
        refusal = self.identity.plan_refusal(self.state.plan is not None or self.sync is not None)
        if refusal:
            self.sig_status.emit(refusal)
        else:
            self.day_jobs.plan_day(time_limit_s)

    def plan_day_again(self, time_limit_s: float | None = None) -> None:
        """Plan the planned day again from now (stops not served may move, locks dropped):
        a proposal, never a silent replacement of the live plan."""
        limit = self.settings.first_plan_seconds if time_limit_s is None else time_limit_s
        self.day_jobs.replan(
            self.vehicle_states(),
            time_limit_s=limit,
            whole_day=True,
            unavailable=self.live.broken_down(),
            drive_factors=self.live.drive_factors,
        )

    def replan(self, route_ids: Collection[str] | None = None, exception_id: str = "",
               time_limit_s: float = 5.0) -> None:  # fmt: skip
        """Re-plan the fleet (or only ``route_ids``) in the background; the result is a proposal."""
        self.day_jobs.replan(self.vehicle_states(), route_ids, exception_id, time_limit_s,
                             unavailable=self.live.broken_down(),
                             drive_factors=self.live.drive_factors)  # fmt: skip

    def suggest_routes(self, order_id: str) -> list[str]:
        """Other routes the engine ranks best for a stop: feasible first, then by cost."""
        return self.day_jobs.suggest_routes(order_id, self.vehicle_states())

    def vehicle_states(self) -> dict:
        """Where each vehicle is live, and its driver's breaks taken (the engine's view)."""
        return states_from_fixes(self.live.positions(), self.live.flags())

    def resolve_conflict(self, exception_id: str, keep: str) -> None:
        """Settle a sync conflict: keep ``"mine"`` or ``"theirs"``; its exception is resolved."""
        self.link.resolve_conflict(exception_id, keep, actor=self.actor, now=self.now())

    def conflict_view(self, exception_id: str) -> ConflictView | None:
        """An open sync conflict laid out for the conflict dialog (None: no such conflict)."""
        return self.link.conflict_view(exception_id)

    def shutdown(self) -> None:
        """Stop jobs, rules, release, the fleet, telemetry and sync; close the stores (once)."""
        if getattr(self, "_shut_down", False):
            return
        self._shut_down = True
        self.jobs.cancel_all()
        self.jobs.wait(5000)
        self.rules.stop()
        if self.others is not None:
            self.others.stop()
        self.release.stop()
        self.tower.stop()
        self.live_start.stop()
        self.live.stop()
        self.link.stop()
        self.tiles.shutdown()
        self.store.close()
