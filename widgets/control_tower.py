"""The control tower: every depot of the shared database at once, one tile each.

A tile shows the depot's day: routes on the road and at risk, open exceptions by severity,
each wave's routes released, on time so far, and the desks working on it with their outbox;
its "Open depot" button opens that depot on this desk. The figures come from
:class:`app.tower.feed.TowerFeed`; offline, the last known ones stay, with their time.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from app.store.tower import DepotFigures
from app.tower.feed import TowerFeed, TowerState

COLUMNS = 3
SEVERITIES = ("critical", "warning", "info")


def describe(f: DepotFigures) -> dict[str, str]:
    """A tile's lines, as text (also what tests and the bench read)."""
    if f.planned:
        routes = (
            f"{f.on_road} on the road, {f.at_risk} at risk, {f.completed} completed "
            f"of {f.routes} routes"
        )
    else:
        routes = "not planned yet"
    exc = " · ".join(f"{f.exceptions.get(s, 0)} {s}" for s in SEVERITIES)
    waves = " · ".join(f"{w.id} {w.out}/{w.stops} stops out" for w in f.waves) or "none planned"
    pct = f.on_time_pct
    on_time = (
        f"{pct:.0f}% ({f.on_time} of {f.stops_done} stops)" if pct is not None else "no stop yet"
    )
    desks = (
        ", ".join(
            f"{d.user or d.workstation} ({'online' if d.online else 'away'}, outbox "
            f"{d.outbox_pending})"
            for d in f.desks
        )
        or "no desk"
    )
    return {
        "title": f"{f.name} · {f.depot_id}",
        "day": f"{f.day:%a %d %b} · {f.orders} orders · {f.vehicles} vehicles",
        "routes": f"Routes: {routes}",
        "exceptions": f"Open exceptions: {exc}",
        "waves": f"Waves: {waves}",
        "on_time": f"On time so far: {on_time}",
        "desks": f"Desks: {f.desks_online} online — {desks}",
    }


def _zone(name: str) -> tzinfo | None:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError):
        return None


def header_text(state: TowerState, timezone: str, now: datetime | None = None) -> str:
    """The tower's header: how many depots, when they were last read (the wall clock, in
    ``timezone`` — the open depot's — with its abbreviation), how long that took; offline,
    how long ago the shown figures were read. When the day runs on a simulated clock (the
    demo) its time is shown too, since the figures count to it."""
    zone = _zone(timezone)

    def clock(t: datetime, fmt: str) -> str:
        local = t.astimezone(zone) if zone is not None else t.astimezone()
        return f"{local:{fmt}} {local.tzname() or ''}".rstrip()

    when = clock(state.read_at, "%H:%M:%S") if state.read_at else "never"
    day = ""
    apart = (
        state.as_of is not None
        and state.read_at is not None
        and (abs((state.as_of - state.read_at).total_seconds()) > 60)
    )
    if apart and state.as_of is not None:
        day = f" · day clock {clock(state.as_of, '%H:%M')}"
    if state.online:
        n = len(state.figures)
        return (f"{n} depot{'' if n == 1 else 's'} · read {when} in {state.seconds * 1000:.0f} ms"
                f"{day}")  # fmt: skip
    ago = ""
    if state.read_at is not None:
        minutes = ((now or datetime.now(UTC)) - state.read_at).total_seconds() / 60
        ago = f", {minutes:.0f} min ago" if minutes >= 1 else ", under a minute ago"
    return f"Offline — the last known state, read {when}{ago}{day} ({state.error})"


class DepotTile(QFrame):
    """One depot's tile; its labels are updated in place on each refresh."""

    sig_open = Signal(str)

    def __init__(self, depot_id: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.depot_id = depot_id
        self.setObjectName(f"tower_tile_{depot_id}")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setMinimumWidth(340)
        layout = QVBoxLayout(self)
        self.labels: dict[str, QLabel] = {}
        for key in ("title", "day", "routes", "exceptions", "waves", "on_time", "desks"):
            label = QLabel(self)
            label.setObjectName(f"tower_{key}")
            label.setWordWrap(True)
            label.setTextFormat(Qt.TextFormat.PlainText)
            layout.addWidget(label)
            self.labels[key] = label
        bold = self.labels["title"].font()
        bold.setBold(True)
        bold.setPointSizeF(bold.pointSizeF() * 1.15)
        self.labels["title"].setFont(bold)
        row = QHBoxLayout()
        row.addStretch(1)
        self.open_button = QPushButton("Open depot", self)
        self.open_button.setObjectName("tower_open")
        self.open_button.clicked.connect(lambda: self.sig_open.emit(self.depot_id))
        row.addWidget(self.open_button)
        layout.addLayout(row)

    def show_figures(self, f: DepotFigures, current: bool) -> None:
        for key, text in describe(f).items():
            if self.labels[key].text() != text:
                self.labels[key].setText(text)
        critical = f.exceptions.get("critical", 0) > 0 or f.at_risk > 0
        border = "#c62828" if critical else "#1565c0" if current else "#9e9e9e"
        self.setStyleSheet(
            f"#tower_tile_{self.depot_id} {{ border: 2px solid {border}; border-radius: 6px; }}"
        )
        self.open_button.setEnabled(not current)
        self.open_button.setText("Open on this desk" if current else "Open depot")


class ControlTowerWindow(QWidget):
    """A top-level window of depot tiles over a :class:`TowerFeed`."""

    sig_open_depot = Signal(str)

    def __init__(self, feed: TowerFeed, current_depot: str = "", parent=None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setObjectName("control_tower")
        self.setWindowTitle("Control tower — every depot")
        self.resize(1180, 720)
        self.feed = feed
        self.current_depot = current_depot
        self.header = QLabel("Reading…", self)
        self.header.setObjectName("tower_header")
        self.tiles: dict[str, DepotTile] = {}
        self._grid_host = QWidget(self)
        self._grid = QGridLayout(self._grid_host)
        self._grid.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setWidget(self._grid_host)
        layout = QVBoxLayout(self)
        layout.addWidget(self.header)
        layout.addWidget(scroll, 1)
        feed.sig_state.connect(self.show_state)

    def show_state(self, state: TowerState) -> None:
        zone = next((f.timezone for f in state.figures if f.depot_id == self.current_depot),
                    state.figures[0].timezone if state.figures else "")  # fmt: skip
        self.header.setText(header_text(state, zone))
        self.header.setStyleSheet("" if state.online else "color: #c62828;")
        for i, f in enumerate(state.figures):
            tile = self.tiles.get(f.depot_id)
            if tile is None:
                tile = self.tiles[f.depot_id] = DepotTile(f.depot_id, self._grid_host)
                tile.sig_open.connect(self.sig_open_depot)
                self._grid.addWidget(tile, i // COLUMNS, i % COLUMNS)
            tile.show_figures(f, f.depot_id == self.current_depot)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt name)
        self.feed.start()
        super().showEvent(event)

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        self.feed.stop()
        super().closeEvent(event)
