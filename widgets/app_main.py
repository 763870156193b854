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
    """Qt settings that must be in place before the QApplication exists, and the C heap's
    (before any thread starts)."""
    from app.jobs.heap import tune_malloc

    tune_malloc()
    if offscreen:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # QtWebEngine's sandbox refuses to run as root and leaves a blank view.
        os.environ.setdefault("QTWEBENGINE_DISABLE_SANDBOX", "1")
    os.environ.setdefault(
        "QTWEBENGINE_CHROMIUM_FLAGS",
        "--disable-gpu --disable-background-networking --disable-component-update",
    )


def _run_replay(app, settings, args: Namespace) -> int:
    """A recorded day, read-only, in its own window (no live day, a scratch database)."""
    import tempfile
    from datetime import datetime

    from app.context import AppContext
    from app.recorder.library import find
    from app.store.dayfile import DayFileError
    from widgets.main_window import MainWindow
    from widgets.replay_bar import open_replay

    try:
        path = find(args.replay)
    except FileNotFoundError as exc:
        print(f"--replay: {exc}", file=sys.stderr)
        return 2
    scratch = tempfile.mkdtemp(prefix="dispatch-replay-")
    settings = replace(settings, simulate=False, demo=False, mqtt_url="",
                       database_url=f"sqlite:///{scratch}/replay.sqlite3")  # fmt: skip
    screenshot = getattr(args, "screenshot", None)
    context = AppContext(settings, headless=bool(screenshot))
    window = MainWindow(context)
    try:
        player = open_replay(window, path)
    except (DayFileError, ValueError) as exc:
        print(f"--replay: {exc}", file=sys.stderr)
        return 2
    if args.at:
        hh, mm = (int(x) for x in args.at.split(":"))
        local = player.replay.local(player.replay.start)
        player.seek(datetime.combine(local.date(), local.time().replace(hour=hh, minute=mm),
                                     local.tzinfo).timestamp())  # fmt: skip
    window.show()
    if screenshot:
        from widgets.screenshot import take_screenshot_when_ready

        return take_screenshot_when_ready(app, window, Path(screenshot), 0.0)
    return app.exec()


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
    if getattr(args, "replay", None):
        return _run_replay(app, settings, args)
    settings = _desk_depot(settings, ask=not screenshot)
    after = float(getattr(args, "after", 0) or 0)
    if screenshot and after > 0:
        # Run the simulated day fast enough that the picture comes within about a minute.
        settings = replace(settings, demo_speedup=max(settings.demo_speedup, after / 45.0))
    context = AppContext(settings, headless=bool(screenshot))
    context.keep_heap_settled()
    window = MainWindow(context)
    window.show()
    # The stored day is painted first; the broker, the demo fleet and the rules attach after.
    context.start(defer_live=True)
    window.map_pane.call_when_painted(context.attach_live)
    _remember_first_depot(settings, context.depot_id)
    _follow_depot_choice(app, window, settings)
    if screenshot:
        from widgets.screenshot import take_screenshot_when_ready

        return take_screenshot_when_ready(app, window, Path(screenshot), float(args.after or 0))
    return app.exec()


def _desk_depot(settings, *, ask: bool):
    """The depot this desk opens: ``DISPATCH_DEPOT_ID``, else the one chosen before, else
    (several depots in the database, first start) the one the user picks now."""
    from app.settings import user_data_dir
    from app.tower.choice import chosen_depot, remember_depot

    if settings.depot_id:
        return settings
    data_dir = user_data_dir()
    saved = chosen_depot(data_dir)
    if not saved and ask:
        saved = _ask_depot(settings)
        if saved:
            remember_depot(data_dir, saved)
    return replace(settings, depot_id=saved) if saved else settings


def _ask_depot(settings) -> str:
    from PySide6.QtWidgets import QInputDialog

    from app.day.opening import likely_depot, list_depot_choices
    from app.store import open_store

    try:
        # A desk never migrates a shared database (the administrator does: db upgrade).
        store = open_store(settings.effective_database_url, workstation=settings.workstation_id,
                           migrate=not settings.database_url.startswith("postgres"))  # fmt: skip
    except Exception:  # the window reports an unusable database itself
        return ""
    try:
        choices = list_depot_choices(store)
        likely = likely_depot(store, settings) if len(choices) > 1 else ""
    finally:
        store.close()
    if len(choices) < 2:
        return ""
    labels = [f"{name} ({depot_id})" for depot_id, name in choices]
    # Preselected: the depot whose day is planned today (else the demo's), not the first.
    ids = [depot_id for depot_id, _name in choices]
    first = ids.index(likely) if likely in ids else 0
    label, ok = QInputDialog.getItem(
        None, "Dispatch Desk", "Which depot does this desk run?", labels, first, False
    )
    return choices[labels.index(label)][0] if ok else ""


def _follow_depot_choice(app, window, settings) -> None:
    """File ▸ Open depot and the control tower's tiles: remember the depot and reopen the
    window on it (the old day's services are shut down first)."""
    from app.context import AppContext
    from app.settings import user_data_dir
    from app.tower.choice import remember_depot
    from widgets.main_window import MainWindow

    def reopen(depot_id: str) -> None:
        remember_depot(user_data_dir(), depot_id)
        nonlocal window
        old = window
        quit_on_close = app.quitOnLastWindowClosed()
        app.setQuitOnLastWindowClosed(False)
        old.close()
        old.deleteLater()
        context = AppContext(replace(settings, depot_id=depot_id), headless=old.context.headless)
        context.keep_heap_settled()
        window = MainWindow(context)
        app.setProperty("dispatch_window", window)
        window.show()
        context.start()
        window.sig_open_depot.connect(reopen)
        app.setQuitOnLastWindowClosed(quit_on_close)

    app.setProperty("dispatch_window", window)
    window.sig_open_depot.connect(reopen)


def _remember_first_depot(settings, depot_id: str) -> None:
    """The depot a desk opened the first time is its choice from then on (no question at
    the next start, even when the database holds several depots)."""
    from app.settings import user_data_dir
    from app.tower.choice import chosen_depot, remember_depot

    if depot_id and not settings.depot_id:
        data_dir = user_data_dir()
        if not chosen_depot(data_dir):
            remember_depot(data_dir, depot_id)
