"""The fields of one order, as the urgent-order and change-order dialogs show them.

Each field is named like the import format's column (``customer``, ``lat``,
``window_start``, ``demand_kg``, ``service_minutes``, ...), so :meth:`OrderForm.values` is
an import row in text and the checks (and their reasons) are the importer's own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import time

from PySide6.QtCore import QTime, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QTimeEdit,
    QWidget,
)

_BAD = "background: #ffebee;"


class OrderForm(QGroupBox):
    """Order fields by import-column name; ``sig_changed`` on every edit."""

    sig_changed = Signal()

    def __init__(
        self,
        title: str,
        *,
        dimensions: Sequence[str],
        window: tuple[time, time],
        service_minutes: int = 5,
        priority: int = 1,
        demand: Mapping[str, float] | None = None,
        offered_skills: Iterable[str] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(title, parent)
        self.fields: dict[str, QWidget] = {}
        self.skill_boxes: dict[str, QCheckBox] = {}
        self._form = QFormLayout(self)
        self._dimensions, self._window = dimensions, window
        self._numbers = (service_minutes, priority)
        self._demand = dict(demand or {})
        self._offered = None if offered_skills is None else sorted(offered_skills)

    def add_line(self, name: str, label: str, text: str = "", hint: str = "") -> QLineEdit:
        """A text field (``id``, ``customer``, ``address``, ``lat``, ``lon``)."""
        edit = QLineEdit(text, self)
        edit.setObjectName(f"field_{name}")
        edit.setPlaceholderText(hint)
        edit.textChanged.connect(self.sig_changed)
        self._form.addRow(label, edit)
        self.fields[name] = edit
        return edit

    def add_rest(self, extra: QWidget | None = None) -> None:
        """The window (``extra`` beside it), demand, service time, priority and skills."""
        window = QHBoxLayout()
        for name, moment in zip(("window_start", "window_end"), self._window, strict=True):
            edit = QTimeEdit(QTime(moment.hour, moment.minute), self)
            edit.setObjectName(f"field_{name}")
            edit.setDisplayFormat("HH:mm")
            edit.timeChanged.connect(self.sig_changed)
            self.fields[name] = edit
            window.addWidget(edit)
        if extra is not None:
            window.addWidget(extra)
        window.addStretch(1)
        self._form.addRow("Window (depot time)", window)
        demand = QHBoxLayout()
        for dim in sorted({*self._dimensions, *self._demand}):
            spin = QDoubleSpinBox(self)
            spin.setObjectName(f"field_demand_{dim}")
            spin.setRange(0, 100_000)
            spin.setDecimals(2)
            spin.setSuffix(f" {dim}")
            spin.setValue(self._demand.get(dim, 0.0))
            spin.valueChanged.connect(self.sig_changed)
            self.fields[f"demand_{dim}"] = spin
            demand.addWidget(spin)
        demand.addStretch(1)
        self._form.addRow("Demand", demand)
        numbers = QHBoxLayout()
        for name, value, top, prefix, suffix in (
            ("service_minutes", self._numbers[0], 240, "", " min on site"),
            ("priority", self._numbers[1], 9, "priority ", ""),
        ):
            count = QSpinBox(self)
            count.setObjectName(f"field_{name}")
            count.setRange(0, top)
            count.setValue(value)
            count.setPrefix(prefix)
            count.setSuffix(suffix)
            count.valueChanged.connect(self.sig_changed)
            self.fields[name] = count
            numbers.addWidget(count)
        numbers.addStretch(1)
        self._form.addRow("Service, priority", numbers)
        if self._offered is None:
            return
        skills = QHBoxLayout()
        for skill in self._offered:
            check = QCheckBox(skill, self)
            check.setObjectName(f"skill_{skill}")
            check.toggled.connect(self.sig_changed)
            self.skill_boxes[skill] = check
            skills.addWidget(check)
        if not self._offered:
            skills.addWidget(QLabel("(no vehicle offers a skill)", self))
        skills.addStretch(1)
        self._form.addRow("Needs", skills)

    def values(self) -> dict[str, str]:
        """The fields as an import row (text, like a CSV line)."""
        out: dict[str, str] = {}
        for name, widget in self.fields.items():
            if isinstance(widget, QLineEdit):
                out[name] = widget.text()
            elif isinstance(widget, QTimeEdit):
                out[name] = widget.time().toString("HH:mm")
            elif isinstance(widget, QDoubleSpinBox):
                out[name] = f"{widget.value():g}"
            elif isinstance(widget, QSpinBox):
                out[name] = str(widget.value())
        if self.skill_boxes:
            out["skills"] = ";".join(s for s, b in self.skill_boxes.items() if b.isChecked())
        return out

    def set_values(self, values: Mapping[str, str]) -> None:
        """Fill fields by name (``skills``: names separated by ``;``)."""
        for name, value in values.items():
            widget = self.fields.get(name)
            if isinstance(widget, QLineEdit):
                widget.setText(str(value))
            elif isinstance(widget, QTimeEdit):
                widget.setTime(QTime.fromString(str(value), "HH:mm"))
            elif isinstance(widget, QDoubleSpinBox):
                widget.setValue(float(value))
            elif isinstance(widget, QSpinBox):
                widget.setValue(int(float(value)))
            elif name == "skills":
                wanted = {s.strip() for s in str(value).split(";") if s.strip()}
                for skill, box in self.skill_boxes.items():
                    box.setChecked(skill in wanted)

    def mark(self, problems: Sequence[tuple[str, str]]) -> None:
        """Tint the fields the importer's reasons name (``lat,lon``, ``windows`` too)."""
        bad = {f.split(".")[0].split("[")[0] for f, _ in problems}
        bad |= {"lat", "lon"} if "lat,lon" in bad else set()
        bad |= {"window_start", "window_end"} if "windows" in bad else set()
        for name, widget in self.fields.items():
            widget.setStyleSheet(_BAD if name in bad else "")
