"""The sync conflict dialog: my version and the stored one side by side, per route.

Each side is a table of the routes' stops in order; a stop only on one side, or at another
place in the route, is highlighted (bold, coloured, and said in its "difference" cell).
Above: what my edit was, who stored the other version and when, why it was refused.
Below: what each choice will do. ``ConflictDialog.ask`` returns "mine", "theirs" or None.
"""

from __future__ import annotations

from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.sync.conflict_view import ConflictView

HIGHLIGHT = {"only yours": QColor("#ffe08a"), "only stored": QColor("#ffe08a"),
             "moved": QColor("#ffc9a8")}  # fmt: skip
COLUMNS = ("Route", "#", "Stop", "Difference")

KEEP_MINE_TEXT = (
    "Keep mine: your edit is made again on the stored version (the same move, locks or "
    "plan; what the other person changed elsewhere stays), or you are told why it no "
    "longer applies and the conflict stays open."
)
KEEP_THEIRS_TEXT = (
    "Keep theirs: your edit is dropped; the stored version stays on every desk and this "
    "desk shows it."
)
CANCEL_TEXT = "Cancel: nothing changes; the conflict stays open on the exceptions board."


class ConflictDialog(QDialog):
    """Both versions of a sync conflict; the buttons set ``choice``."""

    def __init__(self, view: ConflictView, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view = view
        self.choice: str | None = None
        self.setWindowTitle("Sync conflict")
        self.resize(820, 520)
        layout = QVBoxLayout(self)
        head = QLabel("Someone else changed these routes while your edit waited to be sent.")
        head.setStyleSheet("font-weight: bold")
        layout.addWidget(head)
        if view.what:
            layout.addWidget(QLabel(f"Your edit: {view.what}"))
        self.who_label = QLabel(view.who_when())
        layout.addWidget(self.who_label)
        if view.plans is not None and view.plans[0] != view.plans[1]:
            layout.addWidget(
                QLabel(f"Plan: yours {view.plans[0]} | stored {view.plans[1] or 'none'}")
            )
        if view.locks:
            what = ", ".join(f"{'lock' if v else 'unlock'} {oid}" for oid, v in view.locks)
            layout.addWidget(QLabel(f"Your edit would also {what}."))
        if view.reason:
            reason = QLabel(f"Refused because: {view.reason}")
            reason.setWordWrap(True)
            layout.addWidget(reason)

        grid = QGridLayout()
        grid.addWidget(QLabel("Yours (waiting to be sent)"), 0, 0)
        grid.addWidget(QLabel("Theirs (stored on the shared database)"), 0, 1)
        self.mine_table = self._table()
        self.theirs_table = self._table()
        grid.addWidget(self.mine_table, 1, 0)
        grid.addWidget(self.theirs_table, 1, 1)
        layout.addLayout(grid, 1)
        self._fill()
        legend = QLabel(
            "Highlighted: a stop only in one version, or at another place in its route."
        )
        legend.setStyleSheet("color: #555")
        layout.addWidget(legend)

        self.explain = QLabel("\n".join((KEEP_MINE_TEXT, KEEP_THEIRS_TEXT, CANCEL_TEXT)))
        self.explain.setWordWrap(True)
        layout.addWidget(self.explain)
        buttons = QDialogButtonBox()
        self.mine_button = QPushButton("Keep mine")
        self.theirs_button = QPushButton("Keep theirs")
        self.cancel_button = buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        buttons.addButton(self.mine_button, QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(self.theirs_button, QDialogButtonBox.ButtonRole.AcceptRole)
        self.mine_button.setToolTip(KEEP_MINE_TEXT)
        self.theirs_button.setToolTip(KEEP_THEIRS_TEXT)
        self.mine_button.clicked.connect(lambda: self._choose("mine"))
        self.theirs_button.clicked.connect(lambda: self._choose("theirs"))
        self.cancel_button.clicked.connect(self.reject)
        self.cancel_button.setDefault(True)
        layout.addWidget(buttons)

    @staticmethod
    def _table() -> QTableWidget:
        table = QTableWidget(0, len(COLUMNS))
        table.setHorizontalHeaderLabels(COLUMNS)
        table.verticalHeader().setVisible(False)
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        table.horizontalHeader().setStretchLastSection(True)
        return table

    def _fill(self) -> None:
        for route in self.view.routes:
            mine = route.mine if route.mine is not None else ()
            theirs = route.theirs if route.theirs is not None else ()
            if route.mine is None:
                mine_rows = [("(your edit leaves this route as it was)", "")]
            else:
                mine_rows = list(zip(mine, route.mine_marks(), strict=True)) or [("(no stops)", "")]
            if route.theirs is None:
                theirs_rows = [("(route not on the shared database)", "")]
            else:
                theirs_rows = list(zip(theirs, route.theirs_marks(), strict=True)) or [
                    ("(no stops)", "")
                ]
            mine_name = f"{route.route_id} (from v{route.mine_version})"
            theirs_name = f"{route.route_id} (v{route.theirs_version})"
            # Both sides get as many rows, so one route's stops face each other.
            rows = max(len(mine_rows), len(theirs_rows))
            self._add(self.mine_table, mine_name, mine_rows, rows, route.mine is not None)
            self._add(self.theirs_table, theirs_name, theirs_rows, rows, route.theirs is not None)
        for table in (self.mine_table, self.theirs_table):
            table.resizeColumnsToContents()

    @staticmethod
    def _add(
        table: QTableWidget, name: str, stops: list[tuple[str, str]], rows: int, numbered: bool
    ) -> None:
        start = table.rowCount()
        table.setRowCount(start + rows)
        for i in range(rows):
            stop, mark = stops[i] if i < len(stops) else ("", "")
            cells = (name if i == 0 else "", str(i + 1) if numbered and stop else "", stop, mark)
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if mark and col > 0:
                    item.setBackground(QBrush(HIGHLIGHT[mark]))
                    font = QFont(item.font())
                    font.setBold(True)
                    item.setFont(font)
                table.setItem(start + i, col, item)

    def _choose(self, choice: str) -> None:
        self.choice = choice
        self.accept()

    def highlighted(self, side: str) -> list[tuple[str, str]]:
        """(stop, difference) of the highlighted rows of ``side`` ("mine" or "theirs")."""
        table = self.mine_table if side == "mine" else self.theirs_table
        out = []
        for row in range(table.rowCount()):
            stop, mark = table.item(row, 2), table.item(row, 3)
            if (stop is not None and mark is not None and mark.text() and stop.font().bold()
                    and stop.background().color() == HIGHLIGHT[mark.text()]):  # fmt: skip
                out.append((stop.text(), mark.text()))
        return out

    @classmethod
    def ask(cls, view: ConflictView, parent: QWidget | None = None) -> str | None:
        """Show the dialog; "mine", "theirs", or None when cancelled."""
        dialog = cls(view, parent)
        dialog.exec()
        return dialog.choice
