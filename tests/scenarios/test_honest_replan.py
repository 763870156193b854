"""An exception's re-plan of a few routes while the vans are on the road: the proposal's
"before" is the day as the live ETAs see it, so the lateness it saves is one that exists."""

from __future__ import annotations

from datetime import timedelta


def test_an_exceptions_replan_starts_from_the_day_the_live_etas_show(qtbot, desk):
    """Vans on the road at 07:40 (the morning peak), re-plan V01's route with the two the
    engine suggests for its next stop: each stop's "ETA before" in the proposal is its live
    ETA, and the lateness before is what the live ETAs give for those routes (within a
    minute a stop). The re-plan used to time the rest of the day at peak speeds: "before"
    ETAs up to half an hour later than the live ones (hours, on a longer morning), and a
    lateness saving that did not exist."""
    window = desk("dispatcher", "dana")
    ctx = window.context
    seen = []
    ctx.live.sig_live_etas.connect(seen.append)
    qtbot.waitUntil(lambda: len(seen) >= 3, timeout=120_000)
    qtbot.wait(25_000)  # the vans are out a while (20x: some eight simulated minutes)
    route = next(r for r in ctx.state.plan.routes if r.vehicle_id == "V01")
    first_open = next(s.order_id for s in route.stops if s.status.value == "planned")
    ids = [route.id] + [rid for rid in ctx.suggest_routes(first_open)[:2] if rid != route.id]
    got = []
    ctx.sig_proposal_ready.connect(lambda proposal, scope: got.append(proposal))
    shown, etas = ctx.state.plan, dict(seen[-1].etas)
    ctx.replan(route_ids=ids)
    qtbot.waitUntil(lambda: bool(got), timeout=120_000)
    proposal = got[0]

    orders = {o.id: o for o in ctx.state.index.day.orders}
    open_stops = [s.order_id for r in shown.routes if r.id in ids for s in r.stops
                  if s.status.value == "planned" and s.order_id in etas]  # fmt: skip
    assert len(open_stops) > 10
    before = {c.order_id: c.eta_before for c in proposal.eta_changes + proposal.moved}
    # The live ETAs are a few seconds older than the re-plan: a minute a stop is plenty.
    # Known gap: the live ETAs do not yet hold the driver's break, the re-plan's evaluation
    # does; a stop after a break that no wait absorbs is later by the break's length.
    driver_of = {s.order_id: r.driver_id for r in shown.routes for s in r.stops}
    drivers = ctx.state.index.drivers

    def a_break(o: str, gap: timedelta) -> bool:
        driver = drivers.get(driver_of.get(o) or "")
        lengths = [b.duration for b in driver.breaks] if driver is not None else []
        return any(abs(gap - length) <= timedelta(minutes=1) for length in lengths)

    off = {
        o: before[o] - etas[o]
        for o in open_stops
        if before.get(o) is not None
        and abs(before[o] - etas[o]) > timedelta(minutes=1)
        and not a_break(o, before[o] - etas[o])
    }
    assert not off, f"{len(off)} of {len(open_stops)} ETAs before differ from the live ones"
    live_late = sum(max(0.0, (etas[o] - orders[o].windows[-1].end).total_seconds())
                    for o in open_stops)  # fmt: skip
    after_break = sum(
        (before[o] - etas[o]).total_seconds()
        for o in open_stops
        if before.get(o) is not None
        and abs(before[o] - etas[o]) > timedelta(minutes=1)
        and a_break(o, before[o] - etas[o])
    )  # the known gap above, at most its length a stop
    assert abs(proposal.lateness_before_s - live_late) <= 60 * len(open_stops) + after_break
