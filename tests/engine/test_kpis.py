"""The published KPIs computed from plain facts: each formula against a hand count."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from engine.kpis import (
    CommandFact,
    DayFacts,
    EtaFact,
    ExceptionFact,
    RouteFact,
    StopFact,
    compute,
    percentile,
    rows_behind,
    sequence_kept,
)

T0 = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # 08:00 in the depot


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def stop(oid, route="R1", *, arrived=None, window_end=120, delivered=True, attempts=1,
         vehicle="V1", driver="D1", wave="W1"):  # fmt: skip
    done = None if arrived is None else at(arrived + 5)
    return StopFact(oid, route, vehicle, driver, wave, f"C-{oid}", at(window_end), None,
                    None if arrived is None else at(arrived), done, done,
                    delivered and arrived is not None, attempts if arrived is not None else 0,
                    delivered and attempts == 1 and arrived is not None)  # fmt: skip


def route(rid="R1", vehicle="V1", *, departed=2.0, ended=300.0, planned=(("A", "B", "C")),
          actual=("A", "B", "C"), driven=30.0, planned_km=25.0, idle=6.0):  # fmt: skip
    return RouteFact(rid, vehicle, "D" + vehicle[1:], "W1", "van", "active", at(0), at(240),
                     at(-20), None if departed is None else at(departed),
                     None if ended is None else at(ended), planned_km, driven, idle,
                     tuple(planned), tuple(actual), 0.5, 30.0, 60.0)  # fmt: skip


def facts(**kw) -> DayFacts:
    base = dict(depot_id="D", day=date(2026, 11, 24), as_of=at(600), final=True)
    return DayFacts(**{**base, **kw})


def test_on_time_delivery_counts_arrivals_by_the_windows_end_and_unreached_stops_as_late():
    """Reached by the last window's end is on time; late or never reached is not."""
    stops = (stop("A", arrived=30), stop("B", arrived=130), stop("C"))
    report = compute(facts(stops=stops, routes=(route(),)))
    v = report.value("on_time_delivery_pct")
    assert (v.numerator, v.denominator) == (1, 3)
    assert v.value == pytest.approx(100 / 3)
    assert report.value("late_stops").value == 2
    assert report.value("lateness_median_min").value == pytest.approx(10.0)
    late = {s.order_id for s in rows_behind(report, "late_stops")}
    assert late == {"B", "C"}


def test_live_values_count_only_stops_that_are_due():
    """During the day a stop counts once reached or once its window has closed."""
    stops = (stop("A", arrived=30), stop("B", window_end=90), stop("C", window_end=400))
    report = compute(facts(stops=stops, routes=(route(),), as_of=at(100), final=False))
    v = report.value("on_time_delivery_pct")
    assert (v.numerator, v.denominator) == (1, 2)  # C is not due yet


def test_first_attempt_success_and_dwell():
    """A stop delivered at its first attempt succeeds; a second attempt or a failure not."""
    stops = (stop("A", arrived=30), stop("B", arrived=60, attempts=2),
             stop("C", arrived=90, delivered=False))  # fmt: skip
    report = compute(facts(stops=stops, routes=(route(),)))
    v = report.value("first_attempt_success_pct")
    assert (v.numerator, v.denominator) == (1, 3)
    assert report.value("dwell_median_min").value == pytest.approx(5.0)


def test_dispatch_on_time_within_the_grace_and_release_before_departure():
    """A route leaving within 5 minutes of its plan left on time; a later one did not."""
    routes = (route("R1", "V1", departed=4.0), route("R2", "V2", departed=12.0),
              route("R3", "V3", departed=None, ended=None))  # fmt: skip
    report = compute(facts(routes=routes))
    v = report.value("on_time_dispatch_pct")
    assert (v.numerator, v.denominator) == (1, 3)  # R3 never left: due, not on time
    assert report.value("on_time_release_pct").value == 100.0
    assert report.value("departure_delay_median_min").value == pytest.approx(8.0)


