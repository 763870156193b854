"""Orders at the desk: add an urgent order where the engine suggests, change or cancel one.

    desk = OrderDesk(service)                                  # over a DispatchService
    order, problems = desk.check(values, day)                  # checked like an import row
    options = desk.insertion_options(plan, day, order, now)    # ranked: cost, km, min, late
    result = desk.insert(plan, day, order, options[0], now)    # one undoable, audited command
    impact = desk.preview_change(plan, day, changed, now)      # ETAs before/after, confirm
    result = desk.change(plan, day, changed, now)
    impact = desk.preview_cancel(plan, day, "O17", now)
    result = desk.cancel(plan, day, "O17", reason="customer called", now=now)

Each command writes the order row and the routes it touches in one transaction, with one
audit row, through the service's version-checked write path; its undo record puts both
back (an undone insert leaves the order stored as cancelled, never silently deleted). A
cancelled order leaves the day (off its route, out of the unassigned list) and stays in the
store with who cancelled it, when and why. Served or arrived stops are history: they can be
neither changed nor cancelled. The ranking is the engine's (``engine.planning.suggest``);
the figures of each option come from the same reassign preview a drag shows.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from app.day.state import ChangeSource
from app.dispatch.preview import (
    LateStop,
    ReassignPreview,
    RouteImpact,
    is_history,
    preview_reassign,
    vehicle_states,
)
from app.dispatch.service import CommandResult, DispatchService
from app.dispatch.store import CommandRefused, OrderEdits
from app.importer.validate import check_order
from engine.model import (
    DayInput,
    Order,
    Plan,
    Route,
    RouteStatus,
    Unassigned,
    UnassignedReason,
)
from engine.planning import DayContext, Snapshot, context, suggest
from engine.problem import TOLERANCE

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InsertOption:
    """One route the new order could go on, ranked by the engine, with what it costs."""

    rank: int
    route_id: str
    vehicle_id: str
    cost_delta: float  # the engine's cost units (km when vehicles have no costs)
    feasible: bool
    preview: ReassignPreview
    late_before: frozenset[str] = frozenset()  # the route's stops already late without it

    @property
    def impact(self) -> RouteImpact | None:
        return self.preview.target

    @property
    def position(self) -> int:
        return next(iter(self.preview.positions.values()), -1)

    @property
    def extra_km(self) -> float:
        t = self.impact
        return (t.distance_after_m - t.distance_before_m) / 1000 if t else 0.0

    @property
    def extra_min(self) -> float:
        t = self.impact
        return t.duration_delta_s / 60 if t else 0.0

    @property
    def late_stops(self) -> tuple[LateStop, ...]:
        return self.impact.late_stops if self.impact else ()

    @property
    def newly_late(self) -> tuple[LateStop, ...]:
        """Stops this insertion makes late (the new order itself included)."""
        return tuple(s for s in self.late_stops if s.order_id not in self.late_before)

    @property
    def problems(self) -> list[str]:
        """What breaks a rule on this route (empty when it fits)."""
        t = self.impact
        if self.preview.blocked or t is None:
            return list(self.preview.blocked)
        out = []
        if self.newly_late:
            out.append(f"{len(self.newly_late)} stop(s) made late")
        if t.capacity_excess:
            out.append(
                "over capacity " + ", ".join(f"{d} +{e:g}" for d, e in t.capacity_excess.items())
            )
        if t.shift_overrun_s > TOLERANCE:
            out.append(f"shift overrun {t.shift_overrun_s / 60:.0f} min")
        if t.missing_skills:
            out.append("lacks skill " + ", ".join(t.missing_skills))
        return out


@dataclass(frozen=True)
class StopEta:
    """One stop's ETA and lateness before and after a change (None: not on the route)."""

    order_id: str
    eta_before: datetime | None
    eta_after: datetime | None
    late_before_min: float = 0.0
    late_after_min: float = 0.0


