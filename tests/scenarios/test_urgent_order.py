"""A dispatcher adds an urgent order and inserts it where the engine ranks it best."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from tests.scenarios.conftest import shot


def test_a_dispatcher_inserts_an_urgent_order_at_the_best_suggestion(qtbot, desk, tmp_path):
    """Ctrl+N, fill the order, Find routes: a ranked table, best first and selected; Insert:
    the stop is on that route in the timeline and on the map, stored, and undo takes it off."""
    window = desk("dispatcher", "dana")
    ctx = window.context
    depot = ctx.state.index.depot.location
    QTest.keySequence(window, "Ctrl+N")
    dialog = window.orders.last_dialog
    assert dialog is not None and dialog.isVisible()
    dialog.set_values({"customer": "Rosa's Bakery", "address": "12 Elm St",
                       "lat": f"{depot.lat + 0.01:.5f}", "lon": f"{depot.lon + 0.012:.5f}",
                       "window_start": "10:00", "window_end": "18:00", "demand_kg": "20"})  # fmt: skip
    order_id = dialog.values()["id"]
    with qtbot.waitSignal(dialog.sig_options_ready, timeout=120_000):
        QTest.mouseClick(dialog.find_button, Qt.MouseButton.LeftButton)
    table = dialog.table
    assert table.rowCount() >= 10
    assert table.item(0, 0).text() == "1" and dialog.selected_option() is dialog.options[0]
    best = dialog.options[0]
    assert best.feasible and table.item(0, 2).text() == "yes"  # a morning has room
    assert float(table.item(0, 3).text()) == round(best.extra_km, 1)
    assert [o.feasible for o in dialog.options] == sorted(
        (o.feasible for o in dialog.options), reverse=True
    )  # feasible routes first, as the engine ranks them
    shot(dialog, tmp_path, "urgent_order_dialog")
    QTest.mouseClick(dialog.insert_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=10_000)

    route = ctx.state.plan.route_of(order_id)
    assert route is not None and route.id == best.route_id
    assert order_id in ctx.state.index.orders
    assert order_id in window.timeline_pane._bars
    stored = ctx.dispatch.load_plan(ctx.state.index.depot.id, ctx.day)
    assert stored.route_of(order_id).id == best.route_id
    assert window.status.text.startswith(f"Add urgent order {order_id}")
    found: list[str] = []

    def on_map() -> bool:
        window.map_pane.run_js(
            f"JSON.stringify(!!(dd.stops && dd.stops[{order_id!r}]))", found.append
        )
        qtbot.wait(200)
        return bool(found) and found[-1] == "true"

    qtbot.waitUntil(on_map, timeout=20_000)
    shot(window, tmp_path, "urgent_order_inserted")

    window.activateWindow()  # the dialog had the keyboard; the window has it back
    qtbot.waitUntil(window.isActiveWindow, timeout=5_000)
    QTest.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert ctx.state.plan.route_of(order_id) is None, window.status.text
    assert order_id not in ctx.state.index.orders
    assert [
        c.order.id for c in ctx.dispatch.cancelled_orders(ctx.state.index.depot.id, ctx.day)
    ] == [order_id]
