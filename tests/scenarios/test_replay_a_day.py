"""Replaying a recorded day in the window: read-only, played at 60x, stepped, scrubbed,
and jumped to an exception — map, timeline, exceptions, rules and status bar show the day
as it was at that moment."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from app.context import AppContext
from app.rules.dayrun import DayRun
from app.rules.dryrun import default_rules
from app.settings import Settings
from app.simulator import TroubleSpec, sweep_plan, synthetic_day
from app.store.dayfile import DayFileWriter
from engine.travel import HaversineTravelModel
from widgets.main_window import MainWindow
from widgets.replay_bar import open_replay


@pytest.fixture(scope="module")
def recorded_day(tmp_path_factory):
    """Six vans' day with a breakdown and a silent tracker, the shipped rules watching."""
    day = synthetic_day(6, seed=8, day=date(2026, 12, 7), stops_per_vehicle=8)
    path = tmp_path_factory.mktemp("day") / "six.dday"
    writer = DayFileWriter(path, {"depot_id": "SIM", "day": "2026-12-07", "timezone": "UTC",
                                  "source": "twin"})  # fmt: skip
    DayRun(day, sweep_plan(day), seed=8, rules=default_rules(), travel=HaversineTravelModel(),
           trouble=TroubleSpec.parse("breakdown=1,silent=1,delay=0,detour=0,late_orders=1"),
           recorder=writer, honour_modes=True, streets=False, iterations=40).run()  # fmt: skip
    writer.close()
    return path


def _replay_window(qtbot, tmp_path, recorded_day):
    """The real window on a scratch store with the recorded day opened read-only."""
    settings = replace(Settings.from_env(), simulate=False, demo=False, mqtt_url="",
                       database_url=f"sqlite:///{tmp_path}/scratch.sqlite3")  # fmt: skip
    window = MainWindow(AppContext(settings, headless=True))
    qtbot.addWidget(window)
    window.show()
    return window, open_replay(window, recorded_day)


def test_a_recorded_day_starts_no_live_eta_travel_job(qtbot, tmp_path, recorded_day,
                                                       monkeypatch):  # fmt: skip
    """A replay shows recorded data: opening it and jumping around submits no live ETA
    travel job (on a synthetic day its points lie off the streets and the job failed)."""
    from app.jobs.runner import JobKind

    settings = replace(Settings.from_env(), simulate=False, demo=False, mqtt_url="",
                       database_url=f"sqlite:///{tmp_path}/scratch.sqlite3")  # fmt: skip
    context = AppContext(settings, headless=True)
    submitted: list = []
    runner = context.day_jobs.runner
    submit = runner.submit
    monkeypatch.setattr(runner, "submit",
                        lambda kind, job, *a, **k: (submitted.append(kind),
                                                    submit(kind, job, *a, **k))[1])  # fmt: skip
    window = MainWindow(context)
    qtbot.addWidget(window)
    window.show()
    player = open_replay(window, recorded_day)
    replay = player.replay
    for frac in (0.5, 0.1, 0.9):
        player.seek(replay.start + frac * (replay.end - replay.start))
    context.day_jobs.build_eta_travel()  # as the KPI desk asks after learning factors
    qtbot.wait(200)
    assert submitted  # the replay did run its other jobs (the spy sees them)
    assert JobKind.ETA_TRAVEL not in submitted
    qtbot.waitUntil(lambda: not runner.is_running(JobKind.KPIS), timeout=60_000)
    window.close()


def test_a_recorded_day_replays_read_only_and_scrubs(qtbot, tmp_path, recorded_day):
    window, player = _replay_window(qtbot, tmp_path, recorded_day)
    replay, context, bar = player.replay, window.context, window.replay_bar
    assert "Replay" in window.windowTitle() and not window.plan_action.isEnabled()
    assert not window.exceptions_pane.button("ack").isEnabled()
    # Played at 60x: the clock of the day runs with it.
    bar.speed.setCurrentIndex(bar.speed.findData(60))
    start = player.t
    bar.play_button.click()
    qtbot.waitUntil(lambda: player.t > start + 120, timeout=20_000)
    bar.play_button.click()
    assert not player.playing
    # Stepped by ten minutes: the status bar's clock says so.
    before = player.t
    bar.steps[10].trigger()
    assert player.t == pytest.approx(before + 600, abs=1)
    assert f"{replay.local(player.t):%H:%M}" in window.status.fields["clock"].text()
    # Jump to the breakdown: the exception is there, open, and the van stands still.
    mark = next(m for m in replay.marks if m.kind == "exception" and "breakdown" in m.text)
    index = next(i for i in range(bar.jump.count()) if bar.jump.itemData(i) == mark.t)
    bar.jump.activated.emit(index)
    assert player.t == pytest.approx(mark.t)
    ids = {e.id for e in context.board.open_entries()}
    assert mark.key in ids
    broken = context.board.get(mark.key).exception.vehicle_id
    assert broken in window.map_pane._positions  # the van is on the map, where it stopped
    # Scrubbed back to the start: nothing raised yet, no stop served, no firing.
    bar.slider.setValue(0)
    assert player.t == pytest.approx(replay.start)
    assert not context.board.open_entries()
    assert not any(s.status.is_done for r in context.state.routes for s in r.stops)
    assert window.rules_desk.pane.firings_model.rowCount() == 0
    # To the end: the shadow firings are listed, served stops are on the timeline.
    bar.slider.setValue(bar.slider.maximum())
    assert window.rules_desk.pane.firings_model.rowCount() == len(replay.firings) > 0
    assert any(s.status.is_done for r in context.state.routes for s in r.stops)
    qtbot.wait(500)
    window.grab().save(str(tmp_path / "replay.png"))
    window.close()


