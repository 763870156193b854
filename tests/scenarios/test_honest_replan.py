"""An exception's re-plan of a few routes while the vans are on the road: the proposal's
"before" is the day as the live ETAs see it, so the lateness it saves is one that exists."""

from __future__ import annotations

from datetime import timedelta

from app.telemetry.monitor import LiveMonitor


def test_an_exceptions_replan_starts_from_the_day_the_live_etas_show(qtbot, desk):
    """Vans on the road at 07:40 (the morning peak), re-plan V01's route with the two the
    engine suggests for its next stop: each stop's "ETA before" in the proposal is its live
    ETA, and the lateness before is what the live ETAs give for those routes (within a
    minute a stop). The re-plan used to time the rest of the day at peak speeds: "before"
    ETAs up to half an hour later than the live ones (hours, on a longer morning), and a
    lateness saving that did not exist; and a stop after a driver's break, which the live
    ETAs did not hold, was the break's length later in the proposal than on the timeline."""
    window = desk("dispatcher", "dana")
    ctx = window.context
    seen = []
    ctx.live.sig_live_etas.connect(seen.append)
    qtbot.waitUntil(lambda: len(seen) >= 3, timeout=120_000)
    evaluated = []  # when each evaluation was made (simulated), the last one's is seen[-1]'s
    ctx.live.service.sig_results.connect(lambda result, _: evaluated.append(result.evaluated_at))
    qtbot.wait(25_000)  # the vans are out a while (20x: some eight simulated minutes)
    route = next(r for r in ctx.state.plan.routes if r.vehicle_id == "V01")
    first_open = next(s.order_id for s in route.stops if s.status.value == "planned")
    ids = [route.id] + [rid for rid in ctx.suggest_routes(first_open)[:2] if rid != route.id]
    # And a route with a stop a driver's break makes later (most routes wait their break
    # out; the plan, solved in a few seconds, varies a little: most mornings have one).
    held = _held_by_a_break(ctx)
    ids += [r.id for r in ctx.state.plan.routes if held[:1] and held[0] in r.order_ids
            and r.id not in ids]  # fmt: skip
    got = []
    ctx.sig_proposal_ready.connect(lambda proposal, scope: got.append(proposal))
    shown, etas = ctx.state.plan, dict(seen[-1].etas)
    factors = dict(ctx.live.drive_factors)  # what the re-plan is given, read in the same turn
    # How much later (simulated) the re-plan starts than the last live ETAs were worked
    # out: at 20x a loaded machine's few seconds are a minute or more of the vans' driving.
    lag = max(timedelta(0), ctx.clock.now() - evaluated[-1])
    ctx.replan(route_ids=ids)
    qtbot.waitUntil(lambda: bool(got), timeout=120_000)
    proposal = got[0]

    orders = {o.id: o for o in ctx.state.index.day.orders}
    open_stops = [s.order_id for r in shown.routes if r.id in ids for s in r.stops
                  if s.status.value == "planned" and s.order_id in etas]  # fmt: skip
    assert len(open_stops) > 10
    assert not held or set(held) & set(open_stops)  # then it is among those compared
    before = {c.order_id: c.eta_before for c in proposal.eta_changes + proposal.moved}
    # The live ETAs are a little older than the re-plan: a minute a stop, and the lag, is
    # plenty. Both hold the drivers' breaks, placed by the same code: a stop after a break too.
    slack = timedelta(minutes=1) + lag
    off = {
        o: before[o] - etas[o]
        for o in open_stops
        if before.get(o) is not None and abs(before[o] - etas[o]) > slack
    }
    assert not off, (
        f"{len(off)} of {len(open_stops)} ETAs before differ from the live ones ({lag=})"
    )
    live_late = sum(max(0.0, (etas[o] - orders[o].windows[-1].end).total_seconds())
                    for o in open_stops)  # fmt: skip
    assert abs(proposal.lateness_before_s - live_late) <= 60 * len(open_stops)
    # The vans of the scope that drive slower than the street model (the live ETAs stretch
    # their drives, the re-plan does not) are named in the proposal, and only they.
    assert "V01" in factors  # on the road: its live ETAs know its pace
    slow = sorted(r.vehicle_id for r in shown.routes if r.id in ids
                  and any(not s.status.is_done for s in r.stops)
                  and factors.get(r.vehicle_id, 1.0) >= 1.25)  # fmt: skip
    note = [n for n in proposal.notes if n.startswith("Driving slower than planned")]
    assert bool(note) == bool(slow) and all(f"{v} " in note[0] for v in slow), (note, factors)


def _held_by_a_break(ctx) -> list[str]:
    """Open stops whose live ETA the driver's break makes later (against the same live
    state timed without the drivers' breaks)."""
    live = ctx.live.service.monitor
    state, now = ctx.live.service.feed.state.snapshot(), ctx.clock.now()
    args = (live.plan, live.orders)
    drivers = ctx.state.index.drivers  # the day's: whatever the live ETAs were given
    held = LiveMonitor(*args, travel=live.travel, depot=live.depot, drivers=drivers)
    without = LiveMonitor(*args, travel=live.travel, depot=live.depot)
    a, b = held.evaluate(state, now).etas, without.evaluate(state, now).etas
    return [s.order_id for rid, route in a.items() for s in route.stops
            if s.eta - b[rid].of(s.order_id).eta >= timedelta(minutes=5)]  # type: ignore[union-attr]  # fmt: skip
