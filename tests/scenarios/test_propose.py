"""A dispatcher's drag becomes a proposal; a supervisor on another desk accepts it."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from tests.scenarios.conftest import shot
from tests.widgets.test_timeline_pane import _drag, _viewport_point


def _open_stop_to_move(ctx, timeline):
    """The last open stop of the first row with one, and the next row's route."""
    rows = timeline._rows
    for i, route_id in enumerate(rows[:-1]):
        route = ctx.state.route(route_id)
        open_stops = [s for s in route.stops if s.status == "planned" and not s.locked]
        if open_stops:
            return open_stops[-1].order_id, route_id, rows[i + 1]
    raise AssertionError("no open stop to move")


def test_a_dispatcher_proposes_a_move_and_a_supervisor_accepts_it(qtbot, desk, tmp_path):
    """Dana (dispatcher) drags a stop to another route: nothing moves, a proposal is stored
    (who, what, the effect). Sam (supervisor, another desk) sees it pending, accepts it: the
    stop moves (stored, on Sam's undo stack), and Dana's desk says it was accepted and shows
    the moved stop."""
    dana = desk("dispatcher", "dana", simulate=False)
    sam = desk("supervisor", "sam", simulate=False)
    ctx = dana.context
    dana.dispatcher.ask = lambda _title, _text: True  # an overloaded van: propose it anyway
    timeline = dana.timeline_pane
    order_id, source_id, target_id = _open_stop_to_move(ctx, timeline)
    bar = timeline._bars[order_id]
    start = _viewport_point(timeline, timeline.bar_scene_pos(order_id))
    end = _viewport_point(timeline, timeline.row_scene_pos(target_id, (bar.x0 + bar.x1) / 2))
    _drag(qtbot, timeline, start, end)
    qtbot.waitUntil(lambda: "Proposed to a supervisor" in dana.status.text,
                    timeout=10_000)  # fmt: skip
    assert ctx.state.plan.route_of(order_id).id == source_id  # nothing moved
    [sent] = dana.orders.board.items
    assert (sent.status, sent.author, sent.author_role) == ("pending", ctx.actor, "dispatcher")
    assert sent.payload == {"orders": [order_id], "target_route_id": target_id}
    assert order_id in sent.effect["summary"]

    sam.orders.board.refresh()
    assert sam._proposals_label.text() == "Proposals: 1 pending"
    sam.activateWindow()
    QTest.keySequence(sam, "Ctrl+Shift+P")
    dialog = sam.orders.last_dialog
    assert dialog.objectName() == "proposals_dialog" and dialog.table.rowCount() == 1
    cells = [dialog.table.item(0, c).text() for c in range(6)]
    assert cells[1] == f"{ctx.actor} (dispatcher)" and cells[2] == sent.label
    assert cells[4] == "pending" and order_id in cells[3]
    dialog.table.selectRow(0)
    assert dialog.accept_button.isEnabled() and not dialog.withdraw_button.isEnabled()
    shot(dialog, tmp_path, "proposals_pending")
    QTest.mouseClick(dialog.accept_button, Qt.MouseButton.LeftButton)
    assert dialog.table.item(0, 4).text() == "accepted"
    assert sam.context.state.plan.route_of(order_id).id == target_id
    stored = sam.context.dispatch.load_plan(sam.context.state.index.depot.id, sam.context.day)
    assert stored.route_of(order_id).id == target_id
    assert sam.dispatcher.undo_stack.undoText().endswith(f"(proposed by {ctx.actor})")
    shot(dialog, tmp_path, "proposals_accepted")

    qtbot.waitUntil(lambda: "was accepted by" in dana.status.text,
                    timeout=15_000)  # fmt: skip
    assert ctx.state.plan.route_of(order_id).id == target_id
    assert dana.orders.board.items[0].decided_by == sam.context.actor
    assert dana._proposals_label.text() == "Proposals: 1 of yours accepted"  # until looked at
    shot(dana, tmp_path, "dispatcher_sees_the_outcome")


def _shown_time(text: str):
    """``HH:MM:SS`` (the first one in ``text``) as a time of day."""
    import re
    from datetime import time

    h, m, s = (int(x) for x in re.search(r"(\d\d):(\d\d):(\d\d)", text).groups())
    return time(h, m, s)


def test_a_proposal_reads_on_the_demo_clock_the_status_bar_shows(qtbot, desk, tmp_path):
    """In the demo the status bar shows the simulated day (07:30 on, 20x faster). Dana
    (dispatcher) proposes a move; the proposal's "When" column shows the time on that clock,
    in depot time, between the clock as she dragged and the clock now (the wall clock is
    hours away from the demo's morning), and so does her withdrawing it ("Decided")."""
    from datetime import datetime

    dana = desk("dispatcher", "dana")  # the simulated fleet drives the morning
    ctx = dana.context
    zone = ZoneInfo(ctx.state.index.depot.timezone)
    dana.dispatcher.ask = lambda _title, _text: True  # an overloaded van: propose it anyway
    orders = ctx.state.index.orders
    rows = dana.timeline_pane._rows

    def movable(s) -> bool:  # planned, unlocked, and any van may take it (no special skill)
        return s.status.value == "planned" and not s.locked and not orders[s.order_id].skills

    source_id = next(rid for rid in rows if any(movable(s) for s in ctx.state.route(rid).stops[2:]))
    order_id = next(s.order_id for s in reversed(ctx.state.route(source_id).stops) if movable(s))
    target_id = next(rid for rid in rows if rid != source_id and not ctx.dispatch.preview_reassign(
        ctx.state.plan, ctx.state.index.day, [order_id], rid, ctx.now()).blocked)  # fmt: skip
    before = ctx.now().astimezone(zone).replace(microsecond=0)
    dana.timeline_pane.sig_stop_dropped.emit([order_id], target_id)  # the drop of a drag
    qtbot.waitUntil(lambda: "Proposed to a supervisor" in dana.status.text,
                    timeout=20_000)  # fmt: skip
    dana.activateWindow()
    QTest.keySequence(dana, "Ctrl+Shift+P")
    dialog = dana.orders.last_dialog
    assert dialog.table.rowCount() == 1 and dialog.table.item(0, 4).text() == "pending"
    dialog.table.selectRow(0)
    qtbot.wait(1500)  # the demo's clock moves on (30 s of its day)
    QTest.mouseClick(dialog.withdraw_button, Qt.MouseButton.LeftButton)
    assert dialog.table.item(0, 4).text() == "withdrawn"
    dana._refresh_status()
    shown = dana.status.fields["clock"].text()
    assert "(simulated)" in shown
    clock = datetime.combine(before.date(), _shown_time(shown), zone)
    assert abs((ctx.now().astimezone(zone) - clock).total_seconds()) < 60
    when, decided = dialog.table.item(0, 0).text(), dialog.table.item(0, 5).text()
    sent_at = datetime.combine(before.date(), _shown_time(when), zone)
    decided_at = datetime.combine(before.date(), _shown_time(decided), zone)
    assert before <= sent_at <= decided_at <= clock, (before, when, decided, shown)
    assert decided.startswith(f"{ctx.actor} at ")
    shot(dialog, tmp_path, "proposal_on_the_demo_clock")
