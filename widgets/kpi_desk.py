"""The window's side of the KPIs: the KPI pane, File ▸ Export day report…, and computing
the day's KPIs off the main thread — live for the day shown (every minute while the pane
is shown), final for a recorded day (chosen in the pane, or the day a replay window shows).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QStandardPaths, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMessageBox, QVBoxLayout, QWidget

from app.jobs.runner import JobKind, JobRunner
from app.kpis.facts import TallyCache

if TYPE_CHECKING:  # the pane (its charts) is built when first shown or asked for
    from widgets.kpi_pane import KpiPane

log = logging.getLogger(__name__)

LIVE_EVERY_MS = 60_000


class KpiDesk(QObject):
    """The KPI pane of one window, and what it asks for (see the module)."""

    sig_computed = Signal(object)  # DayKpis
    sig_report_written = Signal(object)  # ReportFiles
    sig_learned = Signal(str)  # what was learned ("" when learning failed)

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.context = window.context
        self.holder = QWidget(window)  # what the window docks; the pane goes in when shown
        QVBoxLayout(self.holder).setContentsMargins(0, 0, 0, 0)
        self._pane: KpiPane | None = None
        self.recorded: str = ""  # a recorded day's path, else the day shown live
        self._recorded_pending = ""  # a recorded day to read once the pane is shown
        self.result: Any = None
        self.trend: Any = None
        self._tallies = TallyCache()
        self._pending_export: str | None = None
        self.jobs = JobRunner(self)
        heap = getattr(self.context, "heap", None)
        if heap is not None:  # a KPI pass frees what it read: settle the heap after it
            heap.follow(self.jobs)
        self.jobs.sig_job_done.connect(self._on_done)
        self.jobs.sig_job_failed.connect(self._on_failed)
        self.export_action = QAction("Export day &report…", window,
                                     shortcut=QKeySequence("Ctrl+Shift+E"))  # fmt: skip
        self.export_action.setStatusTip("The day's KPIs, charts, routes and exceptions as a PDF, "
                                        "and every KPI row as CSV")  # fmt: skip
        self.export_action.triggered.connect(self.export_dialog)
        file_menu = getattr(window, "file_menu", None)
        if file_menu is not None:
            quit_action = next((a for a in file_menu.actions() if a.text() == "&Quit"), None)
            file_menu.insertAction(quit_action, self.export_action)
        self.timer = QTimer(self)
        self.timer.timeout.connect(self._live_tick)
        self.timer.start(LIVE_EVERY_MS)

    def dock_visible(self, visible: bool) -> None:
        """The KPI dock came to the front (its tab chosen): the pane is built and shows the
        day's KPIs."""
        if visible:
            self.pane.setVisible(True)

    @property
    def pane(self) -> KpiPane:
        """The KPI pane, built when the dock first comes to the front or when asked for (its
        charts take a moment to build)."""
        if self._pane is None:
            from widgets.kpi_pane import KpiPane

            self._pane = pane = KpiPane(self.holder)
            window = self.window
            pane.sig_refresh_requested.connect(self.refresh)
            pane.sig_day_chosen.connect(self.show_day)
            pane.sig_export_requested.connect(self.export_dialog)
            pane.sig_shown.connect(self._on_shown)
            pane.sig_learn_requested.connect(self.learn)
            pane.sig_focus_order.connect(window.focus_order)
            pane.sig_focus_exception.connect(window.focus_exception)
            self.holder.layout().addWidget(pane)
            self._offer_library()
        return self._pane

    # -- which day --------------------------------------------------------------------------
    def _offer_library(self) -> None:
        try:
            from app.recorder.library import list_days

            days = [(f"{e.summary.day} {e.summary.depot_id} (recorded)", str(e.path))
                    for e in list_days()]  # fmt: skip
        except Exception:  # an unreadable library: only the day shown
            log.warning("the library of recorded days could not be listed", exc_info=True)
            days = []
        self.pane.set_recorded_days(days)

    def set_recorded(self, path: str | Path) -> None:
        """Show a recorded day's KPIs (a replay window shows its own day's): read when the
        KPI pane is shown, not before (a 2,000-vehicle day is read for minutes, and took the
        CPU from the replay's jumps while the pane sat behind the timeline)."""
        self.recorded, self.result = str(path), None
        if self._pane is not None and self._pane.isVisible():
            self._pane.choose_day(self.recorded)
        else:
            self._recorded_pending = self.recorded

    def show_day(self, path: str) -> None:
        self.recorded = path
        self.refresh()

    def _on_shown(self) -> None:
        pending, self._recorded_pending = self._recorded_pending, ""
        if pending:  # a recorded day chosen while the pane was not shown: read it now
            self.pane.choose_day(pending)
        elif self.result is None and not self.jobs.is_running(JobKind.KPIS):
            self.refresh()

    def _live_tick(self) -> None:
        if not self.recorded and self._pane is not None and self._pane.isVisible():
            self.refresh()

    # -- computing ------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Compute the chosen day's KPIs off the main thread."""
        from app.kpis.service import compute_day, keep_values, trend

        store = self.context.store
        if self.recorded:
            path = self.recorded
            self.pane.set_busy(f"Reading {Path(path).name}…")

            def job(cancel, report):
                from app.kpis.recorded import open_recorded

                rec = open_recorded(path)
                try:
                    result = compute_day(rec.store, rec.depot_id, rec.day, source=path,
                                         as_of=rec.ended, final=True)  # fmt: skip
                finally:
                    rec.close()
                keep_values(store, result)
                return result, trend(store, result.depot_id, result.day)

        else:
            index, day = self.context.state.index, self.context.day
            if index is None or day is None:
                self.pane.set_busy("No day open yet")
                return
            depot_id, now, tallies = index.depot.id, self.context.now(), self._tallies
            day_input, plan = index.day, self.context.state.plan  # as the desk holds them
            self.pane.set_busy("Computing the day's KPIs…")

            def job(cancel, report):
                result = compute_day(store, depot_id, day, as_of=now, tallies=tallies,
                                     day_input=day_input, plan=plan)  # fmt: skip
                return result, trend(store, depot_id, day)

        self.jobs.submit(JobKind.KPIS, job)

    def learn(self) -> None:
        """Learn from the depot's stored days off the main thread; plans, re-plans and live
        ETAs use what was learned from then on."""
        index = self.context.state.index
        if index is None:
            self.pane.set_busy("No day open yet")
            return
        from app.kpis.learn import learn_from_store

        store, depot_id, actor = self.context.store, index.depot.id, self.context.actor
        self.pane.learn_button.setEnabled(False)
        self.window.status.show("Learning from the stored days…")
        self.jobs.submit(JobKind.LEARN, lambda cancel, report: (depot_id, learn_from_store(
            store, depot_id, actor=actor)))  # fmt: skip

    def _on_done(self, kind, payload) -> None:
        if kind is JobKind.LEARN:
            depot_id, summary = payload
            self.pane.learn_button.setEnabled(True)
            self.context.use_learning(depot_id)
            self.context.day_jobs.build_eta_travel()  # live ETAs take the new factors
            self.window.status.show(summary)
            self.sig_learned.emit(summary)
            return
        if kind is JobKind.REPORT:
            self.window.status.show(f"Wrote {payload.pdf.name} ({payload.pages} pages) and "
                                    f"{payload.csv.name} in {payload.seconds:.1f} s")  # fmt: skip
            self.sig_report_written.emit(payload)
            return
        self.result, self.trend = payload
        self.pane.show_result(self.result, self.trend)
        self.sig_computed.emit(self.result)
        if self._pending_export:
            path, self._pending_export = self._pending_export, None
            self.export(path)

    def _on_failed(self, kind, message: str) -> None:
        if kind is JobKind.LEARN:
            self.pane.learn_button.setEnabled(True)
            self.window.status.show_error(f"Learning: {message}")
            self.sig_learned.emit("")
            return
        what = "The day report" if kind is JobKind.REPORT else "The KPIs"
        self.pane.set_busy(f"{what} could not be made: {message}")
        self.window.status.show_error(f"{what}: {message}")

    # -- the day report -----------------------------------------------------------------------
    def suggested_report_path(self) -> Path:
        """Where Export day report offers to write: the user's documents folder (else home),
        never the folder the program happened to start in."""
        day = self.result.day if self.result is not None else self.context.day
        folder = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
        base = Path(folder) if folder and Path(folder).is_dir() else Path.home()
        return base / f"day-report-{day or 'today'}.pdf"

    def export_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self.window, "Export day report",
                                              str(self.suggested_report_path()),
                                              "PDF (*.pdf)")  # fmt: skip
        if path:
            self.export(path)

    def export(self, path: str) -> None:
        """Write the day report of the KPIs shown (computing them first if need be)."""
        if not path.lower().endswith(".pdf"):
            path += ".pdf"
        if self.result is None:
            self._pending_export = path
            self.refresh()
            return
        from app.kpis.report import write_report

        result, history = self.result, self.trend
        self.window.status.show(f"Writing {Path(path).name}…")
        self.jobs.submit(JobKind.REPORT, lambda cancel, report: write_report(result, path,
                                                                             history))  # fmt: skip

    def warn(self, text: str) -> None:
        QMessageBox.warning(self.window, "KPIs", text)
