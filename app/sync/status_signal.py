"""The status bar's end of ``SyncStatus``: a QtCore object with a ``changed`` signal."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from app.sync.status import SyncStatus


class SyncStatusSignal(QObject):
    """Re-emits each ``SyncStatus`` as ``changed`` (safe to call ``publish`` from any thread:
    receivers in the GUI thread get it queued)."""

    changed = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.last: SyncStatus | None = None

    def publish(self, status: SyncStatus) -> None:
        self.last = status
        self.changed.emit(status)
