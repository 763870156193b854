"""A small synthetic depot day for the reliability drills: N routes of K stops each."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from app.store import Store
from app.store import repository as repo
from engine.model import DayInput, Depot, Location, Order, Plan, Route, Stop, TimeWindow, Vehicle

DEPOT = "DRILL"
DAY = date(2026, 11, 24)
ACTOR = "drill"
_TZ = ZoneInfo("America/Denver")


def drill_day(routes: int = 8, stops: int = 4) -> tuple[DayInput, Plan]:
    """The day's input and a plan with ``routes`` routes ``R0..`` of ``stops`` stops each."""
    start = datetime(DAY.year, DAY.month, DAY.day, 8, tzinfo=_TZ)
    window = TimeWindow(start, start + timedelta(hours=10))
    depot = Depot(DEPOT, "Drill depot", Location(40.76, -111.89), "America/Denver")
    vehicles = tuple(Vehicle(f"V{i}", DEPOT, {"kg": 1000.0}) for i in range(routes))
    orders = tuple(
        Order(f"O{i}", DEPOT, Location(40.70 + i * 0.001, -111.90), {"kg": 10.0}, (window,))
        for i in range(routes * stops)
    )
    plan_routes = tuple(
        Route(f"R{r}", f"V{r}", tuple(Stop(f"O{r * stops + k}") for k in range(stops)))
        for r in range(routes)
    )
    return DayInput(DAY, (depot,), vehicles, (), orders), Plan("PLAN", DEPOT, DAY, plan_routes)


def seed_drill_day(store: Store, routes: int = 8, stops: int = 4) -> Plan:
    """Write the drill day and its plan to ``store``; returns the plan."""
    day, plan = drill_day(routes, stops)
    with store.session() as s:
        repo.upsert_depots(s, day.depots, actor=ACTOR)
        repo.upsert_vehicles(s, day.vehicles, actor=ACTOR)
        repo.upsert_orders(s, day.orders, actor=ACTOR)
    with store.session() as s:
        repo.save_plan(s, plan, actor=ACTOR)
    return plan