def test_exception_times_median_and_p90_and_recovery():
    """Acknowledge and resolve times are minutes from detection; an exception whose stop
    was still reached in its window was recovered."""
    excs = tuple(
        ExceptionFact(
            f"E{i}",
            "late_risk",
            "warning",
            "V1",
            f"O{i}",
            "R1",
            at(0),
            at(i),
            "ann",
            at(10 * i),
            "ann",
            at(200),
            i % 2 == 0,
        )  # fmt: skip
        for i in range(1, 11)
    )
    report = compute(facts(exceptions=excs, routes=(route(),)))
    assert report.value("exception_ack_median_min").value == pytest.approx(5.5)
    assert report.value("exception_ack_p90_min").value == pytest.approx(
        percentile(range(1, 11), 90)
    )
    assert report.value("exception_resolve_median_min").value == pytest.approx(55.0)
    v = report.value("exception_recovered_pct")
    assert (v.numerator, v.denominator) == (5, 10)
    assert report.value("exceptions_handled").value == 10


def test_plan_against_actual_per_route():
    """Route time and distance against plan, and stops kept in the planned order."""
    r = route(planned=("A", "B", "C", "D"), actual=("B", "A", "C", "D"), driven=30, planned_km=25)
    report = compute(facts(routes=(r,)))
    assert report.value("distance_vs_plan_pct", "route", "R1").value == pytest.approx(120.0)
    assert report.value("route_time_vs_plan_pct").value == pytest.approx(100 * 298 / 240)
    assert sequence_kept(r) == (3, 4)
    assert report.value("sequence_adherence_pct").value == pytest.approx(75.0)


def test_cost_per_delivered_stop_uses_the_types_costs():
    """km x cost/km + on-road hours x cost/hour + fixed, over delivered stops."""
    stops = (stop("A", arrived=30), stop("B", arrived=60), stop("C", arrived=90, delivered=False))
    r = route(departed=0.0, ended=240.0, driven=40.0)
    report = compute(facts(stops=stops, routes=(r,)))
    cost = 40 * 0.5 + 4 * 30.0 + 60.0
    assert report.value("cost_per_delivered_stop").value == pytest.approx(cost / 2)
    assert report.value("stops_per_hour").value == pytest.approx(3 / 4)
    assert report.value("distance_per_stop_km").value == pytest.approx(40 / 3)
    assert report.value("idle_pct").value == pytest.approx(100 * 0.1 / 4)


def test_workload_counts_person_commands_and_handled_exceptions_per_route_hour():
    """Person commands and exceptions a person handled per active route-hour; rule
    commands are counted beside, not in it."""
    cmds = (CommandFact("c1", "move", "ann@desk", at(30), ("R1",)),
            CommandFact("c2", "move", "rule:late@v1", at(40), ("R1",)),
            CommandFact("c3", "lock", "bob@desk", at(50), ("R1",)))  # fmt: skip
    excs = (ExceptionFact("E1", "late_risk", "warning", "V1", "A", "R1", at(0), at(3), "ann"),
            ExceptionFact("E2", "late_risk", "warning", "V1", "B", "R1", at(0), None, "",
                          at(9), "rule"))  # fmt: skip
    r = route(departed=0.0, ended=240.0)
    report = compute(facts(routes=(r,), commands=cmds, exceptions=excs, rule_firings=1))
    assert report.value("person_actions_per_route_hour").value == pytest.approx(3 / 4)
    assert report.value("rule_firings_per_route_hour").value == pytest.approx(1 / 4)
    assert [c.command_id for c in rows_behind(report, "person_commands")] == ["c1", "c3"]
    assert report.value("person_commands", "route", "R1").value == 2


def test_route_changes_a_device_reported_are_not_a_persons_workload():
    """A dock's scans made the route ready and its tracker put it on the road: the desk
    stored those changes in the person's name, marked as relayed; neither is a person's
    command (nor are older days' device actors)."""
    cmds = (CommandFact("c1", "release", "ann@desk", at(30), ("R1",)),
            CommandFact("c2", "set_status", "dock:ann@desk", at(10), ("R1",)),
            CommandFact("c3", "set_status", "tracker:ann@desk", at(40), ("R1",)),
            CommandFact("c4", "set_status", "dock D1-1", at(11), ("R1",)),
            CommandFact("c5", "set_status", "V1 tracker", at(41), ("R1",)))  # fmt: skip
    report = compute(facts(routes=(route(departed=0.0, ended=240.0),), commands=cmds))
    assert [c.command_id for c in rows_behind(report, "person_commands")] == ["c1"]
    assert report.value("person_actions_per_route_hour").value == pytest.approx(1 / 4)


