"""Start the workstation: Qt set-up, the app context, the main window; or a screenshot run."""

from __future__ import annotations

import logging
import os
import sys
from argparse import Namespace
from dataclasses import replace
from pathlib import Path

log = logging.getLogger(__name__)


def _prepare_environment(offscreen: bool) -> None:
    """Qt settings that must be in place before the QApplication exists."""
    if offscreen:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # QtWebEngine's sandbox refuses to run as root and leaves a blank view.
        os.environ.setdefault("QTWEBENGINE_DISABLE_SANDBOX", "1")
    os.environ.setdefault(
        "QTWEBENGINE_CHROMIUM_FLAGS",
        "--disable-gpu --disable-background-networking --disable-component-update",
    )


def run_workstation(args: Namespace) -> int:
    """Open the window on the configured (or embedded default) database and broker."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    from app.secrets import redact_logs

    redact_logs()
    # Everything this process writes (databases, tile and map caches, broker state) holds
    # customers' names and movements: readable by the user alone.
    os.umask(0o077)
    screenshot = getattr(args, "screenshot", None)
    _prepare_environment(offscreen=bool(screenshot))

    from PySide6.QtWidgets import QApplication

    import widgets.map_schemes  # noqa: F401 (registers ddtile: before the QApplication exists)
    from app.context import AppContext
    from app.settings import Settings
    from widgets.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Dispatch Desk")
    settings = Settings.from_env()
    after = float(getattr(args, "after", 0) or 0)
    if screenshot and after > 0:
        # Run the simulated day fast enough that the picture comes within about a minute.
        settings = replace(settings, demo_speedup=max(settings.demo_speedup, after / 45.0))
    context = AppContext(settings, headless=bool(screenshot))
    context.keep_heap_settled()
    window = MainWindow(context)
    window.show()
    context.start()
    if screenshot:
        from widgets.screenshot import take_screenshot_when_ready

        return take_screenshot_when_ready(app, window, Path(screenshot), float(args.after or 0))
    return app.exec()
