"""Sample data for the store tests (no tests here): a small depot day in Salt Lake City."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from app.store import Store, open_store
from engine.model import (
    Break,
    DayInput,
    Depot,
    Dock,
    Driver,
    Location,
    Order,
    Plan,
    Route,
    RouteStatus,
    Stop,
    StopStatus,
    TimeWindow,
    Unassigned,
    UnassignedReason,
    Vehicle,
)

TZ = ZoneInfo("America/Denver")
DAY = date(2026, 11, 24)
ACTOR = "dana@desk-1"


def at(hour: int, minute: int = 0, day: date = DAY) -> datetime:
    """A depot-local time on ``day``."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=TZ)


def sample_day() -> DayInput:
    """One depot with two docks, two vehicles, two drivers, three orders of the day and one
    order of the next day (late evening local time = already the next day in UTC)."""
    depot = Depot(
        "SLC", "Salt Lake DC", Location(40.7608, -111.8910), "America/Denver",
        (Dock("D1", "north"), Dock("D2")), "1 Main St",
    )  # fmt: skip
    vehicles = (
        Vehicle("V01", "SLC", {"kg": 1200.0, "m3": 9.5}, "van", "Van 1", frozenset({"tail_lift"}),
                0.4, 28.0, 50.0),
        Vehicle("V02", "SLC", {"kg": 3500, "m3": 18}, "box_truck"),
    )  # fmt: skip
    drivers = (
        Driver("DR1", "Alex", "SLC", at(7), at(16), (Break(at(11), at(13), timedelta(minutes=30)),),
               frozenset({"tail_lift"}), "V01"),
        Driver("DR2", "Sam", "SLC", at(8), at(17, 30)),
    )  # fmt: skip
    orders = (
        Order("O1", "SLC", Location(40.75, -111.88), {"kg": 120.5, "m3": 0.8},
              (TimeWindow(at(9), at(11)), TimeWindow(at(14), at(15))), timedelta(minutes=7),
              frozenset({"tail_lift"}), 2, "Acme", "2 Elm St", "W1"),
        Order("O2", "SLC", Location(40.70, -111.90), {"kg": 30.0}, (TimeWindow(at(13), at(17)),)),
        Order("O3", "SLC", Location(40.72, -111.95), {"m3": 1.25},
              (TimeWindow(at(23, 30), at(23, 59)),), timedelta(seconds=90.5)),
    )  # fmt: skip
    return DayInput(DAY, (depot,), vehicles, drivers, orders)


def next_day_order() -> Order:
    """An order of the following day, 00:30 local time."""
    nxt = DAY + timedelta(days=1)
    return Order("O9", "SLC", Location(40.71, -111.91), {"kg": 5.0},
                 (TimeWindow(at(0, 30, nxt), at(2, 0, nxt)),))  # fmt: skip


def seed(store: Store, day: DayInput | None = None) -> DayInput:
    """Store the sample day (and the next day's order) through the repository."""
    from app.store import repository

    day = day or sample_day()
    with store.session() as s:
        repository.upsert_depots(s, day.depots, actor=ACTOR)
        repository.upsert_vehicles(s, day.vehicles, actor=ACTOR)
        repository.upsert_drivers(s, day.drivers, actor=ACTOR)
        repository.upsert_orders(s, (*day.orders, next_day_order()), actor=ACTOR)
    return day


def sample_plan(plan_id: str = "P-2026-11-24") -> Plan:
    """A plan of the sample day: two routes with planned times, one order unassigned."""
    r1 = Route(
        f"{plan_id}-R1", "V01",
        (Stop("O1", at(9, 10), at(9, 17), StopStatus.DELIVERED, True, at(9, 12), at(9, 19)),
         Stop("O2", at(13, 5), at(13, 10))),
        "DR1", RouteStatus.RELEASED, "W1", at(8), at(15),
    )  # fmt: skip
    r2 = Route(f"{plan_id}-R2", "V02", (), "DR2")
    return Plan(
        plan_id, "SLC", DAY, (r1, r2),
        (Unassigned("O3", UnassignedReason.WINDOW_UNREACHABLE, "closes before the shift ends"),),
    )  # fmt: skip


def opened(url: str, workstation: str = "desk-1") -> Store:
    """Open a store on ``url`` (migrating it) for one test."""
    return open_store(url, workstation=workstation)
