"""The depot's day as the workstation holds it, with one change record per change.

``app.dispatch.service.DispatchService`` is its only writer: every change of the day or its
plan is broadcast once as a :class:`DayChanges` record (Anki's OpChanges) saying which
routes, stops and vehicles changed and why (:class:`ChangeSource`). Each pane decides
whether it needs to refresh.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from PySide6.QtCore import QObject, Signal

from app.day.labels import DayLabels
from engine.model import DayInput, Depot, Driver, Order, Plan, Route, Vehicle


class ChangeSource(enum.StrEnum):
    """Why the day state changed: the day opened, a plan, telemetry, a catch-up, a command."""

    START = "start"  # the day was opened
    IMPORT = "import"  # the day opened again after an import brought rows for it
    PLAN = "plan"  # a fresh plan, or the plan as stored (after a refused edit)
    TELEMETRY = "telemetry"  # stop results from the vehicles
    SYNC = "sync"  # another workstation's changes, caught up through the local copy
    REASSIGN = "reassign"
    LOCK = "lock"
    UNLOCK = "unlock"
    APPLY = "apply"
    UNDO = "undo"
    REDO = "redo"
    ACCEPT = "accept"
    INSERT_ORDER = "insert_order"
    CHANGE_ORDER = "change_order"
    CANCEL_ORDER = "cancel_order"
    MOVE_DEPOT = "move_depot"  # an order moved to another depot's day
    RULE = "rule"  # a standing rule's change (app.rules), written as a command

    @property
    def is_command(self) -> bool:
        """A dispatcher's command on this workstation (it wrote an outbox entry)."""
        return self in COMMAND_SOURCES


#: The sources that are dispatcher commands (see ``app.dispatch.service``).
COMMAND_SOURCES = frozenset(
    {
        ChangeSource.REASSIGN,
        ChangeSource.LOCK,
        ChangeSource.UNLOCK,
        ChangeSource.APPLY,
        ChangeSource.UNDO,
        ChangeSource.REDO,
        ChangeSource.ACCEPT,
        ChangeSource.INSERT_ORDER,
        ChangeSource.CHANGE_ORDER,
        ChangeSource.CANCEL_ORDER,
        ChangeSource.MOVE_DEPOT,
        ChangeSource.RULE,
    }
)


@dataclass(frozen=True)
class DayChanges:
    """What one change of the day touched; ``everything`` when the whole day was replaced."""

    routes: frozenset[str] = frozenset()
    orders: frozenset[str] = frozenset()
    vehicles: frozenset[str] = frozenset()
    everything: bool = False
    source: ChangeSource = ChangeSource.PLAN

    @classmethod
    def all(cls, source: ChangeSource = ChangeSource.PLAN) -> DayChanges:
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

    sig_changed = Signal(object)  # DayChanges
    sig_status = Signal(str)  # one line for the status bar

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.index: DayIndex | None = None
        self.plan: Plan | None = None
        self._labels: DayLabels | None = None

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

    @property
    def labels(self) -> DayLabels:
        """Names and stop descriptions of the day as shown now (built when first asked)."""
        if self._labels is None:
            index = self.index
            self._labels = (
                DayLabels(index.orders, index.vehicles, index.drivers, self.plan,
                          index.depot.timezone)
                if index is not None
                else DayLabels({}, {}, {}, self.plan)
            )  # fmt: skip
        return self._labels

    # -- writes (by the dispatch service only) -------------------------------------------
    def set_day(
        self, day: DayInput, depot_id: str, plan: Plan | None,
        source: ChangeSource = ChangeSource.START,
    ) -> None:  # fmt: skip
        self.index = DayIndex.build(day, depot_id)
        self.plan = plan
        self._labels = None
        self.sig_changed.emit(DayChanges.all(source))

    def set_orders(self, orders: Sequence[Order], plan: Plan, changes: DayChanges) -> None:
        """The day's orders changed (an order added, changed or cancelled) with the plan:
        one change record naming them, not the whole day (the map keeps its view)."""
        if self.index is None:
            raise RuntimeError("no day is open")
        day = replace(self.index.day, orders=tuple(orders))
        self.index = DayIndex.build(day, self.index.depot.id)
        self.plan = plan
        self._labels = None  # names, addresses and windows as the orders are now
        self.sig_changed.emit(changes)

    def set_plan(self, plan: Plan, changes: DayChanges | None = None) -> None:
        self.plan = plan
        if changes is None or changes.source != ChangeSource.TELEMETRY:  # renames nothing
            self._labels = None
        self.sig_changed.emit(changes or DayChanges.all(ChangeSource.PLAN))