@dataclass(frozen=True)
class OrderImpact:
    """What changing or cancelling an order does to its route, shown before confirming."""

    order_id: str
    route_id: str | None
    vehicle_id: str | None
    stops: tuple[StopEta, ...] = ()
    lateness_before_min: float = 0.0
    lateness_after_min: float = 0.0
    distance_before_km: float = 0.0
    distance_after_km: float = 0.0
    problems: tuple[str, ...] = ()  # what breaks a rule after the change
    routes: tuple[Route, ...] = ()  # the route as it would be stored (new planned times)
    note: str = ""

    @property
    def summary(self) -> str:
        if self.route_id is None:
            return self.note or f"{self.order_id} is on no route"
        late = f"lateness {self.lateness_before_min:.0f} → {self.lateness_after_min:.0f} min"
        km = f"{self.distance_before_km:.1f} → {self.distance_after_km:.1f} km"
        worse = "; ".join(self.problems)
        return f"{self.vehicle_id}: {late}, {km}" + (f" · {worse}" if worse else "")


def taken_at(order: Order, day: DayInput, now: datetime) -> Order:
    """``order`` as taken at the desk at ``now``: received then (unless it says when), in
    the first wave whose cut-off it made (after every cut-off: its own, and the gate says)."""
    from engine.release import wave_for_order

    if order.received_at is None:
        order = replace(order, received_at=now)
    choice = wave_for_order(order, day.waves)
    if choice.wave and choice.wave != order.wave:
        order = replace(order, wave=choice.wave)
    return order


def _with_order(day: DayInput, order: Order) -> DayInput:
    return replace(day, orders=(*(o for o in day.orders if o.id != order.id), order))


