"""The trail totals are kept as the breadcrumbs are stored: a day's first KPI pass reads
a summary per van instead of every breadcrumb, with every KPI value the same as the full
read of a store that kept none (which still works), on SQLite and PostgreSQL — also after
a tracker's late fix (older than the newest stored) and a fix sent twice."""

from __future__ import annotations

import math
from datetime import timedelta

from sqlalchemy import delete, func, select

from app.kpis.facts import TallyCache
from app.kpis.service import compute_day
from app.store.models import BreadcrumbRow, KpiTrackRow
from app.telemetry.messages import Fix
from app.telemetry.persist import write_telemetry
from bench.kpis import synthesize
from engine.travel import HaversineTravelModel

VEHICLES = 8


def _pass(store, depot_id, day, as_of):
    cache = TallyCache()
    result = compute_day(store, depot_id, day, as_of=as_of, final=False,
                         travel=HaversineTravelModel(), tallies=cache, save=False)  # fmt: skip
    rows = sorted([v.name, v.scope, v.key, v.value, v.numerator, v.denominator]
                  for v in result.report.values)  # fmt: skip
    return rows, cache


def _without_totals(store, depot_id, day, as_of):
    with store.session() as s:
        s.execute(delete(KpiTrackRow))
    return _pass(store, depot_id, day, as_of)


def test_first_pass_reads_the_kept_totals_with_the_values_of_the_full_read(store):
    depot_id, day, last = synthesize(store, VEHICLES, 60.0)
    kept, cache = _pass(store, depot_id, day, last)
    assert len(cache.kept) == VEHICLES  # every van's totals came kept
    assert cache.read <= VEHICLES  # its newest fix at most, not the day's trail
    full, cache = _without_totals(store, depot_id, day, last)
    assert not cache.kept and cache.read > 100 * VEHICLES  # an older store: every breadcrumb
    assert kept == full and len(kept) > 300


def test_a_late_fix_and_a_fix_sent_twice_leave_the_kept_totals_those_of_the_full_read(store):
    depot_id, day, last = synthesize(store, VEHICLES, 60.0)
    before, _ = _pass(store, depot_id, day, last)
    with store.read_session() as s:
        vid, ts, lat, lon = s.execute(
            select(BreadcrumbRow.vehicle_id, BreadcrumbRow.ts, BreadcrumbRow.lat,
                   BreadcrumbRow.lon).order_by(BreadcrumbRow.vehicle_id, BreadcrumbRow.ts)
            .offset(40).limit(1)).one()  # fmt: skip
        stored = s.scalar(select(func.count()).where(BreadcrumbRow.vehicle_id == vid))
        seq = s.scalar(select(BreadcrumbRow.seq).where(BreadcrumbRow.vehicle_id == vid,
                                                       BreadcrumbRow.ts == ts))  # fmt: skip
    late = Fix(vid, 10**6, ts.timestamp() + 20.9996, lat + 0.004, lon, 30.0)  # sent late
    again = Fix(vid, seq, ts.timestamp(), lat, lon, 30.0)  # already stored
    # In order, at a time SQLite reads as the next second (strftime rounds to the ms).
    ahead = Fix(vid, 10**6 + 1, math.floor(last.timestamp()) + 60.9996, lat, lon + 0.01, 30.0)
    with store.session() as s:
        write_telemetry(s, [late, again], [], [])
    with store.session() as s:
        write_telemetry(s, [ahead], [], [])
    with store.read_session() as s:
        fixes, state = s.execute(select(KpiTrackRow.fixes, KpiTrackRow.state).where(
            KpiTrackRow.vehicle_id == vid, KpiTrackRow.day == day)).one()  # fmt: skip
        newest = s.scalar(select(func.max(func.extract("epoch", BreadcrumbRow.ts)))
                          .where(BreadcrumbRow.vehicle_id == vid))  # fmt: skip
    assert fixes == stored + 2  # the late fix counted, the one sent twice not
    assert state["seen"] == float(newest)  # its time as the pass reads it
    last += timedelta(minutes=5)
    kept, cache = _pass(store, depot_id, day, last)
    assert vid in cache.kept
    full, _ = _without_totals(store, depot_id, day, last)
    assert kept == full
    driven = {tuple(r[:3]): r[3] for r in kept if r[0] == "distance_driven_km"}
    was = {tuple(r[:3]): r[3] for r in before if r[0] == "distance_driven_km"}
    assert driven[("distance_driven_km", "day", "")] > was[("distance_driven_km", "day", "")]


