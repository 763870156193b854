"""Trail totals kept batch by batch (as the breadcrumbs are stored) give the very numbers
of one fold of the whole trail, whatever the batches, and idle time against any stops."""

from __future__ import annotations

import json

import numpy as np

from engine.history import TrackTally, TrailTotals, fold_totals, fold_trails, tallies_of
from engine.model import Location

DEPOT = Location(40.0, -111.0)


def _day(seed: int, vehicles: int = 12):
    """Trails that drive, crawl, stand and come back, with gaps and fractional times."""
    rng = np.random.default_rng(seed)
    ts, lat, lon, bounds, stops = [], [], [], [0], []
    for k in range(vehicles):
        n = int(rng.integers(3, 500))
        t = 1.7e9 + np.cumsum(rng.choice([1, 3, 7, 14, 20, 61, 700], n)).astype(float)
        t = np.floor(t) if k % 2 else t + rng.random(n) * 0.5
        walk = np.cumsum(rng.normal(0, 0.0003, (n, 2)) * (rng.random((n, 1)) < 0.6), axis=0)
        ts.append(t)
        lat.append(DEPOT.lat + walk[:, 0])
        lon.append(DEPOT.lon + walk[:, 1])
        bounds.append(bounds[-1] + n)
        picks = rng.integers(0, n, 5)
        stops.append([Location(float(lat[-1][i]), float(lon[-1][i])) for i in picks])
    return np.concatenate(ts), np.concatenate(lat), np.concatenate(lon), np.array(bounds), stops


def _same(a: TrackTally, b: TrackTally) -> bool:
    return (a.last, a.fixes, a.buckets, a.exits, a.returns, a.at_depot, a.seen) == (
        b.last, b.fixes, b.buckets, b.exits, b.returns, b.at_depot, b.seen)  # fmt: skip


def test_totals_kept_batch_by_batch_are_those_of_one_fold_to_the_bit():
    for seed in (1, 2, 3):
        ts, lat, lon, bounds, stops = _day(seed)
        want = fold_trails(ts, lat, lon, bounds, stops, DEPOT)
        assert _same_all(tallies_of(fold_totals(ts, lat, lon, bounds, DEPOT), stops, DEPOT), want)
        rng = np.random.default_rng(seed)
        kept = []
        for k in range(len(bounds) - 1):
            a, e = int(bounds[k]), int(bounds[k + 1])
            cuts = sorted(set(rng.integers(a + 1, e, 8).tolist())) if e - a > 2 else []
            totals = None
            for s0, s1 in zip([a, *cuts], [*cuts, e], strict=True):
                (totals,) = fold_totals(ts[s0:s1], lat[s0:s1], lon[s0:s1],
                                        np.array([0, s1 - s0]), DEPOT, [totals])  # fmt: skip
                totals = TrailTotals.from_json(json.loads(json.dumps(totals.to_json())))
            kept.append(totals)
        assert _same_all(tallies_of(kept, stops, DEPOT), want)


def test_idle_time_follows_the_stops_given_not_those_of_the_time_of_keeping():
    ts, lat, lon, bounds, stops = _day(4)
    totals = fold_totals(ts, lat, lon, bounds, DEPOT)
    other = [s[::-1][:2] for s in stops]  # a re-plan: other stops
    assert _same_all(
        tallies_of(totals, other, DEPOT), fold_trails(ts, lat, lon, bounds, other, DEPOT)
    )
    idle = [sum(v[3] for v in t.buckets.values()) for t in tallies_of(totals, [[]] * 12, DEPOT)]
    fewer = [sum(v[3] for v in t.buckets.values()) for t in tallies_of(totals, stops, DEPOT)]
    assert sum(idle) > sum(fewer)  # standing at a stop is not idle


def test_a_state_of_another_kind_is_not_taken_for_kept_totals():
    assert TrailTotals.from_json(TrackTally().to_json()) is None


def _same_all(got, want) -> bool:
    return len(got) == len(want) and all(_same(a, b) for a, b in zip(got, want, strict=True))


def test_figures_of_kept_totals_are_those_of_the_fold_for_any_stretch_to_the_bit():
    """The tallies worked from kept totals hold their buckets as one array: the driven
    distance, moving, still and idle time of any stretch (a route of a van that drove
    two) are still the sums of one fold, bit for bit (zero signs included)."""
    for seed in (5, 6):
        ts, lat, lon, bounds, stops = _day(seed)
        want = fold_trails(ts, lat, lon, bounds, stops, DEPOT)
        kept = [TrailTotals.from_json(json.loads(json.dumps(t.to_json())))
                for t in fold_totals(ts, lat, lon, bounds, DEPOT)]  # fmt: skip
        got = tallies_of(kept, stops, DEPOT)
        rng = np.random.default_rng(seed)
        for a, b in zip(got, want, strict=True):
            cuts = [(None, None), *[tuple(sorted(rng.uniform(ts.min() - 600, ts.max() + 600, 2)))
                                    for _ in range(20)]]  # fmt: skip
            for start, end in cuts:
                fa, fb = a.figures(start, end), b.figures(start, end)
                assert repr(fa) == repr(fb)
