"""A re-plan proposal shown as a diff: stops moved, ETA changes, lateness and distance."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine.planning import Proposal


def _clock(moment, zone) -> str:
    return moment.astimezone(zone).strftime("%H:%M") if moment else "—"


def summary_lines(proposal: Proposal) -> list[str]:
    """The proposal's before -> after figures, one line each."""
    late_b, late_a = proposal.lateness_before_s / 60, proposal.lateness_after_s / 60
    km_b, km_a = proposal.distance_before_m / 1000, proposal.distance_after_m / 1000
    lines = [
        f"Stops moved between routes: {len(proposal.moved)}",
        f"ETAs changed: {len(proposal.eta_changes)}",
        f"Lateness: {late_b:.0f} min → {late_a:.0f} min",
        f"Distance: {km_b:.1f} km → {km_a:.1f} km ({km_a - km_b:+.1f} km)",
    ]
    if proposal.unassigned:
        lines.append(f"Left unassigned: {len(proposal.unassigned)}")
    if not proposal.feasible:
        lines.append("Warning: the proposal still breaks some rules (see the routes).")
    return lines


class ProposalDialog(QDialog):
    """Accept (one undoable command) or reject a re-plan."""

    def __init__(self, proposal: Proposal, timezone: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Re-plan proposal")
        self.proposal = proposal
        zone = ZoneInfo(timezone)
        summary = QLabel("\n".join(summary_lines(proposal)), self)
        summary.setObjectName("proposal_summary")
        self.table = QTableWidget(len(proposal.moved), 5, self)
        self.table.setHorizontalHeaderLabels(["Stop", "From", "To", "ETA before", "ETA after"])
        for row, change in enumerate(proposal.moved):
            values = (
                change.order_id,
                change.vehicle_before or "unassigned",
                change.vehicle_after or "unassigned",
                _clock(change.eta_before, zone),
                _clock(change.eta_after, zone),
            )
            for col, value in enumerate(values):
                self.table.setItem(row, col, QTableWidgetItem(value))
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        buttons = QDialogButtonBox(self)
        self.accept_button = buttons.addButton("Accept", QDialogButtonBox.ButtonRole.AcceptRole)
        self.reject_button = buttons.addButton("Reject", QDialogButtonBox.ButtonRole.RejectRole)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(summary)
        layout.addWidget(self.table)
        layout.addWidget(buttons)
        self.resize(640, 420)
