"""A planned, slotted small day with waves and docks, for the release tests (no tests here)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from app.release.desk import ReleaseDesk
from app.release.planning import plan_with_release
from app.store import Store, open_store, repository
from engine.model import DayInput, Dock, Wave
from engine.travel import HaversineTravelModel
from tests.fixtures.scenarios import DAY, small_day

TZ = ZoneInfo("America/Denver")
TRAVEL = HaversineTravelModel()
DOCKS = (Dock("D1-1", "Dock 1"), Dock("D1-2", "Dock 2"), Dock("D1-3", "Dock 3", 10, 5, 2.0))


def at(hour: int, minute: int = 0, day: date = DAY) -> datetime:
    return datetime.combine(day, time(hour, minute), TZ)


def release_day(n_orders: int = 24, n_vehicles: int = 4) -> DayInput:
    """The scenario depot with three docks and two waves; half the drivers start at 7,
    half at 10; every order came in the evening before."""
    day = small_day(n_orders=n_orders, n_vehicles=n_vehicles)
    depot = replace(day.depots[0], docks=DOCKS)
    drivers = tuple(
        d if i % 2 == 0 else replace(d, shift_start=at(10), shift_end=at(19))
        for i, d in enumerate(day.drivers)
    )
    waves = (
        Wave("W1", "D1", at(6), at(7, 15), at(8), ("D1-1", "D1-2", "D1-3")),
        Wave("W2", "D1", at(9), at(10, 15), at(11)),
    )
    orders = tuple(replace(o, received_at=at(20, 0, DAY - timedelta(days=1))) for o in day.orders)
    return replace(day, depots=(depot,), drivers=drivers, orders=orders, waves=waves)


def seed_release_day(store: Store, day: DayInput | None = None, seconds: float = 30.0):
    """Store the day and a plan made for release (slots, departures); returns (day, plan)."""
    day = day or release_day()
    with store.session() as s:
        repository.upsert_depots(s, day.depots, actor="t")
        repository.upsert_vehicles(s, day.vehicles, actor="t")
        repository.upsert_drivers(s, day.drivers, actor="t")
        repository.upsert_orders(s, day.orders, actor="t")
        repository.upsert_waves(s, day.waves, actor="t")
    plan, _report = plan_with_release(
        day, TRAVEL, depot_id="D1", time_limit_s=seconds, iterations=200
    )  # the same plan on a loaded machine
    with store.session() as s:
        repository.save_plan(s, plan, actor="t")
    return day, plan


def desk_on(store: Store, role: str = "dispatcher", actor: str = "ann@desk-1") -> ReleaseDesk:
    return ReleaseDesk(store, depot_id="D1", day=DAY, actor=actor, role=role, travel=TRAVEL)


def sqlite_store(tmp_path) -> Store:
    return open_store(f"sqlite:///{tmp_path / 'release.sqlite3'}", workstation="desk-1")
