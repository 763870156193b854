"""The workstation's exceptions: the rules' open and resolved ones, plus what people did.

The exception rules (engine.rules.ExceptionTracker) open, update and resolve exceptions as
conditions come and go. People acknowledge and resolve them here. Each exception keeps
detected / acknowledged / resolved times for the recovery-time KPI.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from PySide6.QtCore import QObject, Signal

from engine.rules import ExceptionChanges, LiveException, Severity

SEVERITY_RANK = {Severity.CRITICAL: 0, Severity.WARNING: 1, Severity.INFO: 2}


@dataclass(frozen=True)
class BoardEntry:
    """One exception as the workstation shows it."""

    exception: LiveException
    acknowledged_at: datetime | None = None
    acknowledged_by: str = ""
    resolved_by: str = ""

    @property
    def id(self) -> str:
        return self.exception.id

    @property
    def is_open(self) -> bool:
        return self.exception.resolved_at is None

    def age_s(self, now: datetime) -> float:
        return max(0.0, (now - self.exception.detected_at).total_seconds())


class ExceptionBoard(QObject):
    """Every exception of the day; emits one pair of signals per change batch.

    ``sig_entries_changed`` names the entries that were added, changed or taken off (None:
    everything may have changed, e.g. the board was cleared), so a table updates those rows
    in place;
    ``sig_changed`` follows it for whoever only needs to know that something changed.
    """

    sig_changed = Signal()
    sig_entries_changed = Signal(object)  # frozenset[str] of exception ids, or None

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._entries: dict[str, BoardEntry] = {}

    # -- reads ---------------------------------------------------------------------------
    def entries(self) -> list[BoardEntry]:
        return list(self._entries.values())

    def get(self, exception_id: str) -> BoardEntry | None:
        return self._entries.get(exception_id)

    def open_entries(self) -> list[BoardEntry]:
        return [e for e in self._entries.values() if e.is_open]

    def open_by_severity(self) -> dict[Severity, int]:
        counts = {s: 0 for s in Severity}
        for entry in self.open_entries():
            counts[entry.exception.severity] += 1
        return counts

    def late_risk_orders(self) -> set[str]:
        return {
            e.exception.order_id
            for e in self.open_entries()
            if e.exception.type.value == "late_risk" and e.exception.order_id
        }

    # -- writes --------------------------------------------------------------------------
    def apply(self, changes: ExceptionChanges) -> None:
        """Take one update of the rules' tracker."""
        if not changes:
            return
        for exc in (*changes.opened, *changes.updated, *changes.resolved):
            previous = self._entries.get(exc.id)
            self._entries[exc.id] = (
                replace(previous, exception=exc) if previous else BoardEntry(exc)
            )
        self._emit(frozenset(e.id for e in (*changes.opened, *changes.updated, *changes.resolved)))

    def add(self, exc: LiveException) -> None:
        """An exception raised outside the rules (sync conflict, unassigned order)."""
        self._entries[exc.id] = BoardEntry(exc)
        self._emit(frozenset((exc.id,)))

    def load(self, entries: list[BoardEntry]) -> None:
        """Entries as stored (a restart): added, or taking the place of the same ids."""
        if not entries:
            return
        for entry in entries:
            self._entries[entry.id] = entry
        self._emit(frozenset(e.id for e in entries))

    def acknowledge(self, exception_id: str, at: datetime, by: str) -> bool:
        entry = self._entries.get(exception_id)
        if entry is None or entry.acknowledged_at is not None:
            return False
        self._entries[exception_id] = replace(entry, acknowledged_at=at, acknowledged_by=by)
        self._emit(frozenset((exception_id,)))
        return True

    def resolve(self, exception_id: str, at: datetime, by: str) -> bool:
        """A person closes it (the rules would re-open it if the condition still held)."""
        entry = self._entries.get(exception_id)
        if entry is None or not entry.is_open:
            return False
        acknowledged = entry.acknowledged_at or at
        self._entries[exception_id] = replace(
            entry,
            exception=replace(entry.exception, resolved_at=at),
            acknowledged_at=acknowledged,
            acknowledged_by=entry.acknowledged_by or by,
            resolved_by=by,
        )
        self._emit(frozenset((exception_id,)))
        return True

    def show_entries(self, entries: list[BoardEntry]) -> None:
        """Replace every entry at once (a recorded day shown at one moment). One signal
        naming only the entries added, changed or gone (a table updates those rows and
        keeps the rest); none when nothing changed."""
        new = {e.id: e for e in entries}
        old, self._entries = self._entries, new
        changed = {k for k, e in new.items() if (o := old.get(k)) is not e and o != e}
        changed.update(old.keys() - new.keys())
        if changed:
            self._emit(frozenset(changed))

    def clear(self) -> None:
        self._entries.clear()
        self._emit(None)

    def _emit(self, ids: frozenset[str] | None) -> None:
        self.sig_entries_changed.emit(ids)
        self.sig_changed.emit()
