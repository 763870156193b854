"""The depot's day as the workstation holds it, with one change record per command.

Every change goes through :meth:`DayState.apply`, which broadcasts one :class:`Changes`
record (Anki's OpChanges): which routes, stops and vehicles changed. Each pane decides
whether it needs to refresh.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from PySide6.QtCore import QObject, Signal

from engine.model import DayInput, Depot, Driver, Order, Plan, Route, Vehicle


@dataclass(frozen=True)
class Changes:
    """What one command changed; ``everything`` when the whole day was replaced."""

    routes: frozenset[str] = frozenset()
    orders: frozenset[str] = frozenset()
    vehicles: frozenset[str] = frozenset()
    everything: bool = False
    source: str = ""

    @classmethod
    def all(cls, source: str = "") -> Changes:
        return cls(everything=True, source=source)


@dataclass(frozen=True)
class DayIndex:
    """Lookups over one DayInput, built once per day."""

    day: DayInput
    depot: Depot
    orders: dict[str, Order] = field(default_factory=dict)
    vehicles: dict[str, Vehicle] = field(default_factory=dict)
    drivers: dict[str, Driver] = field(default_factory=dict)

    @classmethod
    def build(cls, day: DayInput, depot_id: str) -> DayIndex:
        return cls(
            day=day,
            depot=day.depot(depot_id),
            orders={o.id: o for o in day.orders if o.depot_id == depot_id},
            vehicles={v.id: v for v in day.vehicles if v.depot_id == depot_id},
            drivers={d.id: d for d in day.drivers if d.depot_id == depot_id},
        )


class DayState(QObject):
    """The current day and plan; the single source the panes read from."""

    sig_changed = Signal(object)  # Changes
    sig_status = Signal(str)  # one line for the status bar

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.index: DayIndex | None = None
        self.plan: Plan | None = None
        self.now: datetime | None = None

    # -- reads ---------------------------------------------------------------------------
    @property
    def routes(self) -> tuple[Route, ...]:
        return self.plan.routes if self.plan else ()

    def route(self, route_id: str) -> Route | None:
        return next((r for r in self.routes if r.id == route_id), None)

    def driver_for(self, route: Route) -> Driver | None:
        if self.index is None or route.driver_id is None:
            return None
        return self.index.drivers.get(route.driver_id)

    def active_route_count(self) -> int:
        return sum(1 for r in self.routes if r.stops)

    # -- writes --------------------------------------------------------------------------
    def set_day(self, day: DayInput, depot_id: str, plan: Plan | None, source: str = "") -> None:
        self.index = DayIndex.build(day, depot_id)
        self.plan = plan
        self.sig_changed.emit(Changes.all(source))

    def set_plan(self, plan: Plan, changes: Changes | None = None) -> None:
        self.plan = plan
        self.sig_changed.emit(changes or Changes.all("plan"))

    def set_now(self, now: datetime) -> None:
        self.now = now
