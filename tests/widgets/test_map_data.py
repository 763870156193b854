"""The map's layer data (no Qt): colours, late-risk flags and vehicle staleness."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from engine.model import (
    Depot,
    Driver,
    Location,
    Order,
    Plan,
    Route,
    Stop,
    StopStatus,
    TimeWindow,
    Vehicle,
)
from widgets.map_data import (
    STATUS_COLOURS,
    plan_layers,
    restated_stops,
    route_colour,
    route_stops,
    vehicle_record,
)

DAY = date(2026, 3, 2)
START = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # 08:00 in Salt Lake City


@dataclass(frozen=True)
class SampleDay:
    """A small downtown Salt Lake City day: depot, 3 vehicles and drivers, 24 orders, a plan."""

    depot: Depot
    vehicles: dict[str, Vehicle]
    drivers: dict[str, Driver]
    orders: dict[str, Order]
    plan: Plan


def sample_day(routes: int = 3, stops_per_route: int = 8) -> SampleDay:
    """Build the sample day; the first route has delivered, failed and arrived stops."""
    depot = Depot("D1", "Salt Lake depot", Location(40.7608, -111.8910), "America/Denver")
    vehicles, drivers, orders, plan_routes = {}, {}, {}, []
    for r in range(routes):
        vid, did = f"V{r + 1}", f"DR{r + 1}"
        vehicles[vid] = Vehicle(vid, depot.id, {"kg": 1000}, name=f"Van {r + 1}")
        drivers[did] = Driver(
            did,
            f"Driver {chr(65 + r)}",
            depot.id,
            START,
            START + timedelta(hours=9),
            vehicle_id=vid,
        )
        stops = []
        for s in range(stops_per_route):
            oid = f"O{r + 1}-{s + 1:02d}"
            angle = 2 * math.pi * r / routes + s * 0.12
            dist = 0.006 + 0.0035 * s
            loc = Location(40.7608 + dist * math.sin(angle), -111.8910 + dist * math.cos(angle))
            arrival = START + timedelta(minutes=25 + 28 * s + 7 * r)
            window = TimeWindow(arrival - timedelta(minutes=50), arrival + timedelta(minutes=40))
            orders[oid] = Order(oid, depot.id, loc, {"kg": 20}, (window,), customer=f"Shop {oid}")
            status = StopStatus.PLANNED
            actual = None
            if r == 0 and s < 3:
                status = (StopStatus.DELIVERED, StopStatus.FAILED, StopStatus.ARRIVED)[s]
                actual = arrival + timedelta(minutes=4 * s)
            stops.append(
                Stop(
                    oid,
                    planned_arrival=arrival,
                    planned_departure=arrival + timedelta(minutes=5),
                    status=status,
                    actual_arrival=actual,
                    actual_departure=None
                    if actual is None or status is StopStatus.ARRIVED
                    else actual + timedelta(minutes=6),
                )
            )
        plan_routes.append(
            Route(
                f"R{r + 1}",
                vid,
                tuple(stops),
                driver_id=did,
                start=START,
                end=START + timedelta(hours=5),
            )
        )
    plan = Plan("P1", depot.id, DAY, tuple(plan_routes))
    return SampleDay(depot, vehicles, drivers, orders, plan)


def test_layers_have_a_polyline_per_route_through_depot_and_stops():
    """Each route is drawn from the depot through its stops and back, in its own colour."""
    day = sample_day()
    layers = plan_layers(day.plan, day.orders, day.depot)
    assert len(layers["routes"]) == 3
    assert len(layers["stops"]) == 24
    first = layers["routes"][0]
    assert first["path"][0] == first["path"][-1] == [40.7608, -111.8910]
    assert len(first["path"]) == 8 + 2
    assert {r["colour"] for r in layers["routes"]} == {route_colour(i) for i in range(3)}


def test_stop_fill_follows_status_and_late_risk_is_flagged():
    """Delivered/failed stops get their status colour; late-risk stops are flagged."""
    day = sample_day()
    layers = plan_layers(day.plan, day.orders, day.depot, frozenset({"O2-03"}))
    by_id = {s["id"]: s for s in layers["stops"]}
    assert by_id["O1-01"]["fill"] == STATUS_COLOURS[StopStatus.DELIVERED]
    assert by_id["O1-02"]["fill"] == STATUS_COLOURS[StopStatus.FAILED]
    assert by_id["O2-03"]["late"] and not by_id["O2-04"]["late"]


def test_vehicle_older_than_two_minutes_is_stale():
    """A fix older than two minutes marks the vehicle stale; a fresh one does not."""
    now = START + timedelta(hours=1)
    fix = {"lat": 40.76, "lon": -111.89, "heading_deg": 90.0, "ts": now.timestamp() - 300}
    assert vehicle_record("V1", fix, now)["stale"]
    fresh = replace_ts(fix, now.timestamp() - 5)
    record = vehicle_record("V1", fresh, now)
    assert not record["stale"] and record["heading"] == 90.0


def replace_ts(fix: dict, ts: float) -> dict:
    return {**fix, "ts": ts}


def test_markers_restated_for_new_stop_states_are_those_made_anew():
    """A replay jump lays new states over a route: its markers, restated from the ones
    shown, are exactly what making them anew gives (served, locked, late), and a stop
    none of that changed for keeps its marker."""
    from dataclasses import replace

    day = sample_day()
    route = day.plan.routes[0]
    before = route_stops(route, 0, day.orders, {"O1-04"})
    stops = list(route.stops)
    stops[3] = replace(stops[3], status=StopStatus.DELIVERED)
    stops[4] = replace(stops[4], locked=True)
    after = replace(route, stops=tuple(stops))
    late = {"O1-06"}
    restated = restated_stops(before, route, after, late)
    assert restated == route_stops(after, 0, day.orders, late)
    assert (
        restated[3]["fill"] == STATUS_COLOURS[StopStatus.DELIVERED] and restated[3]["late"] is False
    )
    assert restated[5]["late"] is True and restated[4]["locked"] is True
    assert restated[0] is before[0] and restated[7] is before[7]