def test_a_jump_shows_the_exceptions_open_at_that_minute(qtbot, tmp_path, recorded_day):
    """Scrubbing forwards and back, the exceptions table lists exactly the exceptions open
    at the minute shown (raised by then, not yet resolved), with their state then; those
    resolved in the hour before are on the board, older ones are not."""
    from app.recorder.player import RECENT_RESOLVED_S

    window, player = _replay_window(qtbot, tmp_path, recorded_day)
    replay, pane, model = player.replay, window.exceptions_pane, window.exceptions_model
    recorded = replay.exceptions
    assert any(e["resolved_at"] for e in recorded)  # the day has both kinds to tell apart

    def open_at(t: float) -> set[str]:
        return {e["id"] for e in recorded
                if e["detected_at"] <= t and not (e["resolved_at"] and e["resolved_at"] <= t)}  # fmt: skip

    def shown() -> set[str]:
        return {model.entry_at(r).id for r in range(pane.visible_count())}

    span = replay.end - replay.start
    checked = 0
    for fraction in (0.5, 0.9, 0.2, 0.95, 0.6, 0.1):
        t = replay.start + fraction * span
        player.seek(t)
        expected = open_at(t)
        assert shown() == expected, f"at {replay.local(t):%H:%M}"
        assert {e.id for e in window.board.open_entries()} == expected
        on_board = {e.id for e in window.board.entries()}
        for e in recorded:
            gone = e["resolved_at"] and e["resolved_at"] <= t
            if e["detected_at"] > t:
                assert e["id"] not in on_board  # not raised yet
            elif gone and e["resolved_at"] < t - RECENT_RESOLVED_S:
                assert e["id"] not in on_board  # resolved long before
            elif gone:
                assert e["id"] in on_board and not window.board.get(e["id"]).is_open
        checked += len(expected)
        # The state column says what a dispatcher saw then: acknowledged or new.
        for r in range(pane.visible_count()):
            entry = model.entry_at(r)
            raw = next(e for e in recorded if e["id"] == entry.id)
            acked = raw["acknowledged_at"] is not None and raw["acknowledged_at"] <= t
            assert model.index(r, 8).data() == ("acknowledged" if acked else "new")
    assert checked > 0
    # Showing resolved ones too lists the board: open first, then the recently resolved.
    pane._open_only.setChecked(False)
    states = [model.index(r, 8).data() for r in range(pane.visible_count())]
    assert states == sorted(states, key=lambda s: s == "resolved")
    window.close()


def test_a_minute_shows_the_same_however_it_was_reached(qtbot, tmp_path, recorded_day):
    """A jump redraws only what changed since the minute shown before; whatever minute it
    came from, the window shows what the recording says of the minute it went to: each
    stop's state, each vehicle where it was, and a timeline and an exceptions table that
    are those drawn anew from that minute alone."""
    from app.exceptions.model import ExceptionsTableModel
    from engine.model import StopStatus
    from tests.widgets.test_map_pane import js
    from tests.widgets.test_timeline_pane import _drawn
    from widgets.map_data import plan_layers
    from widgets.timeline_pane import TimelinePane

    window, player = _replay_window(qtbot, tmp_path, recorded_day)
    replay, state, board = player.replay, window.context.state, window.board
    index = state.index
    span = replay.end - replay.start
    map_pane = window.map_pane
    qtbot.waitUntil(lambda: map_pane.is_ready, timeout=20_000)
    page_stops = (
        "JSON.stringify(Object.keys(dd.stops).sort().map(function (k) { var d = dd.stops[k]"
        ".data; return [k, d.route, d.seq, d.status, d.fill, d.late, d.locked, d.label,"
        " dd.stops[k].layer.options.fillColor]; }))"
    )
    # The dispatcher zoomed the timeline in: a jump within the same plan keeps the zoom.
    view = window.timeline_pane.view_box
    view.setXRange(30_000, 33_600, padding=0)
    zoomed = view.viewRange()[0]
    player.seek(replay.start + 0.4 * span)
    assert view.viewRange()[0] == zoomed
    seen = set()
    for fraction in (0.55, 0.15, 0.9, 0.35, 0.97, 0.6, 0.05, 0.7):
        t = replay.start + fraction * span
        player.seek(t)
        at = replay.stops_at(t)
        shown = {s.order_id: s.status for r in state.routes for s in r.stops}
        assert shown == {o: at[o].status if o in at else StopStatus.PLANNED for o in shown}
        positions = replay.positions_at(t)
        assert {v: (p.lat, p.lon) for v, p in window.map_pane._positions.items()} == {
            v: (p.lat, p.lon) for v, p in positions.items()
        }
        assert window.map_pane._plan is state.plan
        assert window.map_pane._late == frozenset(board.late_risk_orders())
        fresh = TimelinePane()
        qtbot.addWidget(fresh)
        fresh.set_plan(state.plan, index.orders, index.vehicles, index.drivers,
                       index.depot.timezone, labels=state.labels)  # fmt: skip
        fresh.set_late_risk(board.late_risk_orders())
        assert _drawn(window.timeline_pane) == _drawn(fresh), f"at {replay.local(t):%H:%M}"
        table = window.exceptions_model
        anew = ExceptionsTableModel(board, clock=window._now, labels=lambda: state.labels)
        assert [table.entry_at(r) for r in range(table.rowCount())] == [
            anew.entry_at(r) for r in range(anew.rowCount())
        ]
        fresh.close()
        # The map's page shows each stop as a page given this minute's plan alone would
        # (a stop whose state alone changed went to it as a short row).
        late = frozenset(board.late_risk_orders())
        drawn = plan_layers(state.plan, index.orders, index.depot, late)["stops"]
        expected_page = sorted(
            [s["id"], s["route"], s["seq"], s["status"], s["fill"], s["late"], s["locked"],
             s["label"], s["fill"]] for s in drawn
        )  # fmt: skip
        qtbot.waitUntil(
            lambda want=expected_page: js(qtbot, map_pane, page_stops) == want, timeout=5000
        )
        seen.add((table.rowCount(), sum(s is not StopStatus.PLANNED for s in shown.values())))
    assert len(seen) > 3  # the minutes differ in what they show
    window.close()


