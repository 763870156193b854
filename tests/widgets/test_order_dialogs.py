"""The order dialogs on their own: bad fields marked with the importer's reasons; a change
previewed on its route before it is applied."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.dispatch.orders import OrderDesk
from app.dispatch.service import DispatchService
from engine.travel import HaversineTravelModel
from tests.app.test_dispatch_support import DAY, DISPATCHER, at, seed, small_day, small_plan
from widgets.order_change_dialog import CHANGE, OrderChangeDialog
from widgets.order_dialog import UrgentOrderDialog

TRAVEL = HaversineTravelModel()


@pytest.fixture
def desk(store):
    """The small day stored with its plan, and an order desk over it."""
    seed(store, small_day(), small_plan())
    return OrderDesk(DispatchService(store, TRAVEL, actor=DISPATCHER, role="dispatcher"), TRAVEL)


def test_bad_fields_are_marked_with_the_importers_reasons(qtbot, desk):
    """A latitude out of range and a window ending before it starts: both fields tinted, the
    reasons listed, no route asked for."""
    plan = desk.service.load_plan("SLC", DAY)
    dialog = UrgentOrderDialog(desk, plan, small_day(), at(7), "America/Denver",
                               lambda order, option: True)  # fmt: skip
    qtbot.addWidget(dialog)
    dialog.set_values({"lat": "95", "lon": "-111.9", "window_start": "12:00",
                       "window_end": "11:00"})  # fmt: skip
    dialog.find_routes()
    assert "lat: 95.0 is outside -90..90" in dialog.problems.text()
    assert "window_end" in dialog.problems.text()
    assert dialog.fields["lat"].styleSheet() and dialog.fields["window_end"].styleSheet()
    assert not dialog.fields["customer"].styleSheet()
    assert dialog.order is None and not dialog.insert_button.isEnabled()


def test_a_window_change_is_previewed_then_applied(qtbot, desk):
    """Change order O8's window to 08:00-08:01: Preview lists the route's ETAs with O8's
    lateness after; Apply hands the changed order and its impact to the command."""
    plan = desk.service.load_plan("SLC", DAY)
    order = next(o for o in small_day().orders if o.id == "O8")
    applied = []
    dialog = OrderChangeDialog(CHANGE, order, desk, plan, small_day(), at(7), "America/Denver",
                               lambda *args: applied.append(args) or True)  # fmt: skip
    qtbot.addWidget(dialog)
    dialog.set_field("window_end", "08:01")
    assert not dialog.apply_button.isEnabled()
    with qtbot.waitSignal(dialog.sig_preview_ready, timeout=30_000):
        dialog.preview()
    rows = {dialog.table.item(r, 0).text(): r for r in range(dialog.table.rowCount())}
    assert set(rows) == {"O5", "O6", "O7", "O8"}
    assert dialog.table.item(rows["O8"], 5).text().endswith("min")  # late after
    assert "made late" in dialog.summary.text()
    dialog.apply_button.click()
    [(mode, changed, impact, reason)] = applied
    assert mode == CHANGE and reason == ""
    assert changed.windows[0].end == at(8) + timedelta(minutes=1)
    assert impact.route_id == "R-V2"
