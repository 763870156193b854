"""A recorded day's file loaded into an empty database, SQLite or PostgreSQL alike: the same
numbers as the hand count of the day it was recorded from."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from app.kpis.recorded import load_recorded
from app.kpis.service import compute_day
from app.store import open_store
from app.store.day_export import export_day
from app.store.models import ChangeLogRow
from engine.travel import HaversineTravelModel
from tests.app.test_kpis_facts import DAY, at, record


@pytest.fixture
def day_file(tmp_path):
    """The recorded small day exported to one file (from a SQLite desk of its own)."""
    desk = open_store(f"sqlite:///{tmp_path / 'desk.sqlite3'}", workstation="desk")
    try:
        record(desk)
        with desk.session() as s:  # the commands were given during the day, not today
            s.execute(update(ChangeLogRow).where(ChangeLogRow.entity == "command")
                      .values(at=at(50)))  # fmt: skip
        with desk.read_session() as s:
            export_day(s, "D1", DAY, tmp_path / "day.dday", workstation="desk", actor="test")
    finally:
        desk.close()
    return tmp_path / "day.dday"


def test_a_recorded_day_loads_into_the_database_with_the_hand_counted_numbers(store, day_file):
    """Four stops: A on time, B late (95 > 90), C failed then delivered, D never reached;
    E1 handled by a person, E2 cleared by the rule; ETAs replayed from the trail."""
    depot_id, day, ended = load_recorded(store, day_file)
    assert (depot_id, day) == ("D1", DAY)
    assert ended >= at(100)
    result = compute_day(store, depot_id, day, as_of=ended, final=True,
                         travel=HaversineTravelModel(), save=True)  # fmt: skip
    k = {v.name: v for v in result.report.values if v.scope == "day"}
    assert (k["on_time_delivery_pct"].numerator, k["on_time_delivery_pct"].denominator) == (2, 4)
    assert k["late_stops"].value == 2
    assert k["first_attempt_success_pct"].value == pytest.approx(100 * 2 / 3)
    assert k["exceptions_handled"].value == 1
    assert k["person_commands"].value == 1
    assert k["exception_ack_median_min"].value == pytest.approx(4.0)
    assert k["eta_mae_15_min"].value is not None
    r1 = next(r for r in result.data.facts.routes if r.route_id == "R1")
    assert r1.driven_km == pytest.approx(18.0, rel=0.02)
    assert result.saved > 0  # kept for trends in that database too


def test_a_recorded_day_loaded_keeps_its_trail_totals_for_the_first_pass(store, day_file):
    """Loading a .dday stores its breadcrumbs as the live desk does: the vans' trail
    totals are kept on the way, and the first pass reads them, with the values of the
    full read of every breadcrumb."""
    from sqlalchemy import delete, select

    from app.kpis.facts import TallyCache
    from app.store.models import KpiTrackRow

    depot_id, day, ended = load_recorded(store, day_file)
    with store.read_session() as s:
        kept = set(s.scalars(select(KpiTrackRow.vehicle_id).where(KpiTrackRow.day == day)))
    assert kept
    values = []
    for drop in (False, True):
        if drop:
            with store.session() as s:
                s.execute(delete(KpiTrackRow))
        cache = TallyCache()
        result = compute_day(store, depot_id, day, as_of=ended, final=True,
                             travel=HaversineTravelModel(), tallies=cache, save=False)  # fmt: skip
        assert bool(cache.kept) is not drop
        values.append(sorted([v.name, v.scope, v.key, v.value] for v in result.report.values))
    assert values[0] == values[1]