def test_closing_the_window_while_the_days_kpis_are_read_ends_them_promptly(
    qtbot, tmp_path, recorded_day, monkeypatch
):
    """A replay window reads its day's KPIs in the background once the KPI tab is shown
    (on a big day for minutes: every fix into a store, a street matrix per route; not
    before, so it takes no CPU from the jumps behind the timeline). Closing the window
    meanwhile stops that reading at its next piece of work, so the process ends in
    seconds, not minutes."""
    import threading
    import time

    from app.jobs.runner import JobKind
    from app.kpis import recorded

    reading = threading.Event()
    write = recorded.write_telemetry

    def slow_write(*args, **kwargs):  # a fix at a time, each slow: minutes for the day
        reading.set()
        time.sleep(0.05)
        return write(*args, **kwargs)

    monkeypatch.setattr(recorded, "_BATCH", 1)
    monkeypatch.setattr(recorded, "write_telemetry", slow_write)
    window, _player = _replay_window(qtbot, tmp_path, recorded_day)
    jobs = window.kpi_desk.jobs
    qtbot.wait(200)
    assert not jobs.is_running(JobKind.KPIS)  # read once the KPI tab is shown, not before
    window._docks["kpis"].raise_()
    qtbot.waitUntil(lambda: jobs.is_running(JobKind.KPIS), timeout=5000)
    assert reading.wait(30)  # the day's fixes are going into the KPI store
    closed = time.monotonic()
    window.close()
    assert jobs.wait(3000), "the KPI reading went on after the window closed"
    assert time.monotonic() - closed < 5


def test_the_opened_day_is_left_out_of_the_collectors_passes(qtbot, tmp_path, recorded_day):
    """A recorded day holds millions of objects for as long as its window is open; a full
    collector pass over them stalled a jump by a third of a second on a 2,000-van day. Once
    the day is open, its objects are no longer walked by the collector."""
    import gc

    gc.unfreeze()  # what earlier windows of this process left frozen is walked again
    window, player = _replay_window(qtbot, tmp_path, recorded_day)
    replay = player.replay
    assert gc.is_tracked(replay) and gc.is_tracked(replay.tracks)
    walked = {id(o) for o in gc.get_objects()}
    assert id(replay) not in walked and id(replay.tracks) not in walked
    t = replay.start + 0.5 * (replay.end - replay.start)
    player.seek(t)  # and the jumps go on as before
    assert window.context.state.plan is not None
    # The collector waits while jumps come; a moment after the last one, what it made and
    # keeps (the routes with their stops' states merged, which the panes hold too) is left
    # out as well, not walked in a later jump, and the collector runs again.
    assert not gc.isenabled()
    recorded_routes = {id(r) for r in replay.versions[0][3].routes}
    route = next(r for r in window.context.state.plan.routes if id(r) not in recorded_routes)
    qtbot.waitUntil(gc.isenabled, timeout=3000)
    assert id(route) not in {id(o) for o in gc.get_objects()}
    player.seek(t + 600)
    assert not gc.isenabled() and player._settle.isActive()
    player.play()  # while playing, each step leaves the collector running
    qtbot.waitUntil(lambda: player.t > t + 600, timeout=3000)
    player.pause()
    assert gc.isenabled()
    window.close()
