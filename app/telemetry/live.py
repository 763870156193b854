"""The Qt face of the live feed: a QObject that drains the ingest on a timer.

Lives in the main thread. Every ``interval_ms`` it drains the :class:`Ingest` queue,
applies the batch to the :class:`LiveState`, hands what was new to the writer (if any)
and emits one signal per kind of change — a burst of thousands of messages costs one
model update. Nothing here blocks: the drain is bounded per tick.

The pause between ticks, 260 ms by default, is just longer than the map's 4 Hz pace:
every drain's vehicles can go to the page at once instead of waiting for the map's next
turn (a faster drain only makes batches queue in the map), and should the two drift apart
(an update of the map's own), the slack brings them back in step within a few seconds.
The pause runs from the end of the last tick, so neither a late tick (a busy main thread)
nor a long one is followed by a hurried one that the map would have to hold back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, QTimer, Signal

from app.telemetry.ingest import Ingest
from app.telemetry.state import Applied, LiveState

log = logging.getLogger(__name__)


class LiveFeed(QObject):
    """Drains telemetry into the live state and tells the window what changed."""

    # ``object``, not ``dict``/``list``: PySide converts those to Qt containers and back
    # for every slot (milliseconds for a drain of 2,000 fixes on the main thread).
    sig_fixes_applied = Signal(object)  # {vehicle_id: newest Fix}
    sig_events_applied = Signal(object)  # list[StopEvent]
    sig_connection_changed = Signal(str)  # "connected" | "connecting" | "disconnected" | "refused"

    def __init__(
        self,
        ingest: Ingest,
        state: LiveState | None = None,
        *,
        writer: Callable[[Applied], None] | None = None,
        interval_ms: int = 260,
        max_batch: int = 50_000,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.ingest = ingest
        self.state = state if state is not None else LiveState()
        self.writer = writer
        self.max_batch = max_batch
        self.connection_state = "disconnected"
        self.connection_detail = ""  # e.g. "refused: bad user name or password"
        self._running = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)  # re-armed by each tick (see above)
        self._timer.setInterval(interval_ms)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self._tick)

    def start(self) -> None:
        self._running = True
        self._timer.start()

    def stop(self) -> None:
        self._running = False
        self._timer.stop()

    def _tick(self) -> None:
        try:
            self.drain()
        finally:
            if self._running:
                self._timer.start()

    def drain(self) -> Applied:
        """One tick: drain, apply, persist (off-thread), signal."""
        batch = self.ingest.drain(self.max_batch)
        for state, detail in batch.connection:
            self.connection_state, self.connection_detail = state, detail
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
