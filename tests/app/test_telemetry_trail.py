"""A vehicle's trail in memory is packed in arrays: it reads back exactly the fixes a list
of fix objects kept (the newest ones, in time order, back-filled ones where their time
puts them), with unreported speeds, headings and accuracies still None."""

from __future__ import annotations

import bisect
import random

import pytest

from app.telemetry.messages import Fix
from app.telemetry.state import LiveState, Trail


def _kept_as_list(fixes: list[Fix], limit: int) -> list[Fix]:
    """What the trail held when it was a list of fix objects."""
    trail: list[Fix] = []
    for fix in fixes:
        if not trail or fix.ts >= trail[-1].ts:
            trail.append(fix)
        else:
            bisect.insort(trail, fix, key=lambda f: f.ts)
        if len(trail) > limit:
            del trail[: len(trail) - limit]
    return trail


def _fixes(rng: random.Random, n: int) -> list[Fix]:
    out, ts = [], 1_760_000_000.0
    for seq in range(1, n + 1):
        back = rng.random() < 0.15  # a back-filled fix, up to two minutes old
        when = ts - rng.uniform(0, 120) if back else ts
        ts += rng.choice((0.0, 0.5, 1.0, 1.0, 3.0))  # equal times happen
        out.append(
            Fix(
                "V7", seq, when, 40.7 + rng.random() / 10, -111.9 + rng.random() / 10,
                rng.choice((None, rng.uniform(0, 90))), rng.choice((None, rng.uniform(0, 360))),
                rng.choice((None, rng.uniform(1, 50))), rng.choice(("native", "traccar")),
                not back,
            )
        )  # fmt: skip
    return out


@pytest.mark.parametrize("limit", [1, 5, 60])
def test_the_packed_trail_reads_back_what_a_list_of_fixes_kept(limit):
    rng = random.Random(limit)
    fixes = _fixes(rng, 700)
    trail = Trail("V7", limit)
    for k, fix in enumerate(fixes, start=1):
        trail.add(fix)
        if k % 37 == 0 or k == len(fixes):
            expected = _kept_as_list(fixes[:k], limit)
            assert list(trail) == expected
            assert len(trail) == len(expected)
            assert trail[-1] == expected[-1] and trail[0] == expected[0]
            assert trail[1:3] == expected[1:3]
    assert any(f.speed_kmh is None for f in trail) or limit < 5
    with pytest.raises(IndexError):
        trail[limit]


def test_live_state_keeps_each_vehicle_s_trail_packed():
    state = LiveState(trail_points=3)
    fixes = [Fix("V1", s, 100.0 + s, 40.7, -111.9) for s in range(1, 6)]
    state.apply_fixes([*fixes, Fix("V2", 1, 50.0, 40.8, -111.8, 30.0)])
    assert isinstance(state.trails["V1"], Trail)
    assert list(state.trails["V1"]) == fixes[-3:]
    assert state.trails["V2"][-1] == Fix("V2", 1, 50.0, 40.8, -111.8, 30.0)
