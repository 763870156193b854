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

from app.day.labels import DayLabels
from engine.model import Plan
from engine.planning import Proposal, StopChange

REASONS = {
    "window_unreachable": "its window cannot be reached",
    "no_vehicle_with_skill": "no vehicle has the skill it needs",
    "capacity": "no vehicle has room for it",
    "shift": "no driver's shift covers it",
    "no_feasible_route": "no route can take it in time",
}


# What the table shows of each stop the proposal moves or re-times.
COLUMNS = ("Stop", "Customer", "Window", "From", "To", "ETA before", "ETA after")


def _clock(moment, zone) -> str:
    return moment.astimezone(zone).strftime("%H:%M") if moment else "—"


def newly_unassigned(proposal: Proposal, before: Plan | None) -> list:
    """The orders this proposal leaves off every route that the plan shown now serves."""
    served_now = {o for r in before.routes for o in r.order_ids} if before is not None else None
    was_out = {u.order_id for u in before.unassigned} if before is not None else set()
    return [
        u for u in proposal.unassigned
        if u.order_id not in was_out and (served_now is None or u.order_id in served_now)
    ]  # fmt: skip


def unassigned_warning(
    proposal: Proposal, before: Plan | None, labels: DayLabels | None = None
) -> str:
    """A warning naming each order the proposal drops from the routes, and why; empty
    when it drops none. Its lateness figure does not count them."""
    dropped = newly_unassigned(proposal, before)
    if not dropped:
        return ""
    names = []
    for u in dropped[:10]:
        who = labels.customer(u.order_id) if labels is not None else ""
        why = REASONS.get(str(u.reason), str(u.reason).replace("_", " "))
        names.append(f"{u.order_id}{' (' + who + ')' if who else ''}: {why}"
                     + (f" — {u.detail}" if u.detail else ""))  # fmt: skip
    more = f"\n… and {len(dropped) - 10} more" if len(dropped) > 10 else ""
    return (
        f"Warning: {len(dropped)} stop{'s' if len(dropped) != 1 else ''} would be left "
        "unassigned (not delivered today; the lateness above does not count "
        f"{'them' if len(dropped) != 1 else 'it'}):\n" + "\n".join(names) + more
    )


NOTHING_TO_CHANGE = (
    "Nothing to change: the re-plan found no better routes than the ones driven now "
    "(no stop moves, no ETA changes)."
)


def changes_nothing(proposal: Proposal) -> bool:
    """No stop moved and no ETA changed: accepting it changes no route."""
    return not proposal.moved and not proposal.eta_changes


def summary_lines(proposal: Proposal) -> list[str]:
    """The proposal's before -> after figures, one line each (first, when it changes
    nothing, a line that says so)."""
    late_b, late_a = proposal.lateness_before_s / 60, proposal.lateness_after_s / 60
    km_b, km_a = proposal.distance_before_m / 1000, proposal.distance_after_m / 1000
    lines = [NOTHING_TO_CHANGE] if changes_nothing(proposal) else []
    lines += [
        f"Stops moved between routes: {len(proposal.moved)}",
        f"ETAs changed: {len(proposal.eta_changes)}",
        f"Lateness: {late_b:.0f} min → {late_a:.0f} min",
        f"Distance: {km_b:.1f} km → {km_a:.1f} km ({km_a - km_b:+.1f} km)",
    ]
    if proposal.duration_before_s or proposal.duration_after_s:
        h_b, h_a = proposal.duration_before_s / 3600, proposal.duration_after_s / 3600
        lines.append(f"Driver time: {h_b:.1f} h → {h_a:.1f} h ({h_a - h_b:+.1f} h)")
    if proposal.cost_before or proposal.cost_after:
        c_b, c_a = proposal.cost_before, proposal.cost_after
        lines.append(f"Cost (per km and per hour of each vehicle): {c_b:,.0f} → {c_a:,.0f} "
                     f"({c_a - c_b:+,.0f})")  # fmt: skip
    if proposal.unassigned:
        lines.append(f"Left unassigned: {len(proposal.unassigned)}")
    lines.extend(proposal.notes)  # e.g. the loaded stops kept on their vans
    if not proposal.feasible:
        lines.append("Warning: the proposal still breaks some rules (see the routes).")
    return lines


def changed_stops(proposal: Proposal) -> list[StopChange]:
    """The stops the table lists: those moved between routes, then those whose ETA changes
    on their own route, the largest shift first (a re-plan that only re-orders routes shows
    what it re-orders, not an empty table)."""
    moved = list(proposal.moved)
    ids = {c.order_id for c in moved}

    def shift(c: StopChange) -> float:
        if c.eta_before is None or c.eta_after is None:
            return float("inf")
        return abs((c.eta_after - c.eta_before).total_seconds())

    rest = sorted((c for c in proposal.eta_changes if c.order_id not in ids),
                  key=lambda c: (-shift(c), c.order_id))  # fmt: skip
    return moved + rest


class ProposalDialog(QDialog):
    """Accept (one undoable command) or reject a re-plan."""

    def __init__(
        self,
        proposal: Proposal,
        timezone: str,
        parent: QWidget | None = None,
        *,
        before: Plan | None = None,
        labels: DayLabels | None = None,
    ):
        super().__init__(parent)
        self.setWindowTitle("Re-plan proposal")
        self.proposal = proposal
        zone = ZoneInfo(timezone)
        summary = QLabel("\n".join(summary_lines(proposal)), self)
        summary.setObjectName("proposal_summary")
        summary.setWordWrap(True)  # a long note wraps instead of widening the dialog
        rows = changed_stops(proposal)
        self.table = QTableWidget(len(rows), len(COLUMNS), self)
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        for row, change in enumerate(rows):
            values = (
                change.order_id,
                labels.customer(change.order_id) if labels is not None else "",
                labels.window(change.order_id) if labels is not None else "",
                change.vehicle_before or "unassigned",
                change.vehicle_after or "unassigned",
                _clock(change.eta_before, zone),
                _clock(change.eta_after, zone),
            )
            tip = (
                labels.stop_tooltip(change.order_id, change.eta_after) if labels is not None else ""
            )
            for col, value in enumerate(values):
                item = QTableWidgetItem(value)
                item.setToolTip(tip or value)
                self.table.setItem(row, col, item)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COLUMNS.index("Customer"), QHeaderView.ResizeMode.Stretch)
        buttons = QDialogButtonBox(self)
        self.accept_button = buttons.addButton("Accept", QDialogButtonBox.ButtonRole.AcceptRole)
        self.reject_button = buttons.addButton("Reject", QDialogButtonBox.ButtonRole.RejectRole)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(summary)
        self.warning = QLabel(unassigned_warning(proposal, before, labels), self)
        self.warning.setObjectName("proposal_unassigned_warning")
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet("color: #c62828; font-weight: bold;")
        self.warning.setVisible(bool(self.warning.text()))
        layout.addWidget(self.warning)
        layout.addWidget(self.table)
        layout.addWidget(buttons)
        self.resize(820, 440)
