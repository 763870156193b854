"""The Release board in the window: a route released and not yet on the road changes only
through a proposal, even when a supervisor drags a stop onto it."""

from __future__ import annotations

import pytest

from app.context import AppContext
from app.settings import Settings
from engine.model import RouteStatus
from widgets.main_window import MainWindow


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    """The window over the demo day, planned, as a supervisor (no simulated fleet)."""
    monkeypatch.setenv("DISPATCH_DATA_DIR", str(tmp_path))
    settings = Settings.from_env(demo=True, database_url="", first_plan_seconds=2.0,
                                 simulate=False, mqtt_url="", role="supervisor", user="sam")  # fmt: skip
    context = AppContext(settings, headless=True)
    made = MainWindow(context)
    qtbot.addWidget(made)
    made.show()
    context.start()
    qtbot.waitUntil(lambda: context.state.plan is not None, timeout=120_000)
    qtbot.waitUntil(lambda: context.release.gate is not None, timeout=30_000)
    yield made
    made.close()
    qtbot.wait(50)


def test_a_move_onto_a_released_route_becomes_a_proposal(window):
    """A W2 route overridden where red and released; a stop moved onto it is stored as a
    proposal (the plan as stored is unchanged), and the board lists the route released."""
    ctx = window.context
    service = ctx.release
    index = ctx.state.index
    w2 = [ctx.state.route(g.route_id) for g in service.gate.routes.values() if g.wave == "W2"]

    def room(route) -> float:
        load = sum(index.orders[o].demand.get("kg", 0.0) for o in route.order_ids)
        return index.vehicles[route.vehicle_id].capacity.get("kg", 0.0) - load

    target = max(w2, key=room).id
    source = next(r.id for r in w2 if r.id != target)
    for check in service.gate.routes[target].red:
        service.override(target, check.name, "checked on the dock by the shift lead")
    assert service.gate.routes[target].go
    service.release([target])
    assert ctx.state.route(target).status is RouteStatus.RELEASED
    row = window.release_board.pane._route_ids.index(target)
    assert window.release_board.pane.routes_table.text(row, 6) == "released"
    order_id = min(ctx.state.route(source).order_ids,
                   key=lambda o: index.orders[o].demand.get("kg", 0.0))  # fmt: skip
    said = []
    window.dispatcher.sig_error.connect(lambda title, text: said.append(f"{title}: {text}"))
    ctx.sig_status.connect(said.append)
    assert window.dispatcher.reassign([order_id], target), said
    stored = ctx.dispatch.load_plan(ctx.state.index.depot.id, ctx.day)
    assert stored.route_of(order_id).id == source
    assert len(window.orders.board.pending) == 1
