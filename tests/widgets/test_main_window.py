"""The workstation window on its embedded defaults: the demo day is seeded, planned, listed."""

import pytest

from app.context import AppContext
from app.day.routes_model import STOPS
from app.settings import Settings
from widgets.main_window import MainWindow


@pytest.fixture
def demo_window(qtbot, tmp_path, monkeypatch):
    """A main window over a fresh embedded database in a temporary data directory."""
    monkeypatch.setenv("DISPATCH_DATA_DIR", str(tmp_path))
    settings = Settings.from_env(
        demo=True, database_url="", first_plan_seconds=2.0, simulate=False, mqtt_url=""
    )
    context = AppContext(settings, headless=True)
    window = MainWindow(context)
    qtbot.addWidget(window)
    window.show()
    yield window
    window.close()  # inside the test's event loop, so the web page goes before its profile
    qtbot.wait(50)


def test_first_start_seeds_and_plans_the_demo_day(qtbot, demo_window):
    """On an empty database the demo day is loaded and planned; its routes are listed."""
    context = demo_window.context
    # Telemetry starts with the first plan: until then the broker is not said to be offline.
    assert demo_window._broker_label.text() == "Broker: waiting for the plan"
    context.start()
    qtbot.waitUntil(lambda: context.state.plan is not None, timeout=120_000)
    assert context.state.index is not None
    assert len(context.state.index.orders) >= 300
    model = demo_window.routes_model
    assert model.rowCount() >= 10
    planned = sum(int(model.index(r, STOPS).data()) for r in range(model.rowCount()))
    assert planned + len(context.state.plan.unassigned) == len(context.state.index.orders)
    assert "routes" in demo_window.routes_pane._summary.text()


def test_a_second_start_reads_the_stored_plan(qtbot, demo_window, tmp_path):
    """The plan is persisted: a new context on the same database shows it without planning."""
    context = demo_window.context
    context.start()
    qtbot.waitUntil(lambda: context.state.plan is not None, timeout=120_000)
    first = [r.order_ids for r in context.state.routes]
    again = AppContext(Settings.from_env(demo=True, database_url="", simulate=False), headless=True)
    again.start()
    assert not again.jobs.is_running("plan")
    assert [r.order_ids for r in again.state.routes] == first
    again.shutdown()


@pytest.fixture
def planned_window(qtbot, demo_window):
    """The demo window once its first plan is in."""
    context = demo_window.context
    context.start()
    qtbot.waitUntil(lambda: context.state.plan is not None, timeout=120_000)
    qtbot.wait(200)
    return demo_window


def _stored_route_of(context, order_id):
    plan = context.dispatch.load_plan(context.state.index.depot.id, context.day)
    route = plan.route_of(order_id)
    return route.id if route else None


def test_drag_on_the_timeline_moves_a_stop_and_undo_restores_it(qtbot, planned_window):
    """A bar dragged onto the next row lands on that route (stored); Ctrl+Z puts it back."""
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    from tests.widgets.test_timeline_pane import _drag, _viewport_point

    window, context = planned_window, planned_window.context
    window.dispatcher.ask = lambda _title, _text: True  # an overloaded van: move it anyway
    timeline = window.timeline_pane
    rows = timeline._rows
    source_id, target_id = rows[0], rows[1]
    source = context.state.route(source_id)
    order_id = source.stops[-1].order_id
    before = [r.order_ids for r in context.state.routes]
    bar = timeline._bars[order_id]
    start = _viewport_point(timeline, timeline.bar_scene_pos(order_id))
    end = _viewport_point(timeline, timeline.row_scene_pos(target_id, (bar.x0 + bar.x1) / 2))
    with qtbot.waitSignal(context.state.sig_changed, timeout=10_000):
        _drag(qtbot, timeline, start, end)
    assert order_id in context.state.route(target_id).order_ids
    assert order_id not in context.state.route(source_id).order_ids
    assert _stored_route_of(context, order_id) == target_id
    assert window.undo_action.isEnabled()

    QTest.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert [r.order_ids for r in context.state.routes] == before
    assert _stored_route_of(context, order_id) == source_id
    assert window.status.text.startswith(f"Undo Move {order_id}")  # said, as the move was
    modifiers = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    QTest.keyClick(window, Qt.Key.Key_Z, modifiers)  # one Redo shortcut, not an ambiguous two
    assert _stored_route_of(context, order_id) == target_id
    assert window.status.text.startswith(f"Redo Move {order_id}")


