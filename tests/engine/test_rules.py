"""Exception rules and the tracker: raised early, with a reason and an action, cleared by themselves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from engine.eta import Position, TravelTimes, route_etas
from engine.model import (
    Location,
    Order,
    Plan,
    Route,
    RouteStatus,
    Stop,
    StopStatus,
    TimeWindow,
    Vehicle,
)
from engine.rules import (
    ExceptionTracker,
    ExceptionType,
    RuleConfig,
    Severity,
    VehicleLive,
    distance_to_path_m,
    evaluate_rules,
    stopped_since,
)

T0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
DEPOT = Location(40.760, -111.890)
TRAVEL = TravelTimes(fallback_speed_kmh=36.0, detour=1.0)


def order(oid, lat, end_min, kg=10.0):
    return Order(
        oid,
        "D1",
        Location(lat, -111.890),
        {"kg": kg},
        (TimeWindow(T0, T0 + timedelta(minutes=end_min)),),
        timedelta(minutes=5),
    )


ORDERS = {o.id: o for o in [order("A", 40.770, 240), order("B", 40.850, 60)]}
PLAN = Plan(
    "P1",
    "D1",
    T0.date(),
    (Route("R1", "V1", (Stop("A"), Stop("B")), status=RouteStatus.ACTIVE, start=T0),),
)


def run(
    now, pos, *, factor=1.0, statuses=None, stopped=None, fleet=None, cfg=None, broken=None,
    zone=None,
):  # fmt: skip
    route = PLAN.routes[0]
    etas = {
        "R1": route_etas(
            route,
            ORDERS,
            now,
            TRAVEL,
            position=pos,
            depot=DEPOT,
            statuses=statuses,
            speed_factor=factor,
        )
    }
    live = {"V1": VehicleLive("V1", pos, stopped_since=stopped, broken_down_at=broken)}
    return evaluate_rules(
        PLAN,
        ORDERS,
        etas,
        live,
        now,
        cfg or RuleConfig(),
        statuses=statuses,
        fleet=fleet,
        depot=DEPOT,
        zone=zone,
    )


def types(conds):
    return {c.type for c in conds}


def test_late_risk_is_raised_before_the_window_closes_with_minutes_late():
    """A slow van is flagged while B's window is still open, with how late it will be."""
    now = T0 + timedelta(minutes=25)
    pos = Position("V1", now, 40.770, -111.890)
    assert ExceptionType.LATE_RISK not in types(run(now, pos))
    conds = [c for c in run(now, pos, factor=2.5) if c.type is ExceptionType.LATE_RISK]
    assert conds and conds[0].order_id == "B" and now < ORDERS["B"].latest
    assert conds[0].severity is Severity.CRITICAL and conds[0].minutes_late > 0
    assert "late" in conds[0].detail and conds[0].suggested_action


def test_a_stop_that_misses_its_window_for_a_later_one_is_named_as_the_cause():
    """A stop planned in its morning window whose ETA slips 5 minutes past it, with a second
    window hours later: the route would wait there for hours and every stop behind it would
    be hours late. The stop itself is the late risk (against the window it misses, with the
    wait), and the stops behind it say what they wait for."""
    two = Order(
        "A", "D1", Location(40.770, -111.890), {"kg": 1.0},
        (TimeWindow(T0, T0 + timedelta(minutes=20)),
         TimeWindow(T0 + timedelta(hours=6), T0 + timedelta(hours=8))),
        timedelta(minutes=5),
    )  # fmt: skip
    orders = {"A": two, "B": ORDERS["B"]}
    now = T0 + timedelta(minutes=10)
    pos = Position("V1", now, 40.790, -111.890)  # 2.2 km from A: ETA about 10:14 + slow
    route = PLAN.routes[0]
    etas = {"R1": route_etas(route, orders, now, TRAVEL, position=pos, depot=DEPOT,
                             speed_factor=3.0)}  # fmt: skip
    live = {"V1": VehicleLive("V1", pos)}
    conds = evaluate_rules(PLAN, orders, etas, live, now, RuleConfig(), depot=DEPOT)
    late = {c.order_id: c for c in conds if c.type is ExceptionType.LATE_RISK}
    assert set(late) == {"A", "B"}
    cause = late["A"]
    assert cause.severity is Severity.CRITICAL and 0 < cause.minutes_late < 30
    assert "misses the window 08:00–08:20" in cause.detail
    assert "next window opens 14:00" in cause.detail and " h " in cause.detail
    assert late["B"].minutes_late > 300  # behind the wait: hours late
    assert "behind a" in late["B"].detail and "wait at A" in late["B"].detail

    # A plan that meant the afternoon window (planned there) and waits for it misses nothing.
    meant = Plan(PLAN.id, "D1", T0.date(), (Route(
        "R1", "V1", (Stop("A", T0 + timedelta(hours=5, minutes=50)), Stop("B")),
        status=RouteStatus.ACTIVE, start=T0),))  # fmt: skip
    etas = {"R1": route_etas(meant.routes[0], orders, now, TRAVEL, position=pos, depot=DEPOT,
                             speed_factor=3.0)}  # fmt: skip
    conds = evaluate_rules(meant, orders, etas, live, now, RuleConfig(), depot=DEPOT)
    assert "A" not in {c.order_id for c in conds if c.type is ExceptionType.LATE_RISK}


