"""File ▸ Import…: import a day's files and read the same report the command line prints.

Pick a folder or files (depots, vehicles, drivers, orders; CSV or JSON), say how dates are
written and which encoding when it is not detected, and *Import*. The import runs off the
main thread; then the dialog shows what went in per file (read, imported, inserted,
updated, unchanged, refused, and the encoding and delimiter it assumed), every refused row
as ``file:row field: reason``, the warnings and the whole-day checks. *Copy report* puts
the command line's text on the clipboard.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

from PySide6.QtCore import QDate, Signal
from PySide6.QtGui import QColor, QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.importer.fields import DateFormat
from app.importer.reading import ReadOptions
from app.importer.report import ImportReport
from app.jobs.runner import JobKind, JobRunner

#: (label, --date-format) choices; the first reads ISO 8601 and HH:MM only.
DATE_FORMATS = (("ISO 8601 and HH:MM only", ""), ("dd/mm/yyyy (24/11/2026 09:00)", "dd/mm/yyyy"),
                ("mm/dd/yyyy (11/24/2026 09:00)", "mm/dd/yyyy"),
                ("dd.mm.yyyy (24.11.2026 09:00)", "dd.mm.yyyy"))  # fmt: skip
ENCODINGS = (("Detect (UTF-8, else Windows-1252)", ""), ("UTF-8", "utf-8"),
             ("Windows-1252", "cp1252"), ("Latin-1", "latin-1"), ("Windows-1250", "cp1250"))  # fmt: skip
#: Runs the import: (paths, options, day or None, progress(read, imported)) -> report.
ImportFn = Callable[[Sequence[str], ReadOptions, date | None, Callable[[int, int], None]],
                    ImportReport]  # fmt: skip


def _table(parent: QWidget, headers: Sequence[str], name: str) -> QTableWidget:
    table = QTableWidget(0, len(headers), parent)
    table.setObjectName(name)
    table.setHorizontalHeaderLabels(list(headers))
    table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
    table.verticalHeader().setVisible(False)
    table.setWordWrap(False)
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    header.setStretchLastSection(True)
    return table


def _fill(table: QTableWidget, rows: Sequence[Sequence[str]], red: Sequence[bool] = ()) -> None:
    table.setRowCount(len(rows))
    for r, values in enumerate(rows):
        for c, value in enumerate(values):
            item = QTableWidgetItem(value)
            item.setToolTip(value)
            if r < len(red) and red[r]:
                item.setForeground(QColor("#c62828"))
            table.setItem(r, c, item)


class ImportDialog(QDialog):
    """Choose files, import them in the background, read the report."""

    sig_report_ready = Signal(object)  # ImportReport (also handed to ``on_imported``)

    def __init__(
        self,
        run_import: ImportFn,
        on_imported: Callable[[ImportReport], None],
        start_dir: str = "",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Import a day")
        self.setObjectName("import_dialog")
        self.run_import, self.on_imported = run_import, on_imported
        self.report: ImportReport | None = None
        self._jobs = JobRunner(self, max_threads=1)
        self._jobs.sig_job_done.connect(self._on_done)
        self._jobs.sig_job_failed.connect(self._on_failed)
        self._jobs.sig_job_progress.connect(self._on_progress)
        self._start_dir = start_dir
        layout = QVBoxLayout(self)
        form = QFormLayout()
        paths_row = QHBoxLayout()
        self.paths = QLineEdit(self)
        self.paths.setObjectName("import_paths")
        self.paths.setPlaceholderText("a folder, or files separated by ';'")
        self.paths.textChanged.connect(lambda _t: self._update_buttons())
        folder = QPushButton("Folder…", self)
        folder.clicked.connect(self._pick_folder)
        files = QPushButton("Files…", self)
        files.clicked.connect(self._pick_files)
        paths_row.addWidget(self.paths, 1)
        paths_row.addWidget(folder)
        paths_row.addWidget(files)
        form.addRow("Import", paths_row)
        self.date_format = QComboBox(self)
        self.date_format.setObjectName("import_date_format")
        for label, value in DATE_FORMATS:
            self.date_format.addItem(label, value)
        form.addRow("Dates written as", self.date_format)
        self.encoding = QComboBox(self)
        self.encoding.setObjectName("import_encoding")
        for label, value in ENCODINGS:
            self.encoding.addItem(label, value)
        form.addRow("Encoding", self.encoding)
        day_row = QHBoxLayout()
        self.day_given = QCheckBox("HH:MM times fall on", self)
        self.day = QDateEdit(QDate.currentDate(), self)
        self.day.setCalendarPopup(True)
        self.day.setDisplayFormat("yyyy-MM-dd")
        self.day.setEnabled(False)
        self.day_given.toggled.connect(self.day.setEnabled)
        day_row.addWidget(self.day_given)
        day_row.addWidget(self.day)
        day_row.addWidget(QLabel("(else the day named in the files, else today)", self))
        day_row.addStretch(1)
        form.addRow("Day", day_row)
        layout.addLayout(form)
        run_row = QHBoxLayout()
        self.import_button = QPushButton("&Import", self)
        self.import_button.setObjectName("import_run")
        self.import_button.setEnabled(False)
        self.import_button.clicked.connect(self.start)
        self.summary = QLabel(self)
        self.summary.setObjectName("import_summary")
        self.summary.setWordWrap(True)
        run_row.addWidget(self.import_button)
        run_row.addWidget(self.summary, 1)
        layout.addLayout(run_row)
        self.tabs = QTabWidget(self)
        self.files = _table(self, ("File", "Kind", "Read as", "Rows", "Imported", "Inserted",
                                   "Updated", "Unchanged", "Refused", "Error"),
                            "import_files")  # fmt: skip
        self.refused = _table(self, ("Where", "Field", "Reason"), "import_refused")
        self.warnings = _table(self, ("Where", "Field", "Warning"), "import_warnings")
        self.checks = _table(self, ("Depot", "Day", "Check", "", "Result"), "import_checks")
        for table, title in ((self.files, "Files"), (self.refused, "Refused rows"),
                             (self.warnings, "Warnings"), (self.checks, "Whole-day checks")):  # fmt: skip
            self.tabs.addTab(table, title)
        layout.addWidget(self.tabs, 1)
        buttons = QDialogButtonBox(self)
        self.copy_button = buttons.addButton("&Copy report", QDialogButtonBox.ButtonRole.ActionRole)
        self.copy_button.setEnabled(False)
        self.copy_button.clicked.connect(self.copy_report)
        buttons.addButton(QDialogButtonBox.StandardButton.Close).clicked.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(1100, 680)

    # -- choosing ------------------------------------------------------------------------
    def _pick_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder with the day's files",
                                                  self._start_dir)  # fmt: skip
        if folder:
            self.paths.setText(folder)

    def _pick_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(
            self, "The day's files", self._start_dir, "Import files (*.csv *.json)"
        )
        if files:
            self.paths.setText("; ".join(files))

    def chosen_paths(self) -> list[str]:
        return [p.strip() for p in self.paths.text().split(";") if p.strip()]

    def options(self) -> ReadOptions:
        fmt = self.date_format.currentData()
        return ReadOptions(
            encoding=self.encoding.currentData() or None,
            date_format=DateFormat(fmt) if fmt else None,
        )

    def _update_buttons(self) -> None:
        self.import_button.setEnabled(bool(self.chosen_paths()))

    # -- importing -----------------------------------------------------------------------
    def start(self) -> None:
        """Run the import in the background."""
        paths = self.chosen_paths()
        missing = [p for p in paths if not Path(p).exists()]
        if missing:
            self.summary.setText(f"No such file or folder: {', '.join(missing)}")
            return
        options, run = self.options(), self.run_import
        day = self.day.date().toPython() if self.day_given.isChecked() else None
        self.import_button.setEnabled(False)
        self.summary.setText("Importing…")
        self._jobs.submit(
            JobKind.IMPORT,
            lambda cancel, report: run(paths, options, day, lambda r, i: report((r, i))),  # type: ignore[arg-type]
        )

    def _on_progress(self, _kind: str, payload: object) -> None:
        read, imported = payload if isinstance(payload, tuple) else (0, 0)
        self.summary.setText(f"Importing… {read:,} rows read, {imported:,} imported")

    def _on_failed(self, _kind: str, message: str) -> None:
        self.import_button.setEnabled(True)
        self.summary.setText(f"The import could not run: {message}")
        self.summary.setStyleSheet("color: #c62828;")

    def _on_done(self, _kind: str, report: object) -> None:
        assert isinstance(report, ImportReport)
        self.report = report
        self.import_button.setEnabled(True)
        self.copy_button.setEnabled(True)
        self.show_report(report)
        self.on_imported(report)
        self.sig_report_ready.emit(report)

    def show_report(self, report: ImportReport) -> None:
        """Fill the tabs from ``report`` (the same content ``render()`` prints)."""
        bad = report.exit_code != 0
        self.summary.setText(
            report.summary() + (f"  Into {report.database}." if report.database else "")
        )
        self.summary.setStyleSheet("color: #c62828;" if bad else "color: #2e7d32;")
        _fill(self.files, [
            (f.file, f.kind, f.format or "UTF-8", str(f.rows_read), str(f.accepted),
             str(f.inserted), str(f.updated), str(f.unchanged), str(f.rejected), f.error)
            for f in report.files
        ], [bool(f.error) for f in report.files])  # fmt: skip
        issues = [i for f in report.files for i in f.issues]
        left = sum(f.issues_left_out for f in report.files)
        rows = [(i.location, i.field, i.reason) for i in issues]
        if left:
            rows.append(("…", "", f"and {left} more reasons (see the command line's --json)"))
        _fill(self.refused, rows)
        warnings = [w for f in report.files for w in f.warnings]
        _fill(self.warnings, [(w.location, w.field, w.reason) for w in warnings])
        _fill(self.checks, [(c.depot_id, c.day.isoformat(), c.name, "ok" if c.ok else "WARN",
                             c.message) for c in report.day_checks],
              [not c.ok for c in report.day_checks])  # fmt: skip
        refused = report.rejected
        self.tabs.setTabText(1, f"Refused rows ({refused})")
        self.tabs.setTabText(2, f"Warnings ({len(warnings)})")
        warned = sum(not c.ok for c in report.day_checks)
        self.tabs.setTabText(3, f"Whole-day checks ({warned} warning{'s' if warned != 1 else ''})")
        self.tabs.setCurrentIndex(1 if refused else 3 if warned else 0)

    def copy_report(self) -> None:
        if self.report is not None:
            QGuiApplication.clipboard().setText(self.report.render())
