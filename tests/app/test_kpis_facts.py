"""The day's KPIs from a store's rows (SQLite and PostgreSQL alike), against a hand count."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from app.kpis.facts import TallyCache, load_day_data
from app.store import repository
from app.store import repository_kpis as rk
from app.store.changelog import log_change
from app.store.models import ExceptionRow
from app.telemetry.messages import Fix, StopEvent
from app.telemetry.persist import write_telemetry
from engine.kpis import compute, rows_behind
from engine.model import (
    DayInput,
    Depot,
    Driver,
    Location,
    Order,
    Plan,
    Route,
    Stop,
    TimeWindow,
    Vehicle,
)
from engine.travel import HaversineTravelModel

DAY = date(2026, 11, 24)
T0 = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # 08:00 in Denver
DEPOT = Location(40.76, -111.95)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def small_day() -> tuple[DayInput, Plan]:
    """Two vans, four orders; R1 serves A, B; R2 serves C, D."""
    depot = Depot("D1", "Depot", DEPOT, "America/Denver")
    vans = tuple(Vehicle(f"V{i}", "D1", {"kg": 500}, "van", f"Van {i}", cost_per_km=0.5,
                         cost_per_hour=30, fixed_cost=60) for i in (1, 2))  # fmt: skip
    drivers = tuple(Driver(f"D{i}", f"Driver {i}", "D1", at(-60), at(480), vehicle_id=f"V{i}")
                    for i in (1, 2))  # fmt: skip
    ends = {"A": 60, "B": 90, "C": 60, "D": 120}
    orders = tuple(
        Order(oid, "D1", Location(40.76 + 0.01 * (i + 1), -111.95), {"kg": 10},
              (TimeWindow(at(0), at(ends[oid])),), timedelta(minutes=5), customer=f"Cust {oid}")
        for i, oid in enumerate("ABCD")
    )  # fmt: skip
    day = DayInput(DAY, (depot,), vans, drivers, orders)
    routes = (
        Route("R1", "V1", (Stop("A", at(20)), Stop("B", at(45))), "D1", start=at(0), end=at(90)),
        Route("R2", "V2", (Stop("C", at(20)), Stop("D", at(45))), "D2", start=at(0), end=at(90)),
    )
    return day, Plan("P1", "D1", DAY, routes)


def _events() -> list[StopEvent]:
    """A on time; B late (arrives at 95 > 90); C failed then delivered; D never reached."""
    rows = [("V1", "A", "arrived", 25), ("V1", "A", "delivered", 30), ("V1", "A", "departed", 31),
            ("V1", "B", "arrived", 95), ("V1", "B", "delivered", 100), ("V1", "B", "departed", 100),
            ("V2", "C", "arrived", 20), ("V2", "C", "failed", 23), ("V2", "C", "departed", 23),
            ("V2", "C", "arrived", 50), ("V2", "C", "delivered", 55)]  # fmt: skip
    return [StopEvent(f"e{i}", v, at(m).timestamp(), kind, stop)
            for i, (v, stop, kind, m) in enumerate(rows)]  # fmt: skip


def _fixes() -> list[Fix]:
    """V1 leaves the depot at minute 3 and drives north at ~36 km/h until minute 33."""
    out = []
    for s in range(0, 110 * 60, 5):
        metres = min(max(0, s - 180), 1800) * 10.0
        lat = DEPOT.lat + metres / 110_574.0
        out.append(Fix("V1", s, at(s / 60).timestamp(), lat, DEPOT.lon, 36.0))
    return out


@pytest.fixture
def recorded(store):
    return record(store)


def record(store):
    """The small day as the desk records it: plan, trail, stop events, exceptions (one
    handled by a person, one cleared by the rule), commands and sampled ETAs."""
    day, plan = small_day()
    with store.session() as s:
        repository.upsert_day(s, day, actor="test")
    with store.session() as s:
        repository.save_plan(s, plan, actor="test")
    with store.session() as s:
        write_telemetry(s, _fixes(), _events(), [])
        s.add(ExceptionRow(id="E1", type="late_risk", severity="warning", vehicle_id="V1",
                           order_id="B", detected_at=at(40), acknowledged_at=at(44),
                           acknowledged_by="ann@desk", resolved_at=at(70), resolved_by="ann@desk",
                           version=1))  # fmt: skip
        s.add(ExceptionRow(id="E2", type="late_risk", severity="warning", vehicle_id="V2",
                           order_id="C", detected_at=at(10), resolved_at=at(16),
                           resolved_by="rule", version=1))  # fmt: skip
        log_change(s, "command", "cmd-1", "insert", actor="ann@desk",
                   before={"routes": {"R1": {"version": 1}}},
                   after={"command": "move_stops", "label": "Move B", "routes": {"R1": {}}})  # fmt: skip
        log_change(s, "command", "cmd-old", "insert", actor="ann@desk",
                   after={"command": "move_stops", "routes": {"R-other-day": {}}})  # fmt: skip
        rk.add_eta_samples(s, "D1", DAY, [
            rk.EtaSample("A", "R1", "V1", at(-5), at(28)),  # 30 min before A's arrival at 25
            rk.EtaSample("B", "R1", "V1", at(65), at(80)),  # 30 min before B's at 95
            rk.EtaSample("B", "R1", "V1", at(35), at(70)),  # 60 min before B's
        ])  # fmt: skip
    return store


def _data(store, **kw):
    return load_day_data(store, "D1", DAY, as_of=at(24 * 60), travel=HaversineTravelModel(), **kw)


def test_kpis_of_a_stored_day_match_a_hand_count(recorded):
    """On-time delivery, first attempts, exceptions, workload and ETA error from the rows."""
    data = _data(recorded)
    assert data.facts.final
    report = compute(data.facts)
    on_time = report.value("on_time_delivery_pct")
    assert (on_time.numerator, on_time.denominator) == (2, 4)  # A and C; B late, D unreached
    first = report.value("first_attempt_success_pct")
    assert (first.numerator, first.denominator) == (2, 3)  # A, B; C needed two
    assert report.value("exception_ack_median_min").value == pytest.approx(4.0)
    assert report.value("exception_resolve_median_min").value == pytest.approx((30 + 6) / 2)
    recovered = report.value("exception_recovered_pct")
    assert (recovered.numerator, recovered.denominator) == (1, 2)  # C's, not B's
    assert [c.command_id for c in rows_behind(report, "person_commands")] == ["cmd-1"]
    assert report.value("exceptions_handled").value == 1  # E1 by a person, E2 by the rule
    assert report.value("eta_mae_30_min").value == pytest.approx((3 + 15) / 2)
    assert report.value("eta_mae_60_min").value == pytest.approx(25.0)


def test_the_trail_gives_departure_distance_and_route_time(recorded):
    """V1 left at minute 3 (its first fix 150 m out), drove 18 km; its route ended when its
    last stop was done."""
    report = compute(_data(recorded).facts)
    r1 = next(r for r in report.facts.routes if r.route_id == "R1")
    assert at(3) < r1.departed_at <= at(3.5)
    assert r1.driven_km == pytest.approx(18.0, rel=0.02)
    assert r1.ended_at == at(100)
    assert report.value("distance_driven_km", "route", "R1").value == pytest.approx(18, rel=0.02)
    assert r1.planned_km > 0


def test_trail_totals_are_kept_and_read_on(recorded):
    """A second pass reads only newer fixes: its totals equal a pass from scratch."""
    with recorded.session() as s:  # V2 drives east for its first half hour, then is quiet
        write_telemetry(s, [Fix("V2", k, at(k / 2).timestamp(), DEPOT.lat,
                                DEPOT.lon + k * 0.004, 30.0) for k in range(60)], [], [])  # fmt: skip
    cache = TallyCache()
    early = load_day_data(recorded, "D1", DAY, as_of=at(20), travel=HaversineTravelModel(),
                          tallies=cache)  # fmt: skip
    assert not early.facts.final
    # Passes where the vans' totals reach different times (one van quiet while the other
    # drives on): each reads on from its own newest fix counted.
    for minute in (45, 70, 99):
        load_day_data(recorded, "D1", DAY, as_of=at(minute), travel=HaversineTravelModel(),
                      tallies=cache)  # fmt: skip
    later = _data(recorded, tallies=cache)
    fresh = _data(recorded)
    for rid in ("R1", "R2"):
        a = next(r for r in later.facts.routes if r.route_id == rid)
        b = next(r for r in fresh.facts.routes if r.route_id == rid)
        assert a.driven_km == pytest.approx(b.driven_km)
        assert a.idle_min == pytest.approx(b.idle_min)
        assert a.driven_km > 1
    with recorded.read_session() as s:
        assert "V1" in rk.load_tracks(s, "D1", DAY)


def test_a_days_values_are_kept_for_trends(recorded):
    """Saving replaces the day's values; a trend reads them back by day."""
    report = compute(_data(recorded).facts)
    values = [v.to_json() for v in report.values]
    with recorded.session() as s:
        assert rk.save_kpis(s, "D1", DAY, values, final=True, computed_at=at(600)) == len(values)
    with recorded.session() as s:  # saved again: replaced, not doubled
        rk.save_kpis(s, "D1", DAY, values, final=True, computed_at=at(601))
    with recorded.read_session() as s:
        trend = rk.kpi_trend(s, "D1", ["on_time_delivery_pct"], DAY - timedelta(days=30), DAY)
        assert [(t.day, t.value) for t in trend] == [(DAY, 50.0)]
        assert len(rk.stored_kpis(s, "D1", DAY)) == len(values)