def test_a_move_that_overloads_a_vehicle_is_asked_first(qtbot, planned_window):
    """Moving stops onto a vehicle without room for them asks first: no, nothing moves and
    the undo stack gains nothing; yes, they move (one undo entry)."""
    window, context = planned_window, planned_window.context
    plan, index = context.state.plan, context.state.index

    def kg(order_id: str) -> float:
        return index.orders[order_id].demand.get("kg", 0.0)

    def room(route) -> float:
        capacity = index.vehicles[route.vehicle_id].capacity.get("kg", 0.0)
        return capacity - sum(kg(s.order_id) for s in route.stops)

    target = min((r for r in plan.routes if r.stops), key=room)
    ids, total = [], 0.0
    for route in plan.routes:
        for stop in route.stops if route.id != target.id else ():
            if total <= room(target) and not stop.locked:
                ids.append(stop.order_id)
                total += kg(stop.order_id)
    assert total > room(target)
    questions: list[str] = []
    window.dispatcher.ask = lambda _title, text: questions.append(text) or False
    before, entries = (
        [r.order_ids for r in context.state.routes],
        window.dispatcher.undo_stack.count(),
    )
    assert not window.dispatcher.reassign(ids, target.id)
    assert "overloads the vehicle" in questions[0] and "kg over by" in questions[0]
    assert [r.order_ids for r in context.state.routes] == before
    assert window.dispatcher.undo_stack.count() == entries
    assert "Not moved" in window.status.text
    window.dispatcher.ask = lambda _title, _text: True
    assert window.dispatcher.reassign(ids, target.id)
    assert set(ids) <= set(context.state.route(target.id).order_ids)
    assert window.dispatcher.undo_stack.count() == entries + 1

    # Another desk changes that route; the undo is refused and its entry leaves the stack.
    from app.store import repository

    day = (index.depot.id, context.day)
    with context.store.session() as s:
        stored = repository.load_plan(s, *day).route_of(ids[0])
        version = repository.route_versions(s, *day)[stored.id]
        repository.update_route_stops(s, stored.id, stored.stops[::-1], base_version=version,
                                      actor="bob@desk-2")  # fmt: skip
    window.dispatcher.undo_stack.undo()
    assert window.dispatcher.undo_stack.count() == entries
    assert "changed" in window.status.text


def test_fleet_replan_comes_as_a_proposal_to_accept(qtbot, planned_window):
    """Re-plan fleet shows a diff dialog (lateness, distance); accepting it is undoable."""
    from PySide6.QtWidgets import QLabel

    window, context = planned_window, planned_window.context
    with qtbot.waitSignal(context.sig_proposal_ready, timeout=60_000):
        window.replan_action.trigger()
    dialog = window.last_proposal_dialog
    summary = dialog.findChild(QLabel, "proposal_summary").text()
    assert "Lateness" in summary and "Distance" in summary
    count = window.dispatcher.undo_stack.count()
    # A proposal that is the plan as it stands changes nothing: no undo entry, and it says so.
    from dataclasses import replace

    assert window.dispatcher.accept_proposal(
        replace(dialog.proposal, plan=context.state.plan), None
    )
    assert window.dispatcher.undo_stack.count() == count
    assert "nothing to change" in window.status.text
    changed = dialog.proposal.plan.routes != context.state.routes
    dialog.accept()
    assert window.dispatcher.undo_stack.count() == count + (1 if changed else 0)
    sequences = {r.id: r.order_ids for r in dialog.proposal.plan.routes if r.stops}
    assert {r.id: r.order_ids for r in context.state.routes if r.stops} == sequences


