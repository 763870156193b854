"""Sample day for the dispatch tests (no tests here): a depot, 3 vans, 12 orders, a plan."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from app.store import Store, repository
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

TZ = ZoneInfo("America/Denver")
DAY = date(2026, 11, 24)
PLAN_ID = "P-SLC-2026-11-24"
SUPERVISOR = "sam@desk-2"
DISPATCHER = "dana@desk-1"


def at(hour: float) -> datetime:
    """A depot-local time on the test day."""
    return datetime(DAY.year, DAY.month, DAY.day, tzinfo=TZ) + timedelta(hours=hour)


def small_day() -> DayInput:
    """Three vans west, centre and east of the depot; V3 carries only 300 kg; orders of 60 kg
    with wide windows, except O12 which must be served by 10:00."""
    depot = Depot("SLC", "Salt Lake DC", Location(40.7608, -111.8910), "America/Denver")
    vehicles = (
        Vehicle("V1", "SLC", {"kg": 1000.0, "m3": 10.0}),
        Vehicle("V2", "SLC", {"kg": 1000.0, "m3": 10.0}),
        Vehicle("V3", "SLC", {"kg": 300.0, "m3": 10.0}),
    )
    drivers = tuple(
        Driver(f"DR{i}", f"Driver {i}", "SLC", at(7), at(17), vehicle_id=f"V{i}") for i in (1, 2, 3)
    )
    orders = []
    for i in range(12):
        group = i // 4  # 0: west, 1: centre, 2: east
        lon = -111.95 + 0.06 * group + 0.004 * (i % 4)
        lat = 40.74 + 0.01 * (i % 4)
        closes = at(10) if i == 11 else at(17)
        orders.append(
            Order(
                f"O{i + 1}",
                "SLC",
                Location(lat, lon),
                {"kg": 60.0, "m3": 0.5},
                (TimeWindow(at(8), closes),),
                timedelta(minutes=5),
            )
        )
    return DayInput(DAY, (depot,), vehicles, drivers, tuple(orders))


def small_plan() -> Plan:
    """V1 serves O1-O4, V2 O5-O8, V3 O9-O12, in that order."""
    routes = tuple(
        Route(
            f"R-V{v}",
            f"V{v}",
            tuple(Stop(f"O{i}") for i in range(4 * v - 3, 4 * v + 1)),
            driver_id=f"DR{v}",
        )
        for v in (1, 2, 3)
    )
    return Plan(PLAN_ID, "SLC", DAY, routes)


def seed(store: Store, day: DayInput, plan: Plan) -> None:
    """Store the day and its plan."""
    with store.session() as s:
        repository.upsert_depots(s, day.depots, actor="import")
        repository.upsert_vehicles(s, day.vehicles, actor="import")
        repository.upsert_drivers(s, day.drivers, actor="import")
        repository.upsert_orders(s, day.orders, actor="import")
        repository.save_plan(s, plan, actor="planner")


def stored_plan(store: Store) -> Plan:
    """The plan of the test day as the store has it now."""
    with store.read_session() as s:
        plan = repository.load_plan(s, "SLC", DAY)
    assert plan is not None
    return plan


def sequences(plan: Plan) -> dict[str, tuple[str, ...]]:
    """Route id -> its orders in sequence."""
    return {r.id: r.order_ids for r in plan.routes}
