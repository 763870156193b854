"""The hostile traffic drill of `main.py reliability`, on a smaller fleet: every attack
refused under its reason, nothing wrongly applied, no tracker locked out, no writer stall."""

from __future__ import annotations

import pytest

from bench.drills.hostile import OTHER_DEPOT, drill_hostile_traffic

pytestmark = [pytest.mark.mqtt, pytest.mark.slow]


def test_hostile_traffic_is_refused_and_counted():
    # its own broker, as `main.py reliability` runs it: the session's is shared with tests
    # that leave persistent sessions queueing behind them
    result = drill_hostile_traffic(vehicles=300, seconds=8, seed=3)
    print(result.table())
    assert result.ok, result.table()
    assert result.not_received == result.tried[OTHER_DEPOT]
    for reason in ("bad_value", "seq_jump", "outside_service_area", "stop_not_on_route",
                   "too_large", "not_json", "duplicate_or_replayed_seq", "impossible_jump"):  # fmt: skip
        assert result.rejected.get(reason), reason
    assert "decoder_error" not in result.rejected
    assert sum(result.rejected.values()) == sum(result.tried.values()) - result.not_received