def test_eta_accuracy_per_horizon():
    """Mean absolute error and the share within ±10 minutes, per horizon."""
    etas = tuple(EtaFact(f"O{i}", "R1", "V1", 30, at(0), at(30 + e), at(30))
                 for i, e in enumerate((-12, -4, 2, 6)))  # fmt: skip
    report = compute(facts(etas=etas, routes=(route(),)))
    assert report.value("eta_mae_30_min").value == pytest.approx(6.0)
    assert report.value("eta_within10_30_pct").value == pytest.approx(75.0)
    assert report.value("eta_mae_60_min").value is None


def test_every_scope_gets_its_values():
    """Values exist for the day and for each route, driver, vehicle and wave."""
    stops = (stop("A", arrived=30), stop("B", "R2", arrived=200, vehicle="V2", driver="D2"))
    report = compute(facts(stops=stops, routes=(route(), route("R2", "V2"))))
    assert report.keys("route") == ["R1", "R2"]
    assert report.keys("driver") == ["D1", "D2"]
    assert report.value("on_time_delivery_pct", "vehicle", "V2").value == 0.0
    assert report.value("on_time_delivery_pct", "wave", "W1").value == 50.0


def test_a_van_with_one_route_has_its_routes_numbers_and_one_with_two_its_own():
    """V2 drove R2 alone: its values are R2's, under its own name. V1 drove R1 and R3: its
    on-time delivery counts both routes' stops, not R1's alone."""
    stops = (stop("A", arrived=30), stop("B", arrived=200),  # R1: one on time, one late
             stop("C", "R3", arrived=40),  # R3 (V1's second route): on time
             stop("D", "R2", arrived=300, vehicle="V2", driver="D2"))  # fmt: skip
    routes = (route(), route("R3", "V1", planned=("C",), actual=("C",)),
              route("R2", "V2", planned=("D",), actual=("D",)))  # fmt: skip
    report = compute(facts(stops=stops, routes=routes))
    for name in ("on_time_delivery_pct", "late_stops", "route_time_actual_h", "idle_pct"):
        r2, v2 = report.value(name, "route", "R2"), report.value(name, "vehicle", "V2")
        assert (v2.scope, v2.key) == ("vehicle", "V2")
        assert (v2.value, v2.numerator, v2.denominator) == (r2.value, r2.numerator,
                                                            r2.denominator)  # fmt: skip
    v1 = report.value("on_time_delivery_pct", "vehicle", "V1")
    assert (v1.numerator, v1.denominator) == (2, 3)
    assert report.value("on_time_delivery_pct", "route", "R1").denominator == 2
    assert report.value("late_stops", "driver", "D2").value == 1
    assert [s.order_id for s in rows_behind(report, "late_stops", "vehicle", "V2")] == ["D"]


def test_figures_kept_compactly_read_back_as_rows_with_none_for_no_value():
    """The report keeps one array of figures per scope, not a row object per figure: a
    KPI without a value (no ETAs sampled) still reads as None, every figure of every scope
    is listed once, and the rows behind a number are found after the pass."""
    stops = (stop("A", arrived=30), stop("B", "R2", arrived=200, vehicle="V2", driver="D2"))
    report = compute(facts(stops=stops, routes=(route(), route("R2", "V2"))))
    assert report.value("eta_mae_60_min").value is None
    assert report.value("eta_mae_60_min", "route", "R1").value is None
    assert report.value("late_stops", "route", "R2").value == 1.0
    assert report.value("no_such_kpi") is None and report.value("late_stops", "route", "R9") is None
    rows = report.values
    keys = {(v.name, v.scope, v.key) for v in rows}
    assert len(keys) == len(rows) == len(report.names) * len(report.figures)
    assert all(len(row) == 3 * len(report.names) for row in report.figures.values())
    assert not any(v.value is not None and v.value != v.value for v in rows)  # no NaN shown
    assert [s.order_id for s in rows_behind(report, "late_stops", "route", "R2")] == ["B"]
