"""The demo restarted with its day stored: the day carries on where it was left."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from app.simulator.driver import demo_day_start
from app.store.models import BreadcrumbRow, StopEventRow
from tests.scenarios.conftest import shot


def _served(plan) -> set[str]:
    """The stops delivered or failed (done) on the plan shown."""
    return {s.order_id for r in plan.routes for s in r.stops if s.status.is_done}


def test_a_restarted_demo_carries_on_where_the_stored_day_left_off(qtbot, desk, tmp_path):
    """Close the demo mid-morning and start it again: the clock goes on from the day's last
    stored fix or stop event (not back to 07:30), the stops served before are still served,
    the vans are where they were last seen, and new deliveries keep coming in."""
    window = desk("supervisor", "sam", demo_speedup=60.0)
    ctx = window.context
    qtbot.waitUntil(lambda: len(_served(ctx.state.plan)) >= 3, timeout=180_000)
    window.close()
    ctx.shutdown()
    with ctx.store.read_session() as s:
        last_fix = s.scalar(select(func.max(BreadcrumbRow.ts)))
        last_event = s.scalar(select(func.max(StopEventRow.ts)))
        done = set(
            s.scalars(
                select(StopEventRow.stop_id).where(StopEventRow.type.in_(["delivered", "failed"]))
            )
        )
    left_off = max(last_fix, last_event).timestamp()
    index = ctx.state.index
    day_start = demo_day_start(index.day.day, index.depot.timezone)
    assert left_off > day_start + 600 and len(done) >= 3

    again = desk("supervisor", "sam", demo_speedup=60.0)
    ctx2 = again.context
    assert ctx2.clock() >= left_off  # not rewound to 07:30
    assert done <= _served(ctx2.state.plan)  # served before the restart: still served
    positions = ctx2.live.positions()
    assert positions and all(f.ts > day_start for f in positions.values())
    # The status bar's clock reads the simulated time from where the day was left.
    qtbot.waitUntil(lambda: "(simulated)" in again._clock_label.text(), timeout=10_000)
    shown = again._clock_label.text().split()[3]  # "Sun 06 Dec 09:12:33 (simulated)"
    assert shown >= f"{datetime.fromtimestamp(left_off, ZoneInfo(index.depot.timezone)):%H:%M:%S}"
    qtbot.waitUntil(lambda: len(_served(ctx2.state.plan)) > len(done), timeout=120_000)
    shot(again, tmp_path, "restarted")