def test_the_demo_day_runs_live(qtbot, tmp_path, monkeypatch):
    """With the simulator on, the embedded broker connects, vehicles move on the map and
    stop results reach the plan."""
    monkeypatch.setenv("DISPATCH_DATA_DIR", str(tmp_path))
    settings = Settings.from_env(
        demo=True, database_url="", first_plan_seconds=2.0, simulate=True, demo_speedup=60.0
    )
    context = AppContext(settings, headless=True)
    window = MainWindow(context)
    qtbot.addWidget(window)
    window.show()
    moved: list[dict] = []
    context.live.sig_vehicles_moved.connect(moved.append)
    context.start()
    qtbot.waitUntil(lambda: context.live.connection == "connected", timeout=120_000)
    qtbot.waitUntil(lambda: len(moved) > 3, timeout=60_000)
    assert "Broker: online" in window._broker_label.text()
    assert "(simulated)" in window._clock_label.text()
    qtbot.waitUntil(
        lambda: any(s.status.is_done for r in context.state.routes for s in r.stops),
        timeout=90_000,
    )
    counts: list[int] = []

    def vehicles_on_map() -> bool:
        window.map_pane.run_js(
            "JSON.stringify(Object.keys(dd.vehicles || {}).length)",
            lambda text: counts.append(int(text or 0)),
        )
        qtbot.wait(200)
        return bool(counts) and counts[-1] > 0

    qtbot.waitUntil(vehicles_on_map, timeout=30_000)
    window.close()  # inside the test's event loop, so the web page goes before its profile
    qtbot.wait(50)


def test_double_clicking_an_exception_focuses_map_and_timeline(qtbot, planned_window):
    """An exception about a stop: double-click selects that stop on the timeline and the map."""
    import json
    from datetime import UTC, datetime

    from engine.rules import ExceptionChanges, ExceptionType, LiveException, Severity

    window, context = planned_window, planned_window.context
    route = next(r for r in context.state.routes if len(r.stops) > 5)
    order_id = route.stops[-1].order_id
    exc = LiveException(
        "E-test", ExceptionType.LATE_RISK, Severity.CRITICAL, route.vehicle_id, order_id,
        datetime.now(UTC), "ETA 12 min after the window", "Re-plan the route",
    )  # fmt: skip
    context.board.apply(ExceptionChanges(opened=[exc]))
    pane = window.exceptions_pane
    pane.select_exception("E-test")
    pane.table.doubleClicked.emit(pane.table.currentIndex())
    assert window.timeline_pane.selected == [order_id]
    first, shown = window.timeline_pane.visible_rows()
    assert first <= window.timeline_pane._bars[order_id].row < first + shown
    seen: list[dict] = []

    def map_selected() -> bool:
        window.map_pane.run_js(
            "JSON.stringify(dd.selected)", lambda text: seen.append(json.loads(text or "null"))
        )
        qtbot.wait(100)
        return bool(seen) and seen[-1] == {"kind": "stop", "id": order_id}

    qtbot.waitUntil(map_selected, timeout=10_000)


def test_the_telemetry_menu_opens_devices_and_rejects(qtbot, planned_window):
    """Telemetry ▸ Tracker devices… opens the dialog over the running service, offering the
    depot's vehicles; a second trigger raises the same dialog."""
    window, context = planned_window, planned_window.context
    qtbot.waitUntil(lambda: context.live.service is not None, timeout=30_000)
    window.devices_action.trigger()
    dialog = window.open_telemetry_dialog()
    assert dialog is not None and dialog.isVisible()
    offered = {dialog.vehicle_combo.itemText(i) for i in range(dialog.vehicle_combo.count())}
    assert offered == set(context.state.index.vehicles)
    assert window.open_telemetry_dialog() is dialog
    assert dialog.tabs.tabText(1) == "Rejected messages"
    dialog.close()