class OrderDesk:
    """Order commands over a :class:`DispatchService` (its store, roles, versions, undo)."""

    def __init__(self, service: DispatchService, travel, positions=None) -> None:
        self.service = service
        self.base_travel = travel
        self.positions = positions  # () -> {vehicle id: VehicleState}, live positions

    @property
    def travel(self) -> Any:
        """The travel model as plans use it (with the learned factors, once learned)."""
        return self.service.times.travel(self.base_travel)

    def _planned(self, day: DayInput, order: Order | None = None) -> DayInput:
        """The day (with ``order`` put in) with service times as plans budget them."""
        times = self.service.times
        base = times.day(day)
        return base if order is None else _with_order(base, times.order(order))

    # -- checks --------------------------------------------------------------------------
    def check(
        self,
        values: Mapping[str, Any],
        day: DayInput,
        depot_id: str | None = None,
        *,
        new: bool = True,
    ) -> tuple[Order | None, list[tuple[str, str]]]:
        """An order typed into a dialog, checked as an import row: the order, or every
        (field, reason). A ``new`` order's id must not be used by any order of the store."""
        depot = day.depot(depot_id or day.depots[0].id)
        vehicles = [v for v in day.vehicles if v.depot_id == depot.id]
        drivers = [d for d in day.drivers if d.depot_id == depot.id]
        order, problems = check_order(dict(values), depot, vehicles, drivers, day.day)
        oid = str(values.get("id") or "").strip()
        if new and oid and self.service.order_exists(oid):
            problems.insert(0, ("id", f"order id {oid!r} is already used; choose another"))
            order = None
        return order, problems

    def next_order_id(self, prefix: str = "U") -> str:
        """A fresh id for an urgent order: ``U-<day>-<n>`` not used in the store yet."""
        return self.service.fresh_order_id(prefix)

    # -- add an urgent order ---------------------------------------------------------------
    def _snapshot(self, plan: Plan, day: DayInput, now: datetime | None) -> Snapshot:
        known = self.positions() if self.positions is not None else None
        locked = frozenset(s.order_id for r in plan.routes for s in r.stops if s.locked)
        return Snapshot(day, plan, now, vehicle_states(plan, day, now, known), locked)

    def insertion_options(
        self, plan: Plan, day: DayInput, order: Order, now: datetime | None = None
    ) -> list[InsertOption]:
        """Every route that could take ``order``, in the engine's order (feasible first,
        then cheapest), each with its cost, extra km and minutes, late stops, capacity.
        Builds the engine context once (a travel matrix call): run it off the main thread."""
        started = time.perf_counter()
        if plan.route_of(order.id) is not None:
            raise CommandRefused(f"order {order.id} is already on a route")
        day2 = self._planned(day, order)
        pending = Unassigned(order.id, UnassignedReason.NO_FEASIBLE_ROUTE, "urgent, not placed")
        plan2 = replace(plan, unassigned=(*plan.unassigned, pending))
        snapshot = self._snapshot(plan2, day2, now)
        travel = self.travel
        ranked = suggest(snapshot, order.id, travel)
        ctx = context(snapshot, travel)
        by_vehicle = {r.vehicle_id: r for r in plan.routes}
        options: list[InsertOption] = []
        for s in ranked:
            route = by_vehicle.get(s.vehicle_id)
            if route is None:
                continue
            preview = preview_reassign(ctx, plan2, [order.id], route.id)
            feasible = s.feasible and preview.feasible
            late_before: frozenset[str] = frozenset()
            if preview.target is not None:  # the route's stops late already without it
                before = list(preview.target.order_ids_before)
                late_before = frozenset(
                    before[p] for p in ctx.evaluate(s.vehicle_id, before).lateness
                )
            options.append(
                InsertOption(
                    len(options) + 1,
                    route.id,
                    s.vehicle_id,
                    s.cost_delta,
                    feasible,
                    preview,
                    late_before,
                )  # fmt: skip
            )
        log.info("insertion options for %s: %d routes in %.2f s", order.id, len(options),
                 time.perf_counter() - started)  # fmt: skip
        return options

    def insert(
        self, plan: Plan, day: DayInput, order: Order, option: InsertOption,
        now: datetime | None = None,
    ) -> CommandResult:  # fmt: skip
        """Store ``order`` and put it on ``option``'s route where its preview placed it.
        With ``now``: the order came in then (unless it says when), and its wave is the
        first whose cut-off it made, so the route's release gate checks the cut-off."""
        if now is not None:
            order = taken_at(order, day, now)
        preview = option.preview
        if preview.blocked:
            raise CommandRefused("Cannot insert: " + "; ".join(preview.blocked))
        label = f"Add urgent order {order.id} to {option.vehicle_id}"
        audit = {"order": order.id, "target_route_id": option.route_id, "summary": preview.summary,
                 "rank": option.rank, "cost_delta": round(option.cost_delta, 3)}  # fmt: skip
        return self.service.commit_order_edit(
            plan, preview.routes, ChangeSource.INSERT_ORDER, label, audit,
            orders=OrderEdits(put=(order,)),
            undo_orders=OrderEdits(cancel=((order.id, f"undone: {label}"),)),
        )  # fmt: skip

    # -- change an order -----------------------------------------------------------------
    def _served(self, plan: Plan, order_id: str) -> None:
        route = plan.route_of(order_id)
        stop = next((s for s in route.stops if s.order_id == order_id), None) if route else None
        if stop is not None and is_history(stop):
            raise CommandRefused(
                f"order {order_id} is already {stop.status} on {route.vehicle_id}: "  # type: ignore[union-attr]
                "a served stop is history and cannot be changed or cancelled"
            )

    def _route_impact(
        self,
        order_id: str,
        route: Route,
        ctx_before: DayContext,
        ctx_after: DayContext,
        after_ids: Sequence[str],
    ) -> OrderImpact:
        before_ids = [s.order_id for s in route.stops if s.order_id in ctx_before.node_of]
        rb = ctx_before.evaluate_route(route.vehicle_id, before_ids)
        ra = ctx_after.evaluate_route(route.vehicle_id, list(after_ids))
        eta_b = dict(zip(rb.order_ids, rb.etas, strict=True))
        eta_a = dict(zip(ra.order_ids, ra.etas, strict=True))
        rows = tuple(
            StopEta(
                oid,
                eta_b.get(oid),
                eta_a.get(oid),
                rb.late_s.get(oid, 0.0) / 60,
                ra.late_s.get(oid, 0.0) / 60,
            )  # fmt: skip
            for oid in dict.fromkeys([*before_ids, *after_ids])
        )
        problems = []
        worse = [r for r in rows if r.late_after_min > r.late_before_min + 0.5]
        if worse:
            problems.append(f"{len(worse)} stop(s) made late or later: " +
                            ", ".join(f"{r.order_id} +{r.late_after_min:.0f} min"
                                      for r in worse[:3]))  # fmt: skip
        if ra.capacity_excess:
            problems.append("over capacity " + ", ".join(
                f"{d} +{e:g}" for d, e in ra.capacity_excess.items()))  # fmt: skip
        if ra.shift_overrun_s > TOLERANCE:
            problems.append(f"shift overrun {ra.shift_overrun_s / 60:.0f} min")
        new_route = _retimed(route, ctx_after, after_ids)
        return OrderImpact(
            order_id, route.id, route.vehicle_id, rows,
            sum(rb.late_s.values()) / 60, sum(ra.late_s.values()) / 60,
            rb.distance_m / 1000, ra.distance_m / 1000, tuple(problems), (new_route,),
        )  # fmt: skip

    def preview_change(
        self, plan: Plan, day: DayInput, changed: Order, now: datetime | None = None
    ) -> OrderImpact:
        """What ``changed`` (same id, new window, address or demand) does to its route."""
        self._served(plan, changed.id)
        if not any(o.id == changed.id for o in day.orders):
            raise CommandRefused(f"order {changed.id} is not an open order of this day")
        route = plan.route_of(changed.id)
        if route is None:
            return OrderImpact(changed.id, None, None,
                               note=f"{changed.id} is on no route: it stays unassigned")  # fmt: skip
        travel = self.travel
        ctx_b = context(self._snapshot(plan, self._planned(day), now), travel)
        ctx_a = context(self._snapshot(plan, self._planned(day, changed), now), travel)
        after = [s.order_id for s in route.stops if s.order_id in ctx_a.node_of]
        return self._route_impact(changed.id, route, ctx_b, ctx_a, after)

    def change(
        self,
        plan: Plan,
        day: DayInput,
        changed: Order,
        impact: OrderImpact | None = None,
        now: datetime | None = None,
    ) -> CommandResult:
        """Store the changed order; its route keeps its sequence with new planned times."""
        old = next((o for o in day.orders if o.id == changed.id), None)
        if old is None:
            raise CommandRefused(f"order {changed.id} is not an open order of this day")
        impact = impact or self.preview_change(plan, day, changed, now)
        what = _what_changed(old, changed)
        label = f"Change order {changed.id} ({what})"
        audit = {"order": changed.id, "changed": what, "summary": impact.summary}
        return self.service.commit_order_edit(
            plan, impact.routes, ChangeSource.CHANGE_ORDER, label, audit,
            orders=OrderEdits(put=(changed,)), undo_orders=OrderEdits(put=(old,)),
        )  # fmt: skip

    # -- cancel an order -----------------------------------------------------------------
    def preview_cancel(
        self, plan: Plan, day: DayInput, order_id: str, now: datetime | None = None
    ) -> OrderImpact:
        """What taking ``order_id`` off its route does to the rest of the route."""
        self._served(plan, order_id)
        if not any(o.id == order_id for o in day.orders):
            raise CommandRefused(f"order {order_id} is not an open order of this day")
        route = plan.route_of(order_id)
        if route is None:
            return OrderImpact(order_id, None, None,
                               note=f"{order_id} is on no route (unassigned)")  # fmt: skip
        ctx = context(self._snapshot(plan, self._planned(day), now), self.travel)
        after = [
            s.order_id for s in route.stops if s.order_id in ctx.node_of and s.order_id != order_id
        ]
        impact = self._route_impact(order_id, route, ctx, ctx, after)
        kept = tuple(replace(r, stops=tuple(s for s in r.stops if s.order_id != order_id))
                     for r in impact.routes)  # fmt: skip
        return replace(impact, routes=kept)

    def cancel(
        self,
        plan: Plan,
        day: DayInput,
        order_id: str,
        *,
        reason: str,
        impact: OrderImpact | None = None,
        now: datetime | None = None,
    ) -> CommandResult:
        """Take the order off its route (or the unassigned list) and store it cancelled."""
        if not reason.strip():
            raise CommandRefused("say why the order is cancelled (it goes in the audit log)")
        order = next((o for o in day.orders if o.id == order_id), None)
        if order is None:
            raise CommandRefused(f"order {order_id} is not an open order of this day")
        impact = impact or self.preview_cancel(plan, day, order_id, now)
        label = f"Cancel order {order_id}"
        audit = {"order": order_id, "reason": reason, "summary": impact.summary}
        return self.service.commit_order_edit(
            plan, impact.routes, ChangeSource.CANCEL_ORDER, label, audit,
            orders=OrderEdits(cancel=((order_id, reason.strip()),)),
            undo_orders=OrderEdits(put=(order,)),
        )  # fmt: skip

    # -- move an order to another depot ------------------------------------------------------
    def move_to_depot(
        self,
        plan: Plan,
        day: DayInput,
        order_id: str,
        target_id: str,
        *,
        seen: int | None,
        now: datetime | None = None,
    ) -> CommandResult:
        """A supervisor moves an order not yet released from this depot's day to another
        depot's: off its route (the rest re-timed), stored with the other depot, open, for
        that depot's desk to plan. Undo brings it back (unplanned).

        ``seen``: the version of the other depot's plan of the day the supervisor saw when
        choosing it (None: it had no plan). The command carries it, like the route versions
        shown: a plan changed since is a conflict (``StaleDepotPlanError``), here or, from a
        desk on a shared database, when the outbox reaches it."""
        if self.service.role != "supervisor":
            raise CommandRefused("moving an order to another depot is a supervisor's command")
        order = next((o for o in day.orders if o.id == order_id), None)
        if order is None:
            raise CommandRefused(f"order {order_id} is not an open order of this day")
        if target_id == order.depot_id:
            raise CommandRefused(f"order {order_id} is at depot {target_id} already")
        from app.store import repository

        with self.service.store.read_session() as s:
            if target_id not in {d.id for d in repository.list_depots(s)}:
                raise CommandRefused(f"there is no depot {target_id!r} in this database")
        route = plan.route_of(order_id)
        if route is not None and route.status.rank >= RouteStatus.RELEASED.rank:
            raise CommandRefused(
                f"order {order_id} is on route {route.id}, {route.status.value}: only an order "
                "not yet released can move to another depot"
            )
        impact = self.preview_cancel(plan, day, order_id, now)
        label = f"Move order {order_id} to depot {target_id}"
        audit = {"order": order_id, "from_depot": order.depot_id, "to_depot": target_id,
                 "to_plan_version_seen": seen, "summary": impact.summary}  # fmt: skip
        return self.service.commit_order_edit(
            plan, impact.routes, ChangeSource.MOVE_DEPOT, label, audit,
            orders=OrderEdits(move=(replace(order, depot_id=target_id),),
                              seen=((target_id, seen),)),
            undo_orders=OrderEdits(put=(order,)),
        )  # fmt: skip


