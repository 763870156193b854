"""The timeline: a row per route, a bar per stop, windows, ETAs, actual times and now.

x is seconds since the depot's local midnight (ticks read as clock time), y is the route's
row (fixed; the mouse zooms and pans time only). Items are created once and fed with
``setOpts``/``setData``. A bar can be dragged to another row: while dragging, a ghost bar
and ``preview_fn(order_ids, target_route_id)`` text show what would happen; dropping emits
``sig_stop_dropped(order_ids, target_route_id)``. The pane itself never changes the plan.
Hovering a bar shows ``tooltip_fn(order_id)`` (customer, address, window, ETA); locked
stops are hatched with a dark outline.
Its parts (clock axis, view box, bars and their arrays) are in :mod:`widgets.timeline_items`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QCursor, QFontMetricsF
from PySide6.QtWidgets import QToolTip, QVBoxLayout, QWidget

from app.day.labels import DayLabels
from engine.model import Driver, Order, Plan, Route, RouteStatus, StopStatus, Vehicle
from widgets.timeline_items import (
    LATE,
    ROW_H,
    STATUS_COLOURS,
    Bar,
    ClockAxisItem,
    TimelineViewBox,
    bar_item,
    clear_bars,
    set_bars,
    window_spans,
)

log = logging.getLogger(__name__)

__all__ = ["LATE", "TimelinePane"]

MIN_ROW_PX = 24  # below this the rows scroll (Shift+wheel) instead of shrinking
#: Route objects of earlier plans whose layout and served bars a replay window keeps (a
#: 2,000-van replay shows a handful of states of each route again and again); beyond it,
#: only those of the routes shown. A live window keeps ``OBJECTS_SLACK`` more than the
#: routes shown at most: a route replaced by a stop result is never shown again, and at
#: 2,000 vans these memos held megabytes more a minute until they reached the replay's bound.
ROUTE_OBJECTS_KEPT = 40_000
#: Served stops whose bar's span a replay window keeps (by stop object); beyond it the
#: memo starts again.
STOP_SPANS_KEPT = 200_000
#: Entries beyond those of the plan shown before a live window's memos are cut back.
OBJECTS_SLACK = 256
PreviewFn = Callable[[list[str], str], str]
TooltipFn = Callable[[str], str]


class TimelinePane(QWidget):
    """Routes over the day. Feed it with ``set_plan``, ``update_etas``, ``set_now``."""

    sig_selection_changed = Signal(str, str)  # kind ("stop"), order id
    sig_stop_drag_started = Signal(list)  # order ids
    sig_stop_dropped = Signal(list, str)  # order ids, target route id
    sig_drag_refused = Signal(str)  # why the user may not drag stops

    def __init__(self, parent: QWidget | None = None, preview_fn: PreviewFn | None = None):
        super().__init__(parent)
        self.preview_fn = preview_fn
        self.tooltip_fn: TooltipFn | None = None
        self.hover_text = ""  # the tooltip of the bar under the mouse ("" when none)
        self._hovered: str | None = None
        self._drag_refusal = ""  # why a drag is not offered ("" when it is)
        self._tz = ZoneInfo("UTC")
        self._midnight: datetime | None = None
        self._rows: list[str] = []  # route ids, row i at y = i
        self._ticks: list[tuple[int, str]] = []  # each row's name
        self._ticks_shown: list[tuple[int, str]] | None = None  # the names on the axis
        self._editors: dict[str, str] = {}  # route id -> who else edits it now
        self._bars: dict[str, Bar] = {}
        self._by_row: dict[int, list[Bar]] = {}
        self._orders: Mapping[str, Order] = {}
        self._plan: Plan | None = None
        self._etas: dict[str, datetime] = {}
        self._late: set[str] = set()
        self._late_by_eta: set[str] = set()
        self._late_flagged: set[str] = set()
        self._selected: list[str] = []
        self._layout: tuple | None = None  # what the rows and bars were built from
        self._layout_refs: tuple = ()  # keeps the objects the layout names by id alive
        self._actual_shown: list | None = None  # each route's served stops' bars as drawn
        self._locked_shown: tuple | None = None  # the layout the locked bars were drawn for
        self._route_layouts: dict[int, tuple[Route, tuple]] = {}  # id(route) -> (it, layout)
        self._keeps_earlier = False  # see keep_earlier_states

        self.view_box = TimelineViewBox(self)
        self.axis = ClockAxisItem("bottom")
        self.plot = pg.PlotWidget(viewBox=self.view_box, axisItems={"bottom": self.axis})
        self.plot.setBackground("w")
        self.plot.showGrid(x=True, y=False, alpha=0.15)
        self.plot.invertY(True)
        self.view_box.setMouseEnabled(x=True, y=False)
        self.plot.getAxis("left").setStyle(tickLength=0)
        self.plot.hideButtons()
        none = pg.mkPen(None)
        self._windows = bar_item(pen=none, brush=(120, 170, 220, 110))
        self._selected_windows = bar_item(pen=none, brush=(160, 200, 240, 90))
        # The stops' bars, one item per colour: a single-coloured item draws all its bars in
        # one call, where one item with a brush per bar drew them one by one (and 4,000 of
        # them again whenever one stop was served).
        bar_pen = pg.mkPen((40, 40, 40, 120))
        self._planned = {
            colour: bar_item(pen=bar_pen, brush=colour)
            for colour in dict.fromkeys((*STATUS_COLOURS.values(), LATE))
        }
        self._colours: dict[str, tuple[int, ...]] = {}  # order id -> its bar's colour
        self._colour_slot = {colour: i for i, colour in enumerate(self._planned)}
        self._bar_at: dict[str, int] = {}  # order id -> its bar's place in the arrays below
        self._bar_x0 = self._bar_width = self._bar_y0 = np.zeros(0)
        self._bar_colour = np.zeros(0, dtype=np.int8)  # each bar's colour (its slot)
        self._actual = bar_item(pen=none, brush=(30, 30, 30, 200))
        self._selection = bar_item(pen=pg.mkPen((255, 200, 0), width=3), brush=None)
        self._locked = bar_item(
            pen=pg.mkPen((20, 20, 20), width=2),
            brush=QBrush(QColor(20, 20, 20, 190), Qt.BrushStyle.BDiagPattern),
        )
        self._etas_item = pg.ScatterPlotItem(
            symbol="|", size=22, pxMode=True, pen=pg.mkPen((20, 20, 20)), brush=(20, 20, 20)
        )
        self._late_etas_item = pg.ScatterPlotItem(
            symbol="|", size=22, pxMode=True, pen=pg.mkPen(LATE), brush=LATE
        )
        # The ETA band: from the median ETA to its 90th percentile (learned spread).
        self._eta_band_item = pg.PlotDataItem(
            connect="pairs", pen=pg.mkPen((60, 60, 60, 150), width=4)
        )
        self._eta_p90: dict[str, datetime] = {}
        self._ghost = bar_item(
            pen=pg.mkPen((0, 0, 0), style=Qt.PenStyle.DashLine), brush=(255, 200, 0, 90)
        )
        self._preview_text = pg.TextItem(
            "", color=(0, 0, 0), fill=pg.mkBrush(255, 255, 224, 230), anchor=(0, 1)
        )
        self._now_line = pg.InfiniteLine(
            angle=90, movable=False, pen=pg.mkPen((214, 39, 40), width=2)
        )
        for z, item in enumerate(
            (
                self._selected_windows,
                self._windows,
                *self._planned.values(),
                self._actual,
                self._locked,
                self._eta_band_item,
                self._etas_item,
                self._late_etas_item,
                self._selection,
                self._ghost,
                self._now_line,
                self._preview_text,
            )
        ):
            item.setZValue(z)
            self.plot.addItem(item, ignoreBounds=item in (self._now_line, self._preview_text))
        self._now_line.hide()
        self._preview_text.hide()
        self.view_box.sigResized.connect(self._on_view_resized)
        self.view_box.sigResized.connect(lambda *_: self.scroll_rows(0))
        self.view_box.sigYRangeChanged.connect(self._on_view_resized)
        self.view_box.sigYRangeChanged.connect(self._on_rows_scrolled)
        self._statuses: dict = {}  # order id -> its stop's status in the plan shown
        self._statuses_of: Plan | None = None  # the plan _statuses were read from
        self._status_routes: dict[str, Route] = {}  # the routes _statuses were read from
        self._coloured_for: tuple | None = None  # the layout _colours were worked out for
        self._coloured_late: set[str] = set()  # the late stops _colours were worked out with
        self._actual_routes: dict[int, tuple] = {}  # id(route) -> (route, layout, its bars)
        self._stop_spans: dict = {}  # id(stop) -> (stop, x0, width); None -> their midnight
        self._etas_rows = (0, -1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot)

    # -- inputs ----------------------------------------------------------------------------
    def set_plan(
        self,
        plan: Plan | None,
        orders: Mapping[str, Order] | Iterable[Order],
        vehicles: Mapping[str, Vehicle] | Iterable[Vehicle] = (),
        drivers: Mapping[str, Driver] | Iterable[Driver] = (),
        timezone: str = "",
        labels: DayLabels | None = None,
    ) -> None:
        """Show a plan: one row per route, labelled with the vehicle's one name (``labels``;
        else its name and the driver's)."""
        routes = plan.routes if plan else ()
        layout = (
            timezone,
            plan.day if plan else None,
            tuple(map(self._route_layout, routes)),
            tuple(map(id, (orders, vehicles, drivers, labels))),
        )
        # Kept for the route objects seen lately (a replay shows the same ones again when it
        # jumps back to states seen before); beyond a bound, for the routes shown only. An
        # entry holds its route, so its id is not reused.
        if len(self._route_layouts) > len(routes) + self._objects_kept():
            self._route_layouts = {id(r): self._route_layouts[id(r)] for r in routes}
        if plan is not None and layout == self._layout:
            # Only stop results moved (live telemetry, several times a second with a big
            # fleet): recolour in place, keep rows, labels and the user's zoom and pan.
            self._plan = plan
            self._refresh_actual()
            self._refresh_dynamic()
            return
        before = self._layout
        self._layout, self._layout_refs = layout, (orders, vehicles, drivers, labels)
        self._plan = plan
        vehicles, drivers = _by_id(vehicles), _by_id(drivers)
        if (
            plan is not None
            and before is not None
            and before[:2] == layout[:2]
            and before[3][:3] == layout[3][:3]
            and len(before[2]) == len(layout[2])
            and all(a[0] == b[0] for a, b in zip(before[2], layout[2], strict=True))
        ):
            # The same routes in the same rows (another plan version, a command): only the
            # rows whose bars or names changed are laid out again.
            rows = [
                row
                for row, (a, b) in enumerate(zip(before[2], layout[2], strict=True))
                if a is not b and a != b
            ]
            relabel = range(len(routes)) if before[3][3] != layout[3][3] else rows
            self._lay_rows(routes, rows, relabel, vehicles, drivers, labels)
            # The person's zoom and scroll stay as they were (a drag may be under way).
            view: Callable[[], None] | None = None
        else:
            # A new day (or the first plan) is fitted to the pane; routes added or taken
            # away on the same day keep the time span in view and the top row shown.
            view = self._fit if before is None or before[:2] != layout[:2] else self._keep_view
            self._orders = _by_id(orders)
            try:
                self._tz = ZoneInfo(timezone) if timezone else ZoneInfo("UTC")
            except (KeyError, ValueError) as exc:
                raise ValueError(f"timeline: unknown time zone {timezone!r}") from exc
            self._midnight = datetime.combine(plan.day, time(0), self._tz) if plan else None
            self._rows = [r.id for r in routes]
            self._bars.clear()
            self._by_row.clear()
            self._ticks = []
            self._lay_rows(routes, range(len(routes)), range(len(routes)), vehicles, drivers,
                           labels)  # fmt: skip
        self._selected = [o for o in self._selected if o in self._bars]
        self._refresh_static()
        self._refresh_dynamic()
        if view is not None:
            view()

    def _lay_rows(self, routes: tuple[Route, ...], rows: Iterable[int], relabel: Iterable[int],
                  vehicles: Mapping[str, Vehicle], drivers: Mapping[str, Driver],
                  labels: DayLabels | None) -> None:  # fmt: skip
        """Lay out the bars of ``rows`` and name ``relabel`` anew (the others stay)."""
        rows = list(rows)
        ticks = self._ticks
        if len(ticks) != len(routes):
            ticks[:] = [(row, "") for row in range(len(routes))]
        for row in relabel:
            route = routes[row]
            if labels is not None:
                label = labels.vehicle(route.vehicle_id)
            else:
                vehicle = vehicles.get(route.vehicle_id)
                driver = drivers.get(route.driver_id or "")
                label = vehicle.name if vehicle and vehicle.name else route.vehicle_id
                label = f"{label} · {driver.name}" if driver else label
            if route.status is not RouteStatus.PLANNED:  # where it stands: loading … completed
                label = f"{label} · {route.status.label}"
            ticks[row] = (row, label)
        bars = self._bars
        for row in rows:  # first every bar of these rows away: a stop may move between them
            for bar in self._by_row.pop(row, ()):
                if bars.get(bar.order_id) is bar:
                    del bars[bar.order_id]
        for row in rows:
            route = routes[row]
            for stop in route.stops:
                if stop.planned_arrival is None:
                    continue
                # The bar is the service itself: a vehicle that arrives before the window
                # waits, and the wait is not part of the bar.
                order = self._orders.get(stop.order_id)
                service = order.service_time if order else timedelta(minutes=5)
                end = stop.planned_departure or stop.planned_arrival + service
                start = max(stop.planned_arrival, end - service)
                x0 = self._x(start)
                bar = Bar(stop.order_id, route.id, row, x0, max(self._x(end), x0 + 60), stop.locked)
                bars[stop.order_id] = bar
                self._by_row.setdefault(row, []).append(bar)
        if len(rows) < len(routes):  # the bars in the order of their rows, as laid out anew
            by_row = self._by_row
            self._bars = {b.order_id: b for row in range(len(routes)) for b in by_row.get(row, ())}
        if ticks != self._ticks_shown:
            self._ticks_shown = list(ticks)
            self._show_ticks()

    def _route_layout(self, route: Route) -> tuple:
        """What a route's row and bars are drawn from (not its stop results), worked out
        once per route object: stop results replace only the routes they touch."""
        known = self._route_layouts.get(id(route))
        if known is None or known[0] is not route:
            stops = tuple(
                (s.order_id, s.planned_arrival, s.planned_departure, s.locked) for s in route.stops
            )
            known = self._route_layouts[id(route)] = (
                route,
                (route.id, route.vehicle_id, route.driver_id, route.status, *stops),
            )
        return known[1]

    def bar_colour(self, order_id: str) -> tuple[int, ...] | None:
        """The colour of a stop's bar as drawn (RGB): its status's, or red when late."""
        return self._colours.get(order_id)

    def set_editors(self, editors: Mapping[str, str]) -> None:
        """route id -> who else edits it now: shown after the row's name (✎ who)."""
        if dict(editors) != self._editors:
            self._editors = dict(editors)
            self._show_ticks()

    def row_label(self, route_id: str) -> str:
        """The row's name as shown (with who else edits it)."""
        if route_id not in self._rows:
            return ""
        row = self._rows.index(route_id)
        return next((text for r, text in self._labelled() if r == row), "")

    def _labelled(self) -> list[tuple[int, str]]:
        rows = self._rows
        return [
            (row, f"{text}  ✎ {self._editors[rows[row]]}" if rows[row] in self._editors else text)
            for row, text in self._ticks
        ]

    def _show_ticks(self) -> None:
        axis = self.plot.getAxis("left")
        axis.setTicks([self._labelled(), []])
        # The names' column is as wide as the widest name a row may get: a route's status
        # joins its name as it loads, leaves and completes, and a column that widened then
        # slid every bar sideways (under the pointer of a person about to drag one).
        font = axis.style.get("tickFont") or axis.font()
        metrics = QFontMetricsF(font)
        status = max(metrics.horizontalAdvance(f" · {s.label}") for s in RouteStatus)
        suffixes = tuple(f" · {s.label}" for s in RouteStatus if s is not RouteStatus.PLANNED)
        rows, editors = self._rows, self._editors
        widest = 0.0
        for row, text in self._ticks:
            name = next((text[: -len(x)] for x in suffixes if text.endswith(x)), text)
            width = metrics.horizontalAdvance(name) + status
            if row < len(rows) and rows[row] in editors:
                width += metrics.horizontalAdvance(f"  ✎ {editors[rows[row]]}")
            widest = max(widest, width)
        width = math.ceil(widest) + axis.style["tickTextOffset"][0] + 4
        if axis.fixedWidth != width:
            axis.setWidth(width)

    def update_etas(
        self,
        etas: Mapping[str, datetime],
        p90: Mapping[str, datetime] | None = None,
        late: Iterable[str] | None = None,
    ) -> None:
        """The current ETA of each pending stop (replaces the previous set); an ETA past
        the order's last window end marks the stop late-risk (``late``: those orders, when
        the caller has worked them out already). With ``p90``, the ETA bands too (as
        :meth:`update_eta_bands`), drawn once with the ETAs."""
        self._etas = {k: v for k, v in etas.items() if v is not None}
        if p90 is not None:
            self._eta_p90 = {k: v for k, v in p90.items() if v is not None}
        if late is None:
            late = (
                oid
                for oid, eta in self._etas.items()
                if oid in self._orders and eta > self._orders[oid].latest
            )
        self._late_by_eta = set(late)
        late_now = self._late_by_eta | self._late_flagged
        if late_now != self._late:  # bars change colour
            self._late = late_now
            self._refresh_dynamic()
        else:  # only the ETA ticks move (every second of a live day)
            self._refresh_etas()

    def update_eta_bands(self, p90: Mapping[str, datetime]) -> None:
        """Each pending stop's ETA band: from its ETA to its 90th percentile (replaces)."""
        self._eta_p90 = {k: v for k, v in p90.items() if v is not None}
        self._refresh_etas()

    def set_late_risk(self, order_ids: Iterable[str]) -> None:
        """Stops flagged late-risk by the rules, on top of what the ETAs say (replaces)."""
        flagged = set(order_ids)
        if flagged == self._late_flagged:
            return  # the board changed, not the stops it flags
        self._late_flagged = flagged
        self._late = self._late_by_eta | self._late_flagged
        self._refresh_dynamic()

    def set_now(self, now: datetime) -> None:
        """Move the now-line (only when it moves by a pixel or more: each move repaints
        the thousands of bars under it, and live telemetry sets the clock 4 times a second)."""
        if self._midnight is None:
            return
        x = self._x(now)
        px = self.view_box.viewPixelSize()[0]
        if self._now_line.isVisible() and abs(x - self._now_line.value()) < px:
            return
        self._now_line.setPos(x)
        self._now_line.show()

    def select(self, order_id: str | None, kind: str | None = None) -> None:
        """Highlight a stop's bar without emitting; anything else (None, a vehicle or
        route id) clears the highlight. Same signature as the map's ``select``."""
        wanted = order_id if kind in (None, "stop") else None
        self._selected = [wanted] if wanted and wanted in self._bars else []
        self._refresh_selection()

    def focus_on(self, order_id: str, kind: str | None = None) -> None:
        """Highlight a stop and scroll the rows and the time axis to it (keeping the zoom)."""
        self.select(order_id, kind)
        bar = self._bars.get(order_id)
        if bar is None:
            return
        first, shown = self.visible_rows()
        if not first <= bar.row < first + shown:
            self.scroll_rows(0, top=bar.row - shown // 2)
        (x0, x1), _ = self.view_box.viewRange()
        span = x1 - x0
        if not x0 <= bar.x0 <= x1 - span * 0.1:
            centre = (bar.x0 + bar.x1) / 2
            self.view_box.setXRange(centre - span / 2, centre + span / 2, padding=0)

    @property
    def selected(self) -> list[str]:
        return list(self._selected)

    def keep_earlier_states(self, keep: bool = True) -> None:
        """Keep the layouts and served bars of route objects shown before (a replay window,
        whose jumps show the same states again), up to ``ROUTE_OBJECTS_KEPT`` routes and
        ``STOP_SPANS_KEPT`` stops; a live window keeps those of the plan shown."""
        self._keeps_earlier = keep

    def _objects_kept(self) -> int:
        """Route objects kept beyond those shown (see ``keep_earlier_states``)."""
        return ROUTE_OBJECTS_KEPT if self._keeps_earlier else OBJECTS_SLACK

    def set_drag_allowed(self, allowed: bool, why: str = "") -> None:
        """Offer dragging bars to other rows, or not (``why`` is said when one is tried)."""
        self._drag_refusal = "" if allowed else (why or "moving stops is not allowed")

    def locked_stops(self) -> list[str]:
        """The stops drawn as locked (for tests and tooling)."""
        return [b.order_id for b in self._bars.values() if b.locked]

    # -- geometry (what drag-reassign builds on) ------------------------------------------
    def row_time_at(self, scene_pos: QPointF) -> tuple[str | None, datetime | None]:
        """(route id of the row, clock time) under a scene position."""
        point = self.view_box.mapSceneToView(scene_pos)
        row = int(round(point.y()))
        route = self._rows[row] if 0 <= row < len(self._rows) else None
        when = self._midnight + timedelta(seconds=point.x()) if self._midnight else None
        return route, when

    def stop_at(self, scene_pos: QPointF) -> str | None:
        """The order id of the bar under a scene position, if any."""
        point = self.view_box.mapSceneToView(scene_pos)
        row = int(round(point.y()))
        if abs(point.y() - row) > ROW_H / 2:
            return None
        # The bar under the point, else the nearest within a few pixels: on a zoomed-out
        # day a short stop's neighbour is that close, and the first found was grabbed.
        tolerance = self.view_box.viewPixelSize()[0] * 3
        x = point.x()
        near = [(max(bar.x0 - x, x - bar.x1, 0.0), bar.order_id)
                for bar in self._by_row.get(row, ())]  # fmt: skip
        gap, order_id = min(near, default=(tolerance + 1, None))
        return order_id if gap <= tolerance else None

    def bar_scene_pos(self, order_id: str) -> QPointF:
        """The scene position of the middle of a stop's bar (for tests and tooling)."""
        bar = self._bars[order_id]
        return self.view_box.mapViewToScene(QPointF((bar.x0 + bar.x1) / 2, bar.row - 0.1))

    def row_scene_pos(self, route_id: str, seconds: float) -> QPointF:
        return self.view_box.mapViewToScene(QPointF(seconds, self._rows.index(route_id)))

    def seconds_of(self, moment: datetime) -> float:
        """x of a moment: seconds since the depot's local midnight."""
        return self._x(moment)

    # -- drawing ---------------------------------------------------------------------------
    def _x(self, moment: datetime) -> float:
        assert self._midnight is not None
        return (moment - self._midnight).total_seconds()

    def visible_rows(self) -> tuple[int, int]:
        """(first row shown, how many rows are shown)."""
        _, (y0, y1) = self.view_box.viewRange()
        return max(0, int(round(y0 + 0.6))), max(1, int(round(y1 - y0)))

    def scroll_rows(self, step: int, top: int | None = None) -> None:
        """Scroll the rows by ``step`` (or to ``top``); all rows show when they fit."""
        rows = max(len(self._rows), 1)
        height_px = self.view_box.height()
        fits = rows if height_px <= 0 else max(1, int(height_px // MIN_ROW_PX))
        shown = min(rows, fits)
        first = (self.visible_rows()[0] + step) if top is None else top
        first = max(0, min(first, rows - shown))
        self.view_box.setYRange(first - 0.6, first + shown - 0.4, padding=0)

    def _row_limits(self) -> None:
        self.view_box.setLimits(yMin=-0.6, yMax=max(len(self._rows), 1) - 0.4)

    def _keep_view(self) -> None:
        """Rows came or went: the limits follow; the time span in view and the first row
        shown stay (scrolled back only as far as the rows left need)."""
        self._row_limits()
        self.scroll_rows(0)

    def _fit(self) -> None:
        self._row_limits()
        self.scroll_rows(0, top=0)
        if self._bars:
            lo = min(b.x0 for b in self._bars.values())
            hi = max(b.x1 for b in self._bars.values())
            self.view_box.setXRange(lo - 1800, hi + 1800, padding=0)

    def _refresh_static(self) -> None:
        # Every window as a thin whisker over its row; the selected stops' windows are
        # drawn as full-height spans by _refresh_selection (all of them would overlap).
        x0, width, y0 = window_spans(self._bars, self._orders, self._bars, self._x)
        self._windows.setOpts(
            x0=x0, width=width, y0=np.array([y - ROW_H / 2 + 0.02 for y in y0]), height=0.07
        )
        self._actual_shown = None
        self._refresh_actual()

    def _refresh_actual(self) -> None:
        """What was done: a bar from each served stop's arrival to its departure (redrawn
        only when one changed). Each route's bars are worked out once per route object."""
        layout, known = self._layout, self._actual_routes
        routes = self._plan.routes if self._plan else ()
        parts = []
        for r in routes:  # by route object: a replay shows the same ones again
            got = known.get(id(r))
            if got is None or got[0] is not r or got[1] is not layout:
                got = known[id(r)] = (r, layout, self._route_actual(r))
            parts.append(got[2])
        if len(known) > len(parts) + self._objects_kept():  # beyond the bound: those shown
            self._actual_routes = {id(r): known[id(r)] for r in routes}
        spans = self._stop_spans
        if not self._keeps_earlier and len(spans) > OBJECTS_SLACK + len(self._bars):
            # a live window: the spans of the stops shown only (a span needs its stop's bar)
            self._stop_spans = {None: spans.get(None)} | {
                id(s): got for r in routes for s in r.stops
                if (got := spans.get(id(s))) is not None and got[0] is s
            }  # fmt: skip
        if (
            self._actual_shown is not None
            and len(parts) == len(self._actual_shown)
            and all(a is b or a == b for a, b in zip(parts, self._actual_shown, strict=True))
        ):
            self._actual_shown = parts
            return
        self._actual_shown = parts
        x0 = [x for part in parts for x in part[0]]
        self._actual.setOpts(
            x0=np.array(x0),
            width=np.array([w for part in parts for w in part[1]]),
            y0=np.array([y for part in parts for y in part[2]]),
            height=0.22,
        )

    def _route_actual(self, route: Route) -> tuple[tuple[float, ...], ...]:
        """(x0s, widths, y0s) of a route's served stops' bars, arrival to departure. Each
        stop's span is worked out once per stop object (a replay's routes are new objects
        at each jump, their stops mostly the same ones)."""
        bars, spans = self._bars, self._stop_spans
        midnight = self._midnight
        if spans.get(None) is not midnight or len(spans) > STOP_SPANS_KEPT:  # a replay's bound
            spans.clear()
            spans[None] = midnight  # spans are seconds since this midnight
        x0s, widths, y0s = [], [], []
        for s in route.stops:
            a = s.actual_arrival
            if a is None:
                continue
            bar = bars.get(s.order_id)
            if bar is None:
                continue
            got = spans.get(id(s))
            if got is None or got[0] is not s:
                x0 = (a - midnight).total_seconds()
                d = s.actual_departure
                width = max((d - midnight).total_seconds() - x0, 60.0) if d else 120.0
                got = spans[id(s)] = (s, x0, width)  # holds the stop: its id is not reused
            x0s.append(got[1])
            widths.append(got[2])
            y0s.append(bar.row + 0.08)
        return tuple(x0s), tuple(widths), tuple(y0s)

    def _stop_statuses(self) -> set[str]:
        """Bring ``_statuses`` to the plan shown, reading again only the stops of the
        routes that are other objects than before; the orders whose status changed."""
        routes = self._plan.routes if self._plan else ()
        known, statuses = self._status_routes, self._statuses
        moved = []
        changed: set[str] = set()
        for route in routes:
            old = known.get(route.id)
            if old is route:
                continue
            if old is not None and (
                old.order_ids is route.order_ids or old.order_ids == route.order_ids
            ):
                # The same stops in the same order (stop results; a replay jump moves
                # thousands of routes so): only the stops that are other objects are read.
                known[route.id] = route
                for a, b in zip(old.stops, route.stops, strict=True):
                    if a is not b and a.status is not b.status:
                        statuses[b.order_id] = b.status
                        changed.add(b.order_id)
            else:
                moved.append(route)
        ids = {r.id for r in routes}
        stale = [r.id for r in moved] + [rid for rid in known if rid not in ids]
        before: dict[str, StopStatus | None] = {}
        for rid in stale:  # first every stop of these routes away: a stop may move
            old = known.pop(rid, None)
            for stop in old.stops if old is not None else ():
                if stop.order_id not in before:
                    before[stop.order_id] = statuses.pop(stop.order_id, None)
        for route in moved:
            known[route.id] = route
            for stop in route.stops:
                oid = stop.order_id
                if oid not in before:
                    before[oid] = statuses.get(oid)
                statuses[oid] = stop.status
        changed.update(oid for oid, was in before.items() if statuses.get(oid) is not was)
        return changed

    def _refresh_dynamic(self) -> None:
        changed: set[str] | None = None
        if self._statuses_of is not self._plan:  # the same plan: the same stop states
            self._statuses_of = self._plan
            changed = self._stop_statuses()
        statuses = self._statuses
        planned = STATUS_COLOURS[StopStatus.PLANNED]
        late = self._late
        layout = self._layout
        bars, colours = self._bars, self._colours
        slot = self._colour_slot
        if self._coloured_for is not layout:  # other bars: every colour worked out anew
            self._coloured_for = layout
            colours = self._colours = {
                oid: LATE if oid in late else STATUS_COLOURS.get(statuses.get(oid), planned)
                for oid in bars
            }
            # Every bar's rectangle once per layout, in the bars' order; each colour's
            # item draws those of its colour (a mask, not a loop over the bars).
            self._bar_at = {oid: i for i, oid in enumerate(bars)}
            self._bar_x0 = np.array([b.x0 for b in bars.values()], dtype=float)
            self._bar_width = np.array([b.x1 - b.x0 for b in bars.values()], dtype=float)
            self._bar_y0 = np.array([b.row - 0.3 for b in bars.values()], dtype=float)
            self._bar_colour = np.array([slot[c] for c in colours.values()], dtype=np.int8)
            dirty: set = set(self._planned)
        else:  # only the bars whose state or late risk changed
            dirty = set()
            touched = (changed or set()) | (late ^ self._coloured_late)
            at, drawn = self._bar_at, self._bar_colour
            for oid in touched:
                if oid not in bars:
                    continue
                colour = LATE if oid in late else STATUS_COLOURS.get(statuses.get(oid), planned)
                was = colours.get(oid)
                if colour != was:
                    colours[oid] = colour
                    drawn[at[oid]] = slot[colour]
                    dirty.update((colour, was))
        self._coloured_late = set(late)
        # Redrawing thousands of bars costs milliseconds: only the colours whose bars
        # changed.
        for colour, item in self._planned.items():
            if colour in dirty:
                mine = self._bar_colour == slot[colour]
                item.setOpts(x0=self._bar_x0[mine], width=self._bar_width[mine],
                             y0=self._bar_y0[mine], height=0.34)  # fmt: skip
        if self._locked_shown is not layout:
            self._locked_shown = layout
            locked = [b for b in self._bars.values() if b.locked]
            set_bars(self._locked, locked, dy=-0.3, height=0.34)
        self._refresh_etas()
        self._refresh_selection()

    def _refresh_etas(self) -> None:
        """ETA ticks of the rows in view (and a few around): a fleet has thousands of
        pending stops, and scatter points off screen cost as much as those on it."""
        first, shown = self.visible_rows()
        lo, hi = first - 3, first + shown + 3
        self._etas_rows = (lo, hi)
        statuses = self._statuses
        # Two scatter items with one pen each: per-point pens cost ~100 ms per 2,000 points.
        band_x: list[float] = []
        band_y: list[float] = []
        for item, late in ((self._etas_item, False), (self._late_etas_item, True)):
            etas = [
                (oid, eta)
                for oid, eta in self._etas.items()
                if oid in self._bars
                and lo <= self._bars[oid].row <= hi
                and (oid in self._late) == late
                and self._midnight
                and not (oid in statuses and statuses[oid].is_done)  # served: no ETA
            ]
            item.setData(
                x=np.array([self._x(eta) for _, eta in etas]),
                y=np.array([self._bars[oid].row - 0.13 for oid, _ in etas]),
            )
            for oid, eta in etas:
                p90 = self._eta_p90.get(oid)
                if p90 is not None and p90 > eta:
                    row = self._bars[oid].row - 0.13
                    band_x += [self._x(eta), self._x(p90)]
                    band_y += [row, row]
        self._eta_band_item.setData(x=np.array(band_x), y=np.array(band_y))

    def _on_rows_scrolled(self, *_args) -> None:
        first, shown = self.visible_rows()
        lo, hi = self._etas_rows
        if first - 1 < lo or first + shown + 1 > hi:
            self._refresh_etas()

    def _on_view_resized(self, *_args) -> None:
        # ETA ticks as tall as a bar: rows shrink as the plan grows.
        units_per_px = self.view_box.viewPixelSize()[1]
        row_px = 1.0 / units_per_px if units_per_px > 0 else 40.0
        size = max(5.0, min(22.0, 0.45 * row_px))
        for item in (self._etas_item, self._late_etas_item):
            if item.opts["size"] != size:
                item.setSize(size)

    def _refresh_selection(self) -> None:
        bars = [self._bars[o] for o in self._selected if o in self._bars]
        x0, width, rows = window_spans(
            [b.order_id for b in bars], self._orders, self._bars, self._x
        )
        self._selected_windows.setOpts(
            x0=x0, width=width, y0=np.array([r - ROW_H / 2 for r in rows]), height=ROW_H
        )
        set_bars(self._selection, bars, dy=-0.36, height=0.46)

    # -- mouse (called by the view box) ---------------------------------------------------
    def click_at(self, scene_pos: QPointF, additive: bool) -> None:
        """A click: select the bar under it (``additive``: add it to, or take it from,
        the selection)."""
        order_id = self.stop_at(scene_pos)
        if order_id is None:
            return
        if additive:
            if order_id in self._selected:
                self._selected.remove(order_id)
            else:
                self._selected.append(order_id)
        else:
            self._selected = [order_id]
        self._refresh_selection()
        self.sig_selection_changed.emit("stop", order_id)

    def hover_at(self, scene_pos: QPointF | None) -> None:
        """The mouse is over ``scene_pos`` (None: it left): the bar there shows its tooltip."""
        order_id = self.stop_at(scene_pos) if scene_pos is not None else None
        if order_id == self._hovered:
            return
        self._hovered = order_id
        text = ""
        if order_id is not None:
            text = self.tooltip_fn(order_id) if self.tooltip_fn is not None else order_id
            if self._bars[order_id].locked:
                text += "\nLocked to this vehicle"
        self.hover_text = text
        if text:
            QToolTip.showText(QCursor.pos(), text, self.plot)
        else:
            QToolTip.hideText()

    def begin_drag(self, order_id: str) -> list[str] | None:
        """A drag starts on a stop's bar: the unlocked stops it moves (None: no drag)."""
        if self._drag_refusal:
            self.sig_drag_refused.emit(self._drag_refusal)
            return None
        ids = list(self._selected) if order_id in self._selected else [order_id]
        ids = [o for o in ids if not self._bars[o].locked]
        if not ids:
            return None
        self._selected = ids
        self._refresh_selection()
        self.sig_stop_drag_started.emit(ids)
        return ids

    def move_drag(self, ids: list[str], scene_pos: QPointF) -> None:
        """The dragged stops over a row: their ghost there, and the preview's text."""
        route, _ = self.row_time_at(scene_pos)
        if route is None:
            clear_bars(self._ghost)
            self._preview_text.hide()
            return
        row = self._rows.index(route)
        bars = [self._bars[o] for o in ids if o in self._bars]  # one may have left the day
        set_bars(self._ghost, bars, dy=-0.3, height=0.34, row=row)
        text = f"{len(ids)} stop(s) → {route}"
        if self.preview_fn is not None:
            try:
                text = self.preview_fn(ids, route)
            except Exception:  # a broken preview must not break the drag
                log.exception("timeline: drag preview failed")
        self._preview_text.setText(text)
        point = self.view_box.mapSceneToView(scene_pos)
        self._preview_text.setPos(point.x(), row - 0.45)
        self._preview_text.show()

    def end_drag(self, ids: list[str], scene_pos: QPointF) -> None:
        """Dropped: onto another route's row, the stops' move is asked for."""
        clear_bars(self._ghost)
        self._preview_text.hide()
        route, _ = self.row_time_at(scene_pos)
        ids = [o for o in ids if o in self._bars]  # a stop taken off the day meanwhile
        if route is not None and any(self._bars[o].route_id != route for o in ids):
            self.sig_stop_dropped.emit(ids, route)


def _by_id(items) -> dict:
    return dict(items) if isinstance(items, Mapping) else {i.id: i for i in items}