def test_a_dispatcher_is_not_offered_supervisor_actions(qtbot, tmp_path, monkeypatch):
    """Signed in as a dispatcher: the window says who and as what; Plan the day is greyed
    out with the reason; Re-plan fleet and Reassign… say they propose to a supervisor
    (never refused after 30 s)."""
    monkeypatch.setenv("DISPATCH_DATA_DIR", str(tmp_path))
    settings = Settings.from_env(
        demo=True, database_url="", simulate=False, role="dispatcher", user="dana"
    )
    context = AppContext(settings, headless=True)
    window = MainWindow(context)
    qtbot.addWidget(window)
    window.show()
    assert window.size().width() >= 1920 and window.size().height() >= 1080
    assert window._user_label.text() == "dana · dispatcher"
    assert not window.plan_action.isEnabled() and "supervisor" in window.plan_action.toolTip()
    assert window.replan_action.isEnabled() and "propose" in window.replan_action.text()
    assert "proposal" in window.replan_action.toolTip()
    reassign = window.exceptions_pane.button("reassign")
    assert reassign.isEnabled() and "supervisor decides" in reassign.toolTip()
    assert window.exceptions_pane.button("ack").isEnabled()
    assert window.exceptions_pane.button("replan").isEnabled()
    window.close()
    qtbot.wait(50)


def test_a_restart_shows_the_stored_day_before_live_telemetry(qtbot, demo_window, tmp_path):
    """On a restart the stored plan is on the map before the broker and fleet start; live
    telemetry attaches once the map has painted the day (as ``main.py`` starts)."""
    first = demo_window.context
    first.start()
    qtbot.waitUntil(lambda: first.state.plan is not None, timeout=120_000)
    stored = [r.order_ids for r in first.state.routes]
    demo_window.close()
    qtbot.wait(50)
    context = AppContext(
        Settings.from_env(demo=True, database_url="", simulate=False, mqtt_url=""), headless=True
    )
    window = MainWindow(context)
    qtbot.addWidget(window)
    window.show()
    context.start(defer_live=True)
    assert [r.order_ids for r in context.state.routes] == stored
    assert context.live.service is None and context.live_pending
    routes_on_map: list[int] = []

    def attach() -> None:
        routes_on_map.append(window.map_pane._page_plan is not None)
        context.attach_live()

    window.map_pane.call_when_painted(attach)
    qtbot.waitUntil(lambda: context.live.service is not None, timeout=60_000)
    assert routes_on_map == [True]  # the day was on the map before telemetry started
    assert not context.live_pending
    qtbot.waitUntil(lambda: context.live.connection == "connected", timeout=60_000)
    window.close()
    qtbot.wait(50)


def test_the_first_plan_shows_its_progress_and_quality(qtbot, demo_window):
    """While the first plan runs the status bar says how far it is (time used of its limit,
    the best plan so far: stops served, minutes late, kilometres, and its cost), and so does
    the routes pane, where the whole line has room; when it is in, how many stops, routes
    and how late."""
    import re

    context = demo_window.context
    pane = demo_window.routes_pane
    seen: list[str] = []
    shown: list[str] = []
    summaries: list[str] = []

    def progress(_kind, text) -> None:
        seen.append(str(text))
        if pane.isVisible():
            summaries.append(pane._summary.text())

    context.jobs.sig_job_progress.connect(progress)
    context.sig_status.connect(shown.append)
    context.start()
    qtbot.waitUntil(lambda: context.state.plan is not None, timeout=120_000)
    assert any(" of 2 s" in text for text in seen), seen
    assert any(", cost " in text for text in seen), seen
    quality = re.compile(r"best so far serves \d+ of 400 stops, [\d,]+ min late, [\d,]+ km")
    assert any(quality.search(text) for text in shown), shown  # what the status bar got
    assert any(s.startswith("Planning: ") and quality.search(s) for s in summaries), summaries
    qtbot.waitUntil(lambda: " routes" in pane._summary.text(), timeout=10_000)
    qtbot.waitUntil(lambda: "Planned " in demo_window.status._text, timeout=10_000)
    text = demo_window.status._text
    assert " routes in " in text and ("late by" in text or "none late" in text), text


