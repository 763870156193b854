"""Orders ▸ Change order… / Cancel order…: what it does to the route, before confirming.

*Change*: the order's window, address (point), demand, service time or priority, checked
like an import row; *Preview* re-evaluates its route with the change (every stop's ETA and
lateness before and after, distance, capacity and shift problems), then *Apply change*.
*Cancel*: a reason is required; the preview shows the route without the stop; *Cancel
order* takes it off and stores it cancelled. Both are one undoable command. The previews
run off the main thread (a new point needs new travel times).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from PySide6.QtCore import Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.dispatch.orders import OrderDesk, OrderImpact
from app.jobs.runner import JobKind, JobRunner
from engine.model import DayInput, Order, Plan
from widgets.order_form import OrderForm

CHANGE, CANCEL = "change", "cancel"
ETA_COLUMNS = ("Stop", "ETA before", "ETA after", "Change", "Late before", "Late after")


class OrderChangeDialog(QDialog):
    """Change or cancel one order, with its route's before and after."""

    sig_preview_ready = Signal()  # the impact table is filled (tests wait on it)

    def __init__(
        self,
        mode: str,
        order: Order,
        desk: OrderDesk,
        plan: Plan,
        day: DayInput,
        now: datetime,
        timezone: str,
        on_apply: Callable[[str, Order, OrderImpact, str], bool],
        vehicle_label: Callable[[str], str] = str,
        parent: QWidget | None = None,
        current: Callable[[], tuple[Plan, DayInput, datetime]] | None = None,
    ) -> None:
        super().__init__(parent)
        if mode not in (CHANGE, CANCEL):
            raise ValueError(f"mode: {CHANGE!r} or {CANCEL!r}")
        self.mode, self.order, self.desk = mode, order, desk
        self.plan, self.day, self.now = plan, day, now
        # The day as it is when the preview runs (it moves on while the dialog is open).
        self.current = current or (lambda: (plan, day, now))
        self.zone = ZoneInfo(timezone)
        self.on_apply, self.vehicle_label = on_apply, vehicle_label
        self.changed: Order | None = None
        self.impact: OrderImpact | None = None
        title = f"{'Change' if mode == CHANGE else 'Cancel'} order {order.id}"
        self.setWindowTitle(title)
        self.setObjectName(f"order_{mode}_dialog")
        self._jobs = JobRunner(self, max_threads=1)
        self._jobs.sig_job_done.connect(self._on_preview)
        self._jobs.sig_job_failed.connect(self._on_failed)
        self.form: OrderForm | None = None
        layout = QVBoxLayout(self)
        who = " · ".join(p for p in (order.id, order.customer, order.address) if p)
        route = plan.route_of(order.id)
        where = self.vehicle_label(route.vehicle_id) if route else "no route (unassigned)"
        head = QLabel(f"<b>{who}</b><br>on {where}", self)
        head.setObjectName("order_head")
        layout.addWidget(head)
        if mode == CHANGE:
            self.form = self._change_form()
            layout.addWidget(self.form)
        else:
            form = QFormLayout()
            self.reason = QLineEdit(self)
            self.reason.setObjectName("cancel_reason")
            self.reason.setPlaceholderText("why (goes in the audit log), e.g. customer called")
            self.reason.textChanged.connect(lambda _t: self._update_buttons())
            form.addRow("Reason", self.reason)
            layout.addLayout(form)
        self.problems = QLabel(self)
        self.problems.setObjectName("order_problems")
        self.problems.setWordWrap(True)
        self.problems.setStyleSheet("color: #c62828;")
        layout.addWidget(self.problems)
        row = QHBoxLayout()
        self.preview_button = QPushButton("&Preview", self)
        self.preview_button.clicked.connect(self.preview)
        self.summary = QLabel(self)
        self.summary.setObjectName("impact_summary")
        self.summary.setWordWrap(True)
        row.addWidget(self.preview_button)
        row.addWidget(self.summary, 1)
        layout.addLayout(row)
        self.table = QTableWidget(0, len(ETA_COLUMNS), self)
        self.table.setObjectName("impact_table")
        self.table.setHorizontalHeaderLabels(list(ETA_COLUMNS))
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        layout.addWidget(self.table, 1)
        buttons = QDialogButtonBox(self)
        label = "&Apply change" if mode == CHANGE else "&Cancel order"
        self.apply_button = buttons.addButton(label, QDialogButtonBox.ButtonRole.AcceptRole)
        self.apply_button.setEnabled(False)
        self.apply_button.clicked.connect(self.apply)
        buttons.addButton("Close", QDialogButtonBox.ButtonRole.RejectRole).clicked.connect(
            self.reject
        )
        layout.addWidget(buttons)
        self.resize(820, 640)
        if mode == CANCEL:
            self.preview()  # nothing to type but the reason: show the effect at once

    # -- the change form -------------------------------------------------------------------
    def _change_form(self) -> OrderForm:
        o, zone = self.order, self.zone
        first = o.windows[0]
        form = OrderForm(
            "New values", dimensions=self.day.dimensions,
            window=(first.start.astimezone(zone).time(), first.end.astimezone(zone).time()),
            service_minutes=int(o.service_time.total_seconds() // 60), priority=o.priority,
            demand=o.demand, parent=self,
        )  # fmt: skip
        form.sig_changed.connect(self._invalidate)
        form.add_line("customer", "Customer", o.customer)
        form.add_line("address", "Address", o.address)
        form.add_line("lat", "Latitude", f"{o.location.lat:.6f}")
        form.add_line("lon", "Longitude", f"{o.location.lon:.6f}")
        later = None
        if len(o.windows) > 1:
            kept = ", ".join(f"{w.start.astimezone(zone):%H:%M}–{w.end.astimezone(zone):%H:%M}"
                             for w in o.windows[1:])  # fmt: skip
            later = QLabel(f"(later windows kept: {kept})", form)
        form.add_rest(later)
        return form

    def values(self) -> dict[str, str]:
        """The form as an import row of this order (later windows and skills as they are)."""
        o = self.order
        out = {"id": o.id, "skills": ";".join(sorted(o.skills)), "wave": o.wave}
        out.update(self.form.values() if self.form is not None else {})
        for n, w in enumerate(o.windows[1:], start=2):
            out[f"window{n}_start"] = w.start.isoformat()
            out[f"window{n}_end"] = w.end.isoformat()
        return out

    def set_field(self, name: str, value: str) -> None:
        if self.form is not None:
            self.form.set_values({name: value})

    # -- preview -------------------------------------------------------------------------
    def _invalidate(self, *_args) -> None:
        self.impact = self.changed = None
        self.table.setRowCount(0)
        self.summary.setText("Changed: Preview again.")
        self._update_buttons()

    def preview(self) -> None:
        """Check the form (change) and re-evaluate the route in the background."""
        self.plan, self.day, self.now = self.current()
        desk, plan, day, now = self.desk, self.plan, self.day, self.now
        if self.mode == CHANGE:
            changed, problems = desk.check(self.values(), day, new=False)
            if self.form is not None:
                self.form.mark(problems)
            self.problems.setText("\n".join(f"{f}: {r}" for f, r in problems))
            if changed is None:
                self.summary.setText(f"{len(problems)} problem(s): fix the marked fields.")
                return
            self.changed = changed
            job = lambda cancel, report: desk.preview_change(plan, day, changed, now)  # noqa: E731
        else:
            oid = self.order.id
            job = lambda cancel, report: desk.preview_cancel(plan, day, oid, now)  # noqa: E731
        self.preview_button.setEnabled(False)
        self.summary.setText("Re-evaluating the route…")
        self._jobs.submit(JobKind.ORDER_PREVIEW, job)

    def _clock(self, moment: datetime | None) -> str:
        return moment.astimezone(self.zone).strftime("%H:%M") if moment else "—"

    def _on_preview(self, _kind: str, impact: object) -> None:
        assert isinstance(impact, OrderImpact)
        self.preview_button.setEnabled(True)
        self.impact = impact
        self.summary.setText(impact.summary)
        self.problems.setText("")
        self.table.setRowCount(len(impact.stops))
        for row, stop in enumerate(impact.stops):
            if stop.eta_before and stop.eta_after:
                delta = f"{(stop.eta_after - stop.eta_before).total_seconds() / 60:+.0f} min"
            else:
                delta = "removed" if stop.eta_after is None else "new"
            cells = (stop.order_id, self._clock(stop.eta_before), self._clock(stop.eta_after),
                     delta, f"{stop.late_before_min:.0f} min" if stop.late_before_min else "",
                     f"{stop.late_after_min:.0f} min" if stop.late_after_min else "")  # fmt: skip
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if stop.order_id == self.order.id:
                    item.setBackground(QColor("#fff8e1"))
                if col == 5 and stop.late_after_min > stop.late_before_min + 0.5:
                    item.setForeground(QColor("#c62828"))
                self.table.setItem(row, col, item)
        rows = [i for i, stop in enumerate(impact.stops) if stop.order_id == self.order.id]
        first = self.table.item(rows[0], 0) if rows else None
        if first is not None:  # the changed (or cancelled) stop in view, with its neighbours
            self.table.scrollToItem(first, QTableWidget.ScrollHint.PositionAtCenter)
        self._update_buttons()
        self.sig_preview_ready.emit()

    def _on_failed(self, _kind: str, message: str) -> None:
        self.preview_button.setEnabled(True)
        self.summary.setText("")
        self.problems.setText(message.split(": ", 1)[-1])

    def _update_buttons(self) -> None:
        ready = self.impact is not None
        if self.mode == CANCEL:
            ready = ready and bool(self.reason.text().strip())
        self.apply_button.setEnabled(ready)

    def apply(self) -> None:
        """Run the command (the controller reports errors); close on success."""
        if self.impact is None:
            return
        order = self.changed if self.mode == CHANGE else self.order
        reason = self.reason.text().strip() if self.mode == CANCEL else ""
        if order is not None and self.on_apply(self.mode, order, self.impact, reason):
            self.accept()

    def done(self, result: int) -> None:
        self._jobs.cancel(JobKind.ORDER_PREVIEW)
        super().done(result)
