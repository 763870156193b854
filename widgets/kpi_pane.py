"""The KPI pane: tiles with target and 30-day trend, charts (on time by hour, lateness,
exception recovery, plan against actual per route, the trend of any KPI), every KPI of the
day or of one route, and the rows behind any number (the drill-down).

The pane only shows what it is given (:meth:`KpiPane.show_result`); ``KpiDesk`` computes
the day off the main thread and asks it to show. Clicking a tile, a KPI row or a route
point drills down; double-clicking a stop or exception row asks the window to focus it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.kpis.service import DayKpis, Trend
from app.kpis.tables import (
    counts_text,
    fmt_value,
    hour_ticks,
    hourly_on_time,
    kpi_lines,
    lateness,
    met,
    recovery_minutes,
    route_lines,
    zone,
)
from engine.kpis import (
    BY_NAME,
    CommandFact,
    EtaFact,
    ExceptionFact,
    RouteFact,
    StopFact,
    rows_behind,
)
from widgets.text_table import TextTable, fill_rows

#: The tiles, left to right.
TILES = (
    "on_time_delivery_pct",
    "on_time_dispatch_pct",
    "first_attempt_success_pct",
    "late_stops",
    "exception_resolve_median_min",
    "exception_recovered_pct",
    "route_time_vs_plan_pct",
    "person_actions_per_route_hour",
    "eta_within10_30_pct",
)
GOOD, BAD, NEUTRAL = "#1b7f3b", "#b3261e", "#444444"


class KpiTile(QFrame):
    """One KPI: title, value, target, and a sparkline of its last 30 days."""

    sig_clicked = Signal(str)

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setObjectName(f"tile_{name}")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.setSpacing(1)
        self.title = QLabel(BY_NAME[name].title, self)
        self.title.setWordWrap(True)
        self.value = QLabel("—", self)
        font = QFont(self.value.font())
        font.setPointSize(font.pointSize() + 6)
        font.setBold(True)
        self.value.setFont(font)
        self.target = QLabel("", self)
        self.spark = pg.PlotWidget(self)
        self.spark.setFixedHeight(34)
        self.spark.hideAxis("left")
        self.spark.hideAxis("bottom")
        self.spark.setMouseEnabled(False, False)
        self.spark.setMenuEnabled(False)
        self.spark.setBackground(None)
        for w in (self.title, self.value, self.target, self.spark):
            layout.addWidget(w)
        self.setToolTip(f"{name} — click for the rows behind it")

    def show_value(self, text: str, target: str, ok: bool | None, trend: list[float]) -> None:
        self.value.setText(text)
        self.target.setText(target)
        color = NEUTRAL if ok is None else (GOOD if ok else BAD)
        self.value.setStyleSheet(f"color: {color}")
        self.spark.clear()
        if len(trend) > 1:
            self.spark.plot(list(range(len(trend))), trend, pen=pg.mkPen(color, width=1.5))

    def mousePressEvent(self, event) -> None:  # noqa: N802 (Qt name)
        self.sig_clicked.emit(self.name)
        super().mousePressEvent(event)


class KpiPane(QWidget):
    """See the module."""

    sig_refresh_requested = Signal()
    sig_day_chosen = Signal(str)  # "" (the day shown live) or a recorded day's path
    sig_export_requested = Signal()
    sig_learn_requested = Signal()
    sig_focus_order = Signal(str)
    sig_focus_exception = Signal(str)
    sig_shown = Signal()

    def showEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        self.sig_shown.emit()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.result: DayKpis | None = None
        self.trend: Trend | None = None
        self.scope, self.key = "day", ""
        self.drilled: tuple[str, str, str] | None = None
        self.drill_rows: list[Any] = []
        top = QHBoxLayout()
        self.day_box = QComboBox(self)
        self.day_box.setObjectName("kpi_day")
        self.day_box.addItem("The day shown (live)", "")
        self.day_box.activated.connect(
            lambda _i: self.sig_day_chosen.emit(self.day_box.currentData())
        )
        self.heading = QLabel("No KPIs yet", self)
        self.refresh_button = QPushButton("Refresh", self)
        self.refresh_button.clicked.connect(self.sig_refresh_requested)
        self.export_button = QPushButton("Export day report…", self)
        self.export_button.clicked.connect(self.sig_export_requested)
        self.learn_button = QPushButton("Learn from history", self)
        self.learn_button.setToolTip("Learn service times and travel factors from the depot's "
                                     "stored days; plans and ETAs use them from then on")  # fmt: skip
        self.learn_button.clicked.connect(self.sig_learn_requested)
        top.addWidget(self.day_box)
        top.addWidget(self.heading, 1)
        top.addWidget(self.learn_button)
        top.addWidget(self.refresh_button)
        top.addWidget(self.export_button)
        tiles = QGridLayout()
        self.tiles: dict[str, KpiTile] = {}
        for i, name in enumerate(TILES):
            tile = KpiTile(name, self)
            tile.sig_clicked.connect(self.select_kpi)
            tiles.addWidget(tile, 0, i)
            self.tiles[name] = tile
        self.tabs = QTabWidget(self)
        self.hour_plot = pg.PlotWidget(title="On time by hour of arrival")
        self.late_plot = pg.PlotWidget(title="Arrival against window end (min)")
        self.recovery_plot = pg.PlotWidget(title="Exception minutes to resolve (blue) and "
                                           "acknowledge (orange)")  # fmt: skip
        self.route_plot = pg.PlotWidget(title="Route time: planned (x) against actual (y), h")
        self.trend_plot = pg.PlotWidget(title="Last 30 days")
        self.trend_plot.setAxisItems({"bottom": pg.DateAxisItem()})
        for w, label in ((self.hour_plot, "On time by hour"), (self.late_plot, "Lateness"),
                         (self.recovery_plot, "Exception recovery"),
                         (self.route_plot, "Plan vs actual"), (self.trend_plot, "Trend")):  # fmt: skip
            w.setBackground("w")
            self.tabs.addTab(w, label)
        self.route_points = pg.ScatterPlotItem(size=8, brush=pg.mkBrush("#3b6ea5"))
        self.route_points.sigClicked.connect(self._on_route_point)
        self.kpi_table = TextTable(self)
        self.kpi_table.setObjectName("kpi_table")
        self.kpi_table.selectionModel().selectionChanged.connect(self._on_kpi_row)
        self.route_table = TextTable(self)
        self.route_table.setObjectName("kpi_routes")
        self.route_table.selectionModel().selectionChanged.connect(self._on_route_row)
        self.drill_label = QLabel("Click a tile, a KPI or a route to see the rows behind it", self)
        self.drill_table = TextTable(self)
        self.drill_table.setObjectName("kpi_drill")
        self.drill_table.doubleClicked.connect(self._on_drill_double)
        tables = QTabWidget(self)
        tables.addTab(self.kpi_table, "KPIs")
        tables.addTab(self.route_table, "Per route")
        self.tables = tables
        drill = QWidget(self)
        dl = QVBoxLayout(drill)
        dl.setContentsMargins(0, 0, 0, 0)
        dl.addWidget(self.drill_label)
        dl.addWidget(self.drill_table, 1)
        lower = QSplitter(Qt.Orientation.Horizontal, self)
        lower.addWidget(tables)
        lower.addWidget(self.tabs)
        lower.addWidget(drill)
        lower.setSizes([420, 520, 420])
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(tiles)
        layout.addWidget(lower, 1)

    # -- showing -----------------------------------------------------------------------------
    def set_recorded_days(self, days: list[tuple[str, str]]) -> None:
        """(label, path) of recorded days to offer beside the day shown."""
        current = self.day_box.currentData()
        self.day_box.clear()
        self.day_box.addItem("The day shown (live)", "")
        for label, path in days:
            self.day_box.addItem(label, path)
        i = self.day_box.findData(current)
        self.day_box.setCurrentIndex(max(0, i))

    def choose_day(self, path: str) -> None:
        i = self.day_box.findData(path)
        if i < 0:
            self.day_box.addItem(path.rsplit("/", 1)[-1], path)
            i = self.day_box.count() - 1
        self.day_box.setCurrentIndex(i)
        self.sig_day_chosen.emit(path)

    def set_busy(self, text: str) -> None:
        self.heading.setText(text)

    def show_result(self, result: DayKpis, trend: Trend | None) -> None:
        self.result, self.trend = result, trend
        facts = result.report.facts
        if result.final:
            state = "final"
        else:
            state = f"live as of {facts.as_of.astimezone(zone(result)):%H:%M}"
        self.heading.setText(f"KPIs of {result.depot_id} on {result.day:%a %d %b %Y} ({state}) · "
                             f"{counts_text(facts)}")  # fmt: skip
        for name, tile in self.tiles.items():
            v = result.report.value(name)
            value = v.value if v else None
            target = result.target(name)
            d = BY_NAME[name]
            series = [x for _d, x, _f in (trend.values(name) if trend else []) if x is not None]
            shown = fmt_value(value, d.unit) + ("" if d.unit in ("stops",) else f" {d.unit}")
            target_text = "" if target is None else (
                f"target {'≥' if d.better == 'higher' else '≤'} {target:g}")  # fmt: skip
            tile.show_value(shown, target_text, met(value, target, d.better), series)
        self._show_kpis()
        self._show_routes()
        self._show_charts()
        if self.drilled is not None:
            self.drill(*self.drilled)

    def _show_kpis(self) -> None:
        assert self.result is not None
        lines = kpi_lines(self.result, self.scope, self.key)
        rows = [[ln.title, ln.shown, ln.unit, ln.target_text,
                 f"{ln.numerator:g}/{ln.denominator:g}" if ln.unit == "%" else "", ln.name]
                for ln in lines]  # fmt: skip
        fill_rows(self.kpi_table, ["KPI" if self.scope == "day" else f"KPI of {self.scope} {self.key}",
                               "value", "unit", "target", "counted", "name"], rows,
              [ln.name for ln in lines])  # fmt: skip
        for i, ln in enumerate(lines):  # a cell kept from the last refresh may be coloured
            self.kpi_table.rows.set_color(
                i, 1, None if ln.met is None else QColor(GOOD if ln.met else BAD)
            )

    def _show_routes(self) -> None:
        assert self.result is not None
        lines = self._route_lines()
        tz = zone(self.result)

        def clock(t: datetime | None) -> str:
            return t.astimezone(tz).strftime("%H:%M") if t else ""

        rows = [[r.route_id, r.vehicle, r.driver, r.stops, r.on_time, r.late,
                 "" if r.planned_h is None else f"{r.planned_h:.2f}",
                 "" if r.actual_h is None else f"{r.actual_h:.2f}",
                 "" if r.time_vs_plan_pct is None else f"{r.time_vs_plan_pct:.0f} %",
                 f"{r.planned_km:.1f}", f"{r.driven_km:.1f}",
                 "" if r.in_order_pct is None else f"{r.in_order_pct:.0f} %",
                 clock(r.departed), clock(r.ended)] for r in lines]  # fmt: skip
        fill_rows(self.route_table, ["route", "vehicle", "driver", "stops", "on time", "late",
                                 "plan h", "actual h", "vs plan", "plan km", "driven km",
                                 "in order", "left", "back"], rows,
              [r.route_id for r in lines])  # fmt: skip

    def _route_lines(self) -> list:
        """The per-route lines of the result shown (worked out once per result: the table
        and the plan-against-actual chart both read them)."""
        known = getattr(self, "_lines_of", None)
        if known is None or known[0] is not self.result:
            known = self._lines_of = (self.result, route_lines(self.result))
        return known[1]

    def _show_charts(self) -> None:
        assert self.result is not None
        result = self.result
        hours = hourly_on_time(result)
        self.hour_plot.clear()
        xs = list(hours)
        if xs:
            ok = [hours[h][0] for h in xs]
            late = [hours[h][1] - hours[h][0] for h in xs]
            self.hour_plot.addItem(pg.BarGraphItem(x=xs, height=ok, width=0.8, brush=GOOD))
            self.hour_plot.addItem(pg.BarGraphItem(x=xs, y0=ok, height=late, width=0.8,
                                                   brush=BAD))  # fmt: skip
        # Clock times on the hour under the bars, not the axis's own decimal hours.
        self.hour_plot.getAxis("bottom").setTicks([hour_ticks(xs)] if xs else None)
        self._histogram(self.late_plot, [max(-120.0, min(240.0, x)) for x in lateness(result)],
                        "#3b6ea5", 36)  # fmt: skip
        self.late_plot.addItem(pg.InfiniteLine(0, pen=pg.mkPen(BAD)))
        ack, res = recovery_minutes(result)
        self._histogram(self.recovery_plot, res, "#3b6ea5", 24)
        self._histogram(self.recovery_plot, ack, "#e0a030", 24, clear=False)
        self.route_plot.clear()
        rows = [r for r in self._route_lines() if r.planned_h and r.actual_h is not None]
        self.route_points.setData([{"pos": (r.planned_h, r.actual_h), "data": r.route_id}
                                   for r in rows])  # fmt: skip
        self.route_plot.addItem(self.route_points)
        if rows:
            top = max(max(r.planned_h or 0 for r in rows), max(r.actual_h or 0 for r in rows))
            self.route_plot.plot([0, top], [0, top], pen=pg.mkPen("#999999"))
        self._show_trend(self.drilled[0] if self.drilled else "on_time_delivery_pct")

    def _histogram(self, plot: pg.PlotWidget, values: list[float], color: str, bins: int,
                   clear: bool = True) -> None:  # fmt: skip
        import numpy as np

        if clear:
            plot.clear()
        if not values:
            return
        counts, edges = np.histogram(values, bins=bins)
        plot.addItem(pg.BarGraphItem(x0=edges[:-1], x1=edges[1:], height=counts, brush=color))

    def _show_trend(self, name: str) -> None:
        self.trend_plot.clear()
        self.trend_plot.setTitle(f"Last 30 days: {BY_NAME[name].title}")
        points = [(d, v) for d, v, _f in (self.trend.values(name) if self.trend else [])
                  if v is not None]  # fmt: skip
        if points:
            xs = [datetime(d.year, d.month, d.day).timestamp() for d, _ in points]
            self.trend_plot.plot(xs, [v for _, v in points], pen=pg.mkPen("#3b6ea5", width=2),
                                 symbol="o", symbolSize=6)  # fmt: skip
        target = self.result.target(name) if self.result else None
        if target is not None:
            self.trend_plot.addItem(pg.InfiniteLine(target, angle=0, pen=pg.mkPen(GOOD,
                                                   style=Qt.PenStyle.DashLine)))  # fmt: skip

    # -- drilling down -----------------------------------------------------------------------
    def select_kpi(self, name: str) -> None:
        self.drill(name, self.scope, self.key)

    def drill(self, name: str, scope: str = "day", key: str = "") -> list[Any]:
        """Show the rows behind one number; returns them."""
        if self.result is None:
            return []
        self.drilled = (name, scope, key)
        rows = rows_behind(self.result.report, name, scope, key)
        self.drill_rows = rows
        v = self.result.report.value(name, scope, key)
        where = "the day" if scope == "day" else f"{scope} {key}"
        self.drill_label.setText(f"{BY_NAME[name].title} of {where}: "
                                 f"{fmt_value(v.value if v else None, BY_NAME[name].unit)} "
                                 f"{BY_NAME[name].unit} — {len(rows)} {BY_NAME[name].rows} "
                                 "behind it")  # fmt: skip
        header, cells, data = self._drill_cells(rows)
        fill_rows(self.drill_table, header, cells, data)
        self._show_trend(name)
        return rows

    def _drill_cells(self, rows: list[Any]) -> tuple[list[str], list[list[Any]], list[Any]]:
        assert self.result is not None
        tz = zone(self.result)

        def clock(t: datetime | None) -> str:
            return t.astimezone(tz).strftime("%H:%M") if t else ""

        if not rows:
            return ["(no rows)"], [], []
        first = rows[0]
        if isinstance(first, StopFact):
            return (["order", "route", "vehicle", "window end", "arrived", "min late",
                     "attempts", "delivered"],
                    [[s.order_id, s.route_id, s.vehicle_id, clock(s.window_end), clock(s.arrived),
                      "" if s.late_min is None else f"{s.late_min:.0f}", s.attempts,
                      "yes" if s.delivered else "no"] for s in rows],
                    [("order", s.order_id) for s in rows])  # fmt: skip
        if isinstance(first, RouteFact):
            as_of = self.result.report.facts.as_of
            return (["route", "vehicle", "planned departure", "released", "departed", "back",
                     "plan h", "actual h", "plan km", "driven km", "idle min"],
                    [[r.route_id, r.vehicle_id, clock(r.planned_departure), clock(r.released_at),
                      clock(r.departed_at), clock(r.ended_at),
                      "" if r.planned_h is None else f"{r.planned_h:.2f}",
                      f"{r.on_road_h(as_of):.2f}", f"{r.planned_km:.1f}", f"{r.driven_km:.1f}",
                      f"{r.idle_min:.0f}"] for r in rows],
                    [("route", r.route_id) for r in rows])  # fmt: skip
        if isinstance(first, ExceptionFact):
            return (["exception", "type", "vehicle", "order", "raised", "acknowledged", "by",
                     "resolved", "by"],
                    [[e.exception_id, e.type, e.vehicle_id, e.order_id, clock(e.detected),
                      clock(e.acknowledged), e.acknowledged_by, clock(e.resolved),
                      e.resolved_by] for e in rows],
                    [("exception", e.exception_id) for e in rows])  # fmt: skip
        if isinstance(first, CommandFact):
            return (["command", "kind", "who", "at", "routes", "what"],
                    [[c.command_id, c.kind, c.actor, clock(c.at), ", ".join(c.route_ids), c.label]
                     for c in rows], [("command", c.command_id) for c in rows])  # fmt: skip
        if isinstance(first, EtaFact):
            return (["order", "route", "min out", "shown at", "ETA", "arrived", "error min"],
                    [[e.order_id, e.route_id, e.horizon_min, clock(e.predicted_at), clock(e.eta),
                      clock(e.arrived), f"{e.error_min:+.1f}"] for e in rows],
                    [("order", e.order_id) for e in rows])  # fmt: skip
        return ["row"], [[str(r)] for r in rows], [None for _ in rows]

    def _on_kpi_row(self, *_selection: Any) -> None:
        row = self.kpi_table.selected_row()
        if row is not None:
            name = self.kpi_table.row_data(row)
            if name:
                self.drill(name, self.scope, self.key)

    def _on_route_row(self, *_selection: Any) -> None:
        row = self.route_table.selected_row()
        if row is not None:
            self.show_scope("route", self.route_table.row_data(row))

    def show_scope(self, scope: str, key: str = "") -> None:
        """The KPI table for the day or one route, driver, vehicle or wave."""
        self.scope, self.key = scope, key
        if self.result is not None:
            self._show_kpis()
            self.tables.setCurrentWidget(self.kpi_table)
            name = self.drilled[0] if self.drilled else "on_time_delivery_pct"
            self.drill(name, scope, key)

    def _on_route_point(self, _item, points, *_args) -> None:
        if len(points):
            self.show_scope("route", str(points[0].data()))

    def _on_drill_double(self, index: QModelIndex) -> None:
        data = self.drill_table.row_data(index.row())
        if not data:
            return
        kind, ident = data
        if kind == "order":
            self.sig_focus_order.emit(ident)
        elif kind == "exception":
            self.sig_focus_exception.emit(ident)
        elif kind == "route":
            self.show_scope("route", ident)
