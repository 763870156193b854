"""The main window: docks the panes, owns menus, toolbar and status bar, wires panes together.

Panes never import each other; every cross-pane connection is made here.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from zoneinfo import ZoneInfo

from PySide6.QtCore import QByteArray, QEventLoop, QSettings, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QMainWindow,
    QMessageBox,
    QTabBar,
    QWidget,
)

from app.context import AppContext
from app.day.routes_model import RoutesTableModel
from app.day.state import ChangeSource, DayChanges
from app.dispatch.preview import is_history
from app.dispatch.replan import whole_day_loss
from app.exceptions.board import SEVERITY_RANK
from app.exceptions.kinds import DeskExceptionType
from app.exceptions.model import ExceptionsTableModel
from app.jobs.runner import JobKind, JobRunner
from app.release.loaded import loaded_orders
from app.secrets import redact_url
from app.sync.conflict_view import conflict_view
from app.telemetry.session import LiveEtas
from widgets.conflict_dialog import ConflictDialog
from widgets.depots_desk import DepotsDesk
from widgets.dispatch_controller import DispatchController
from widgets.exceptions_pane import ExceptionsPane
from widgets.kpi_desk import KpiDesk
from widgets.map_pane import MapPane
from widgets.orders_controller import OrdersController
from widgets.proposal_dialog import ProposalDialog
from widgets.release_board import ReleaseBoard
from widgets.routes_pane import RoutesPane
from widgets.rules_desk import RulesDesk
from widgets.status_bar import DeskStatusBar
from widgets.telemetry_dialog import TelemetryDialog
from widgets.timeline_pane import TimelinePane

log = logging.getLogger(__name__)

SETTINGS_ORG, SETTINGS_APP = "DispatchDesk", "Workstation"

#: The window's size on a first start without a screen to fill (a screenshot run, tests).
DEFAULT_SIZE = QSize(1920, 1080)
SUPERVISOR_ONLY = "a supervisor action: {user} is signed in as a dispatcher"


class MainWindow(QMainWindow):
    """The workstation window."""

    sig_open_depot = Signal(str)  # open this depot instead (File ▸ Open depot, the tower)

    def __init__(self, context: AppContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.context = context
        self.setWindowTitle("Dispatch Desk")
        self.resize(DEFAULT_SIZE)
        self.setDockNestingEnabled(True)
        self._docks: dict[str, QDockWidget] = {}
        self._telemetry_dialog: TelemetryDialog | None = None

        self.routes_model = RoutesTableModel(context.state, self)
        self.routes_pane = RoutesPane(self.routes_model, self)
        self.map_pane = MapPane(context.tiles, parent=self)
        self.timeline_pane = TimelinePane(parent=self)
        self.board = context.board
        self.exceptions_model = ExceptionsTableModel(
            self.board, clock=self._now, parent=self, labels=lambda: context.state.labels
        )
        self.exceptions_pane = ExceptionsPane(self.exceptions_model, self)
        self.dispatcher = DispatchController(context, self)
        self.orders = OrdersController(context, self.dispatcher, self)
        self.dispatcher.proposer = self.orders  # a dispatcher's move or re-plan: a proposal
        self.timeline_pane.preview_fn = self.dispatcher.preview_text
        self.map_pane.preview_fn = self.dispatcher.preview_text
        self.timeline_pane.tooltip_fn = self._stop_tooltip
        self.map_pane.tooltip_fn = self._stop_tooltip
        self._build_status_bar()
        self._build_actions()
        self.setCentralWidget(self.map_pane)
        self._add_dock("routes", "Routes", self.routes_pane, Qt.DockWidgetArea.LeftDockWidgetArea)
        self._add_dock(
            "exceptions", "Exceptions", self.exceptions_pane, Qt.DockWidgetArea.RightDockWidgetArea
        )
        self._add_dock(
            "timeline", "Timeline", self.timeline_pane, Qt.DockWidgetArea.BottomDockWidgetArea
        )
        self.rules_desk = RulesDesk(self)  # the Rules pane, menu and dialogs
        self._add_dock(
            "rules", "Rules", self.rules_desk.pane, Qt.DockWidgetArea.RightDockWidgetArea
        )
        self.tabifyDockWidget(self._docks["exceptions"], self._docks["rules"])
        self.release_board = ReleaseBoard(self)  # the Release board pane and menu
        self._add_dock(
            "release", "Release board", self.release_board.pane,
            Qt.DockWidgetArea.BottomDockWidgetArea,
        )  # fmt: skip
        self.tabifyDockWidget(self._docks["timeline"], self._docks["release"])
        self._docks["timeline"].raise_()
        self._docks["exceptions"].raise_()
        self.kpi_desk = KpiDesk(self)  # the KPI pane, File ▸ Export day report…
        self._add_dock("kpis", "KPIs", self.kpi_desk.holder, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.tabifyDockWidget(self._docks["timeline"], self._docks["kpis"])
        self._docks["kpis"].visibilityChanged.connect(self.kpi_desk.dock_visible)
        self._docks["timeline"].raise_()
        self.resizeDocks([self._docks["timeline"]], [380], Qt.Orientation.Vertical)
        self.resizeDocks(
            [self._docks["routes"], self._docks["exceptions"]],
            [340, 720],
            Qt.Orientation.Horizontal,
        )
        self._wire_selection()
        self.orders.sig_focus_order.connect(self.focus_order)
        self.orders.sig_proposals_changed.connect(self._on_proposals_changed)
        context.sig_route_geometry.connect(self.map_pane.set_route_geometry)
        context.sig_proposal_ready.connect(self._on_proposal_ready)
        context.sig_day_proposal_ready.connect(self._on_day_proposal_ready)
        live = context.live
        live.sig_vehicles_moved.connect(self.map_pane.update_vehicles)
        live.sig_live_etas.connect(self._on_live_etas)
        live.sig_clock.connect(self._on_live_clock)
        live.sig_connection_changed.connect(lambda _state: self._refresh_status())
        self.timeline_pane.sig_stop_dropped.connect(self.dispatcher.reassign)
        self.map_pane.sig_stop_dropped.connect(self.dispatcher.reassign)
        self.timeline_pane.sig_drag_refused.connect(self.status.show)
        self.map_pane.sig_drag_refused.connect(
            lambda _oid: self.status.show(
                "Moving stops between routes is " + SUPERVISOR_ONLY.format(user=self.context.user)
            )
        )
        self._wire_presence()
        self.exceptions_pane.sig_acknowledge_requested.connect(self._on_acknowledge_requested)
        self.exceptions_pane.sig_resolve_requested.connect(self._on_resolve_requested)
        self.exceptions_pane.sig_replan_requested.connect(self._on_replan_requested)
        self.exceptions_pane.sig_reassign_requested.connect(self._on_reassign_requested)
        self.board.sig_changed.connect(self._on_board_changed)

        context.state.sig_changed.connect(self._on_state_changed)
        context.jobs.sig_job_started.connect(self._on_job_started)
        context.jobs.sig_job_finished.connect(self._on_job_finished)
        context.jobs.sig_job_failed.connect(self._on_job_failed)
        context.jobs.sig_job_progress.connect(self.status.show_progress)
        context.jobs.sig_job_progress.connect(self._on_job_progress)
        context.sig_status.connect(self.status.show)
        self.dispatcher.sig_error.connect(
            lambda title, text: self.status.show_error(f"{title}: {text}")
        )
        context.sig_sync_status.connect(lambda _status: self._refresh_status())

        self._clock_timer = QTimer(self)
        self._clock_timer.timeout.connect(self._refresh_status)
        self._clock_timer.start(1000)
        self._etas: dict = {}
        self._timeline_etas: LiveEtas | None = None  # waiting for the timeline's turn
        self._timeline_etas_timer = QTimer(self)
        self._timeline_etas_timer.setSingleShot(True)
        self._timeline_etas_timer.setInterval(0)
        self._timeline_etas_timer.timeout.connect(self._show_timeline_etas)
        self._fitted: tuple | None = None
        self.last_proposal_dialog: ProposalDialog | None = None  # what a test drives
        self.last_plan_day_confirm: QMessageBox | None = None
        self._apply_role()
        if not context.headless:  # a screenshot run shows the default layout
            self._restore_layout()
        self._refresh_status()

    # -- construction --------------------------------------------------------------------
    def _add_dock(self, key: str, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> None:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock_{key}")
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        self._docks[key] = dock
        self._view_menu.addAction(dock.toggleViewAction())

    def _build_actions(self) -> None:
        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        self.file_menu = file_menu
        self.import_action = QAction("&Import…", self, shortcut=QKeySequence("Ctrl+I"))
        self.import_action.setStatusTip("Import depots, vehicles, drivers and orders (CSV/JSON)")
        self.import_action.triggered.connect(lambda: self.orders.open_import())
        file_menu.addAction(self.import_action)
        file_menu.addSeparator()
        quit_action = QAction("&Quit", self, shortcut=QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)
        plan_menu = menu.addMenu("&Plan")
        self.plan_action = QAction("Plan the &day", self, shortcut=QKeySequence("Ctrl+P"))
        self.plan_action.setStatusTip("Plan every order of the day from scratch")
        self.plan_action.triggered.connect(self._on_plan_day_triggered)
        plan_menu.addAction(self.plan_action)
        self.replan_action = QAction("&Re-plan fleet", self, shortcut=QKeySequence("Ctrl+R"))
        self.replan_action.setStatusTip(
            "Re-plan every route from where the vehicles are now, keeping served and locked stops"
        )
        self.replan_action.triggered.connect(lambda: self.context.replan())
        plan_menu.addAction(self.replan_action)
        self.cancel_action = QAction("&Cancel", self, shortcut=QKeySequence("Esc"))
        self.cancel_action.setEnabled(False)
        self.cancel_action.triggered.connect(self._on_cancel_triggered)
        plan_menu.addAction(self.cancel_action)
        plan_menu.addSeparator()
        self.proposals_action = QAction("&Proposals…", self, shortcut=QKeySequence("Ctrl+Shift+P"))
        self.proposals_action.setStatusTip(
            "Moves and re-plans dispatchers proposed: accept or reject (supervisor), or follow"
        )
        self.proposals_action.triggered.connect(lambda: self.orders.open_proposals())
        plan_menu.addAction(self.proposals_action)
        edit_menu = menu.addMenu("&Edit")
        self.undo_action = self.dispatcher.undo_stack.createUndoAction(self, "&Undo")
        self.undo_action.setShortcut(QKeySequence.StandardKey.Undo)
        self.redo_action = self.dispatcher.undo_stack.createRedoAction(self, "&Redo")
        self.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence.StandardKey.Redo])
        edit_menu.addAction(self.undo_action)
        edit_menu.addAction(self.redo_action)
        edit_menu.addSeparator()
        lock = QAction("&Lock selected stop", self, shortcut=QKeySequence("Ctrl+L"))
        lock.triggered.connect(lambda: self._lock_selected(True))
        unlock = QAction("U&nlock selected stop", self, shortcut=QKeySequence("Ctrl+Shift+L"))
        unlock.triggered.connect(lambda: self._lock_selected(False))
        edit_menu.addAction(lock)
        edit_menu.addAction(unlock)
        orders_menu = menu.addMenu("&Orders")
        self.urgent_action = QAction("&Add urgent order…", self, shortcut=QKeySequence("Ctrl+N"))
        self.urgent_action.setStatusTip("A new order now: see where it fits best and insert it")
        self.urgent_action.triggered.connect(lambda: self.orders.open_urgent_order())
        self.change_order_action = QAction("&Change order…", self, shortcut=QKeySequence("Ctrl+E"))
        self.change_order_action.setStatusTip("New window, address or demand for the selected stop")
        self.change_order_action.triggered.connect(lambda: self.orders.open_change())
        self.cancel_order_action = QAction("C&ancel order…", self)
        self.cancel_order_action.setShortcut(QKeySequence("Ctrl+Shift+Del"))
        self.cancel_order_action.setStatusTip("Take the selected stop off its route, cancelled")
        self.cancel_order_action.triggered.connect(lambda: self.orders.open_cancel())
        self.find_action = QAction(
            "&Find order…", self, shortcut=QKeySequence(QKeySequence.StandardKey.Find)
        )
        self.find_action.setStatusTip("Find an order by id, customer or address")
        self.find_action.triggered.connect(lambda: self.orders.open_search())
        for action in (self.urgent_action, self.change_order_action, self.cancel_order_action):
            orders_menu.addAction(action)
        orders_menu.addSeparator()
        orders_menu.addAction(self.find_action)
        telemetry_menu = menu.addMenu("&Telemetry")
        self.devices_action = QAction("Tracker &devices and rejected messages…", self)
        self.devices_action.setShortcut(QKeySequence("Ctrl+Shift+D"))
        self.devices_action.setStatusTip(
            "Map OwnTracks/Traccar devices to vehicles; see which messages were refused and why"
        )
        self.devices_action.triggered.connect(self.open_telemetry_dialog)
        telemetry_menu.addAction(self.devices_action)
        self._view_menu = menu.addMenu("&View")
        self.depots_desk = DepotsDesk(self, file_menu, self._view_menu, orders_menu)
        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("toolbar_main")
        for action in (self.plan_action, self.replan_action, self.cancel_action,
                       self.undo_action, self.redo_action):  # fmt: skip
            toolbar.addAction(action)

    def open_telemetry_dialog(self) -> TelemetryDialog | None:
        """Telemetry ▸ devices and rejects (one dialog, raised again when already open)."""
        service = self.context.live.service
        if service is None:
            QMessageBox.information(self, "Telemetry", "Live telemetry is not running.")
            return None
        dialog = self._telemetry_dialog
        if dialog is None or dialog.source is not service:  # the service may be restarted
            if dialog is not None:
                dialog.close()
                dialog.deleteLater()
            index = self.context.state.index
            vehicles = sorted(index.vehicles) if index is not None else []
            dialog = self._telemetry_dialog = TelemetryDialog(service, vehicles, self)
        dialog.show()
        dialog.raise_()
        return dialog

    def _build_status_bar(self) -> None:
        self.status = DeskStatusBar(self.statusBar(), self)
        fields = self.status.fields
        # The fields by their old names (tests and tools read them).
        self._broker_label, self._db_label = fields["broker"], fields["database"]
        self._outbox_label, self._exceptions_label = fields["outbox"], fields["exceptions"]
        self._routes_label, self._clock_label = fields["routes"], fields["clock"]
        self._proposals_label = fields["proposals"]
        self._user_label, self._busy = fields["user"], self.status.busy

    # -- roles: a dispatcher is not offered what only a supervisor may do ---------------------
    @property
    def is_supervisor(self) -> bool:
        return self.context.role == "supervisor"

    def _apply_role(self) -> None:
        if self.is_supervisor:
            return
        why = SUPERVISOR_ONLY.format(user=self.context.user)
        self.plan_action.setEnabled(False)
        self.plan_action.setToolTip(f"Plan the day: {why}")
        self.plan_action.setStatusTip(f"Plan the day is {why}")
        self.import_action.setEnabled(False)
        self.import_action.setToolTip(f"Import: {why}")
        self.import_action.setStatusTip(f"Importing depots, vehicles and orders is {why}")
        if self.context.sync is not None:
            # A shared database's outbox does not carry proposals yet: not offered at all.
            self.replan_action.setEnabled(False)
            self.replan_action.setToolTip(f"Re-plan fleet: {why}")
            self.exceptions_pane.set_action_allowed(
                "reassign", False, f"Moving a stop to another route is {why}"
            )
            self.timeline_pane.set_drag_allowed(False, f"Moving stops between routes is {why}")
            self.map_pane.set_drag_allowed(False)
            return
        # Moving stops and a fleet re-plan are a supervisor's to apply: a dispatcher's drag,
        # Reassign… and fleet re-plan are sent to a supervisor as proposals (Plan ▸
        # Proposals… shows what became of them).
        self.replan_action.setText("&Re-plan fleet (propose)…")
        self.replan_action.setToolTip(
            "Re-plan fleet: the result goes to a supervisor as a proposal (applying it is "
            f"{why}). Re-plan one exception's routes from the Exceptions pane"
        )
        self.replan_action.setStatusTip("Re-plan the fleet and propose it to a supervisor")
        self.exceptions_pane.button("reassign").setToolTip(
            "Propose moving the stop to the best suggested route (a supervisor decides)"
        )

    # -- layout persistence -------------------------------------------------------------
    def _restore_layout(self) -> None:
        """The layout of the last run; on a first start the window fills the screen."""
        settings = QSettings(SETTINGS_ORG, SETTINGS_APP)
        geometry = settings.value("geometry")
        state = settings.value("window_state")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        else:
            self._fill_screen()
        if isinstance(state, QByteArray):
            self.restoreState(state)

    def _fill_screen(self) -> None:
        screen = self.screen() or QApplication.primaryScreen()
        if screen is not None:
            self.setGeometry(screen.availableGeometry())
        self.setWindowState(self.windowState() | Qt.WindowState.WindowMaximized)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().resizeEvent(event)
        self.status.fit()
        self._hide_stale_tab_bars()

    def showEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        self._hide_stale_tab_bars()

    def _hide_stale_tab_bars(self) -> None:
        """Hide the dock tab bars Qt left behind. Tabifying a second group of docks makes
        Qt (6.11) create a tab bar that no longer belongs to the layout; it keeps its tabs
        and its place, so it showed under the real one once the status bar grew (a second
        "Timeline | Release board" strip). A bar is stale when its tabs are not the group
        its first dock is in now."""
        titles = {d.windowTitle(): d for d in self._docks.values()}
        for bar in self.findChildren(QTabBar, options=Qt.FindChildOption.FindDirectChildrenOnly):
            if bar.isHidden() or bar.count() == 0:
                continue
            tabs = [bar.tabText(i) for i in range(bar.count())]
            first = titles.get(tabs[0])
            if first is None:
                continue
            group = {first, *self.tabifiedDockWidgets(first)}
            if {d.windowTitle() for d in group} != set(tabs):
                bar.hide()

    def save_layout(self) -> None:
        settings = QSettings(SETTINGS_ORG, SETTINGS_APP)
        settings.setValue("geometry", self.saveGeometry())
        settings.setValue("window_state", self.saveState())

    def closeEvent(self, event) -> None:
        if not self.context.headless:
            self.save_layout()
        # The window's own jobs (a recorded day's KPIs read for minutes, a rules pass) stop
        # at their next checkpoint: the process ends in seconds, not when they are done.
        runners = self.findChildren(JobRunner)
        for runner in runners:
            runner.cancel_all()
        self.context.shutdown()
        for runner in runners:
            runner.wait(5000)
        self.map_pane.shutdown()  # the web page goes before its profile, not at exit
        super().closeEvent(event)

    # -- reactions ----------------------------------------------------------------------
    def _refresh_status(self) -> None:
        ctx, status = self.context, self.status
        broker = ctx.live.connection
        online = broker == "connected"
        detail = redact_url(ctx.live.connection_detail)  # e.g. "refused: bad user name or …"
        shown = detail if broker == "refused" else "online" if online else "offline"
        if ctx.live.service is None:  # telemetry starts with the day's first plan
            waiting = ctx.state.plan is None
            shown = "waiting for the plan" if waiting else "not connected (telemetry is off)"
            detail = ("Live telemetry starts once the day has a plan" if waiting
                      else "Live telemetry is off: see the status messages")  # fmt: skip
            status.set_field("broker", f"Broker: {shown}", not waiting, detail)
        elif ctx.live_start.follows:  # another desk's demo fleet, on its broker
            follows = ctx.live_start.follows
            problem = ctx.live_start.follow_problem
            shown = "unreachable" if problem else shown
            status.set_field("broker", f"Broker: {shown} · demo of {follows}",
                             bool(problem) or not online,
                             problem or f"The demo fleet {follows}'s desk simulates: "
                             f"its broker and clock ({detail or shown})")  # fmt: skip
        else:
            status.set_field("broker", f"Broker: {shown}", not online, detail)
        database = ctx.link.database_label()
        status.set_field("database", f"Database: {database}", "offline" in database)
        status.set_field("outbox", f"Outbox: {ctx.link.outbox_pending()} pending")
        travel = ctx.travel
        if travel is not None:
            status.set_field(
                "travel",
                f"⚠ Travel: {travel.label}" if travel.warning else f"Travel: {travel.label}",
                bool(travel.warning),
                travel.warning or f"Travel times from {travel.label}",
            )
        counts = self.board.open_by_severity()
        status.set_field(
            "exceptions",
            "Exceptions: "
            + " ".join(f"{counts[s]} {s.value}" for s in sorted(counts, key=SEVERITY_RANK.get)),
        )
        identity = ctx.identity
        status.set_field("user", identity.label, tooltip=identity.tooltip)
        index = ctx.state.index
        zone = ZoneInfo(index.depot.timezone) if index else None
        now = ctx.now()
        simulated = " (simulated)" if ctx.clock.simulated and ctx.live.service is not None else ""
        status.set_field("clock", now.astimezone(zone).strftime("%a %d %b %H:%M:%S") + simulated)
        status.set_field("routes", f"Active routes: {ctx.state.active_route_count()}")
        self.exceptions_model.refresh_ages()
        if ctx.sync is not None:
            self._refresh_editors()  # a silent workstation's entry expires

    def _on_live_clock(self, now: datetime) -> None:
        self.map_pane.set_now(now)
        self.timeline_pane.set_now(now)

    def advance_simulation(self, seconds: float) -> None:
        """Run the simulated day on for ``seconds`` of its clock (screenshot runs)."""
        clock = self.context.clock
        if self.context.live.service is None:
            return
        target = clock() + seconds
        app = QApplication.instance()
        deadline = time.monotonic() + seconds / max(clock.speedup, 1.0) * 3 + 30
        while clock() < target and time.monotonic() < deadline:
            app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
            time.sleep(0.01)

    def _now(self) -> datetime:
        return self.context.now()

    def _on_state_changed(self, changes: DayChanges) -> None:
        state = self.context.state
        index = state.index
        if changes.everything and index is not None:
            self.setWindowTitle(f"Dispatch Desk - {index.depot.name} - {index.day.day:%a %d %b %Y}")
        if index is not None and (changes.everything or changes.routes):
            # The day is fitted into view once per plan (a first plan, a new day); a command
            # or a reload of the same plan leaves the view where the person put it.
            plan_key = (index.depot.id, index.day.day, state.plan.id if state.plan else None)
            fit = changes.everything and plan_key != self._fitted
            if fit:
                self._fitted = plan_key
            self.map_pane.set_plan(state.plan, index.orders, index.depot, fit=fit)
            labels = state.labels
            self.timeline_pane.set_plan(
                state.plan, index.orders, index.vehicles, index.drivers, index.depot.timezone,
                labels=labels,
            )  # fmt: skip
            if changes.source != ChangeSource.TELEMETRY:
                names = labels.vehicle_names()
                for route in state.routes:  # where the route stands, on its tooltips
                    if route.stops and route.status.rank and route.vehicle_id in names:
                        names[route.vehicle_id] += f" · {route.status.label}"
                self.map_pane.set_names(names)
                self.exceptions_model.refresh_labels()
        elif index is not None and changes.orders:  # an order changed off any route
            self.exceptions_model.refresh_labels()
        self._refresh_status()

    def _on_live_etas(self, live: LiveEtas) -> None:
        self._etas = live.etas
        self.map_pane.update_etas(live.etas, live.late)
        self.exceptions_model.set_etas(live.etas)
        # The timeline's share in a turn of the event loop of its own: two short slices of
        # the main thread instead of one long one (a newer evaluation replaces a waiting one).
        self._timeline_etas = live
        self._timeline_etas_timer.start()

    def _show_timeline_etas(self) -> None:
        live, self._timeline_etas = self._timeline_etas, None
        if live is not None:
            self.timeline_pane.update_etas(live.etas, live.p90, live.late)

    def _stop_tooltip(self, order_id: str) -> str:
        """A stop as a dispatcher reads it: customer, address, window, ETA now, vehicle."""
        state = self.context.state
        stop = None
        if state.plan is not None:
            route = state.plan.route_of(order_id)
            stop = next((s for s in route.stops if s.order_id == order_id), None) if route else None
        status = str(stop.status) if stop is not None else ""
        eta = None if stop is not None and stop.status.is_done else self._etas.get(order_id)
        text = state.labels.stop_tooltip(order_id, eta, status)
        if stop is not None and stop.locked:
            text += "\nLocked to this vehicle"
        return text

    def _on_board_changed(self) -> None:
        late = self.board.late_risk_orders()
        self.map_pane.set_late_risk(late)
        self.timeline_pane.set_late_risk(late)
        self._refresh_status()

    # -- presence: who edits which route, across workstations -----------------------------
    def _wire_presence(self) -> None:
        ctx = self.context
        self._editing_timer = QTimer(self)  # a drag given up without a drop ends here
        self._editing_timer.setSingleShot(True)
        self._editing_timer.setInterval(30_000)
        self._editing_timer.timeout.connect(lambda: ctx.link.announce_editing(None))
        for pane in (self.timeline_pane, self.map_pane):
            pane.sig_stop_drag_started.connect(self._on_stop_drag_started)
            pane.sig_stop_dropped.connect(lambda _ids, _route: self._editing_done())
        # A stop dropped on the map away from any route ends the drag too.
        self.map_pane.sig_stop_dropped_at.connect(lambda *_drop: self._editing_done())
        ctx.sig_editors.connect(lambda _editors: self._refresh_editors())

    def _on_stop_drag_started(self, order_ids: list) -> None:
        route = self._route_of("stop", order_ids[0]) if order_ids else None
        if route:
            self.context.link.announce_editing(route)
            self._editing_timer.start()

    def _editing_done(self) -> None:
        self._editing_timer.stop()
        self.dispatcher.drag_ended()
        self.context.link.announce_editing(None)

    def _refresh_editors(self) -> None:
        editors = self.context.link.editors()
        self.routes_model.set_editors(editors)
        self.timeline_pane.set_editors(editors)

    # -- selection, shared by every pane ---------------------------------------------------
    def _wire_selection(self) -> None:
        self.map_pane.sig_selection_changed.connect(self._on_map_selection_changed)
        self.timeline_pane.sig_selection_changed.connect(self._on_timeline_selection_changed)
        self.routes_pane.sig_route_selected.connect(self._on_routes_route_selected)
        self.release_board.pane.sig_route_selected.connect(self._on_release_route_selected)
        self.exceptions_pane.sig_focus_requested.connect(self.focus_exception)

    def _on_map_selection_changed(self, kind: str, ident: str) -> None:
        if kind == "stop":
            self.timeline_pane.focus_on(ident)
        route = self._route_of(kind, ident)
        if route:
            self.routes_pane.select_route(route)

    def _on_timeline_selection_changed(self, kind: str, ident: str) -> None:
        self.map_pane.select(ident, kind)
        route = self._route_of(kind, ident)
        if route:
            self.routes_pane.select_route(route)

    def _on_routes_route_selected(self, route_id: str) -> None:
        self.map_pane.focus_on(route_id, "route")
        self.release_board.pane.select_route(route_id)

    def _on_release_route_selected(self, route_id: str) -> None:
        self.routes_pane.select_route(route_id)

    def _route_of(self, kind: str, ident: str) -> str | None:
        state = self.context.state
        if kind == "route":
            return ident
        if kind == "stop" and state.plan is not None:
            route = state.plan.route_of(ident)
            return route.id if route else None
        if kind == "vehicle":
            return next((r.id for r in state.routes if r.vehicle_id == ident), None)
        return None

    def focus_order(self, order_id: str) -> None:
        """Focus map and timeline on an order (a search hit, a new urgent order)."""
        route = self._route_of("stop", order_id)
        if route:  # selecting a route in the list (or the timeline) focuses the map on it,
            self.routes_pane.select_route(route)  # so the map's focus on the stop comes last
        self.timeline_pane.focus_on(order_id)
        self.map_pane.focus_on(order_id, "stop")

    def _on_proposals_changed(self, text: str) -> None:
        """Pending proposals (orange for a supervisor who has some to decide), and this
        user's own decided since they last looked (Plan ▸ Proposals…)."""
        supervisor = self.context.dispatch is not None and self.context.dispatch.is_supervisor
        board = self.orders.board
        waiting = supervisor and board is not None and bool(board.pending)
        self._proposals_label.setText(text)
        self._proposals_label.setToolTip("Plan ▸ Proposals… (Ctrl+Shift+P)" if text else "")
        self._proposals_label.setStyleSheet("color: #ef6c00;" if waiting or "of yours" in text
                                            else "")  # fmt: skip

    def focus_exception(self, exception_id: str) -> None:
        """Focus map and timeline on what an exception is about (its stop, else its vehicle)."""
        entry = self.board.get(exception_id)
        if entry is None:
            return
        exc = entry.exception
        if exc.order_id:
            self.map_pane.focus_on(exc.order_id, "stop")
            self.timeline_pane.focus_on(exc.order_id)
        elif exc.vehicle_id:
            self.map_pane.focus_on(exc.vehicle_id, "vehicle")
            route = self._route_of("vehicle", exc.vehicle_id)
            if route:
                self.routes_pane.select_route(route)

    # -- commands from the panes ----------------------------------------------------------
    def _on_cancel_triggered(self) -> None:
        names = {JobKind.PLAN: "Planning the day", JobKind.REPLAN: "The re-plan"}
        cancelled = [names[k] for k in names if self.context.jobs.cancel(k)]
        if cancelled:
            self.status.show(f"{' and '.join(cancelled)} cancelled: nothing was changed")

    def _lock_selected(self, locked: bool) -> None:
        selected = self.timeline_pane.selected
        if selected:
            self.dispatcher.set_locked(selected, locked)

    def _on_acknowledge_requested(self, exception_id: str) -> None:
        self._acknowledge(exception_id)

    def _acknowledge(self, exception_id: str, *, resolve: bool = False) -> bool:
        """Acknowledge (or resolve) an exception: stored with the day, then shown; a store
        that refuses says so and the row stays as it was."""
        try:
            if resolve:
                return self.context.exceptions.resolve(exception_id)
            return self.context.exceptions.acknowledge(exception_id)
        except Exception as exc:
            log.warning("storing %s of %s failed: %s", "resolve" if resolve else
                        "acknowledge", exception_id, exc)  # fmt: skip
            self.status.show(f"Could not store it: {exc}")
            return False

    def _on_resolve_requested(self, exception_id: str) -> None:
        entry = self.board.get(exception_id)
        if entry is not None and entry.exception.type == DeskExceptionType.SYNC_CONFLICT:
            self._resolve_sync_conflict(exception_id)
            return
        if entry is not None and entry.exception.type == DeskExceptionType.SYNC_FAILED:
            self._resolve_sync_problem(exception_id)
            return
        self._acknowledge(exception_id, resolve=True)

    def _resolve_sync_problem(self, exception_id: str) -> None:
        """A held edit: send it again, or drop it (the shared database keeps its version)."""
        if self.context.headless:
            self.status.show("An edit that could not be sent needs a person to choose")
            return
        entry = self.board.get(exception_id)
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle("Edit not sent")
        box.setText("This edit could not be sent to the shared database (not a conflict).")
        box.setInformativeText(
            (entry.exception.detail if entry else "")
            + "\n\nRetry: send it again now. Discard: drop it; this desk then shows the "
            "shared version of its routes."
        )
        retry = box.addButton("Retry", QMessageBox.ButtonRole.AcceptRole)
        discard = box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        action = {retry: "retry", discard: "discard"}.get(box.clickedButton())
        if action is None:
            return
        try:
            self.context.resolve_conflict(exception_id, action)
        except Exception as exc:  # say why, keep it open
            log.warning("settling %s failed: %s", exception_id, exc)
            QMessageBox.warning(self, "Edit not sent", f"Could not settle it: {exc}")

    def _resolve_sync_conflict(self, exception_id: str) -> None:
        """Ask which version stays: mine (applied again on top) or theirs (as stored)."""
        if self.context.headless:  # nobody to ask: the conflict stays open
            self.status.show("A sync conflict needs a person to choose")
            return
        view = self.context.conflict_view(exception_id)
        if view is None:  # resolved meanwhile (by this desk's sync) or not a conflict here
            entry = self.board.get(exception_id)
            view = conflict_view(entry.exception.detail if entry else "")
        keep = ConflictDialog.ask(view, self)
        if keep is None:
            return
        try:
            self.context.resolve_conflict(exception_id, keep)
        except Exception as exc:  # say why, keep the conflict open
            log.warning("resolving %s failed: %s", exception_id, exc)
            QMessageBox.warning(self, "Sync conflict", f"Could not resolve it: {exc}")

    def _routes_of_exception(self, exception_id: str) -> list[str]:
        entry = self.board.get(exception_id)
        if entry is None:
            return []
        exc, routes = entry.exception, []
        for kind, ident in (("stop", exc.order_id), ("vehicle", exc.vehicle_id)):
            route = self._route_of(kind, ident) if ident else None
            if route and route not in routes:
                routes.append(route)
        return routes

    def _on_replan_requested(self, exception_id: str) -> None:
        """Re-plan the exception's route together with its nearest neighbours."""
        routes = self._routes_of_exception(exception_id)
        if not routes:
            self.context.replan(exception_id=exception_id)
            return
        state = self.context.state
        if state.plan is not None and state.index is not None:
            for suggestion in self._suggestions(exception_id)[:2]:
                if suggestion not in routes:
                    routes.append(suggestion)
        self._acknowledge(exception_id)
        self.context.replan(route_ids=routes, exception_id=exception_id)

    def _suggestions(self, exception_id: str) -> list[str]:
        """Routes the engine ranks best for the exception's stop (feasible first); for a
        vehicle's exception (a breakdown, idle, off route), for its route's next open stop.
        Routes of vehicles broken down are never suggested."""
        entry = self.board.get(exception_id)
        if entry is None:
            return []
        exc = entry.exception
        order_id = exc.order_id or self._next_open_stop(exc.vehicle_id)
        if not order_id:
            return []
        try:
            ranked = self.context.suggest_routes(order_id)
        except Exception as err:  # a suggestion is a help, never a blocker
            log.warning("no suggestion for %s: %s", exception_id, err)
            return []
        broken = self.context.live.broken_down()
        plan = self.context.state.plan
        vehicle = {r.id: r.vehicle_id for r in plan.routes} if plan is not None else {}
        return [rid for rid in ranked if vehicle.get(rid) not in broken]

    def _next_open_stop(self, vehicle_id: str | None) -> str | None:
        """The first stop of the vehicle's route not served yet (None: none left)."""
        route_id = self._route_of("vehicle", vehicle_id) if vehicle_id else None
        plan = self.context.state.plan
        route = next((r for r in plan.routes if r.id == route_id), None) if plan else None
        if route is None:
            return None
        return next((s.order_id for s in route.stops if not is_history(s)), None)

    def _on_reassign_requested(self, exception_id: str) -> None:
        """Move the exception's stop to the engine's best suggested route; for a vehicle's
        exception (a breakdown, idle, off route, silent tracker), the vehicle's next open
        stop, the one the suggestion is made for. The status bar says why when nothing can
        be moved."""
        entry = self.board.get(exception_id)
        if entry is None:
            self.status.show("That exception is no longer on the board")
            return
        exc = entry.exception
        order_id = exc.order_id or self._next_open_stop(exc.vehicle_id)
        if not order_id:
            vehicle = self.context.state.labels.vehicle(exc.vehicle_id) or "this vehicle"
            self.status.show(f"Nothing to reassign: {vehicle} has no stop left to serve")
            return
        targets = self._suggestions(exception_id)
        if not targets:
            self.status.show(f"No other route can take {order_id}; try Re-plan routes")
            return
        if self.dispatcher.reassign([order_id], targets[0]):
            self._acknowledge(exception_id)

    def _on_plan_day_triggered(self) -> None:
        """Plan the day: from scratch while there is no plan; otherwise (a supervisor's)
        after a confirmation of what will be lost, planned again from now as a proposal."""
        plan = self.context.state.plan
        if plan is None:
            self.context.plan_day()
            return
        if not self.is_supervisor:
            why = SUPERVISOR_ONLY.format(user=self.context.user)
            self.status.show(f"Planning the whole day again is {why}")
            return
        loss = whole_day_loss(plan, loaded_orders(self.context.store, plan))
        box = QMessageBox(self)
        box.setObjectName("plan_day_confirm")
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle("Plan the day again")
        started = "The day has started. " if loss.live else ""
        box.setText(f"{started}Plan every stop not yet served again, from now? You will see "
                    "the result as a proposal first; accepting it can be undone.")  # fmt: skip
        box.setInformativeText(
            "Accepting it loses:\n• "
            + "\n• ".join(loss.lines(self.dispatcher.undo_stack.count()))
            + "\n\n"
            + loss.kept
        )
        go = box.addButton("Plan again (proposal)", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        self.last_plan_day_confirm = box

        def answered(button) -> None:
            if button is go:
                self.context.plan_day_again()
            else:
                self.status.show("Plan the day cancelled: nothing was changed")

        if self.context.headless:  # tests and screenshot runs press the buttons themselves
            box.buttonClicked.connect(answered)
            box.show()
            return
        box.exec()
        answered(box.clickedButton())

    def _on_day_proposal_ready(self, proposal) -> None:
        """The live day planned again: shown as a proposal, accepted as one undoable
        command (the locks it drops and the moves it overrides are in the confirmation)."""
        self._on_proposal_ready(proposal, None, title="Plan the day again (from now)")

    def _on_proposal_ready(self, proposal, scope, title: str = "") -> None:
        index = self.context.state.index
        plan = self.context.state.plan
        dialog = ProposalDialog(
            proposal, index.depot.timezone if index else "UTC", self,
            before=plan, labels=self.context.state.labels,
        )  # fmt: skip
        if title:
            dialog.setWindowTitle(title)
        service = self.context.dispatch
        if service is not None and not service.may_accept(scope):
            dialog.accept_button.setText("Propose to a supervisor")  # the role may not accept
        self.last_proposal_dialog = dialog
        if self.context.headless:
            dialog.show()  # tests and screenshot runs drive it themselves
            dialog.accepted.connect(lambda: self.dispatcher.accept_proposal(proposal, scope))
            return
        if dialog.exec() == ProposalDialog.DialogCode.Accepted:
            self.dispatcher.accept_proposal(proposal, scope)

    def _on_job_started(self, kind: JobKind) -> None:
        if kind in (JobKind.PLAN, JobKind.REPLAN):
            self.cancel_action.setEnabled(True)
        if kind == JobKind.PLAN:
            self._busy.show()
            self.plan_action.setEnabled(False)

    def _on_job_progress(self, kind: JobKind, payload: object) -> None:
        if kind == JobKind.PLAN:  # also over the routes it fills, where the eye is while it runs
            self.routes_pane.show_planning(str(payload))

    def _on_job_finished(self, kind: JobKind) -> None:
        self.status.job_ended(kind)
        if kind == JobKind.PLAN:
            self.routes_pane.planning_ended()
        if kind in (JobKind.PLAN, JobKind.REPLAN):
            jobs = self.context.jobs
            self.cancel_action.setEnabled(
                jobs.is_running(JobKind.PLAN) or jobs.is_running(JobKind.REPLAN)
            )
        if kind == JobKind.PLAN:
            self._busy.hide()
            self.plan_action.setEnabled(self.is_supervisor)

    def _on_job_failed(self, kind: JobKind, message: str) -> None:
        self.status.show_error(f"{kind} failed: {message}")
        if self.isVisible() and not self.context.headless:
            QMessageBox.warning(self, f"{kind.capitalize()} failed", message)
