"""The Release board: the docks on a time axis, the waves with their cut-offs, and every
route's go / no-go with each check's what, why and how to fix.

One lane per dock: each route's loading slot is a bar (coloured by the route's status,
the part already scanned darker), the now-line in red. The waves table says each wave's
cut-off, departure window, status, how many routes are green and released, and on-time
dispatch. The routes table lists the gate per route with loading, the version the driver
was sent and the one they confirmed; the checks of the selected route read below it.
The pane only asks (``sig_*``); the window's release board carries it out.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

import pyqtgraph as pg
from PySide6.QtCore import QItemSelection, QItemSelectionModel, Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine.model import Plan, RouteStatus
from widgets.text_table import TextTable, fill_rows
from widgets.timeline_items import ClockAxisItem, PointLabels

STATUS_COLOURS = {
    RouteStatus.PLANNED: (189, 189, 189),
    RouteStatus.LOADING: (255, 193, 7),
    RouteStatus.READY: (102, 187, 106),
    RouteStatus.RELEASED: (66, 133, 244),
    RouteStatus.ACTIVE: (57, 73, 171),
    RouteStatus.COMPLETED: (120, 120, 120),
}
GO, NO_GO = QColor(46, 125, 50), QColor(198, 40, 40)
ROUTE_COLUMNS = ("Route", "Vehicle", "Wave", "Dock", "Slot", "Status", "Gate", "Loaded",
                 "Sent", "Confirmed", "Released", "Left")  # fmt: skip
WAVE_COLUMNS = ("Wave", "Cut-off", "Departs", "Status", "Green", "Released", "On time")
CHECK_COLUMNS = ("Check", "", "What", "Why", "How to fix")


def _clock(moment: datetime | None, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%H:%M") if moment is not None else ""


def _delay(seconds: float | None) -> str:
    if seconds is None:
        return ""
    minutes = round(seconds / 60)
    return "in time" if minutes <= 0 else f"+{minutes} min"


class ReleasePane(QWidget):
    """The Release board (see the module)."""

    sig_release_requested = Signal(list)  # route ids
    sig_release_wave_requested = Signal(str)
    sig_release_green_requested = Signal()
    sig_mark_loaded_requested = Signal(str)
    sig_override_requested = Signal(str, str)  # route id, check name
    sig_recall_requested = Signal(str)
    sig_route_selected = Signal(str)
    sig_scarcity_requested = Signal()

    def __init__(self, service, plan_fn: Callable[[], Plan | None],
                 parent: QWidget | None = None) -> None:  # fmt: skip
        super().__init__(parent)
        self.service = service
        self._plan_fn = plan_fn
        self._route_ids: list[str] = []
        self._waves: list[str] = []
        self._supervisor = False
        self._sized = False

        self.summary = QLabel("")
        self.release_button = QPushButton("Release route")
        self.release_button.setToolTip("Release the selected routes (green ones only)")
        self.wave_combo = QComboBox()
        self.wave_button = QPushButton("Release wave")
        self.wave_button.setToolTip("Release every green route of the chosen wave")
        self.green_button = QPushButton("Release all green")
        self.loaded_button = QPushButton("Mark loaded")
        self.loaded_button.setToolTip("The load was checked by hand: the route counts as loaded")
        self.override_button = QPushButton("Override check…")
        self.recall_button = QPushButton("Recall")
        self.recall_button.setToolTip("Take a released route back: its driver is told")
        self.scarcity_button = QPushButton("Dock scarcity…")
        self.scarcity_button.setToolTip(
            "Departures and lateness if the day had fewer docks (slot delays, late stops)"
        )
        buttons = QHBoxLayout()
        for w in (self.release_button, self.wave_combo, self.wave_button, self.green_button,
                  self.loaded_button, self.override_button, self.recall_button,
                  self.scarcity_button):  # fmt: skip
            buttons.addWidget(w)
        buttons.addStretch(1)

        self.axis = ClockAxisItem("bottom")
        self.plot = pg.PlotWidget(axisItems={"bottom": self.axis})
        self.plot.setBackground("w")
        self.plot.invertY(True)
        self.plot.hideButtons()
        self.plot.getPlotItem().getViewBox().setMouseEnabled(x=True, y=False)
        self.plot.getAxis("left").setStyle(tickLength=0)
        self.plot.setMinimumHeight(120)
        self._slots = pg.BarGraphItem(x0=[], x1=[], y=[], height=0.6, brushes=[],
                                      pen=pg.mkPen((60, 60, 60)))  # fmt: skip
        self._progress = pg.BarGraphItem(x0=[], x1=[], y=[], height=0.25, brush=(30, 30, 30, 170),
                                         pen=pg.mkPen(None))  # fmt: skip
        self._now_line = pg.InfiniteLine(angle=90, movable=False,
                                         pen=pg.mkPen((214, 39, 40), width=2))  # fmt: skip
        self._slot_labels = PointLabels()  # the vehicle of each slot
        for item in (self._slots, self._progress, self._now_line):
            self.plot.addItem(item)
        self.plot.addItem(self._slot_labels, ignoreBounds=True)

        self.waves_table = self._table(WAVE_COLUMNS)
        # a model over plain rows: a day of 2,000 routes is 24,000 cells (see text_table)
        self.routes_table = TextTable(self)
        self.routes_table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.routes_table.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.Interactive
        )
        self.checks_table = self._table(CHECK_COLUMNS)
        self.checks_table.setWordWrap(True)
        self.checks_table.horizontalHeader().setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.plot)
        splitter.addWidget(self.waves_table)
        splitter.addWidget(self.routes_table)
        splitter.addWidget(self.checks_table)
        splitter.setSizes([200, 110, 260, 170])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(buttons)
        layout.addWidget(self.summary)
        layout.addWidget(splitter, 1)

        self.release_button.clicked.connect(
            lambda: self.sig_release_requested.emit(self.selected_routes())
        )
        self.wave_button.clicked.connect(
            lambda: self.sig_release_wave_requested.emit(self.wave_combo.currentText())
        )
        self.green_button.clicked.connect(self.sig_release_green_requested)
        self.loaded_button.clicked.connect(lambda: self._one(self.sig_mark_loaded_requested))
        self.recall_button.clicked.connect(lambda: self._one(self.sig_recall_requested))
        self.override_button.clicked.connect(self._on_override_clicked)
        self.scarcity_button.clicked.connect(self.sig_scarcity_requested)
        self.routes_table.selectionModel().selectionChanged.connect(self._on_route_selection)
        self.waves_table.itemSelectionChanged.connect(self._on_wave_selection)
        service.sig_changed.connect(self.refresh)
        self.refresh()

    @staticmethod
    def _table(columns: tuple[str, ...]) -> QTableWidget:
        table = QTableWidget(0, len(columns))
        table.setHorizontalHeaderLabels(list(columns))
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.verticalHeader().setVisible(False)
        table.horizontalHeader().setStretchLastSection(True)
        return table

    # -- roles ---------------------------------------------------------------------------
    def set_supervisor(self, supervisor: bool, why: str = "") -> None:
        """Overriding a red check is a supervisor's; a dispatcher sees why not."""
        self._supervisor = supervisor
        self.override_button.setEnabled(supervisor)
        self.override_button.setToolTip(
            "Let a red check pass with a written reason (kept in the change log)"
            if supervisor else why
        )  # fmt: skip

    # -- selection -------------------------------------------------------------------------
    def selected_routes(self) -> list[str]:
        rows = self.routes_table.selected_rows()
        return [self._route_ids[r] for r in rows if r < len(self._route_ids)]

    def select_route(self, route_id: str) -> None:
        """Select exactly this route (and show its checks), whatever keys are held down."""
        if route_id in self._route_ids:
            self._select_rows([self._route_ids.index(route_id)])

    def _select_rows(self, rows: list[int]) -> None:
        # QTableView.selectRow reads the keyboard's modifiers on a multi-select table: with
        # Shift held it extends from a stale anchor and can select nothing, with Ctrl it
        # toggles. Selecting through the model selects these rows and only these.
        table = self.routes_table
        model, chosen = table.model(), table.selectionModel()
        selection = QItemSelection()
        for row in rows:
            selection.select(model.index(row, 0), model.index(row, model.columnCount() - 1))
        chosen.select(selection, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        if rows:
            chosen.setCurrentIndex(
                model.index(rows[0], 0), QItemSelectionModel.SelectionFlag.NoUpdate
            )

    def selected_check(self) -> str:
        rows = {i.row() for i in self.checks_table.selectedIndexes()}
        if not rows:
            return ""
        item = self.checks_table.item(min(rows), 0)
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else ""

    def _one(self, signal) -> None:
        routes = self.selected_routes()
        if routes:
            signal.emit(routes[0])

    def _on_override_clicked(self) -> None:
        routes = self.selected_routes()
        if routes:
            self.sig_override_requested.emit(routes[0], self.selected_check())

    def _on_route_selection(self, *_selection) -> None:
        routes = self.selected_routes()
        self._show_checks(routes[0] if routes else "")
        if routes:
            self.sig_route_selected.emit(routes[0])

    def _on_wave_selection(self) -> None:
        rows = {i.row() for i in self.waves_table.selectedIndexes()}
        if rows and min(rows) < len(self._waves):
            self.wave_combo.setCurrentText(self._waves[min(rows)])

    # -- drawing ---------------------------------------------------------------------------
    def refresh(self) -> None:
        service = self.service
        gate = service.gate
        zone = ZoneInfo(service.timezone)
        plan = self._plan_fn()
        if gate is None or plan is None:
            self.summary.setText("No plan yet: the board fills when the day is planned")
            self._route_ids = []
            fill_rows(self.routes_table, ROUTE_COLUMNS, [], [])
            self.waves_table.setRowCount(0)
            return
        routes = {r.id: r for r in plan.routes if r.stops}
        go = sum(1 for g in gate.routes.values() if g.go and not g.status.is_released)
        released = sum(1 for g in gate.routes.values() if g.status.is_released)
        text = (f"{len(gate.routes)} routes: {go} green to release, "
                f"{len(gate.routes) - go - released} not ready, {released} released")  # fmt: skip
        channel = service.channel_state
        text += f" · drivers' channel: {channel}"
        if service.last_sent is not None:
            count, when = service.last_sent
            text += f" (last sent {count} at {_clock(when, zone)})"
        inbox = service.inbox
        if inbox is not None and inbox.received:
            refused = {k: v for k, v in inbox.reject_counts().items() if v}
            text += f" · dock and driver messages: {inbox.accepted} taken"
            if refused:
                worst = max(refused, key=lambda k: refused[k])
                text += f", {sum(refused.values())} refused (most: {worst})"
        if service.last_error:
            text += f" · {service.last_error}"
        self.summary.setText(text)
        self._fill_waves(gate, zone)
        self._fill_routes(gate, routes, zone)
        self._draw_docks(plan, gate, zone)
        selected = self.selected_routes()
        self._show_checks(selected[0] if selected else "")

    def _fill_waves(self, gate, zone: ZoneInfo) -> None:
        _routes, waves_on_time = self.service.punctuality
        self._waves = list(gate.waves)
        current = self.wave_combo.currentText()
        self.wave_combo.blockSignals(True)
        self.wave_combo.clear()
        self.wave_combo.addItems(self._waves)
        if current in self._waves:
            self.wave_combo.setCurrentText(current)
        self.wave_combo.blockSignals(False)
        table = self.waves_table
        table.setRowCount(len(self._waves))
        for row, wid in enumerate(self._waves):
            w = gate.waves[wid]
            kpi = waves_on_time.get(wid)
            share = kpi.on_time_share if kpi is not None else None
            on_time = "" if share is None else f"{share:.0%} of {kpi.departed if kpi else 0}"
            cells = (wid, _clock(w.cutoff, zone),
                     f"{_clock(w.depart_from, zone)}–{_clock(w.depart_to, zone)}"
                     if w.depart_from else "",
                     w.status.value + (" · late" if w.late else ""),
                     f"{len(w.green)} of {len(w.routes)}", str(len(w.released)), on_time)  # fmt: skip
            for col, value in enumerate(cells):
                item = QTableWidgetItem(value)
                if col == 4:
                    item.setForeground(GO if w.go else NO_GO)
                table.setItem(row, col, item)

    def _fill_routes(self, gate, routes, zone: ZoneInfo) -> None:
        drivers = self.service.drivers
        on_time = {p.route_id: p for p in self.service.punctuality[0]}
        selected = set(self.selected_routes())
        self._route_ids = list(gate.routes)
        rows: list[tuple[str, ...]] = []
        colors: dict[tuple[int, int], QColor] = {}
        tips: dict[tuple[int, int], str] = {}
        for row, rid in enumerate(self._route_ids):
            g = gate.routes[rid]
            route = routes.get(rid)
            load = gate.loading.get(rid)
            sent = drivers.sent.get(rid)
            ack = drivers.acks.get(rid)
            p = on_time.get(rid)
            slot = (f"{_clock(route.slot_start, zone)}–{_clock(route.slot_end, zone)}"
                    if route is not None and route.slot_start else "")  # fmt: skip
            red = ", ".join(c.name for c in g.red)
            gate_text = ("released" if g.status.is_released else
                         "GO" + (" (overridden)" if g.overridden else "") if g.go
                         else f"NO-GO: {red}")  # fmt: skip
            loaded = ""
            if load is not None:
                loaded = (f"by hand ({load.marked_by})" if load.marked_by
                          else f"{load.scanned}/{load.expected}")  # fmt: skip
            rows.append((
                rid, g.vehicle_id, g.wave,
                route.dock_id or "" if route is not None else "", slot, g.status.label,
                gate_text, loaded,
                f"v{sent.version}" + (" withdrawn" if sent.kind != "route" else "")
                if sent else "",
                f"v{ack.version} {_clock(ack.ts, zone)}" if ack else "",
                _delay(p.release_delay_s) if p else "",
                _delay(p.departure_delay_s) if p else "",
            ))  # fmt: skip
            if not g.status.is_released:
                colors[(row, 6)] = GO if g.go else NO_GO
            if sent is not None and (ack is None or ack.version < sent.version):
                tips[(row, 9)] = f"the driver has not confirmed v{sent.version} yet"
                colors[(row, 9)] = NO_GO
        table = self.routes_table
        fill_rows(table, ROUTE_COLUMNS, rows, self._route_ids, colors, tips)
        if not self._sized and self._route_ids:
            table.resizeColumnsToContents()
            self._sized = True
        selection = table.selectionModel()
        blocked = selection.blockSignals(True)  # the same routes stay chosen: no new choice
        try:
            self._select_rows(
                [self._route_ids.index(rid) for rid in selected if rid in self._route_ids]
            )
        finally:
            selection.blockSignals(blocked)

    def _show_checks(self, route_id: str) -> None:
        gate = self.service.gate
        g = gate.routes.get(route_id) if gate is not None and route_id else None
        table = self.checks_table
        table.setRowCount(0 if g is None else len(g.checks))
        if g is None:
            return
        for row, c in enumerate(g.checks):
            mark = "✓" if c.ok else ("overridden" if c.override is not None else "✗")
            why = c.why
            if c.override is not None:
                why = f"{why} — overridden by {c.override.actor}: {c.override.reason}"
            for col, value in enumerate((c.name, mark, c.what, why, c.fix if not c.ok else "")):
                item = QTableWidgetItem(value)
                item.setToolTip(value)
                if col == 0:
                    item.setData(Qt.ItemDataRole.UserRole, c.name)
                if col == 1:
                    item.setForeground(GO if c.passed else NO_GO)
                table.setItem(row, col, item)
        table.resizeRowsToContents()

    def _draw_docks(self, plan: Plan, gate, zone: ZoneInfo) -> None:
        index = getattr(self.service.state, "index", None)
        docks = [k.id for k in index.depot.docks] if index is not None else []
        docks += sorted({r.dock_id for r in plan.routes if r.dock_id and r.dock_id not in docks})
        lane = {d: i for i, d in enumerate(docks)}
        x0, x1, y, brushes, px0, px1, py = [], [], [], [], [], [], []
        names: list[str] = []
        for r in plan.routes:
            if not r.stops or not r.dock_id or r.slot_start is None or r.slot_end is None:
                continue
            a, b = self._x(r.slot_start, zone), self._x(r.slot_end, zone)
            row = lane[r.dock_id]
            x0.append(a)
            x1.append(max(b, a + 60))
            y.append(row)
            brushes.append(QBrush(QColor(*STATUS_COLOURS.get(r.status, (189, 189, 189)))))
            load = gate.loading.get(r.id)
            done = 1.0 if r.status.is_released or r.status is RouteStatus.READY else 0.0
            if load is not None and load.expected and not done:
                done = min(1.0, load.scanned / load.expected)
            if load is not None and load.marked_by:
                done = 1.0
            if done > 0:
                px0.append(a)
                px1.append(a + (max(b, a + 60) - a) * done)
                py.append(row + 0.2)
            names.append(r.vehicle_id)
        self._slots.setOpts(x0=x0, x1=x1, y=y, brushes=brushes, height=0.6)
        self._slot_labels.set_labels(x0, y, names)
        self._progress.setOpts(x0=px0, x1=px1, y=py, height=0.2)
        self.plot.getAxis("left").setTicks([[(i, d) for d, i in lane.items()], []])
        now = self._x(gate.at, zone)
        self._now_line.setPos(now)
        if x0:
            self.plot.setXRange(min(min(x0), now) - 600, max(max(x1), now) + 600, padding=0)
            self.plot.setYRange(-0.6, len(docks) - 0.4, padding=0)

    @staticmethod
    def _x(moment: datetime, zone: ZoneInfo) -> float:
        local = moment.astimezone(zone)
        return float(local.hour * 3600 + local.minute * 60 + local.second)
