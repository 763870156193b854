"""Drag previews on the demo day (25 vans, 400 stops): sane answers, the context reused."""

from __future__ import annotations

import time

import pytest

from app.dispatch.service import DispatchService
from app.store import open_store
from bench.dispatch import sweep_plan
from engine.travel import HaversineTravelModel


@pytest.fixture(scope="module")
def demo():
    """The demo day and a quick sweep plan of it."""
    from app.simulator.demo_day import generate_demo_day

    day = generate_demo_day(7)
    return day, sweep_plan(day)


@pytest.fixture
def service():
    """A supervisor's service on an empty in-memory store (previews do not write)."""
    store = open_store("sqlite://")
    yield DispatchService(store, HaversineTravelModel(), actor="sam@desk-2", role="supervisor")
    store.close()


def test_demo_day_preview_places_the_stops_and_reuses_the_context(demo, service):
    """Moving three stops between demo routes puts all three on the target (at the reported
    positions), takes them off the source, and later previews do not rebuild the context."""
    day, plan = demo
    source, target = plan.routes[3], plan.routes[4]
    moving = list(source.order_ids[:3])
    started = time.perf_counter()
    preview = service.preview_reassign(plan, day, moving, target.id)
    first_ms = (time.perf_counter() - started) * 1000
    new_target = next(r for r in preview.routes if r.id == target.id)
    assert {new_target.stops[i].order_id for i in preview.positions.values()} == set(moving)
    assert len(new_target.stops) == len(target.stops) + 3
    assert preview.sources[0].order_ids_after == source.order_ids[3:]
    assert preview.target.distance_after_m > preview.target.distance_before_m
    assert preview.summary.startswith(f"3 stops → {target.vehicle_id}")
    times = []
    for k in range(20):
        other = plan.routes[(k + 5) % len(plan.routes)]
        started = time.perf_counter()
        service.preview_reassign(plan, day, moving, other.id)
        times.append((time.perf_counter() - started) * 1000)
    print(f"demo preview: first {first_ms:.1f} ms, then median {sorted(times)[10]:.2f} ms")
    assert service.context_builds == 1