def test_the_minutes_in_a_late_risks_text_are_the_minutes_its_row_shows():
    """The text ("only 5 min before the window ends", "12 min late") and the "Min late"
    column (the stored minutes, rounded) read the same number, whatever the seconds."""
    import re

    seen = 0
    for second in range(0, 900, 7):
        now = T0 + timedelta(minutes=25, seconds=second)
        pos = Position("V1", now, 40.770, -111.890)
        for c in run(now, pos, factor=2.1):
            if c.type is not ExceptionType.LATE_RISK:
                continue
            number = int(re.search(r"(\d+) min (late|before)", c.detail).group(1))
            assert number == abs(round(c.minutes_late)), (c.detail, c.minutes_late)
            seen += 1
    assert seen > 50


def test_a_breakdown_is_one_exception_naming_the_stops_at_risk():
    """A broken-down van raises one critical exception that names its late stops, instead of
    one late-risk exception per stop; the per-stop ones close when it comes in."""
    tracker = ExceptionTracker()
    now = T0 + timedelta(minutes=25)
    pos = Position("V1", now, 40.770, -111.890)
    tracker.update(run(now, pos, factor=2.5), now)
    assert {e.type for e in tracker.open.values()} == {ExceptionType.LATE_RISK}
    later = now + timedelta(minutes=1)
    away = Position("V1", later, 40.780, -111.865)  # 2 km from any stop, still for 20 min
    still = later - timedelta(minutes=20)
    assert ExceptionType.STOPPED in types(run(later, away, factor=2.5, stopped=still))
    # The breakdown says why it stands there: no separate "stopped" exception.
    conds = run(later, away, factor=2.5, broken=later, stopped=still)
    conds = [c for c in conds if c.type is not ExceptionType.OFF_ROUTE]
    assert types(conds) == {ExceptionType.BREAKDOWN}
    (breakdown,) = conds
    assert breakdown.severity is Severity.CRITICAL and breakdown.vehicle_id == "V1"
    assert "2 stops left" in breakdown.detail and "1 at risk" in breakdown.detail
    assert "(B)" in breakdown.detail and breakdown.minutes_late > 0
    changes = tracker.update(conds, later)
    assert [e.type for e in changes.opened] == [ExceptionType.BREAKDOWN]
    assert [e.type for e in changes.resolved] == [ExceptionType.LATE_RISK]


def test_tracker_opens_updates_and_resolves_with_times():
    """An exception keeps its detected time while it holds and gets a resolved time when it clears."""
    tracker = ExceptionTracker()
    now = T0 + timedelta(minutes=25)
    pos = Position("V1", now, 40.770, -111.890)
    opened = tracker.update(run(now, pos, factor=2.5), now).opened
    assert [e.type for e in opened] == [ExceptionType.LATE_RISK]
    later = now + timedelta(minutes=1)
    pos2 = Position("V1", later, 40.845, -111.890)
    changes = tracker.update(run(later, pos2, statuses={"A": StopStatus.DELIVERED}), later)
    assert [e.detected_at for e in changes.resolved] == [now]
    assert changes.resolved[0].resolved_at == later and not tracker.open


def test_failed_silent_capacity_and_breakdown_rules():
    """A failed stop, a silent tracker and an overloaded route each raise their exception."""
    now = T0 + timedelta(minutes=20)
    pos = Position("V1", now - timedelta(minutes=5), 40.770, -111.890)
    fleet = {"V1": Vehicle("V1", "D1", {"kg": 15})}
    conds = run(now, pos, statuses={"A": StopStatus.FAILED}, fleet=fleet)
    assert {
        ExceptionType.FAILED_ATTEMPT,
        ExceptionType.TELEMETRY_SILENT,
        ExceptionType.CAPACITY,
    } <= types(conds)


