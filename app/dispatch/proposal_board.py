"""The day's proposals as one desk sees them, read again every few seconds.

Another desk (a dispatcher's, a supervisor's) writes proposals and decisions to the same
store; the board reads the day's list on a timer (a small indexed read), says when it
changed, and tells this desk's user when one of *their* proposals was decided.
"""

from __future__ import annotations

import logging
from datetime import date

from PySide6.QtCore import QObject, QTimer, Signal

from app.dispatch.proposals import ProposalDesk, StoredProposal

log = logging.getLogger(__name__)


class ProposalBoard(QObject):
    """Pending and decided proposals of one depot's day, kept fresh."""

    sig_changed = Signal()  # the list changed
    sig_decided = Signal(object)  # StoredProposal: one of this user's was decided

    def __init__(
        self,
        desk: ProposalDesk,
        depot_id: str,
        day: date,
        *,
        interval_ms: int = 3000,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.desk, self.depot_id, self.day = desk, depot_id, day
        self.items: list[StoredProposal] = []
        self._seen: dict[str, str] | None = None  # id -> status at the last read
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.refresh)
        self._timer.start()
        self.refresh()

    @property
    def pending(self) -> list[StoredProposal]:
        return [p for p in self.items if p.pending]

    def refresh(self) -> None:
        """Read the day's proposals; signal a change, and decisions on this user's own."""
        try:
            items = self.desk.list(self.depot_id, self.day)
        except Exception:  # a failed read must not stop the timer; say it in the log
            log.exception("reading the proposals failed")
            return
        statuses = {p.id: p.status for p in items}
        if statuses == self._seen and len(items) == len(self.items):
            return
        previous, self._seen, self.items = self._seen, statuses, items
        self.sig_changed.emit()
        if previous is None:
            return
        for item in items:
            if (
                item.author == self.desk.actor
                and previous.get(item.id) == "pending"
                and item.status in ("accepted", "rejected")
            ):
                self.sig_decided.emit(item)

    def stop(self) -> None:
        self._timer.stop()
