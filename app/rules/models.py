"""Table models over the rules service: the rules in force with today's firing counts, and
today's firings with what each did (newest first)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, Qt

from app.day.table_model import RowsTableModel
from app.rules.service import RulesService
from app.store.repository_rules import FiringRecord
from engine.automation import Mode, Rule, sentence

_Index = QModelIndex | QPersistentModelIndex

STATUS_WORDS = {
    "shadow": "would do",
    "changed": "done",
    "proposal": "left for a person",
    "escalate": "escalated",
    "send": "sent",
    "nothing": "nothing to do",
    "refused": "refused (protected stops)",
}


def mode_word(rule: Rule) -> str:
    if not rule.enabled:
        return "off"
    return "shadow" if rule.mode is Mode.SHADOW else "acting"


class RulesTableModel(RowsTableModel):
    """The rules in force at the depot: name, scope, mode, firings today."""

    columns = ("Rule", "Where", "Mode", "Today")
    RuleIdRole = Qt.ItemDataRole.UserRole + 1

    def __init__(self, service: RulesService, parent: QObject | None = None):
        super().__init__(parent)
        self._service = service
        self._rows: list[Rule] = []
        self._counts: dict[str, int] = {}
        service.sig_changed.connect(self._reload)
        self._reload()

    def rows(self):
        return self._rows

    def rule_at(self, row: int) -> Rule:
        return self._rows[row]

    def data(self, index: _Index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        rule = self._rows[index.row()]
        if role == self.RuleIdRole:
            return rule.id
        if role == Qt.ItemDataRole.ToolTipRole:
            return sentence(rule)
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        return (
            rule.name,
            f"{rule.depot_id} only" if rule.depot_id else "standard",
            mode_word(rule),
            str(self._counts.get(rule.id, 0)),
        )[index.column()]

    def _reload(self) -> None:
        self.beginResetModel()
        self._rows = list(self._service.rules)
        self._counts = self._service.counts_today()
        self.endResetModel()


class FiringsTableModel(RowsTableModel):
    """Today's firings, newest first: time, rule, mode, outcome, what it did."""

    columns = ("Time", "Rule", "Mode", "Outcome", "What it did")
    FiringIdRole = Qt.ItemDataRole.UserRole + 1

    def __init__(
        self,
        service: RulesService,
        timezone: Callable[[], str] | None = None,
        parent: QObject | None = None,
    ):
        super().__init__(parent)
        self._service = service
        self._timezone = timezone or (lambda: "UTC")
        self._rows: list[FiringRecord] = []
        service.sig_changed.connect(self._reload)
        self._reload()

    def rows(self):
        return self._rows

    def firing_at(self, row: int) -> FiringRecord:
        return self._rows[row]

    def row_of(self, firing_id: str) -> int:
        return next((i for i, f in enumerate(self._rows) if f.id == firing_id), -1)

    def _clock(self, at: datetime) -> str:
        return at.astimezone(ZoneInfo(self._timezone())).strftime("%H:%M")

    def data(self, index: _Index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        f = self._rows[index.row()]
        if role == self.FiringIdRole:
            return f.id
        if role == Qt.ItemDataRole.ToolTipRole:
            moved = ", ".join(f"{o} {a or '—'}→{b}" for o, a, b in f.effect.get("moved", ()))
            extra = f"\nMoved: {moved}" if moved else ""
            if f.undone_at:
                extra += f"\nUndone at {self._clock(f.undone_at)} by {f.undone_by}"
            return f"{f.rule_id} v{f.rule_version} on {f.subject}\n{f.text}{extra}"
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        outcome = STATUS_WORDS.get(f.status, f.status)
        if f.undone_at:
            outcome = "undone"
        return (self._clock(f.at), f.rule_id, f.mode, outcome, f.text)[index.column()]

    def _reload(self) -> None:
        self.beginResetModel()
        self._rows = sorted(self._service.firings, key=lambda f: (f.at, f.id), reverse=True)
        self.endResetModel()