def test_stopped_away_from_stops_and_off_route():
    """A van parked 2 km off its path for 15 min is both stopped and off route; at a stop it is not."""
    now = T0 + timedelta(minutes=30)
    away = Position("V1", now, 40.780, -111.865)
    conds = run(now, away, stopped=now - timedelta(minutes=15))
    assert {ExceptionType.STOPPED, ExceptionType.OFF_ROUTE} <= types(conds)
    at_stop = Position("V1", now, 40.770, -111.890)
    assert not types(run(now, at_stop, stopped=now - timedelta(minutes=15))) & {
        ExceptionType.STOPPED,
        ExceptionType.OFF_ROUTE,
    }


def test_geometry_helpers():
    """Distance to a path and the stopped-since scan give the values a map would show."""
    path = [Location(40.0, -111.0), Location(40.0, -110.0)]
    d = distance_to_path_m(Location(40.01, -110.5), path)
    assert 1100 < d < 1120
    trail = [
        (T0 + timedelta(seconds=i), 40.0 + (0.001 * i if i < 5 else 0.005), -111.0)
        for i in range(20)
    ]
    assert stopped_since(trail) == T0 + timedelta(seconds=5)


def test_path_index_never_clears_a_vehicle_that_is_off_its_path():
    """The one-pass screen names every vehicle farther than the limit (exact check after)."""
    import numpy as np

    from engine.rules import PathIndex

    rng = np.random.default_rng(7)
    paths = {
        f"R{i}": [
            Location(40.7 + rng.normal(0, 0.05), -111.9 + rng.normal(0, 0.05)) for _ in range(n)
        ]
        for i, n in enumerate([0, 1, 2, 5, 12] * 20)
    }
    points = {
        rid: Location(40.7 + rng.normal(0, 0.06), -111.9 + rng.normal(0, 0.06)) for rid in paths
    }
    maybe = PathIndex(paths).maybe_beyond(points, 600.0)
    for rid, point in points.items():
        if distance_to_path_m(point, paths[rid]) > 600.0:
            assert rid in maybe
    assert {rid for rid in paths if len(paths[rid]) < 2} <= maybe
    assert len(maybe) < len(points)  # and it does clear the ones that are near


def test_times_in_exception_texts_read_on_the_depot_clock():
    """At 01:25 Denver time (08:25 UTC) a late stop's ETA and window end read as Denver
    clock times, as everywhere else in the window, and a breakdown's time too."""
    from zoneinfo import ZoneInfo

    denver = ZoneInfo("America/Denver")
    now = T0 + timedelta(minutes=25)
    pos = Position("V1", now, 40.770, -111.890)
    late = next(c for c in run(now, pos, factor=2.5, zone=denver) if c.order_id == "B")
    end = ORDERS["B"].latest.astimezone(denver)
    assert f"window ends {end:%H:%M}" in late.detail and "window ends 09:00" not in late.detail
    eta = late.detail.split("ETA ")[1][:5]
    assert eta.startswith("02:") or eta.startswith("01:")
    broken = [
        c for c in run(now, pos, broken=now, zone=denver) if c.type is ExceptionType.BREAKDOWN
    ]
    assert "breakdown at 01:25" in broken[0].detail


def test_a_fleet_gone_quiet_at_once_is_not_each_trackers_silence():
    """Four vans: when the desk hears none of them for 5 minutes (its feed stalled), no
    tracker is called silent; when three report and one does not, that one is."""
    now = T0 + timedelta(minutes=20)
    routes = tuple(Route(f"R{i}", f"V{i}", (Stop(f"Q{i}"),), status=RouteStatus.ACTIVE, start=T0)
                   for i in range(4))  # fmt: skip
    plan = Plan("P4", "D1", T0.date(), routes)
    orders = {f"Q{i}": order(f"Q{i}", 40.770, 240) for i in range(4)}

    def silent(ages_min):
        live = {f"V{i}": VehicleLive(f"V{i}", Position(f"V{i}", now - timedelta(minutes=age),
                                                          40.770, -111.890))
                for i, age in enumerate(ages_min)}  # fmt: skip
        conds = evaluate_rules(plan, orders, {}, live, now, RuleConfig(), depot=DEPOT)
        return sorted(c.vehicle_id for c in conds if c.type is ExceptionType.TELEMETRY_SILENT)

    assert silent([5, 5, 5.2, 5.1]) == []
    assert silent([0, 0.1, 0, 5]) == ["V3"]
    assert silent([5, 5, 5, 12]) == ["V3"]  # quiet 7 min longer than the rest
