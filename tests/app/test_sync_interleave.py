"""Hypothesis-chosen interleavings of offline edits (moves, locks, fleet re-plans) on two
desks: nothing silently overwritten, nothing lost, every conflict recorded with both
versions, both converge."""

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
        action=st.sampled_from(["edit", "edit", "lock", "plan", "sync", "toggle"]),
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