def test_live_passes_read_only_new_stop_events(recorded):
    """A second live pass picks up an event sent since the first, without losing the rest."""
    cache = TallyCache()
    first = load_day_data(recorded, "D1", DAY, as_of=at(96), final=False,
                          travel=HaversineTravelModel(), tallies=cache)  # fmt: skip
    d_stop = next(s for s in first.facts.stops if s.order_id == "D")
    assert d_stop.arrived is None
    with recorded.session() as s:
        write_telemetry(s, [], [StopEvent("late-d", "V2", at(97).timestamp(), "arrived", "D")], [])
    second = load_day_data(recorded, "D1", DAY, as_of=at(98), final=False,
                           travel=HaversineTravelModel(), tallies=cache)  # fmt: skip
    stops = {s.order_id: s for s in second.facts.stops}
    assert stops["D"].arrived == at(97)
    assert stops["A"].arrived == at(25) and stops["B"].arrived == at(95)
    assert cache.events.passes == 2


def test_a_full_read_looks_up_only_the_events_the_next_pass_reads_again(recorded):
    """After reading all of the day's events, a pass holds for lookups only those within a
    second of the newest (the next pass reads from there): on a 2,000-van day that spares
    hashing 120,000 events. The next pass reads the newest again and counts it once."""
    cache = TallyCache()
    load_day_data(recorded, "D1", DAY, as_of=at(120), final=False,
                  travel=HaversineTravelModel(), tallies=cache)  # fmt: skip
    assert sorted((r[1], r[2]) for r in cache.events.seen) == [("B", "delivered"),
                                                               ("B", "departed")]  # fmt: skip
    second = load_day_data(recorded, "D1", DAY, as_of=at(121), final=False,
                           travel=HaversineTravelModel(), tallies=cache)  # fmt: skip
    stops = {s.order_id: s for s in second.facts.stops}
    assert stops["B"].attempts == 1 and stops["B"].done == at(100)
    assert stops["C"].attempts == 2 and stops["A"].attempts == 1
    assert cache.events.passes == 2
