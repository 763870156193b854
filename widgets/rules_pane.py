"""The Rules pane: the rules in force with today's firing counts, the firings with their
effect, and the one switch that pauses every rule.

Supervisors flip the switch, edit the rules (the Rules dialog) and dry-run rule sets;
dispatchers see the same rules and firings. A firing that changed the plan can be undone
like a person's command. The pane only emits requests (``sig_*``); the window carries them
out.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.rules.models import FiringsTableModel, RulesTableModel
from app.rules.service import RulesService
from engine.automation import sentence


class RulesPane(QWidget):
    """Rules, firings and the pause switch over the rules service."""

    sig_pause_requested = Signal(bool)  # pause (True) or resume
    sig_edit_requested = Signal(str)  # rule id ("" for none selected)
    sig_dry_run_requested = Signal()
    sig_undo_requested = Signal(str)  # firing id
    sig_focus_requested = Signal(str, str)  # kind ("vehicle" or "stop"), id

    def __init__(self, service: RulesService, timezone, parent: QWidget | None = None):
        super().__init__(parent)
        self.service = service
        self.rules_model = RulesTableModel(service, self)
        self.firings_model = FiringsTableModel(service, timezone, self)
        self.switch_label = QLabel(self)
        self.switch_label.setObjectName("rules_switch")
        self.pause_button = QPushButton(self)
        self.pause_button.setObjectName("rules_pause")
        self.pause_button.clicked.connect(self._on_pause_clicked)
        self.edit_button = QPushButton("Edit rules…", self)
        self.edit_button.clicked.connect(
            lambda: self.sig_edit_requested.emit(self.selected_rule() or "")
        )
        self.dry_run_button = QPushButton("Dry run…", self)
        self.dry_run_button.setToolTip("Try a rule set on a recorded day, against no rules")
        self.dry_run_button.clicked.connect(self.sig_dry_run_requested)
        top = QHBoxLayout()
        top.addWidget(self.switch_label, 1)
        for button in (self.pause_button, self.edit_button, self.dry_run_button):
            top.addWidget(button)

        self.rules_table = self._table(self.rules_model)
        self.rules_table.selectionModel().selectionChanged.connect(self._on_rule_selected)
        self.sentence = QLabel(self)
        self.sentence.setObjectName("rules_sentence")
        self.sentence.setWordWrap(True)
        self.sentence.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.firings_table = self._table(self.firings_model)
        self.firings_table.doubleClicked.connect(self._on_firing_double_clicked)
        self.firings_table.selectionModel().selectionChanged.connect(self._refresh_buttons)
        self.firings_label = QLabel(self)
        self.firings_label.setObjectName("rules_firings_label")
        self.undo_button = QPushButton("Undo this firing", self)
        self.undo_button.clicked.connect(self._on_undo_clicked)
        bottom = QHBoxLayout()
        bottom.addWidget(self.firings_label, 1)
        bottom.addWidget(self.undo_button)

        upper = QWidget(self)
        up = QVBoxLayout(upper)
        up.setContentsMargins(0, 0, 0, 0)
        up.addWidget(self.rules_table)
        up.addWidget(self.sentence)
        lower = QWidget(self)
        low = QVBoxLayout(lower)
        low.setContentsMargins(0, 0, 0, 0)
        low.addLayout(bottom)
        low.addWidget(self.firings_table)
        split = QSplitter(Qt.Orientation.Vertical, self)
        split.addWidget(upper)
        split.addWidget(lower)
        split.setSizes([220, 300])
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(split, 1)
        self._supervisor = True
        service.sig_changed.connect(self.refresh)
        self.refresh()

    @staticmethod
    def _table(model) -> QTableView:
        table = QTableView()
        table.setModel(model)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.verticalHeader().hide()
        header = table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        table.setWordWrap(False)
        return table

    # -- state ---------------------------------------------------------------------------
    def set_supervisor(self, supervisor: bool) -> None:
        """Supervisors switch and edit; dispatchers see (the dialog opens read-only)."""
        self._supervisor = supervisor
        self.edit_button.setText("Edit rules…" if supervisor else "View rules…")
        self.refresh()

    def refresh(self) -> None:
        switch = self.service.switch
        active = [r for r in self.service.rules if r.enabled]
        acting = sum(1 for r in active if r.acts)
        if switch.paused:
            by = f" by {switch.by}" if switch.by else ""
            why = f": {switch.reason}" if switch.reason else ""
            self.switch_label.setText(f"<b style='color:#c62828'>Rules paused</b>{by}{why}")
        else:
            self.switch_label.setText(
                f"<b>Rules running</b>: {len(active)} on ({acting} acting, "
                f"{len(active) - acting} in shadow mode)"
            )
        self.pause_button.setText("Resume all rules" if switch.paused else "Pause all rules")
        self.pause_button.setEnabled(self._supervisor)
        self.pause_button.setToolTip(
            "" if self._supervisor else "Pausing the rules is a supervisor action"
        )
        firings = self.service.firings
        done = sum(1 for f in firings if f.command_id and not f.undone_at)
        self.firings_label.setText(
            f"Today: {len(firings)} firings, {done} changed the plan"
            + (
                f", {sum(1 for f in firings if f.mode == 'shadow')} in shadow mode"
                if firings
                else ""
            )
        )
        self._refresh_buttons()

    def selected_rule(self) -> str | None:
        rows = self.rules_table.selectionModel().selectedRows()
        return self.rules_model.rule_at(rows[0].row()).id if rows else None

    def selected_firing(self):
        rows = self.firings_table.selectionModel().selectedRows()
        return self.firings_model.firing_at(rows[0].row()) if rows else None

    def _refresh_buttons(self, *_args) -> None:
        firing = self.selected_firing()
        self.undo_button.setEnabled(
            firing is not None and self.service.undo_record(firing) is not None
        )

    # -- reactions -----------------------------------------------------------------------
    def _on_rule_selected(self, *_args) -> None:
        rid = self.selected_rule()
        rule = next((r for r in self.service.rules if r.id == rid), None)
        self.sentence.setText(sentence(rule) if rule else "")

    def _on_pause_clicked(self) -> None:
        self.sig_pause_requested.emit(not self.service.switch.paused)

    def _on_undo_clicked(self) -> None:
        firing = self.selected_firing()
        if firing is not None:
            self.sig_undo_requested.emit(firing.id)

    def _on_firing_double_clicked(self, index) -> None:
        firing = self.firings_model.firing_at(index.row())
        if firing.order_id:
            self.sig_focus_requested.emit("stop", firing.order_id)
        elif firing.vehicle_id:
            self.sig_focus_requested.emit("vehicle", firing.vehicle_id)

    def select_firing(self, firing_id: str) -> None:
        row = self.firings_model.row_of(firing_id)
        if row >= 0:
            self.firings_table.selectRow(row)
