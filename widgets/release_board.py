"""The window's side of release control: the Release board pane, the Release menu, and
carrying out what the pane asks (release a route, a wave or every green route, mark a load
checked, override a red check with a written reason, recall a release).

``ReleaseBoard(window)`` builds the pane and the menu; the main window docks the pane. What
a command did, or why it was refused, reaches the status bar (and a message box when the
window is shown to a person).
"""

from __future__ import annotations

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QMenu,
    QMessageBox,
    QPlainTextEdit,
    QTableWidget,
    QTableWidgetItem,
)

from widgets.release_pane import ReleasePane

SUPERVISOR_ONLY = "overriding a red check is a supervisor action: {user} is a dispatcher"


class OverrideDialog(QDialog):
    """Which red check to let pass, and the written reason (required)."""

    def __init__(self, route_id: str, red: list[tuple[str, str]], check: str, parent=None):
        super().__init__(parent)
        self.setWindowTitle(f"Override a check of {route_id}")
        self.check_combo = QComboBox()
        for name, what in red:
            self.check_combo.addItem(f"{name}: {what}", name)
        names = [name for name, _what in red]
        if check in names:
            self.check_combo.setCurrentIndex(names.index(check))
        self.reason_edit = QPlainTextEdit()
        self.reason_edit.setPlaceholderText("Why this route may leave anyway (kept in the log)")
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Check", self.check_combo)
        form.addRow("Reason", self.reason_edit)
        form.addRow(QLabel("A supervisor's override is kept in the change log with the reason."))
        form.addRow(self.buttons)

    @property
    def check(self) -> str:
        return str(self.check_combo.currentData() or "")

    @property
    def reason(self) -> str:
        return self.reason_edit.toPlainText().strip()


SCARCITY_COLUMNS = ("Docks", "Slot delay (total)", "Worst delay", "Late departures",
                    "Not placed", "Stop lateness", "Late stops")  # fmt: skip


class ScarcityDialog(QDialog):
    """What fewer docks would cost the day: one row per number of docks."""

    def __init__(self, rows, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Dock scarcity")
        self.table = QTableWidget(len(rows), len(SCARCITY_COLUMNS))
        self.table.setHorizontalHeaderLabels(list(SCARCITY_COLUMNS))
        self.table.verticalHeader().setVisible(False)
        for r, row in enumerate(rows):
            cells = (str(row.docks), f"{row.total_delay_s / 60:.0f} min",
                     f"{row.max_delay_s / 60:.0f} min", str(row.late_departures),
                     str(row.unplaced), f"{row.lateness_s / 60:.0f} min", str(row.late_stops))  # fmt: skip
            for c, text in enumerate(cells):
                self.table.setItem(r, c, QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QFormLayout(self)
        layout.addRow(QLabel("The day's routes slotted again with fewer docks (the first row "
                             "is every dock): how much later they leave and what it does "
                             "to the stops."))  # fmt: skip
        layout.addRow(self.table)
        layout.addRow(buttons)
        self.resize(760, 320)


class ReleaseBoard(QObject):
    """The Release board pane and menu of one window."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.service = window.context.release
        state = window.context.state
        self.pane = ReleasePane(self.service, lambda: state.plan, window)
        self.pane.sig_release_requested.connect(self.release)
        self.pane.sig_release_wave_requested.connect(self.release_wave)
        self.pane.sig_release_green_requested.connect(self.release_green)
        self.pane.sig_mark_loaded_requested.connect(self.mark_loaded)
        self.pane.sig_override_requested.connect(self.open_override)
        self.pane.sig_recall_requested.connect(self.recall)
        self.pane.sig_scarcity_requested.connect(self.open_scarcity)
        self.scarcity_dialog: ScarcityDialog | None = None
        self.service.sig_status.connect(window.status.show)
        self.service.sig_error.connect(self._on_error)
        self.override_dialog: OverrideDialog | None = None
        supervisor = window.is_supervisor
        self.pane.set_supervisor(supervisor, SUPERVISOR_ONLY.format(user=window.context.user))
        menu = QMenu("Re&lease", window)
        view = getattr(window, "_view_menu", None)
        if view is not None:
            window.menuBar().insertMenu(view.menuAction(), menu)
        else:
            window.menuBar().addMenu(menu)
        self.green_action = QAction("Release all &green routes", window)
        self.green_action.setShortcut(QKeySequence("Ctrl+Shift+G"))
        self.green_action.setStatusTip("Release every route whose gate is green, and send it")
        self.green_action.triggered.connect(self.release_green)
        self.board_action = QAction("Release &board", window, shortcut=QKeySequence("Ctrl+B"))
        self.board_action.triggered.connect(self.show_board)
        menu.addAction(self.board_action)
        menu.addAction(self.green_action)

    def show_board(self) -> None:
        dock = self.window._docks.get("release")
        if dock is not None:
            dock.show()
            dock.raise_()

    # -- commands ------------------------------------------------------------------------
    def release(self, route_ids: list) -> None:
        if not route_ids:
            self.window.status.show("Select the routes to release on the Release board")
            return
        self.service.release(route_ids)

    def release_wave(self, wave: str) -> None:
        if not wave:
            self.window.status.show("No wave to release")
            return
        self.service.release_wave(wave)

    def release_green(self) -> None:
        self.service.release_green()

    def mark_loaded(self, route_id: str) -> None:
        self.service.mark_loaded(route_id)

    def recall(self, route_id: str) -> None:
        self.service.recall(route_id)

    def open_override(self, route_id: str, check: str) -> OverrideDialog | None:
        """Ask which red check to let pass and why (a supervisor only)."""
        if not self.window.is_supervisor:
            self._on_error("Not allowed", SUPERVISOR_ONLY.format(
                user=self.window.context.user))  # fmt: skip
            return None
        gate = self.service.gate
        g = gate.routes.get(route_id) if gate is not None else None
        red = [(c.name, c.what) for c in g.checks if not c.ok and c.overridable] if g else []
        if not red:
            self.window.status.show(f"{route_id} has no red check a supervisor may override")
            return None
        dialog = OverrideDialog(route_id, red, check, self.window)
        self.override_dialog = dialog

        def done() -> None:
            if not dialog.reason:
                self._on_error("Override", "An override needs a written reason")
                return
            self.service.override(route_id, dialog.check, dialog.reason)

        dialog.accepted.connect(done)
        if self.window.context.headless:
            dialog.show()  # tests and screenshot runs fill it themselves
        else:
            dialog.open()
        return dialog

    def open_scarcity(self) -> ScarcityDialog | None:
        """What fewer docks would cost the day's departures and stops."""
        rows = self.service.scarcity()
        if not rows:
            self.window.status.show("No planned day with docks to compare")
            return None
        dialog = self.scarcity_dialog = ScarcityDialog(rows, self.window)
        dialog.show()
        return dialog

    def _on_error(self, title: str, text: str) -> None:
        self.window.status.show_error(f"{title}: {text}")
        if self.window.isVisible() and not self.window.context.headless:
            QMessageBox.warning(self.window, title, text)
