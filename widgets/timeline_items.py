"""The timeline's drawing parts: clock axis, view box (mouse), bars and their arrays.

What :mod:`widgets.timeline_pane` is built from. x is seconds since the depot's local
midnight, y a route's row; a bar's arrays are made here so the pane only says which bars
go into which pyqtgraph item.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPen

from engine.model import Order, StopStatus

ROW_H = 0.8
_SPACINGS = (60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600)
STATUS_COLOURS = {
    StopStatus.PLANNED: (90, 140, 200),
    StopStatus.ARRIVED: (49, 130, 189),
    StopStatus.DELIVERED: (49, 163, 84),
    StopStatus.FAILED: (120, 120, 120),
    StopStatus.SKIPPED: (170, 170, 170),
}
LATE = (214, 39, 40)


class ClockAxisItem(pg.AxisItem):
    """Ticks at whole minutes/hours, labelled HH:MM (seconds since local midnight)."""

    def tickSpacing(self, minVal, maxVal, size):  # noqa: N802,N803 (pyqtgraph API)
        span = max(maxVal - minVal, 1.0)
        wanted = span / max(size / 80.0, 1.0)  # a label every ~80 px
        major = next((s for s in _SPACINGS if s >= wanted), _SPACINGS[-1])
        minor = next((s for s in reversed(_SPACINGS) if s <= major / 3), major)
        return [(major, 0), (minor, 0)]

    def tickStrings(self, values, scale, spacing):  # noqa: N802 (pyqtgraph API)
        out = []
        for v in values:
            minutes = int(round(v / 60.0))
            out.append(f"{(minutes // 60) % 24:02d}:{minutes % 60:02d}")
        return out


class PointLabels(pg.GraphicsObject):
    """Short texts at data points (a dock slot's vehicle), all drawn in one paint at the
    screen's font size, left-aligned and centred on their point. One ``pg.TextItem`` each
    (a text document per label) took 67 MB and 1.3 s for the 2,000 slots of a big depot,
    made anew at every refresh."""

    def __init__(self, color: tuple[int, int, int] = (0, 0, 0)) -> None:
        super().__init__()
        self.xs: list[float] = []
        self.ys: list[float] = []
        self.texts: list[str] = []
        self._pen = QPen(QColor(*color))

    def set_labels(self, xs: Sequence[float], ys: Sequence[float], texts: Sequence[str]) -> None:
        self.prepareGeometryChange()
        self.xs, self.ys, self.texts = list(xs), list(ys), list(texts)
        self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802 (Qt name)
        # the view: the texts' sizes are in pixels, not in the plot's units
        view = self.viewRect()
        return QRectF() if view is None or not self.texts else view

    def viewTransformChanged(self) -> None:  # noqa: N802 (pyqtgraph API)
        super().viewTransformChanged()  # forgets the view rect it keeps
        self.prepareGeometryChange()

    def paint(self, painter, option, widget=None) -> None:  # noqa: ARG002 (Qt's signature)
        if not self.texts:
            return
        to_screen = painter.transform()
        painter.save()
        painter.resetTransform()
        painter.setPen(self._pen)
        metrics = painter.fontMetrics()
        lift = (metrics.ascent() - metrics.descent()) / 2
        area = QRectF(painter.viewport()).adjusted(-400, -20, 20, 20)
        for x, y, text in zip(self.xs, self.ys, self.texts, strict=True):
            at = to_screen.map(QPointF(x, y))
            if area.contains(at):
                painter.drawText(QPointF(at.x() + 2, at.y() + lift), text)
        painter.restore()


@dataclass(frozen=True, slots=True)
class Bar:
    """A stop's planned service on the timeline: its row and its x span."""

    order_id: str
    route_id: str
    row: int
    x0: float
    x1: float
    locked: bool


class BarHost(Protocol):
    """What the view box asks of the pane it serves."""

    def scroll_rows(self, step: int, top: int | None = None) -> None: ...
    def stop_at(self, scene_pos: QPointF) -> str | None: ...
    def click_at(self, scene_pos: QPointF, additive: bool) -> None: ...
    def begin_drag(self, order_id: str) -> list[str] | None: ...
    def move_drag(self, ids: list[str], scene_pos: QPointF) -> None: ...
    def end_drag(self, ids: list[str], scene_pos: QPointF) -> None: ...
    def hover_at(self, scene_pos: QPointF | None) -> None: ...


class TimelineViewBox(pg.ViewBox):
    """Pans/zooms time; clicks select a bar, drags move bars to another row."""

    def __init__(self, host: BarHost) -> None:
        super().__init__(enableMenu=False)
        self._host = host
        self._dragging: list[str] | None = None
        self._pressed: tuple[QPointF, str | None] | None = None  # where, and the bar there

    def mousePressEvent(self, ev):  # noqa: N802 (Qt API)
        # The stop is the one under the pointer when the button went down: a drag starts
        # only after the pointer has moved a few pixels, and a live plan may have redrawn
        # the row by then (another stop now under that point).
        self._pressed = (ev.scenePos(), self._host.stop_at(ev.scenePos()))
        super().mousePressEvent(ev)

    def hoverEvent(self, ev):  # noqa: N802 (pyqtgraph API)
        if ev.isExit():
            self._host.hover_at(None)
        elif self._dragging is None:
            self._host.hover_at(ev.scenePos())

    def wheelEvent(self, ev, axis=None):  # noqa: N802 (pyqtgraph API)
        if ev.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            ev.accept()
            self._host.scroll_rows(-3 if ev.delta() > 0 else 3)
            return
        super().wheelEvent(ev, axis)

    def mouseClickEvent(self, ev):  # noqa: N802 (pyqtgraph API)
        if ev.button() != Qt.MouseButton.LeftButton:
            return super().mouseClickEvent(ev)
        ev.accept()
        additive = bool(ev.modifiers() & Qt.KeyboardModifier.ControlModifier)
        self._host.click_at(ev.scenePos(), additive)

    def mouseDragEvent(self, ev, axis=None):  # noqa: N802 (pyqtgraph API)
        if ev.button() != Qt.MouseButton.LeftButton:
            return super().mouseDragEvent(ev, axis)
        if ev.isStart():
            down, pressed = ev.buttonDownScenePos(), self._pressed
            if pressed is not None and pressed[0] == down:
                order_id = pressed[1]
            else:
                order_id = self._host.stop_at(down)
            self._pressed = None
            self._dragging = self._host.begin_drag(order_id) if order_id else None
        if self._dragging is None:
            return super().mouseDragEvent(ev, axis)
        ev.accept()
        if ev.isFinish():
            ids, self._dragging = self._dragging, None
            self._host.end_drag(ids, ev.scenePos())
        else:
            self._host.move_drag(self._dragging, ev.scenePos())


def bar_item(**style) -> pg.BarGraphItem:
    """An empty bar item with a pen and a brush (or ``brushes``), filled with set_bars."""
    return pg.BarGraphItem(x0=[], y0=[], width=[], height=[], **style)


def set_bars(
    item: pg.BarGraphItem,
    bars: Sequence[Bar],
    *,
    dy: float,
    height: float,
    row: int | None = None,
    **opts,
) -> None:
    """Draw ``bars`` in ``item``, each ``dy`` off its row's centre (or ``row``'s, for all)."""
    rows = [b.row for b in bars] if row is None else [row] * len(bars)
    item.setOpts(
        x0=np.array([b.x0 for b in bars]),
        width=np.array([b.x1 - b.x0 for b in bars]),
        y0=np.array([r + dy for r in rows], dtype=float),
        height=height,
        **opts,
    )


def clear_bars(item: pg.BarGraphItem) -> None:
    item.setOpts(x0=np.array([]), width=np.array([]), y0=np.array([]), height=0)


def window_spans(
    order_ids: Iterable[str],
    orders: Mapping[str, Order],
    bars: Mapping[str, Bar],
    x: Callable[[datetime], float],
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """(x0, width, row) of every delivery window of these orders (at least a minute wide)."""
    x0, width, rows = [], [], []
    for oid in order_ids:
        order = orders.get(oid)
        for window in order.windows if order else ():
            x0.append(x(window.start))
            width.append(max(x(window.end) - x0[-1], 60.0))
            rows.append(bars[oid].row)
    return np.array(x0), np.array(width), rows
