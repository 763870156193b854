"""The dispatch service as the day state's one writer: each change shown once, with its source."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from app.day.state import ChangeSource, DayState
from app.dispatch.orders import OrderDesk
from app.dispatch.service import DispatchService
from app.store import StaleVersionError, open_store, repository
from app.telemetry.state import StopState
from engine.model import Stop, StopStatus, TimeWindow
from engine.travel import HaversineTravelModel
from tests.app.test_dispatch_support import DAY, SUPERVISOR, at, seed, small_day, small_plan

TRAVEL = HaversineTravelModel()


@pytest.fixture
def shown(qtbot, tmp_path):
    """A store with the small day, a day state opened on it by a supervisor's service, and
    the change records the state broadcast since (a list)."""
    store = open_store(f"sqlite:///{tmp_path / 'store.sqlite3'}", workstation="test-desk")
    seed(store, small_day(), small_plan())
    state = DayState()
    service = DispatchService(store, TRAVEL, actor=SUPERVISOR, role="supervisor", state=state)
    service.open_day(small_day(), "SLC")
    records: list = []
    state.sig_changed.connect(records.append)
    yield store, state, service, records
    store.close()


def test_opening_the_day_shows_it_with_its_stored_plan(qtbot, tmp_path):
    """open_day puts the day and its stored plan in the state, as one 'start' record."""
    store = open_store(f"sqlite:///{tmp_path / 'store.sqlite3'}", workstation="test-desk")
    try:
        seed(store, small_day(), small_plan())
        state = DayState()
        records: list = []
        state.sig_changed.connect(records.append)
        service = DispatchService(store, TRAVEL, actor=SUPERVISOR, role="supervisor", state=state)
        plan = service.open_day(small_day(), "SLC")
        assert state.plan == plan and state.index is not None and state.index.depot.id == "SLC"
        assert [(r.everything, r.source) for r in records] == [(True, ChangeSource.START)]
    finally:
        store.close()


def test_a_command_is_shown_once_by_the_service(shown):
    """A reassign puts its new plan in the day state and broadcasts exactly one record naming
    the two routes it changed; undo does the same the other way."""
    _store, state, service, records = shown
    result = service.reassign(state.plan, state.index.day, ["O5"], "R-V3")
    assert state.plan == result.plan and state.plan.route_of("O5").id == "R-V3"
    assert len(records) == 1
    assert records[0].source is ChangeSource.REASSIGN and records[0].routes == {"R-V2", "R-V3"}
    assert records[0].source.is_command
    service.apply_undo(state.plan, result.undo)
    assert state.plan.route_of("O5").id == "R-V2"
    assert [r.source for r in records] == [ChangeSource.REASSIGN, ChangeSource.UNDO]


def test_a_refused_stale_edit_shows_the_plan_as_stored(shown):
    """Another desk moved V3's stops first: the reassign is refused and the state now shows
    the stored plan (theirs), in one record."""
    store, state, service, records = shown
    with store.session() as s:
        version = repository.route_versions(s, "SLC", DAY)["R-V3"]
        stops = (Stop("O12"), Stop("O11"), Stop("O10"), Stop("O9"))
        repository.update_route_stops(s, "R-V3", stops, base_version=version, actor="x@desk-9")
    with pytest.raises(StaleVersionError):
        service.reassign(state.plan, state.index.day, ["O5"], "R-V3")
    assert state.route("R-V3").order_ids == ("O12", "O11", "O10", "O9")
    assert len(records) == 1 and records[0].source is ChangeSource.PLAN


def test_stop_results_from_telemetry_change_only_their_route(shown):
    """A delivery reported by telemetry is laid over the shown plan: one 'telemetry' record
    naming only that stop's route; the same results again change nothing."""
    _store, state, service, records = shown
    results = {"O5": StopState("O5", "V2", StopStatus.DELIVERED, 1.0e9, 1.0e9 + 60, 1.0e9 + 60)}
    service.merge_stop_results(results)
    assert state.route("R-V2").stops[0].status is StopStatus.DELIVERED
    assert [(r.source, r.routes) for r in records] == [(ChangeSource.TELEMETRY, {"R-V2"})]
    service.merge_stop_results(results)
    assert len(records) == 1


def test_a_command_keeps_the_stop_results_shown(shown):
    """A delivery is shown, then a stop of another route is locked: the plan shown after the
    lock still has the delivery (the map and the timeline keep it served), and so does the
    plan after its undo."""
    _store, state, service, _records = shown
    results = {"O5": StopState("O5", "V2", StopStatus.DELIVERED, 1.0e9, 1.0e9 + 60, 1.0e9 + 60)}
    service.merge_stop_results(results)
    other = next(s.order_id for r in state.plan.routes if r.id != "R-V2" for s in r.stops)
    result = service.set_locked(state.plan, [other], True)
    assert state.plan is result.plan
    assert state.route("R-V2").stops[0].status is StopStatus.DELIVERED
    assert next(s for r in state.plan.routes for s in r.stops if s.order_id == other).locked
    service.apply_undo(state.plan, result.undo)
    assert state.route("R-V2").stops[0].status is StopStatus.DELIVERED


def test_an_order_change_is_what_the_labels_show_next(shown):
    """A changed window (and customer) is what every pane reads next: the exceptions'
    Window column and the stop tooltips come from the day's labels, which must not keep the
    order as it was before the change."""
    _store, state, service, _records = shown
    before = state.labels.window("O8")  # read (and kept) before the change
    old = state.index.orders["O8"]
    changed = replace(old, customer="Renamed Bakery",
                      windows=(TimeWindow(at(8), at(8) + timedelta(minutes=30)),))  # fmt: skip
    desk = OrderDesk(service, TRAVEL)
    impact = desk.preview_change(state.plan, state.index.day, changed, at(7))
    desk.change(state.plan, state.index.day, changed, impact)
    assert state.labels.window("O8") == "08:00–08:30" != before
    assert state.labels.customer("O8").startswith("Renamed Bakery")
