"""Hypothesis-chosen interleavings of offline edits (moves between routes, locks, fleet
re-plans, a plan of the day made while the other desk edits, conflicts resolved keeping
mine or theirs) on two desks: nothing silently overwritten, nothing lost, every conflict
recorded with both versions, both converge, every copy keeps the day's invariants and no
command is left waiting."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.drills.interleave import Step, run_interleaving

pytestmark = pytest.mark.postgres

EXAMPLES = int(os.environ.get("DISPATCH_INTERLEAVE_EXAMPLES", "25"))

steps = st.lists(
    st.builds(
        Step,
        desk=st.integers(0, 1),
        action=st.sampled_from(
            ["edit", "move", "move", "lock", "plan", "plan_day", "mine", "theirs", "sync", "toggle"]
        ),  # fmt: skip
        route=st.integers(0, 2),
    ),
    max_size=25,
)


@pytest.mark.slow
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=steps)
def test_offline_interleavings_never_overwrite_silently(postgres_url: str, steps) -> None:
    """Whatever the order of edits, syncs and outages, edits land or conflict, never vanish."""
    with tempfile.TemporaryDirectory() as workdir:
        verdict = run_interleaving(postgres_url, Path(workdir), steps)
    assert verdict.lost == 0
    assert verdict.overwritten == 0
    assert verdict.conflicts_unexplained == 0
    assert verdict.converged
    assert verdict.invariant_violations == 0
    assert verdict.stuck == 0


def test_keep_mine_after_crossing_moves_keeps_every_order_once(postgres_url: str) -> None:
    """The walk's sequence: both desks move stops across the same routes offline, one keeps
    mine, the other plans the day meanwhile; every copy keeps each order once."""
    steps = [
        Step(0, "toggle"), Step(0, "move", 0), Step(1, "move", 0), Step(1, "sync"),
        Step(0, "toggle"), Step(0, "sync"), Step(0, "mine"), Step(1, "plan_day"),
        Step(0, "move", 1), Step(0, "sync"), Step(1, "edit", 2), Step(1, "theirs"),
    ]  # fmt: skip
    with tempfile.TemporaryDirectory() as workdir:
        verdict = run_interleaving(postgres_url, Path(workdir), steps)
    assert verdict.conflicts >= 1 and verdict.converged
    assert (verdict.lost, verdict.overwritten, verdict.invariant_violations, verdict.stuck) == (
        0, 0, 0, 0
    )  # fmt: skip
