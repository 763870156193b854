"""A dispatcher finds a customer with Ctrl+F, sees it on the map and the timeline, and
cancels one of their orders after reading what it does to the route."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from tests.scenarios.conftest import shot


def _open_order_on_a_route(ctx):
    """An order far enough ahead to still be open, on a route with stops after it, of a
    customer with no other order today (the demo draws names at random and a name can come
    up twice on a day: then every order of that name is found, in id order)."""
    orders = ctx.state.index.orders.values()

    def orders_named(name: str) -> int:
        words = name.casefold().split()
        return sum(all(w in o.customer.casefold() for w in words) for o in orders)

    for route in ctx.state.plan.routes:
        planned = [s for s in route.stops if s.status == "planned"]
        for stop in reversed(planned[1:-2]):  # planned[-3] first, two open stops after it
            order = ctx.state.index.orders[stop.order_id]
            if order.customer and orders_named(order.customer) == 1:
                return order, route
    raise AssertionError("the demo day has no route with open stops")


def test_find_a_customer_focuses_map_and_timeline_then_cancel_an_order(qtbot, desk, tmp_path):
    """Ctrl+F + the customer's name: the hit is listed with its route; Enter selects it on
    the timeline and the map. Cancel order…: the route's ETAs before and after; with a
    reason the stop leaves the route, the order is stored cancelled and is still found."""
    window = desk("dispatcher", "dana")
    ctx = window.context
    order, route = _open_order_on_a_route(ctx)
    QTest.keySequence(window, "Ctrl+F")
    search = window.orders.search_dialog
    assert search is not None and search.isVisible() and search.focusWidget() is search.query
    QTest.keyClicks(search.query, order.customer)
    hits = search.hits
    assert hits and hits[0].order_id == order.id, [h.order_id for h in hits]
    assert search.table.item(0, 3).text().startswith(route.vehicle_id)
    assert search.count.text().endswith("found")
    QTest.keyClick(search.query, Qt.Key.Key_Return)
    assert window.timeline_pane.selected == [order.id]
    selected: list[str] = []

    def map_selected() -> bool:
        window.map_pane.run_js("JSON.stringify(dd.selected)", selected.append)
        qtbot.wait(200)
        return bool(selected) and order.id in str(selected[-1])

    qtbot.waitUntil(map_selected, timeout=20_000)
    shot(search, tmp_path, "search_dialog")
    shot(window, tmp_path, "search_focused")

    QTest.mouseClick(search.cancel_button, Qt.MouseButton.LeftButton)
    dialog = window.orders.last_dialog
    assert dialog.objectName() == "order_cancel_dialog"
    qtbot.waitUntil(lambda: dialog.impact is not None, timeout=60_000)
    assert not dialog.apply_button.isEnabled()  # a reason is required
    rows = {dialog.table.item(r, 0).text(): dialog.table.item(r, 2).text()
            for r in range(dialog.table.rowCount())}  # fmt: skip
    assert rows[order.id] == "—" and len(rows) >= 3  # the stop goes; the others get new ETAs
    QTest.keyClicks(dialog.reason, "customer closed today")
    assert dialog.apply_button.isEnabled()
    shot(dialog, tmp_path, "cancel_dialog")
    QTest.mouseClick(dialog.apply_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=10_000)

    assert ctx.state.plan.route_of(order.id) is None
    assert order.id not in ctx.state.index.orders
    assert order.id not in window.timeline_pane._bars
    stored = ctx.dispatch.load_plan(ctx.state.index.depot.id, ctx.day)
    assert stored.route_of(order.id) is None and order.id not in {
        u.order_id for u in stored.unassigned
    }
    [cancelled] = ctx.dispatch.cancelled_orders(ctx.state.index.depot.id, ctx.day)
    assert (cancelled.order.id, cancelled.reason) == (order.id, "customer closed today")
    assert cancelled.by == ctx.actor
    search.query.clear()
    QTest.keyClicks(search.query, order.id)
    assert [(h.order_id, h.status) for h in search.hits] == [(order.id, "cancelled")]
    assert not search.cancel_button.isEnabled()
