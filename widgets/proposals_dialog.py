"""Plan ▸ Proposals…: what dispatchers proposed, and what became of it.

One row per proposal of the day, newest first: when, who (and their role), what (a move
of stops, a fleet re-plan), its effect as the sender saw it, its status, and who decided,
when and why. A supervisor *Accepts* (applied as their own undoable command, checked
against the routes as the proposal saw them) or *Rejects…* (with a note for the sender); a
proposal's author may *Withdraw* it while it is pending. The list follows the store (other
desks' proposals and decisions appear by themselves).
"""

from __future__ import annotations

from collections.abc import Callable
from zoneinfo import ZoneInfo

from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QInputDialog,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.dispatch.proposal_board import ProposalBoard
from app.dispatch.proposals import StoredProposal

COLUMNS = ("When", "Who", "What", "Effect", "Status", "Decided")
_STATUS_COLOUR = {"pending": "#ef6c00", "accepted": "#2e7d32", "rejected": "#c62828",
                  "withdrawn": "#757575"}  # fmt: skip


class ProposalsDialog(QDialog):
    """The day's proposals; decide them (supervisor) or withdraw one's own."""

    def __init__(
        self,
        board: ProposalBoard,
        timezone: str,
        *,
        is_supervisor: bool,
        on_accept: Callable[[StoredProposal], bool],
        on_reject: Callable[[StoredProposal, str], bool],
        on_withdraw: Callable[[StoredProposal], bool],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Proposals")
        self.setObjectName("proposals_dialog")
        self.setModal(False)
        self.board, self.zone = board, ZoneInfo(timezone)
        self.is_supervisor = is_supervisor
        self.on_accept, self.on_reject, self.on_withdraw = on_accept, on_reject, on_withdraw
        self.head = QLabel(self)
        self.head.setObjectName("proposals_head")
        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setObjectName("proposals_table")
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        buttons = QDialogButtonBox(self)
        self.accept_button = buttons.addButton("&Accept", QDialogButtonBox.ButtonRole.ActionRole)
        self.reject_button = buttons.addButton("&Reject…", QDialogButtonBox.ButtonRole.ActionRole)
        self.withdraw_button = buttons.addButton(
            "&Withdraw", QDialogButtonBox.ButtonRole.ActionRole
        )
        self.accept_button.clicked.connect(self.accept_selected)
        self.reject_button.clicked.connect(lambda: self.reject_selected())
        self.withdraw_button.clicked.connect(self.withdraw_selected)
        self.accept_button.setVisible(is_supervisor)
        self.reject_button.setVisible(is_supervisor)
        buttons.addButton("Close", QDialogButtonBox.ButtonRole.RejectRole).clicked.connect(
            self.close
        )
        layout = QVBoxLayout(self)
        layout.addWidget(self.head)
        layout.addWidget(self.table, 1)
        layout.addWidget(buttons)
        self.resize(1180, 460)
        board.sig_changed.connect(self.refresh)
        self.refresh()

    def _when(self, moment) -> str:
        return moment.astimezone(self.zone).strftime("%H:%M:%S") if moment else ""

    def refresh(self) -> None:
        """Fill the table from the board, keeping the selected proposal selected."""
        chosen = self.selected()
        items = self.board.items
        self.table.setRowCount(len(items))
        for row, p in enumerate(items):
            decided = ""
            if p.decided_by:
                decided = f"{p.decided_by} at {self._when(p.decided_at)}"
                if p.note:
                    decided += f": {p.note}"
            cells = (self._when(p.created_at), f"{p.author} ({p.author_role})", p.label,
                     str(p.effect.get("summary", "")), p.status, decided)  # fmt: skip
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                if col == 4:
                    item.setForeground(QColor(_STATUS_COLOUR.get(p.status, "#000000")))
                self.table.setItem(row, col, item)
            if chosen is not None and p.id == chosen.id:
                self.table.selectRow(row)
        waiting = len(self.board.pending)
        wait = f"{waiting} waiting for a supervisor" if waiting else "none waiting"
        self.head.setText(f"{len(items)} proposal{'s' if len(items) != 1 else ''} today; {wait}.")
        self._update_buttons()

    def selected(self) -> StoredProposal | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        items = self.board.items
        return items[rows[0].row()] if rows and rows[0].row() < len(items) else None

    def select(self, proposal_id: str) -> None:
        for row, p in enumerate(self.board.items):
            if p.id == proposal_id:
                self.table.selectRow(row)

    def _update_buttons(self) -> None:
        p = self.selected()
        pending = p is not None and p.pending
        self.accept_button.setEnabled(pending and self.is_supervisor)
        self.reject_button.setEnabled(pending and self.is_supervisor)
        mine = p is not None and p.author == self.board.desk.actor
        self.withdraw_button.setEnabled(pending and mine)

    def accept_selected(self) -> None:
        p = self.selected()
        if p is not None and self.on_accept(p):
            self.board.refresh()

    def reject_selected(self, note: str | None = None) -> None:
        p = self.selected()
        if p is None:
            return
        if note is None:
            note, ok = QInputDialog.getText(self, "Reject proposal",
                                            f"Why not? ({p.label}; {p.author} reads this)")  # fmt: skip
            if not ok:
                return
        if self.on_reject(p, note):
            self.board.refresh()

    def withdraw_selected(self) -> None:
        p = self.selected()
        if p is not None and self.on_withdraw(p):
            self.board.refresh()