def _retimed(route: Route, ctx: DayContext, order_ids: Sequence[str]) -> Route:
    """The route's history first, then ``order_ids`` in order with their new planned times."""
    ev = ctx.evaluate(route.vehicle_id, list(order_ids))
    stops = {s.order_id: s for s in route.stops}
    kept = [s for s in route.stops if is_history(s)]
    rest = [s for s in route.stops if not is_history(s) and s.order_id not in ctx.node_of
            and s.order_id not in order_ids]  # fmt: skip
    opened = [
        replace(
            stops[oid],
            planned_arrival=ctx.clock(ev.arrivals[p]),
            planned_departure=ctx.clock(ev.departures[p]),
        )  # fmt: skip
        for p, oid in enumerate(order_ids)
    ]
    return replace(route, stops=(*kept, *opened, *rest))


def _what_changed(old: Order, new: Order) -> str:
    """``window, address`` — the fields a dispatcher changed, for the label and the log."""
    parts = []
    if old.windows != new.windows:
        parts.append("window")
    if old.location != new.location or old.address != new.address:
        parts.append("address")
    if dict(old.demand) != dict(new.demand):
        parts.append("demand")
    if old.service_time != new.service_time:
        parts.append("service time")
    if old.priority != new.priority:
        parts.append("priority")
    if old.skills != new.skills:
        parts.append("skills")
    if old.customer != new.customer:
        parts.append("customer")
    return ", ".join(parts) or "nothing"
