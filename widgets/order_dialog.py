"""Orders ▸ Add urgent order…: type the order, see where the engine would put it, insert it.

The fields are checked exactly like a row of an import (same reasons, field by field).
*Find routes* asks the engine for every route that could take the order, ranked (feasible
first, then cheapest), each with its extra km and minutes, the lateness it causes, late
stops, capacity and shift problems; the best is selected. *Insert* puts the order on the
selected route as one undoable command. The ranking runs off the main thread.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, time
from zoneinfo import ZoneInfo

from PySide6.QtCore import Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.dispatch.orders import InsertOption, OrderDesk
from app.jobs.runner import JobKind, JobRunner
from engine.model import DayInput, Order, Plan
from widgets.order_form import OrderForm

OPTION_COLUMNS = ("#", "Route", "Fits", "+km", "+min", "Lateness (min)", "Capacity / shift",
                  "Cost", "Made late")  # fmt: skip


def option_cells(option: InsertOption, vehicle_label: Callable[[str], str]) -> list[str]:
    """One option as the table shows it."""
    t = option.impact
    late = f"{t.lateness_before_s / 60:.0f} → {t.lateness_after_s / 60:.0f}" if t else "—"
    made = option.newly_late
    stops = ", ".join(f"{s.order_id} +{s.minutes:.0f} min" for s in made[:3])
    if len(made) > 3:
        stops += f" +{len(made) - 3} more"
    already = len(option.late_stops) - len(made)
    if already:
        stops = f"{stops or 'none'} ({already} late already)"
    load = [p for p in option.problems if not p.endswith("made late")]
    return [
        str(option.rank), vehicle_label(option.vehicle_id),
        "yes" if option.feasible else "no", f"{option.extra_km:+.1f}",
        f"{option.extra_min:+.0f}", late, "; ".join(load) or "ok",
        f"{option.cost_delta:+.1f}", stops or "none",
    ]  # fmt: skip


class UrgentOrderDialog(QDialog):
    """Add an urgent order: fields, ranked routes, insert."""

    sig_options_ready = Signal()  # the ranked routes are shown (tests wait on it)

    def __init__(
        self,
        desk: OrderDesk,
        plan: Plan,
        day: DayInput,
        now: datetime,
        timezone: str,
        on_insert: Callable[[Order, InsertOption], bool],
        vehicle_label: Callable[[str], str] = str,
        parent: QWidget | None = None,
        current: Callable[[], tuple[Plan, DayInput, datetime]] | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Add urgent order")
        self.setObjectName("urgent_order_dialog")
        self.desk, self.plan, self.day, self.now = desk, plan, day, now
        # The day as it is when routes are asked for (the plan and the clock move on while
        # the dialog is open); without it, the day as it was when the dialog opened.
        self.current = current or (lambda: (plan, day, now))
        self.zone = ZoneInfo(timezone)
        self.on_insert, self.vehicle_label = on_insert, vehicle_label
        self.order: Order | None = None
        self.options: list[InsertOption] = []
        self._jobs = JobRunner(self, max_threads=1)
        self._jobs.sig_job_done.connect(self._on_options)
        self._jobs.sig_job_failed.connect(self._on_options_failed)
        layout = QVBoxLayout(self)
        self.form = self._form()
        self.fields = self.form.fields
        layout.addWidget(self.form)
        self.problems = QLabel(self)
        self.problems.setObjectName("order_problems")
        self.problems.setWordWrap(True)
        self.problems.setStyleSheet("color: #c62828;")
        layout.addWidget(self.problems)
        row = QHBoxLayout()
        self.find_button = QPushButton("&Find routes", self)
        self.find_button.setDefault(True)
        self.find_button.clicked.connect(self.find_routes)
        self.status = QLabel("Fill in the order, then Find routes.", self)
        self.status.setObjectName("order_status")
        row.addWidget(self.find_button)
        row.addWidget(self.status, 1)
        layout.addLayout(row)
        self.table = QTableWidget(0, len(OPTION_COLUMNS), self)
        self.table.setObjectName("insert_options")
        self.table.setHorizontalHeaderLabels(list(OPTION_COLUMNS))
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.table.itemDoubleClicked.connect(lambda _item: self.insert_selected())
        layout.addWidget(self.table, 1)
        buttons = QDialogButtonBox(self)
        self.insert_button = buttons.addButton(
            "&Insert into selected route", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.insert_button.setEnabled(False)
        self.insert_button.clicked.connect(self.insert_selected)
        buttons.addButton(QDialogButtonBox.StandardButton.Cancel).clicked.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(980, 720)

    # -- the form ------------------------------------------------------------------------
    def _form(self) -> OrderForm:
        start = self.now.astimezone(self.zone)

        def later(minutes: int) -> time:
            moment = min(start.hour * 60 + start.minute + minutes, 23 * 60 + 59)
            return time(moment // 60, moment % 60)

        form = OrderForm(
            "Order", dimensions=self.day.dimensions, window=(later(30), later(240)),
            offered_skills={s for v in self.day.vehicles for s in v.skills}, parent=self,
        )  # fmt: skip
        form.sig_changed.connect(self._invalidate)
        depot = self.day.depots[0].location
        form.add_line("id", "Order id", self.desk.next_order_id())
        form.add_line("customer", "Customer", hint="e.g. Rosa's Bakery")
        form.add_line("address", "Address", hint="street and number, as the driver needs it")
        form.add_line("lat", "Latitude", hint=f"e.g. {depot.lat:.4f}")
        form.add_line("lon", "Longitude", hint=f"e.g. {depot.lon:.4f}")
        form.add_rest()
        return form

    def values(self) -> dict[str, str]:
        """The fields as an import row (text, like a CSV line)."""
        return self.form.values()

    def set_values(self, values: Mapping[str, str]) -> None:
        """Fill fields by name (tests and a caller that knows the customer)."""
        self.form.set_values(values)

    # -- finding routes ------------------------------------------------------------------
    def _invalidate(self, *_args) -> None:
        if self.options or self.order is not None:
            self.options, self.order = [], None
            self.table.setRowCount(0)
            self.status.setText("The order changed: Find routes again.")
        self._update_buttons()

    def _mark(self, problems: Sequence[tuple[str, str]]) -> None:
        self.form.mark(problems)
        self.problems.setText("\n".join(f"{f}: {r}" for f, r in problems))

    def find_routes(self) -> None:
        """Check the fields; when good, rank the routes in the background."""
        order, problems = self.desk.check(self.values(), self.day)
        self._mark(problems)
        if order is None:
            self.status.setText(f"{len(problems)} problem(s): fix the marked fields.")
            return
        self.order = order
        self.find_button.setEnabled(False)
        self.status.setText("Asking the engine where it fits…")
        self.plan, self.day, self.now = self.current()
        desk, plan, day, now = self.desk, self.plan, self.day, self.now
        self._jobs.submit(
            JobKind.INSERTION, lambda cancel, report: desk.insertion_options(plan, day, order, now)
        )

    def _on_options(self, _kind: str, options: object) -> None:
        self.find_button.setEnabled(True)
        self.options = list(options)  # type: ignore[call-overload]
        self.table.setRowCount(len(self.options))
        for row, option in enumerate(self.options):
            for col, text in enumerate(option_cells(option, self.vehicle_label)):
                item = QTableWidgetItem(text)
                item.setToolTip(option.preview.summary)
                if not option.feasible:
                    item.setForeground(QColor("#9e9e9e") if col != 2 else QColor("#c62828"))
                self.table.setItem(row, col, item)
        fits = sum(o.feasible for o in self.options)
        if self.options:
            self.table.selectRow(0)
            best = self.options[0]
            self.status.setText(
                f"{fits} of {len(self.options)} routes take it without breaking a rule; best: "
                f"{self.vehicle_label(best.vehicle_id)} ({best.extra_km:+.1f} km, "
                f"{best.extra_min:+.0f} min)"
            )
        else:
            self.status.setText("No route can take this order.")
        self._update_buttons()
        self.sig_options_ready.emit()

    def _on_options_failed(self, _kind: str, message: str) -> None:
        self.find_button.setEnabled(True)
        self.status.setText(f"Could not rank the routes: {message}")

    def selected_option(self) -> InsertOption | None:
        rows = self.table.selectionModel().selectedRows()
        return self.options[rows[0].row()] if rows and self.options else None

    def _update_buttons(self) -> None:
        self.insert_button.setEnabled(self.order is not None and self.selected_option() is not None)

    def insert_selected(self) -> None:
        """Insert the order into the selected route (one undoable command); close on success."""
        option = self.selected_option()
        if self.order is None or option is None:
            return
        if self.on_insert(self.order, option):
            self.accept()

    def done(self, result: int) -> None:
        self._jobs.cancel(JobKind.INSERTION)
        super().done(result)
