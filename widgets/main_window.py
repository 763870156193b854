"""The main window: docks the panes, owns menus, toolbar and status bar, wires panes together.

Panes never import each other; every cross-pane connection is made here.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDockWidget, QLabel, QMainWindow, QMessageBox, QProgressBar, QWidget

from app.context import AppContext
from app.day_state import Changes
from app.routes_model import RoutesTableModel
from widgets.routes_pane import RoutesPane

SETTINGS_ORG, SETTINGS_APP = "DispatchDesk", "Workstation"


class MainWindow(QMainWindow):
    """The workstation window."""

    def __init__(self, context: AppContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.context = context
        self.setWindowTitle("Dispatch Desk")
        self.resize(1600, 1000)
        self.setDockNestingEnabled(True)
        self._docks: dict[str, QDockWidget] = {}

        self.routes_model = RoutesTableModel(context.state, self)
        self.routes_pane = RoutesPane(self.routes_model, self)
        self._build_status_bar()
        self._build_actions()
        self._add_dock("routes", "Routes", self.routes_pane, Qt.DockWidgetArea.LeftDockWidgetArea)

        context.state.sig_changed.connect(self._on_state_changed)
        context.jobs.sig_job_started.connect(self._on_job_started)
        context.jobs.sig_job_finished.connect(self._on_job_finished)
        context.jobs.sig_job_failed.connect(self._on_job_failed)
        context.sig_status.connect(self.statusBar().showMessage)

        self._clock_timer = QTimer(self)
        self._clock_timer.timeout.connect(self._refresh_status)
        self._clock_timer.start(1000)
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
        quit_action = QAction("&Quit", self, shortcut=QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)
        plan_menu = menu.addMenu("&Plan")
        self.plan_action = QAction("Plan the &day", self, shortcut=QKeySequence("Ctrl+P"))
        self.plan_action.setStatusTip("Plan every order of the day from scratch")
        self.plan_action.triggered.connect(self.context.plan_day)
        plan_menu.addAction(self.plan_action)
        self.cancel_action = QAction("&Cancel planning", self, shortcut=QKeySequence("Esc"))
        self.cancel_action.setEnabled(False)
        self.cancel_action.triggered.connect(lambda: self.context.jobs.cancel("plan"))
        plan_menu.addAction(self.cancel_action)
        self._view_menu = menu.addMenu("&View")
        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("toolbar_main")
        toolbar.addAction(self.plan_action)
        toolbar.addAction(self.cancel_action)

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self._db_label = QLabel(self)
        self._clock_label = QLabel(self)
        self._routes_label = QLabel(self)
        self._busy = QProgressBar(self)
        self._busy.setMaximumWidth(140)
        self._busy.setRange(0, 0)
        self._busy.hide()
        for widget in (self._busy, self._routes_label, self._db_label, self._clock_label):
            bar.addPermanentWidget(widget)

    # -- layout persistence -------------------------------------------------------------
    def _restore_layout(self) -> None:
        settings = QSettings(SETTINGS_ORG, SETTINGS_APP)
        geometry = settings.value("geometry")
        state = settings.value("window_state")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        if isinstance(state, QByteArray):
            self.restoreState(state)

    def save_layout(self) -> None:
        settings = QSettings(SETTINGS_ORG, SETTINGS_APP)
        settings.setValue("geometry", self.saveGeometry())
        settings.setValue("window_state", self.saveState())

    def closeEvent(self, event) -> None:
        self.save_layout()
        self.context.shutdown()
        super().closeEvent(event)

    # -- reactions ----------------------------------------------------------------------
    def _refresh_status(self) -> None:
        ctx = self.context
        self._db_label.setText(f"Database: {ctx.database_label()}")
        index = ctx.state.index
        zone = ZoneInfo(index.depot.timezone) if index else None
        now = ctx.state.now or datetime.now(zone)
        self._clock_label.setText(now.astimezone(zone).strftime("%a %d %b %H:%M:%S"))
        self._routes_label.setText(f"Active routes: {ctx.state.active_route_count()}")

    def _on_state_changed(self, changes: Changes) -> None:
        if changes.everything:
            index = self.context.state.index
            if index is not None:
                self.setWindowTitle(
                    f"Dispatch Desk - {index.depot.name} - {index.day.day:%a %d %b %Y}"
                )
        self._refresh_status()

    def _on_job_started(self, kind: str) -> None:
        if kind == "plan":
            self._busy.show()
            self.cancel_action.setEnabled(True)
            self.plan_action.setEnabled(False)

    def _on_job_finished(self, kind: str) -> None:
        if kind == "plan":
            self._busy.hide()
            self.cancel_action.setEnabled(False)
            self.plan_action.setEnabled(True)

    def _on_job_failed(self, kind: str, message: str) -> None:
        self.statusBar().showMessage(f"{kind} failed: {message}", 10_000)
        if self.isVisible() and not self.context.headless:
            QMessageBox.warning(self, f"{kind.capitalize()} failed", message)
