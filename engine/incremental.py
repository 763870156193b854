"""The day's engine context kept current from one plan change to the next.

Building a ``DayContext`` costs a travel-matrix call over every point of the day (a few
hundred milliseconds to seconds on the street network at 400-1,000 orders). Whoever changes
the plan (the dispatch service, after each command) tells the kept context, and urgent
insertions, move suggestions and drag previews then answer in milliseconds:

    kept = IncrementalContext(travel)
    kept.context(snapshot)                 # built once (or when the day itself changed)
    kept.apply(result.plan)                # after a command: stops moved, locked, undone
    kept.advance(now, vehicle_states)      # the clock moved, vehicles moved
    proposal = kept.insert(order)          # cheapest feasible insertion, as planning.insert
    ranked = kept.suggest(order_id)        # move targets, as planning.suggest

Every update gives exactly the context a full rebuild would (the same problem, node for
node): a plan change re-reads routes, locks and kept orders; a new order gets its own row
and column of the matrices; a vehicle that moved gets new rows for its position. Whatever
changes what the context is made of (a stop served, a vehicle or driver change, a new
time-of-day period of the travel model, another day) rebuilds it; a stop served or a
vehicle's first fix builds it anew from the kept matrices (the travel model is asked only
for the points it did not have).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from engine.model import DayInput, Order, Plan, StopStatus
from engine.planning import (
    DEFAULT_CHURN,
    Proposal,
    RouteReport,
    Suggestion,
    insert_into,
    suggest_in,
)
from engine.solver.domain import DayContext, Snapshot, VehicleState, pair_drivers
from engine.travel import TravelModel

__all__ = ["IncrementalContext"]


def _time_key(travel: TravelModel, depart: datetime | None) -> object:
    key = getattr(travel, "time_key", None)
    return key(depart) if key is not None else depart


class IncrementalContext:
    """One depot's ``DayContext``, kept current by the changes it is told about.

    Thread-safe: one lock around every update and question (a preview waits for an update
    running on a worker instead of starting its own build). ``builds`` counts full builds,
    ``updates`` the changes answered without one.
    """

    def __init__(self, travel: TravelModel, depot_id: str | None = None) -> None:
        self.travel = travel
        self.depot_id = depot_id
        self._ctx: DayContext | None = None
        self._lock = threading.RLock()
        self.builds = 0
        self.updates = 0

    # --- keeping it current ----------------------------------------------------------------
    @property
    def current(self) -> DayContext | None:
        """The context as of the last update (None before the first)."""
        return self._ctx

    def context(self, snapshot: Snapshot) -> DayContext:
        """The exact context of ``snapshot``, from the kept one wherever that is possible."""
        with self._lock:
            ctx = self._ctx
            if ctx is not None and ctx.snapshot is snapshot:
                return ctx
            new = self._derive(ctx, snapshot) if ctx is not None else None
            if new is None:
                new = DayContext(snapshot, self.travel, self.depot_id or snapshot.plan.depot_id)
                self.builds += 1
            else:
                self.updates += 1
            self._ctx = new
            return new

    def apply(self, plan: Plan) -> DayContext:
        """The plan changed (a command wrote it): same day, same moment, new routes."""
        with self._lock:
            snapshot = self._require().snapshot
            return self.context(replace(snapshot, plan=plan))

    def advance(
        self, now: datetime | None, vehicles: Mapping[str, VehicleState] | None = None
    ) -> DayContext:
        """The clock moved on (and vehicles with it): their starts and positions follow."""
        with self._lock:
            snapshot = self._require().snapshot
            states = snapshot.vehicles if vehicles is None else vehicles
            return self.context(replace(snapshot, now=now, vehicles=states))

    def add_orders(self, orders: Sequence[Order]) -> DayContext:
        """New orders joined the day (an accepted urgent order, a late import)."""
        with self._lock:
            snapshot = self._require().snapshot
            day = snapshot.day
            known = {o.id for o in day.orders}
            more = tuple(o for o in orders if o.id not in known)
            return self.context(replace(snapshot, day=replace(day, orders=day.orders + more)))

    def _require(self) -> DayContext:
        if self._ctx is None:
            raise RuntimeError("no day context yet: call context(snapshot) first")
        return self._ctx

    def _derive(self, ctx: DayContext, snapshot: Snapshot) -> DayContext | None:
        """The context of ``snapshot`` from ``ctx`` without a build, or None if it needs one."""
        old = ctx.snapshot
        plan = snapshot.plan
        if plan.depot_id != old.plan.depot_id or plan.day != old.plan.day:
            return None
        if _served(plan) != _served(old.plan):  # history and loads change: a new context,
            return self._served_since(ctx, snapshot)  # with the matrices it had
        if snapshot.day is not old.day:
            grown = _grown_day(old.day, snapshot.day)
            if grown is None or not _same_dimensions(ctx, grown):
                return None
            ctx = ctx.with_orders(grown)._copy()
            ctx.day = snapshot.day
        vehicles = [v for v in snapshot.day.vehicles if v.depot_id == ctx.depot.id]
        pairs = pair_drivers(snapshot.day, vehicles, plan)
        no_drivers = not any(pairs.values())
        if [v for v in vehicles if pairs[v.id] is not None or no_drivers] != ctx.vehicles:
            return None
        if [pairs[v.id] for v in ctx.vehicles] != ctx.drivers:
            return None
        if [v.id for v in ctx.vehicles if v.id in snapshot.vehicles] != ctx.positioned:
            return self._served_since(ctx, snapshot)  # a vehicle's first (or last) fix
        if snapshot.now != old.now or snapshot.vehicles != old.vehicles:
            if _time_key(self.travel, snapshot.now) != _time_key(self.travel, old.now):
                return None
            ctx = ctx.at(snapshot)
        return ctx.with_plan(snapshot)

    def _served_since(self, ctx: DayContext, snapshot: Snapshot) -> DayContext | None:
        """The context after stops were served (or started), or a vehicle was first
        positioned: built anew, but its matrices taken from ``ctx`` for every point it had
        (the served orders leave, vehicles that moved get new rows), so a live day's
        questions do not wait for the whole day's travel matrices each time a stop is
        served. None when the day itself or the travel-time period changed (a full
        build)."""
        old = ctx.snapshot
        if snapshot.day is not old.day and _grown_day(old.day, snapshot.day) is None:
            return None
        if _time_key(self.travel, snapshot.now) != _time_key(self.travel, old.now):
            return None
        depot_id = self.depot_id or snapshot.plan.depot_id
        return DayContext(snapshot, self.travel, depot_id, kept=ctx)

    # --- questions ---------------------------------------------------------------------------
    def insert(
        self,
        order: Order,
        *,
        improve_s: float = 0.0,
        churn_penalty: float = DEFAULT_CHURN,
        stop_event: threading.Event | None = None,
    ) -> Proposal:
        """``planning.insert`` on the kept context (a new order gets its rows; the kept
        context itself stays as it is until the order joins the day)."""
        started = time.perf_counter()
        with self._lock:
            ctx = self._require()
            if order.id not in ctx.node_of:
                if order.id in ctx.orders:
                    raise ValueError(f"order {order.id}: already served on this day")
                ctx = ctx.with_orders([order])
        return insert_into(
            ctx, order.id, improve_s=improve_s, churn_penalty=churn_penalty,
            stop_event=stop_event, started=started,
        )  # fmt: skip

    def suggest(self, order_id: str) -> list[Suggestion]:
        """``planning.suggest`` on the kept context."""
        with self._lock:
            ctx = self._require()
        return suggest_in(ctx, order_id)

    def evaluate_route(self, vehicle_id: str, order_ids: Sequence[str]) -> RouteReport:
        """ETAs and violations of a stop sequence on the kept context."""
        with self._lock:
            ctx = self._require()
        return ctx.evaluate_route(vehicle_id, order_ids)


def _grown_day(old: DayInput, new: DayInput) -> tuple[Order, ...] | None:
    """The orders ``new`` adds at the end of ``old``, if that is all that differs."""
    if (
        new.day != old.day
        or new.depots != old.depots
        or new.vehicles != old.vehicles
        or new.drivers != old.drivers
        or new.dimensions != old.dimensions
        or new.orders[: len(old.orders)] != old.orders
    ):
        return None
    return new.orders[len(old.orders) :]


def _served(plan: Plan) -> frozenset[tuple[str, str, StopStatus]]:
    """Who served (or is serving) what: what the context's history and loads come from."""
    return frozenset(
        (r.vehicle_id, s.order_id, s.status)
        for r in plan.routes
        for s in r.stops
        if s.status.is_done or s.status == StopStatus.ARRIVED
    )


def _same_dimensions(ctx: DayContext, orders: Sequence[Order]) -> bool:
    return all(d in ctx.dimensions for o in orders for d in o.demand)
