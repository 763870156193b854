"""The first plan's progress for the status bar: what the best plan so far serves, how late
it is and how far it drives, while the search goes on."""

from __future__ import annotations

import re
import time

from app.jobs.day import PlanProgress
from app.release.planning import plan_with_release
from engine.travel import HaversineTravelModel
from tests.fixtures.scenarios import small_day

QUALITY = re.compile(
    r"searching \(pyvrp\), .*best so far serves (\d+) of 120 stops, [\d,]+ min late"
)


def test_a_day_without_breaks_shows_its_best_plan_while_it_is_searched():
    """A day whose drivers take no break is planned by PyVRP alone: while it searches the
    status bar already says what the best plan so far serves, how late and how far, the
    first time long before the limit is up."""
    day = small_day(120, 8)
    assert not any(d.breaks for d in day.drivers)
    said: list[tuple[float, str]] = []
    progress = PlanProgress(lambda text: said.append((time.monotonic(), text)), 120, 4.0)
    plan, _ = plan_with_release(
        day, HaversineTravelModel(), depot_id="D1", time_limit_s=4.0, callbacks=progress
    )
    ended = time.monotonic()
    best = [(at, m) for at, text in said if (m := QUALITY.search(text))]
    assert best, [text for _, text in said]
    first_at, first = best[0]
    assert ended - first_at > 2.0  # shown while the search had most of its time left
    planned = sum(len(r.stops) for r in plan.routes)
    assert 0 < int(first.group(1)) <= 120 and planned + len(plan.unassigned) == 120
