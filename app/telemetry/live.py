"""The Qt face of the live feed: a QObject that drains the ingest on a timer.

Lives in the main thread. Every ``interval_ms`` it drains the :class:`Ingest` queue,
applies the batch to the :class:`LiveState`, hands what was new to the writer (if any)
and emits one signal per kind of change — a burst of thousands of messages costs one
model update. Nothing here blocks: the drain is bounded per tick.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Signal

from app.telemetry.ingest import Ingest
from app.telemetry.state import Applied, LiveState

log = logging.getLogger(__name__)


class LiveFeed(QObject):
    """Drains telemetry into the live state and tells the window what changed."""

    sig_fixes_applied = Signal(dict)  # vehicle_id -> newest Fix
    sig_events_applied = Signal(list)  # list[StopEvent]
    sig_connection_changed = Signal(str)  # "connected" | "connecting" | "disconnected"

    def __init__(
        self,
        ingest: Ingest,
        state: LiveState | None = None,
        *,
        writer: Callable[[Applied], None] | None = None,
        interval_ms: int = 150,
        max_batch: int = 50_000,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.ingest = ingest
        self.state = state if state is not None else LiveState()
        self.writer = writer
        self.max_batch = max_batch
        self.connection_state = "disconnected"
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.drain)

    def start(self) -> None:
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def drain(self) -> Applied:
        """One tick: drain, apply, persist (off-thread), signal."""
        batch = self.ingest.drain(self.max_batch)
        for state, detail in batch.connection:
            self.connection_state = state
            log.info("telemetry connection %s %s", state, detail)
            self.sig_connection_changed.emit(state)
        if not batch:
            return Applied()
        applied = self.state.apply(batch)
        if applied and self.writer is not None:
            self.writer(applied)
        if applied.moved:
            self.sig_fixes_applied.emit(applied.moved)
        if applied.events:
            self.sig_events_applied.emit(applied.events)
        return applied
