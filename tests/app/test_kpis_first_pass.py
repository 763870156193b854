"""A day's first KPI pass (every breadcrumb read as columns, trails folded all at once)
gives every KPI row the fix-by-fix fold gives, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from app.kpis.facts import TallyCache, day_bounds
from app.kpis.service import compute_day
from app.store import repository
from app.store import repository_kpis as rk
from bench.kpis import synthesize
from engine.history import TrackTally
from engine.travel import HaversineTravelModel


def _fix_by_fix(store, depot_id, day, as_of) -> TallyCache:
    """The trail totals as the fold did them before: breadcrumbs read row by row, each
    vehicle's fed to its own tally."""
    with store.read_session() as s:
        day_input = repository.load_day(s, depot_id, day)
        plan = repository.load_plan(s, depot_id, day)
        start, _end = day_bounds(day_input.depots[0].timezone, day)
        orders = {o.id: o for o in day_input.orders}
        stops = defaultdict(list)
        for r in plan.routes:
            stops[r.vehicle_id] += [orders[x.order_id].location for x in r.stops]
        rows = defaultdict(list)
        for vid, ts, lat, lon in rk.breadcrumbs(s, sorted(stops), start, as_of):
            rows[vid].append((ts, lat, lon))
    cache = TallyCache()
    cache.key = (depot_id, day)
    for vid, fixes in rows.items():
        arr = np.array(fixes)
        cache.tallies[vid] = TrackTally()
        cache.tallies[vid].add(arr[:, 0], arr[:, 1], arr[:, 2], stops[vid],
                               day_input.depots[0].location)  # fmt: skip
        cache.through[vid] = datetime.fromtimestamp(float(arr[-1, 0]), UTC)
    return cache


def test_first_pass_gives_every_kpi_row_of_the_fix_by_fix_fold(store):
    depot_id, day, last = synthesize(store, 12, 60.0)
    as_of = last - timedelta(hours=1)  # some vans still out
    travel = HaversineTravelModel()
    first = compute_day(store, depot_id, day, as_of=as_of, final=False, travel=travel,
                        tallies=TallyCache(), save=False)  # fmt: skip
    before = compute_day(store, depot_id, day, as_of=as_of, final=False, travel=travel,
                         tallies=_fix_by_fix(store, depot_id, day, as_of), save=False)  # fmt: skip
    new = {(v.name, v.scope, v.key): v for v in first.report.values}
    old = {(v.name, v.scope, v.key): v for v in before.report.values}
    assert new.keys() == old.keys() and len(new) > 500
    for key, v in old.items():
        w = new[key]
        assert w.unit == v.unit, key
        assert (w.numerator, w.denominator) == pytest.approx(
            (v.numerator, v.denominator), rel=1e-9, abs=1e-9), key  # fmt: skip
        assert (w.value is None) == (v.value is None), key
        if v.value is not None:
            assert w.value == pytest.approx(v.value, rel=1e-9, abs=1e-9), key
    driven = [r.driven_km for r in first.data.facts.routes]
    assert len(driven) == 12 and min(driven) > 1  # every van's trail was read and measured
    assert first.report.value("idle_pct") is not None


def test_routes_off_the_streets_are_told_in_one_warning(store, caplog, monkeypatch):
    """A big day's planned distances (a matrix per route) on the demo city's streets: the
    routes with a point far from any street go on straight lines, said once for all."""
    import app.kpis.facts as facts

    monkeypatch.setattr(facts, "WHOLE_DAY_MATRIX_MAX", 0)  # as on a 2,000-vehicle day
    depot_id, day, last = synthesize(store, 12, 60.0)
    with caplog.at_level("WARNING", logger="app.kpis.facts"):
        result = compute_day(store, depot_id, day, as_of=last, final=False, save=False)
    said = [r.getMessage() for r in caplog.records if "straight lines" in r.getMessage()]
    assert len(said) == 1, said
    assert " of 12 routes on straight lines; the first: point " in said[0]
    assert all(r.planned_km > 0 for r in result.data.facts.routes)
