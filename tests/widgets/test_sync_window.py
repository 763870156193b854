"""The window on a shared PostgreSQL: database status, pending edits, presence, roles."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from app.context import AppContext
from app.day.routes_model import EDITING_COLUMN
from app.exceptions.kinds import DeskExceptionType
from app.settings import Settings
from tests.app.test_sync_session import (  # noqa: F401 (fixtures)
    DEPOT,
    WAIT_MS,
    route_of,
    server,
    shared_url,  # noqa: F811
    workstation,
)
from tests.widgets.test_map_pane import stats
from widgets.main_window import MainWindow

pytestmark = [pytest.mark.postgres, pytest.mark.mqtt, pytest.mark.slow]


def open_window(qtbot, tmp_path, monkeypatch, url, mqtt, name, **kw) -> MainWindow:
    """A workstation window on the shared day, started and showing its plan."""
    data = tmp_path / name
    data.mkdir()
    monkeypatch.setenv("DISPATCH_DATA_DIR", str(data))
    settings = Settings.from_env(
        database_url=url, workstation_id=name, user=name.split("-")[-1], depot_id=DEPOT,
        demo=False, simulate=False, mqtt_url=mqtt, **kw,
    )  # fmt: skip
    context = AppContext(settings, headless=True)
    window = MainWindow(context)
    qtbot.addWidget(window)
    window.show()
    context.start()
    qtbot.waitUntil(lambda: context.state.plan is not None, timeout=WAIT_MS)
    return window


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch, shared_url, mqtt_url):  # noqa: F811
    made = open_window(qtbot, tmp_path, monkeypatch, shared_url, mqtt_url, "desk-ann")
    yield made
    made.close()  # inside the test's event loop, so the web page goes before its profile
    qtbot.wait(50)


def label(window: MainWindow, name: str) -> str:
    return getattr(window, name).text()


def test_status_bar_shows_offline_and_pending_edits(qtbot, window, server) -> None:  # noqa: F811
    """Database down: the status bar says offline, a move still applies and is counted as
    pending; back up: it is sent and the count returns to 0."""
    context = window.context
    qtbot.waitUntil(lambda: label(window, "_db_label") == "Database: PostgreSQL online",
                    timeout=WAIT_MS)  # fmt: skip
    assert label(window, "_outbox_label") == "Outbox: 0 pending"
    server.stop_immediate()
    qtbot.waitUntil(lambda: "offline" in label(window, "_db_label"), timeout=WAIT_MS)
    assert window.dispatcher.reassign(["O1"], "R2")
    assert route_of(context, "O1") == "R2"
    qtbot.waitUntil(lambda: label(window, "_outbox_label") == "Outbox: 1 pending",
                    timeout=WAIT_MS)  # fmt: skip
    server.restart()
    qtbot.waitUntil(lambda: label(window, "_outbox_label") == "Outbox: 0 pending",
                    timeout=WAIT_MS)  # fmt: skip
    qtbot.waitUntil(lambda: "online" in label(window, "_db_label"), timeout=WAIT_MS)


def test_other_workstations_editor_shows_on_the_route(
    qtbot,
    window,
    tmp_path,
    monkeypatch,
    shared_url,  # noqa: F811
    mqtt_url,
) -> None:
    """Bob starts editing R1 on his workstation: Ann's routes pane says so on R1; when he
    is done the mark goes away."""
    bob = workstation(qtbot, tmp_path, monkeypatch, shared_url, mqtt_url, "desk-bob")
    try:
        model = window.routes_model
        row = model.row_of("R1")

        def shown() -> str:
            bob.link.announce_editing("R1")  # repeated: the first may go before Ann listens
            qtbot.wait(200)
            return model.index(row, EDITING_COLUMN).data()

        qtbot.waitUntil(lambda: shown() == "bob@desk-bob", timeout=WAIT_MS)
        assert model.headerData(EDITING_COLUMN, Qt.Orientation.Horizontal) == "Editing"
        # Where a person looks: the route's name in the routes pane and its timeline row.
        assert model.index(row, 0).data().endswith("✎ bob@desk-bob")
        assert window.timeline_pane.row_label("R1").endswith("✎ bob@desk-bob")
        # A drag holds both routes: the one it came from and the one it is over.
        bob.link.announce_editing(("R1", "R2"))
        qtbot.waitUntil(lambda: model.index(model.row_of("R2"), EDITING_COLUMN).data()
                        == "bob@desk-bob", timeout=WAIT_MS)  # fmt: skip
        assert window.timeline_pane.row_label("R2").endswith("✎ bob@desk-bob")
        bob.link.announce_editing(None)
        qtbot.waitUntil(lambda: model.index(row, EDITING_COLUMN).data() == "", timeout=WAIT_MS)
        assert "✎" not in window.timeline_pane.row_label("R1")
    finally:
        bob.shutdown()


def test_dragging_a_stop_announces_its_route(qtbot, window, monkeypatch) -> None:
    """A drag started on the timeline tells the others which route is being edited."""
    context = window.context
    announced: list = []
    # What the window asks the sync link to say (presence lives on context.link).
    monkeypatch.setattr(context.link, "announce_editing", announced.append)
    window.timeline_pane.sig_stop_drag_started.emit(["O5"])
    source = context.state.plan.route_of("O5").id
    target = next(r.id for r in context.state.plan.routes if r.id != source)
    window.dispatcher.preview_text(["O5"], target)  # the drag is over another route
    window.timeline_pane.sig_stop_dropped.emit(["O5"], "R1")
    assert announced[0] == "R1" and announced[1] == (source, target)
    assert announced[-1] is None


def test_dragging_a_stop_on_the_map_shows_its_route_as_edited_elsewhere(
    qtbot,
    window,
    tmp_path,
    monkeypatch,
    shared_url,  # noqa: F811
    mqtt_url,
) -> None:
    """Ann shift-drags stop O5 on her map: Bob's workstation shows her editing O5's route
    while the stop is in her hand; she drops it away from every route and the mark goes.
    (The drag is the page's own, fed with Leaflet mouse events.)"""
    bob = workstation(qtbot, tmp_path, monkeypatch, shared_url, mqtt_url, "desk-bob")
    try:
        pane = window.map_pane
        qtbot.waitUntil(lambda: pane.is_ready and stats(qtbot, pane)["stops"] == 12,
                        timeout=WAIT_MS)  # fmt: skip
        route = route_of(window.context, "O5")
        # ~480 m west of the stops' line (they all lie on one meridian): far from any route.
        pane.run_js(
            "var m = dd.stops['O5'].layer, at = m.getLatLng();"
            "m.fire('mousedown', {latlng: at,"
            " originalEvent: new MouseEvent('mousedown', {shiftKey: true})});"
            "dd.map.fire('mousemove', {latlng: L.latLng(at.lat, at.lng - 0.006)});"
        )
        qtbot.waitUntil(lambda: bob.link.editors().get(route) == "ann@desk-ann", timeout=WAIT_MS)
        with qtbot.waitSignal(pane.sig_stop_dropped_at, timeout=WAIT_MS):
            pane.run_js(
                "var at = dd.stops['O5'].layer.getLatLng();"
                "dd.map.fire('mouseup', {latlng: L.latLng(at.lat, at.lng - 0.006)});"
            )
        qtbot.waitUntil(lambda: route not in bob.link.editors(), timeout=WAIT_MS)
        assert route_of(window.context, "O5") == route  # dropped on no route: not moved
    finally:
        bob.shutdown()


@pytest.fixture
def dispatcher_window(qtbot, tmp_path, monkeypatch, shared_url, mqtt_url):  # noqa: F811
    made = open_window(
        qtbot, tmp_path, monkeypatch, shared_url, mqtt_url, "desk-dan", role="dispatcher"
    )
    yield made
    made.close()  # inside the test's event loop, so the web page goes before its profile
    qtbot.wait(50)


def test_a_dispatcher_is_told_a_move_needs_a_supervisor(qtbot, dispatcher_window) -> None:
    """In the dispatcher role a dragged stop does not move: the window says a supervisor
    must do it, and nothing is queued for the shared database."""
    window = dispatcher_window
    context = window.context
    errors: list[tuple[str, str]] = []
    window.dispatcher.sig_error.connect(lambda title, text: errors.append((title, text)))
    assert not window.dispatcher.reassign(["O1"], "R2")
    assert route_of(context, "O1") == "R0"
    assert errors and errors[0][0] == "Not allowed for your role"
    assert "supervisor" in errors[0][1]
    assert "Not allowed for your role" in window.status.text
    assert context.link.outbox_pending() == 0
    assert not any(
        e.exception.type == DeskExceptionType.SYNC_CONFLICT for e in context.board.entries()
    )
