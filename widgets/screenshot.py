"""``--screenshot PATH --after SECONDS``: run the day offscreen, save the window as a PNG."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication

from app.jobs.runner import JobKind

log = logging.getLogger(__name__)

#: Longest wait for background work (the first plan) before the picture is taken anyway.
MAX_WAIT_S = 180.0


def _pump(app: QApplication, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        time.sleep(0.01)


def take_screenshot_when_ready(app: QApplication, window, path: Path, after_s: float) -> int:
    """Wait for the plan (and live telemetry), advance the simulated day by ``after_s``, then grab the window."""
    context = window.context
    started = time.monotonic()
    while (
        context.jobs.is_running(JobKind.PLAN) or context.live_pending
    ) and time.monotonic() - started < MAX_WAIT_S:
        _pump(app, 0.2)
    advance = getattr(window, "advance_simulation", None)
    if after_s > 0 and advance is not None:
        advance(after_s)
    _pump(app, 8.0)  # let panes paint (web view, pyqtgraph axes) before grabbing
    path.parent.mkdir(parents=True, exist_ok=True)
    ok = window.grab().save(str(path), "PNG")
    window.close()
    QTimer.singleShot(0, app.quit)
    _pump(app, 0.2)
    if not ok:
        log.error("could not write %s", path)
        return 1
    print(f"saved {path}")
    return 0