def test_the_kpis_are_computed_when_their_tab_comes_to_the_front(qtbot, planned_window):
    """Behind the timeline tab nothing shows the KPIs, so none are computed; choosing the
    KPIs tab shows the day's KPIs."""
    from app.jobs.runner import JobKind

    window = planned_window
    desk = window.kpi_desk
    qtbot.wait(500)
    assert desk.result is None and not desk.jobs.is_running(JobKind.KPIS)
    window._docks["kpis"].raise_()
    qtbot.waitUntil(lambda: desk.result is not None, timeout=120_000)
    assert desk.pane.isVisible() and desk.pane.heading.text().startswith("KPIs of")


def test_export_day_report_offers_the_documents_folder_not_the_start_folder(
    qtbot, planned_window, tmp_path, monkeypatch
):
    """File > Export day report suggests day-report-<day>.pdf in the user's documents folder
    (or home), not in whatever folder the program was started from."""
    monkeypatch.chdir(tmp_path)
    path = planned_window.kpi_desk.suggested_report_path()
    assert path.is_absolute() and path.parent != tmp_path
    assert path.parent.is_dir()
    assert path.name == f"day-report-{planned_window.context.day}.pdf"


def test_moving_a_stop_whose_goods_are_loaded_on_its_van_is_asked_about(qtbot, planned_window):
    """A stop of a van the dock loaded (marked loaded, at the dock) dropped on another
    route: the person is asked first, the question saying the goods are on the first van;
    "No" moves nothing, "Yes" moves it (a supervisor's deliberate choice)."""
    window = planned_window
    context = window.context
    plan = context.state.plan
    source = next(r for r in plan.routes if len(r.stops) >= 2)
    target = next(r for r in plan.routes if r.stops and r.id != source.id)
    context.release.mark_loaded(source.id)
    qtbot.waitUntil(lambda: context.state.route(source.id).status.value == "ready",
                    timeout=10_000)  # fmt: skip
    oid = source.stops[-1].order_id
    van = source.vehicle_id
    questions: list[str] = []
    window.dispatcher.ask = lambda _title, text: questions.append(text) or False
    entries = window.dispatcher.undo_stack.count()
    assert not window.dispatcher.reassign([oid], target.id)
    assert questions and f"{oid} already loaded on {van}" in questions[0]
    assert context.state.route(source.id).order_ids.count(oid) == 1
    assert window.dispatcher.undo_stack.count() == entries
    assert "Not moved" in window.status.text and van in window.status.text
    window.dispatcher.ask = lambda _title, _text: True
    assert window.dispatcher.reassign([oid], target.id)
    assert oid in context.state.route(target.id).order_ids


def test_each_dock_tab_strip_shows_once(qtbot, demo_window):
    """The bottom docks (Timeline, Release board, KPIs) show one tab strip with their
    three tabs, and the right ones (Exceptions, Rules) one with theirs. A strip the layout
    leaves behind (Qt kept an old "Timeline | Release board" one drawn under the real strip
    once the status bar grew) is hidden."""
    from PySide6.QtWidgets import QTabBar

    left_behind = QTabBar(demo_window)  # as Qt leaves it: the group's earlier tabs
    for title in ("Timeline", "Release board"):
        left_behind.addTab(title)
    left_behind.show()
    demo_window.resize(demo_window.width() - 10, demo_window.height())
    qtbot.wait(100)

    def strips():
        return sorted(
            tuple(bar.tabText(i) for i in range(bar.count()))
            for bar in demo_window.findChildren(QTabBar)
            if bar.isVisible() and bar.parent() is demo_window
        )

    qtbot.waitUntil(lambda: len(strips()) == 2, timeout=2000)
    assert strips() == [("Exceptions", "Rules"), ("Timeline", "Release board", "KPIs")]