def test_a_pass_as_of_an_earlier_moment_reads_the_breadcrumbs_to_then(store):
    depot_id, day, last = synthesize(store, VEHICLES, 60.0)
    as_of = last - timedelta(hours=2)
    kept, cache = _pass(store, depot_id, day, as_of)
    assert len(cache.kept) < VEHICLES  # the totals of vans still out then go further
    full, _ = _without_totals(store, depot_id, day, as_of)
    assert kept == full


def test_a_fix_an_offline_desk_back_fills_is_counted_in_the_kept_totals(store, tmp_path):
    # The shared database kept the day's totals as the fixes came; a desk that was offline
    # stored a fix of one van older than those totals go, and copies it across on reconnect.
    from app.store import open_store
    from app.sync.backfill import backfill_telemetry

    depot_id, day, last = synthesize(store, VEHICLES, 60.0)
    with store.read_session() as s:
        vid, ts, lat, lon = s.execute(
            select(BreadcrumbRow.vehicle_id, BreadcrumbRow.ts, BreadcrumbRow.lat,
                   BreadcrumbRow.lon).order_by(BreadcrumbRow.vehicle_id, BreadcrumbRow.ts)
            .offset(40).limit(1)).one()  # fmt: skip
    before, _ = _pass(store, depot_id, day, last)
    local = open_store(f"sqlite:///{tmp_path / 'local.sqlite3'}", workstation="offline-desk")
    try:
        with local.session() as s:
            write_telemetry(s, [Fix(vid, 10**6, ts.timestamp() + 20.5, lat + 0.004, lon, 30.0)],
                            [], [])  # fmt: skip
        assert backfill_telemetry(local, store)[0] == 1
    finally:
        local.close()
    kept, cache = _pass(store, depot_id, day, last)
    assert vid in cache.kept and cache.read <= VEHICLES  # still read from the kept totals
    full, _ = _without_totals(store, depot_id, day, last)
    assert kept == full  # the back-filled fix counted, as a full read counts it
    driven = {tuple(r[:3]): r[3] for r in kept if r[0] == "distance_driven_km"}
    was = {tuple(r[:3]): r[3] for r in before if r[0] == "distance_driven_km"}
    assert (
        driven[("distance_driven_km", "vehicle", vid)] > was[("distance_driven_km", "vehicle", vid)]
    )


def test_planned_distances_of_a_big_day_summed_from_legs_are_those_of_each_routes_matrix(
    store, monkeypatch
):
    # A day too big for one matrix: the straight-line model's legs of every route at once
    # give each route's planned distance as a matrix of its own stops gives it.
    import app.kpis.facts as facts
    from engine.travel import HaversineTravelModel

    class MatricesOnly:  # a model without legs: a matrix per route
        def matrices(self, points, depart=None):
            return HaversineTravelModel().matrices(points, depart)

    monkeypatch.setattr(facts, "WHOLE_DAY_MATRIX_MAX", 0)
    depot_id, day, last = synthesize(store, VEHICLES, 60.0)
    rows = {}
    for name, travel in (("legs", HaversineTravelModel()), ("matrices", MatricesOnly())):
        with store.session() as s:  # the planned distances kept by the pass before
            s.execute(delete(KpiTrackRow).where(KpiTrackRow.vehicle_id == facts.PLANNED_KEY))
        result = compute_day(store, depot_id, day, as_of=last, final=False, travel=travel,
                             tallies=TallyCache(), save=False)  # fmt: skip
        rows[name] = sorted([v.name, v.scope, v.key, v.value, v.numerator, v.denominator]
                            for v in result.report.values)  # fmt: skip
    planned = [r for r in rows["legs"] if r[0] == "distance_planned_km"]
    assert len(planned) > VEHICLES and all(r[3] > 0 for r in planned)
    assert rows["legs"] == rows["matrices"]
