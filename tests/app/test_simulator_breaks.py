"""The twin's drivers take their breaks as the plan times them, and report them: the live
ETAs, which now hold the breaks, stay as close to the twin's arrivals as before."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from app.simulator import Simulator, sweep_plan, synthetic_day
from app.telemetry.decode import Decoder, DeviceMap
from app.telemetry.ingest import Ingest
from app.telemetry.monitor import LiveMonitor
from app.telemetry.state import LiveState
from engine.model import Break, Driver, TimeWindow

LENGTH = timedelta(minutes=30)


@pytest.fixture(scope="module")
def day_with_breaks():
    """Six vans, each driver due a 30-minute break starting between 09:00 and 09:30, the
    orders' windows open all day."""
    day = synthetic_day(6, seed=11)
    start = sweep_plan(day).routes[0].start
    assert start is not None
    wide = (TimeWindow(start - timedelta(hours=1), start + timedelta(hours=12)),)
    day = replace(day, orders=tuple(replace(o, windows=wide) for o in day.orders))
    plan = sweep_plan(day)  # no waiting for a window to absorb a break
    drivers, routes = [], []
    for r in plan.routes:
        brk = Break(start + timedelta(hours=1), start + timedelta(hours=1.5), LENGTH)
        d = Driver(f"D-{r.vehicle_id}", r.vehicle_id, "SIM", start - timedelta(hours=1),
                   start + timedelta(hours=10), (brk,), vehicle_id=r.vehicle_id)  # fmt: skip
        drivers.append(d)
        routes.append(replace(r, driver_id=d.id))
    return replace(day, drivers=tuple(drivers)), replace(plan, routes=tuple(routes))


def _drive(day, plan, until=None, every=60.0, watch=None):
    sim = Simulator(plan, day, seed=3, incidents=False)
    clock = {"now": sim.start_time}
    ingest = Ingest(
        Decoder(DeviceMap(vehicles=[v.id for v in day.vehicles]), clock=lambda: clock["now"])
    )
    state = LiveState()
    events = []
    t = sim.start_time
    end = until or sim.end_time
    while t < end:
        t += every
        clock["now"] = t
        for topic, payload in sim.step(t):
            ingest.on_message(topic, payload)
        batch = ingest.drain()
        events += batch.events
        state.apply(batch)
        if watch is not None:
            watch(state, t)
    assert ingest.rejected == 0, ingest.last_rejects()[:3]
    return state, events


def test_each_driver_takes_the_break_in_its_window_and_reports_it(day_with_breaks):
    day, plan = day_with_breaks
    state, events = _drive(day, plan)
    brk = day.drivers[0].breaks[0]
    for r in plan.routes:
        mine = [e for e in events if e.vehicle_id == r.vehicle_id]
        starts = [e.ts for e in mine if e.type == "break_start"]
        ends = [e.ts for e in mine if e.type == "break_end"]
        assert len(starts) == 1 and len(ends) == 1, r.vehicle_id
        assert brk.earliest.timestamp() - 1 <= starts[0] <= brk.latest.timestamp() + 1
        assert ends[0] - starts[0] == pytest.approx(LENGTH.total_seconds())
        assert state.flags[r.vehicle_id].breaks_started == 1
        assert not state.flags[r.vehicle_id].on_break
        # No stop is served during the break.
        served = [e.ts for e in mine if e.type in ("delivered", "failed")]
        assert not [ts for ts in served if starts[0] < ts < ends[0]]


def test_the_live_etas_with_breaks_match_the_twins_arrivals(day_with_breaks):
    """At 08:30 the live ETAs (holding the drivers' breaks) of the stops served after the
    breaks are within minutes of when the twin's vans arrive; without the breaks they
    were half an hour early (29 min on average)."""
    day, plan = day_with_breaks
    orders = {o.id: o for o in day.orders}
    depot = day.depots[0].location
    drivers = {d.id: d for d in day.drivers}
    with_breaks = LiveMonitor(plan, orders, depot=depot, drivers=drivers)
    without = LiveMonitor(plan, orders, depot=depot)
    at = plan.routes[0].start.timestamp() + 0.5 * 3600  # type: ignore[union-attr]
    seen = {}

    def watch(state, t):
        if not seen and t >= at:
            seen["with"] = with_breaks.evaluate(state, t).etas
            seen["without"] = without.evaluate(state, t).etas

    _, events = _drive(day, plan, watch=watch)
    arrived = {e.stop_id: e.ts for e in events if e.type == "arrived"}
    after_break = {e.vehicle_id: e.ts for e in events if e.type == "break_end"}
    errors = {"with": [], "without": []}
    for r in plan.routes:
        for name, etas in seen.items():
            for s in etas[r.id].stops:
                if s.order_id in arrived and arrived[s.order_id] > after_break[r.vehicle_id]:
                    errors[name].append(s.eta.timestamp() - arrived[s.order_id])
    assert len(errors["with"]) > 10
    mean = {k: sum(v) / len(v) for k, v in errors.items()}
    assert mean["without"] < -20 * 60  # early by most of the break
    assert abs(mean["with"]) < 5 * 60  # (about 1.5 min early on 2026-12-06)
