"""A day's trails folded all at once give each vehicle the totals of the fix-by-fix fold."""

from __future__ import annotations

import math
from dataclasses import astuple

import numpy as np
import pytest

from engine.history import TrackTally, fold_trails
from engine.model import Location

DEPOT = Location(40.76, -111.95)


def _trails(seed: int, vehicles: int = 120):
    """Vans wandering from the depot: fixes every 0.4 s to 60 s (some on whole seconds,
    as SQLite gives them), GPS jumps, stand-stills, stops along the way, and a van with a
    single fix."""
    rng = np.random.default_rng(seed)
    out = []
    for v in range(vehicles):
        n = 1 if v == 0 else int(rng.integers(2, 400))
        every = float(rng.choice([0.4, 1.0, 5.0, 60.0]))
        ts = 1.8e9 + rng.uniform(0, 3600) + np.cumsum(rng.exponential(every, n))
        ts = np.sort(np.floor(ts) if v % 2 else ts)
        moving = rng.random(n) > 0.3
        lat = DEPOT.lat + np.cumsum(rng.normal(0, 0.0005, n) * moving)
        lon = DEPOT.lon + np.cumsum(rng.normal(0, 0.0005, n) * moving)
        lat[rng.random(n) < 0.01] += 0.5
        picks = rng.integers(0, n, int(rng.integers(0, 30)))
        stops = [Location(float(lat[i]), float(lon[i]) + 0.0005) for i in picks]
        out.append((ts, lat, lon, stops))
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_all_at_once_equals_fix_by_fix(seed):
    trails = _trails(seed)
    bounds = np.cumsum([0] + [len(t[0]) for t in trails])
    folded = fold_trails(np.concatenate([t[0] for t in trails]),
                         np.concatenate([t[1] for t in trails]),
                         np.concatenate([t[2] for t in trails]), bounds,
                         [t[3] for t in trails], DEPOT)  # fmt: skip
    assert len(folded) == len(trails)
    left = returned = idle = 0
    for (ts, lat, lon, stops), new in zip(trails, folded, strict=True):
        old = TrackTally()
        old.add(ts, lat, lon, stops, DEPOT)
        assert (new.fixes, new.seen, new.last, new.at_depot) == (
            old.fixes, old.seen, old.last, old.at_depot)  # fmt: skip
        assert (new.exits, new.returns) == (old.exits, old.returns)
        assert new.buckets.keys() == old.buckets.keys()
        for b, row in old.buckets.items():  # sums of the same steps, added in another order
            assert all(math.isclose(x, y, rel_tol=1e-12, abs_tol=1e-9)
                       for x, y in zip(new.buckets[b], row, strict=True))  # fmt: skip
        assert astuple(new.figures()) == pytest.approx(astuple(old.figures()), rel=1e-12)
        left, returned = left + len(old.exits), returned + len(old.returns)
        idle += old.figures().idle_s > 0
    assert left and returned and idle  # the trails did leave, come back and stand idle


def test_a_vehicle_without_fixes_is_refused():
    with pytest.raises(ValueError, match="at least one fix"):
        fold_trails(np.zeros(2), np.zeros(2), np.zeros(2), np.array([0, 2, 2]), [[], []])
