"""The Rules dialog: the standing rules read as sentences, and edited by supervisors.

Left, every rule in force (standard, or this depot's own); right, the selected rule as
*When* / *If* / *Then* with its guard rails and mode, and the sentence it reads as. Saving
checks the rule first: an invalid one is refused with the reason (the field and why) and
nothing is stored; a rule someone else saved meanwhile is refused too (reload and redo).
A standard rule can be given a local version for this depot (it overrides the standard
one here only). Dispatchers see the same dialog read-only.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, QTime
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTimeEdit,
    QVBoxLayout,
    QWidget,
)

from app.rules.service import RulesService
from engine.automation import EVENT_TYPES, EXCEPTION_TYPES, FIELDS, Rule, RuleError, sentence
from engine.automation.model import OPS_NUMBER, OPS_TEXT, OPS_TIME, Action

TRIGGERS = (("exception", "an exception"), ("event", "an event"), ("time", "a time of day"))
ON = (("raised_or_worsened", "is raised or worsens"), ("raised", "is raised"),
      ("worsened", "worsens"))  # fmt: skip
ACTIONS = (
    (Action.MOVE_AT_RISK, "move the next at-risk stops to the best routes"),
    (Action.REPLAN, "propose a re-plan of the route and its best neighbours"),
    (Action.NEXT_WAVE, "move the order to the next wave"),
    (Action.INSERT, "put the order on its best route"),
    (Action.SEND_ROUTE, "send the driver the updated route"),
    (Action.ESCALATE, "escalate to a supervisor when nobody acknowledged"),
)


def _spin(low: int, high: int, value: int, suffix: str = "") -> QSpinBox:
    box = QSpinBox()
    box.setRange(low, high)
    box.setValue(value)
    box.setSuffix(suffix)
    return box


class RulesDialog(QDialog):
    """Rules as sentences; supervisors edit them (see the module)."""

    def __init__(self, service: RulesService, *, actor: str, editable: bool, parent=None):
        super().__init__(parent)
        self.service, self.actor, self.editable = service, actor, editable
        self.setWindowTitle("Rules" if editable else "Rules (read-only: a supervisor edits them)")
        self.resize(1100, 720)
        self._base: int | None = None  # the version the editor read (None: a new rule)
        self._current: Rule | None = None
        self._loading = False

        self.rule_list = QListWidget(self)
        self.rule_list.currentRowChanged.connect(self._on_rule_chosen)
        self.new_button = QPushButton("New rule", self)
        self.new_button.clicked.connect(self.new_rule)
        self.local_button = QPushButton(f"Local version for {service.depot_id}", self)
        self.local_button.setToolTip("A version of this standard rule for this depot only")
        self.local_button.clicked.connect(self.make_local)
        left = QVBoxLayout()
        left.addWidget(self.rule_list, 1)
        left.addWidget(self.new_button)
        left.addWidget(self.local_button)

        self.name = QLineEdit(self)
        self.rule_id = QLineEdit(self)
        self.rule_id.setPlaceholderText("a-z, 0-9, - (e.g. late-move-next)")
        self.scope = QLabel(self)
        self.enabled = QCheckBox("On", self)
        self.mode = QComboBox(self)
        self.mode.addItem("shadow mode: record what it would do, change nothing", "shadow")
        self.mode.addItem("acting: change the plan", "acting")
        head = QFormLayout()
        head.addRow("Name", self.name)
        head.addRow("Id", self.rule_id)
        head.addRow("Where", self.scope)
        row = QHBoxLayout()
        row.addWidget(self.enabled)
        row.addWidget(self.mode, 1)
        head.addRow("State", row)

        self.trigger = QComboBox(self)
        for value, text in TRIGGERS:
            self.trigger.addItem(text, value)
        self.types = QListWidget(self)
        self.types.setMaximumHeight(110)
        self.on = QComboBox(self)
        for value, text in ON:
            self.on.addItem(text, value)
        self.at = QTimeEdit(self)
        self.at.setDisplayFormat("HH:mm")
        when = QGroupBox("When", self)
        wl = QFormLayout(when)
        wl.addRow("something happens:", self.trigger)
        wl.addRow("of these kinds:", self.types)
        wl.addRow("and it", self.on)
        wl.addRow("at", self.at)

        self.conditions = QTableWidget(0, 3, self)
        self.conditions.setHorizontalHeaderLabels(["fact", "is", "value"])
        self.conditions.horizontalHeader().setStretchLastSection(True)
        self.conditions.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.conditions.setMaximumHeight(150)
        self.add_condition = QPushButton("Add a condition", self)
        self.add_condition.clicked.connect(lambda: self._add_condition("minutes_late", ">=", ""))
        self.remove_condition = QPushButton("Remove", self)
        self.remove_condition.clicked.connect(self._remove_condition)
        cond = QGroupBox("If (all hold)", self)
        cl = QVBoxLayout(cond)
        cl.addWidget(self.conditions)
        cb = QHBoxLayout()
        cb.addWidget(self.add_condition)
        cb.addWidget(self.remove_condition)
        cb.addStretch(1)
        cl.addLayout(cb)

        self.action = QComboBox(self)
        for value, text in ACTIONS:
            self.action.addItem(text, value.value)
        self.stops = _spin(1, 20, 1, " stops")
        self.neighbours = _spin(0, 5, 2, " routes")
        self.after = _spin(1, 240, 15, " min")
        self.accept = QCheckBox("accept by itself when it moves at most", self)
        self.accept_k = _spin(0, 40, 3, " stops")
        self.accept_m = _spin(1, 600, 10, " min of lateness")
        self.send = QCheckBox("send the changed routes to the drivers at once", self)
        then = QGroupBox("Then", self)
        tl = QFormLayout(then)
        tl.addRow("do:", self.action)
        tl.addRow("how many:", self.stops)
        tl.addRow("with neighbours:", self.neighbours)
        tl.addRow("after:", self.after)
        acc = QHBoxLayout()
        acc.addWidget(self.accept)
        acc.addWidget(self.accept_k)
        acc.addWidget(QLabel("and saves at least", self))
        acc.addWidget(self.accept_m)
        tl.addRow(acc)
        tl.addRow(self.send)

        self.cooldown = _spin(1, 1440, 30, " min")
        self.per_hour = _spin(1, 120, 6, " firings")
        self.max_stops = _spin(0, 40, 3, " stops")
        guard = QGroupBox("Guard rails (locked, loaded and served stops are never touched)", self)
        gl = QFormLayout(guard)
        gl.addRow("between firings for one vehicle:", self.cooldown)
        gl.addRow("at most an hour:", self.per_hour)
        gl.addRow("at most moved a firing:", self.max_stops)

        self.reads = QLabel(self)
        self.reads.setObjectName("rule_sentence")
        self.reads.setWordWrap(True)
        self.reads.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.problem = QLabel(self)
        self.problem.setObjectName("rule_problem")
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet("color: #c62828;")
        self.history = QLabel(self)
        self.history.setStyleSheet("color: #555;")

        right = QVBoxLayout()
        right.addLayout(head)
        right.addWidget(when)
        right.addWidget(cond)
        right.addWidget(then)
        right.addWidget(guard)
        right.addWidget(QLabel("<b>Reads as</b>", self))
        right.addWidget(self.reads)
        right.addWidget(self.problem)
        right.addWidget(self.history)
        right.addStretch(1)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        self.save_button = self.buttons.addButton(
            "Save rule", QDialogButtonBox.ButtonRole.ApplyRole
        )
        self.save_button.clicked.connect(self.save)
        self.buttons.rejected.connect(self.reject)
        body = QHBoxLayout()
        body.addLayout(left, 2)
        right_box = QWidget(self)
        right_box.setLayout(right)
        body.addWidget(right_box, 5)
        layout = QVBoxLayout(self)
        layout.addLayout(body, 1)
        layout.addWidget(self.buttons)

        for signal in (self.trigger.currentIndexChanged, self.action.currentIndexChanged):
            signal.connect(self._on_shape_changed)
        for widget in (self.name, self.rule_id):
            widget.textChanged.connect(self._update_sentence)
        for box in (self.stops, self.neighbours, self.after, self.accept_k, self.accept_m,
                    self.cooldown, self.per_hour, self.max_stops):  # fmt: skip
            box.valueChanged.connect(self._update_sentence)
        for check in (self.enabled, self.accept, self.send):
            check.toggled.connect(self._update_sentence)
        self.on.currentIndexChanged.connect(self._update_sentence)
        self.mode.currentIndexChanged.connect(self._update_sentence)
        self.at.timeChanged.connect(self._update_sentence)
        self.types.itemChanged.connect(self._update_sentence)
        self.conditions.cellChanged.connect(self._update_sentence)
        self._fill_list()
        self._set_editable(editable)

    # -- the list ----------------------------------------------------------------------
    def _fill_list(self, select: str | None = None) -> None:
        self.rule_list.blockSignals(True)
        self.rule_list.clear()
        for rule in self.service.rules:
            where = f"{rule.depot_id} only" if rule.depot_id else "standard"
            state = "off" if not rule.enabled else rule.mode.value
            item = QListWidgetItem(f"{rule.name}\n   {where} · {state} · v{rule.version}")
            item.setData(Qt.ItemDataRole.UserRole, rule.id)
            item.setToolTip(sentence(rule))
            self.rule_list.addItem(item)
        self.rule_list.blockSignals(False)
        ids = [r.id for r in self.service.rules]
        row = ids.index(select) if select in ids else (0 if ids else -1)
        self.rule_list.setCurrentRow(row)
        if row >= 0:
            self._on_rule_chosen(row)

    def select_rule(self, rule_id: str) -> None:
        ids = [r.id for r in self.service.rules]
        if rule_id in ids:
            self.rule_list.setCurrentRow(ids.index(rule_id))

    def _on_rule_chosen(self, row: int) -> None:
        if 0 <= row < len(self.service.rules):
            rule = self.service.rules[row]
            self.load(rule, base=rule.version)

    # -- loading a rule into the editor ------------------------------------------------------
    def load(self, rule: Rule, *, base: int | None) -> None:
        self._loading = True
        self._current, self._base = rule, base
        self.name.setText(rule.name)
        self.rule_id.setText(rule.id)
        self.rule_id.setReadOnly(base is not None)
        self.scope.setText(f"{rule.depot_id} only (overrides the standard rule here)"
                           if rule.depot_id else "standard: every depot")  # fmt: skip
        self.local_button.setEnabled(self.editable and rule.depot_id is None and base is not None)
        self.enabled.setChecked(rule.enabled)
        self.mode.setCurrentIndex(self.mode.findData(rule.mode.value))
        self.trigger.setCurrentIndex(self.trigger.findData(rule.when.trigger.value))
        self._fill_types(rule.when.types)
        self.on.setCurrentIndex(max(0, self.on.findData(rule.when.on)))
        if rule.when.at:
            self.at.setTime(QTime.fromString(rule.when.at, "HH:mm"))
        self.conditions.setRowCount(0)
        for c in rule.conditions:
            value = ", ".join(c.value) if isinstance(c.value, tuple) else str(c.value)
            self._add_condition(c.field, c.op, value)
        t, g = rule.then, rule.guard
        self.action.setCurrentIndex(self.action.findData(t.action.value))
        self.stops.setValue(t.stops)
        self.neighbours.setValue(t.neighbours)
        self.after.setValue(int(t.after_min) or 15)
        self.accept.setChecked(t.accept_max_moved is not None)
        self.accept_k.setValue(t.accept_max_moved if t.accept_max_moved is not None else 3)
        self.accept_m.setValue(int(t.accept_min_gain_min or 10))
        self.send.setChecked(t.send)
        self.cooldown.setValue(int(g.cooldown_min))
        self.per_hour.setValue(g.max_per_hour)
        self.max_stops.setValue(g.max_stops)
        self.history.setText(
            f"Version {rule.version}" if base is not None else "New rule (not saved)"
        )
        self._loading = False
        self._on_shape_changed()

    def _fill_types(self, chosen) -> None:
        trigger = self.trigger.currentData()
        names = {"exception": EXCEPTION_TYPES, "event": EVENT_TYPES}.get(trigger, ())
        self.types.blockSignals(True)
        self.types.clear()
        for name in names:
            item = QListWidgetItem(name.replace("_", " "))
            item.setData(Qt.ItemDataRole.UserRole, name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if name in chosen else Qt.CheckState.Unchecked)
            self.types.addItem(item)
        self.types.blockSignals(False)

    def _add_condition(self, field: str, op: str, value: str) -> None:
        row = self.conditions.rowCount()
        self.conditions.insertRow(row)
        fields = QComboBox()
        for name, (_kind, meaning) in FIELDS.items():
            fields.addItem(name.replace("_", " "), name)
            fields.setItemData(fields.count() - 1, meaning, Qt.ItemDataRole.ToolTipRole)
        fields.setCurrentIndex(max(0, fields.findData(field)))
        ops = QComboBox()
        self._fill_ops(ops, field, op)
        fields.currentIndexChanged.connect(
            lambda _i, o=ops, f=fields: self._fill_ops(o, f.currentData(), "")
        )
        fields.currentIndexChanged.connect(self._update_sentence)
        ops.currentIndexChanged.connect(self._update_sentence)
        self.conditions.setCellWidget(row, 0, fields)
        self.conditions.setCellWidget(row, 1, ops)
        edit = QLineEdit(value)
        edit.textChanged.connect(self._update_sentence)
        self.conditions.setCellWidget(row, 2, edit)
        self._update_sentence()

    @staticmethod
    def _fill_ops(box: QComboBox, field: str, op: str) -> None:
        kind = FIELDS[field][0]
        box.blockSignals(True)
        box.clear()
        for name in {"number": OPS_NUMBER, "text": OPS_TEXT, "time": OPS_TIME}[kind]:
            box.addItem(name, name)
        box.setCurrentIndex(max(0, box.findData(op)))
        box.blockSignals(False)

    def _remove_condition(self) -> None:
        row = self.conditions.currentRow()
        if row >= 0:
            self.conditions.removeRow(row)
            self._update_sentence()

    def _on_shape_changed(self, *_args) -> None:
        if self._loading:
            return
        trigger = self.trigger.currentData()
        chosen = [self.types.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.types.count())
                  if self.types.item(i).checkState() == Qt.CheckState.Checked]  # fmt: skip
        if self.types.count() == 0 or self._types_trigger != trigger:
            self._fill_types(chosen)
        self._types_trigger = trigger
        action = self.action.currentData()
        self.types.setEnabled(trigger != "time" and self.editable)
        self.on.setEnabled(trigger == "exception" and self.editable)
        self.at.setEnabled(trigger == "time" and self.editable)
        self.stops.setEnabled(action == Action.MOVE_AT_RISK.value and self.editable)
        self.neighbours.setEnabled(action == Action.REPLAN.value and self.editable)
        self.after.setEnabled(action == Action.ESCALATE.value and self.editable)
        for w in (self.accept, self.accept_k, self.accept_m):
            w.setEnabled(action == Action.REPLAN.value and self.editable)
        self.send.setEnabled(action in {a.value for a in (Action.MOVE_AT_RISK, Action.REPLAN,
                             Action.NEXT_WAVE, Action.INSERT)} and self.editable)  # fmt: skip
        self._update_sentence()

    _types_trigger: str | None = None

    # -- the rule the editor shows ------------------------------------------------------------
    def rule_json(self) -> dict[str, Any]:
        """The editor's rule as JSON (not checked: ``Rule.from_json`` says what is wrong)."""
        trigger = self.trigger.currentData()
        when: dict[str, Any] = {"trigger": trigger}
        if trigger != "time":
            when["types"] = [self.types.item(i).data(Qt.ItemDataRole.UserRole)
                             for i in range(self.types.count())
                             if self.types.item(i).checkState() == Qt.CheckState.Checked]  # fmt: skip
        if trigger == "exception":
            when["on"] = self.on.currentData()
        if trigger == "time":
            when["at"] = self.at.time().toString("HH:mm")
        conditions = []
        for row in range(self.conditions.rowCount()):
            field = self.conditions.cellWidget(row, 0).currentData()
            op = self.conditions.cellWidget(row, 1).currentData()
            text = self.conditions.cellWidget(row, 2).text().strip()
            conditions.append({"field": field, "op": op, "value": _value(field, op, text)})
        action = self.action.currentData()
        then: dict[str, Any] = {"action": action}
        if action == Action.MOVE_AT_RISK.value:
            then["stops"] = self.stops.value()
        if action == Action.REPLAN.value:
            then["neighbours"] = self.neighbours.value()
            if self.accept.isChecked():
                then["accept_max_moved"] = self.accept_k.value()
                then["accept_min_gain_min"] = self.accept_m.value()
        if action == Action.ESCALATE.value:
            then["after_min"] = self.after.value()
        if action in {a.value for a in (Action.MOVE_AT_RISK, Action.REPLAN, Action.NEXT_WAVE,
                                        Action.INSERT)}:  # fmt: skip
            then["send"] = self.send.isChecked()
        current = self._current
        return {
            "id": self.rule_id.text().strip(),
            "name": self.name.text().strip() or self.rule_id.text().strip(),
            "depot_id": current.depot_id if current is not None else None,
            "enabled": self.enabled.isChecked(),
            "mode": self.mode.currentData(),
            "when": when,
            "if": conditions,
            "then": then,
            "guard": {"cooldown_min": self.cooldown.value(), "max_per_hour": self.per_hour.value(),
                      "max_stops": self.max_stops.value()},
        }  # fmt: skip

    def _update_sentence(self, *_args) -> None:
        if self._loading:
            return
        try:
            rule = Rule.from_json(self.rule_json())
        except RuleError as exc:
            self.problem.setText(f"Not a valid rule — {exc.field}: {exc.reason}")
            self.reads.setText("")
            self.save_button.setEnabled(False)
            return
        self.problem.setText("")
        self.reads.setText(sentence(rule))
        self.save_button.setEnabled(self.editable)

    # -- commands -------------------------------------------------------------------------
    def new_rule(self) -> None:
        blank = Rule.from_json({
            "id": "new-rule", "name": "New rule",
            "when": {"trigger": "exception", "types": ["late_risk"]},
            "if": [{"field": "minutes_late", "op": ">=", "value": 10}],
            "then": {"action": "move_at_risk", "stops": 1}, "mode": "shadow",
        })  # fmt: skip
        self.rule_list.clearSelection()
        self.load(blank, base=None)
        self.rule_id.setFocus()

    def make_local(self) -> None:
        """A version of the selected standard rule for this depot only (not saved yet)."""
        if self._current is None or self._current.depot_id is not None:
            return
        local = [r for r in self.service.stored if r.id == self._current.id and r.depot_id]
        base = local[0].version if local else None
        self.load(self._current.edited(depot_id=self.service.depot_id), base=base)
        self.history.setText(f"A local version for {self.service.depot_id} (not saved yet)")

    def save(self) -> bool:
        """Check and store the rule; refused with the reason when it is not valid."""
        from app.store import StaleVersionError

        data = self.rule_json()
        try:
            rule = self.service.save_rule(data, base_version=self._base, actor=self.actor)
        except RuleError as exc:
            self.problem.setText(f"Not saved — {exc.field}: {exc.reason}")
            return False
        except StaleVersionError as exc:
            self.problem.setText(
                f"Not saved — someone else saved this rule meanwhile ({exc}). Your edit is "
                "still here: compare with the list, then save again."
            )
            self._base = next((r.version for r in self.service.stored if r.id == data["id"]
                               and r.depot_id == data.get("depot_id")), None)  # fmt: skip
            return False
        self.problem.setText("")
        self._fill_list(select=rule.id)
        self.history.setText(f"Saved as version {rule.version}")
        return True

    def _set_editable(self, editable: bool) -> None:
        for w in (self.name, self.rule_id, self.enabled, self.mode, self.trigger,
                  self.conditions, self.add_condition, self.remove_condition, self.action,
                  self.cooldown, self.per_hour, self.max_stops, self.new_button):  # fmt: skip
            w.setEnabled(editable)
        self.save_button.setVisible(editable)
        self.local_button.setVisible(editable)
        self._on_shape_changed()


def _value(field: str, op: str, text: str) -> Any:
    """A condition's value as the rule wants it: a number, a name, a list, a time."""
    kind = FIELDS.get(field, ("text", ""))[0]
    if kind == "number":
        try:
            number = float(text)
        except ValueError:
            return text  # the check says "compares with a number"
        return int(number) if number.is_integer() else number
    if op in ("in", "not in"):
        return [v.strip() for v in text.split(",") if v.strip()]
    return text
