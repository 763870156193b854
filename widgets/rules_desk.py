"""The window's side of the standing rules: the Rules pane, its menu, and carrying out what
the pane asks (pause, the Rules dialog, undoing a firing, a dry run).

``RulesDesk(window)`` builds the pane and the Rules menu and wires them; the main window
docks the pane. Undoing a firing goes through the window's dispatch controller, like any
undo (version-checked, refused with the reason).
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QLabel,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
)

from app.jobs.runner import JobKind, JobRunner
from widgets.rules_dialog import RulesDialog
from widgets.rules_pane import RulesPane

log = logging.getLogger(__name__)


class RulesDesk(QObject):
    """The Rules pane, menu and dialogs of one window."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.service = window.context.rules
        state = window.context.state
        self.pane = RulesPane(
            self.service, lambda: state.index.depot.timezone if state.index else "UTC", window
        )
        self.pane.sig_pause_requested.connect(self.set_paused)
        self.pane.sig_edit_requested.connect(self.open_dialog)
        self.pane.sig_dry_run_requested.connect(self.open_dry_run)
        self.pane.sig_undo_requested.connect(self.undo_firing)
        self.pane.sig_focus_requested.connect(self._on_focus_requested)
        self.service.sig_firing.connect(self._on_firing)
        self.dialog: RulesDialog | None = None
        self.dry_run_dialog: DryRunDialog | None = None
        menu = QMenu("R&ules", window)
        view = getattr(window, "_view_menu", None)
        if view is not None:
            window.menuBar().insertMenu(view.menuAction(), menu)
        else:
            window.menuBar().addMenu(menu)
        self.edit_action = QAction("&Rules…", window, shortcut=QKeySequence("Ctrl+Shift+R"))
        self.edit_action.triggered.connect(lambda: self.open_dialog(""))
        self.pause_action = QAction("&Pause all rules", window, checkable=True)
        self.pause_action.triggered.connect(self.set_paused)
        self.dry_run_action = QAction("&Dry run on a recorded day…", window)
        self.dry_run_action.triggered.connect(self.open_dry_run)
        for action in (self.edit_action, self.pause_action, self.dry_run_action):
            menu.addAction(action)
        self.service.sig_changed.connect(self._sync_actions)
        supervisor = window.is_supervisor
        self.pane.set_supervisor(supervisor)
        self.pause_action.setEnabled(supervisor)
        self._sync_actions()

    def _sync_actions(self) -> None:
        self.pause_action.setChecked(self.service.switch.paused)

    @property
    def actor(self) -> str:
        return self.window.context.actor

    # -- what the pane asks ----------------------------------------------------------------
    def set_paused(self, paused: bool) -> None:
        if not self.window.is_supervisor:
            self.window.status.show("Pausing the rules is a supervisor action")
            return
        self.service.set_paused(bool(paused), actor=self.actor)
        self.window.status.show("All rules paused" if paused else "Rules running again")

    def open_dialog(self, rule_id: str = "") -> RulesDialog:
        if self.dialog is None:
            self.dialog = RulesDialog(
                self.service, actor=self.actor, editable=self.window.is_supervisor,
                parent=self.window,
            )  # fmt: skip
        if rule_id:
            self.dialog.select_rule(rule_id)
        self.dialog.show()
        self.dialog.raise_()
        return self.dialog

    def undo_firing(self, firing_id: str) -> bool:
        """Undo what an acting rule changed, as a person's undo."""
        firing = next((f for f in self.service.firings if f.id == firing_id), None)
        record = self.service.undo_record(firing) if firing is not None else None
        if record is None:
            self.window.status.show("This firing changed nothing that can be undone here")
            return False
        if self.window.dispatcher.apply_record(record) is None:
            return False  # refused: the controller said why
        self.service.mark_undone(firing_id, self.actor)
        self.window.status.show(f"Undid {firing.rule_id}'s change: {firing.text}")
        return True

    def _on_focus_requested(self, kind: str, ident: str) -> None:
        self.window.map_pane.focus_on(ident, kind)
        if kind == "stop":
            self.window.timeline_pane.focus_on(ident)

    def _on_firing(self, firing) -> None:
        if firing.mode == "acting" and firing.command_id:
            self.window.status.show(f"Rule {firing.rule_id}: {firing.text}")

    def open_dry_run(self) -> DryRunDialog:
        if self.dry_run_dialog is None:
            self.dry_run_dialog = DryRunDialog(self.service, self.window)
        self.dry_run_dialog.show()
        self.dry_run_dialog.raise_()
        return self.dry_run_dialog


class DryRunDialog(QDialog):
    """Re-run a recorded day without rules and with a rule set; the report, side by side."""

    def __init__(self, service, parent=None) -> None:
        super().__init__(parent)
        from app.recorder.library import list_days

        self.service = service
        self.setWindowTitle("Dry run on a recorded day")
        self.resize(900, 480)
        self.day = QComboBox(self)
        for entry in list_days():
            s = entry.summary
            self.day.addItem(f"{s.day} · {s.depot_id} · {s.source or 'recorded'}", str(entry.path))
        self.rules = QComboBox(self)
        self.rules.addItem("the rules in force here (all acting)", "")
        self.rules.addItem("the shipped rule set", "default")
        pick = QPushButton("Another rule file…", self)
        pick.clicked.connect(self._pick_file)
        self.run_button = QPushButton("Run", self)
        self.run_button.clicked.connect(self.run)
        self.report = QPlainTextEdit(self)
        self.report.setObjectName("dry_run_report")
        self.report.setReadOnly(True)
        self.report.setPlaceholderText(
            "No recorded day yet: record one with `python main.py demo --seed 7 --record`."
            if self.day.count() == 0 else "Choose a day and a rule set, then Run."
        )  # fmt: skip
        form = QFormLayout()
        form.addRow("Recorded day", self.day)
        form.addRow("Rule set", self.rules)
        form.addRow("", pick)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.addButton(self.run_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(QLabel("Every enabled rule acts in a dry run, whatever its mode.", self))
        layout.addWidget(self.report, 1)
        layout.addWidget(buttons)
        self.jobs = JobRunner(self)
        self.jobs.sig_job_done.connect(self._on_done)
        self.jobs.sig_job_failed.connect(lambda _k, msg: self.report.setPlainText(f"Failed: {msg}"))
        self.jobs.sig_job_progress.connect(lambda _k, text: self.report.setPlainText(str(text)))
        self.last_report: dict | None = None

    def _pick_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Rule set", "", "Rules (*.json)")
        if path:
            self.rules.addItem(path, path)
            self.rules.setCurrentIndex(self.rules.count() - 1)

    def run(self) -> None:
        from app.rules.dryrun import DaySource, default_rules, dry_run, load_rule_file

        path = self.day.currentData()
        if not path:
            return
        choice = self.rules.currentData()
        try:
            if choice == "default":
                name, rules = "shipped", default_rules()
            elif choice:
                name, rules = choice.rsplit("/", 1)[-1], load_rule_file(choice)
            else:
                name, rules = "in force", list(self.service.rules)
        except ValueError as exc:
            self.report.setPlainText(str(exc))
            return
        self.run_button.setEnabled(False)
        self.report.setPlainText("Running the day without rules, then with them…")

        def job(cancel, report):
            source = DaySource.from_file(path)
            return dry_run(source, [(name, rules)], progress=report)

        self.jobs.submit(JobKind.RULES, job)

    def _on_done(self, _kind, report) -> None:
        from app.rules.dryrun import report_text

        self.run_button.setEnabled(True)
        if isinstance(report, dict):
            self.last_report = report
            self.report.setPlainText(report_text(report))
