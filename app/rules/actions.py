"""What a firing does: the rule's action worked out on the plan as it stands, never written.

``ActionRunner.run(match, situation)`` returns an :class:`Effect`: the new versions of the
routes the action would change (with the stops moved and the lateness before and after),
a proposal left for a person, an escalation, a route to send, or nothing to do (and why).
The caller decides: in shadow mode it only records the effect; acting, it writes the
routes as one command. Every change is checked against the protected stops first
(:mod:`engine.automation.protect`): one that would move a locked, loaded or served stop is
refused whole.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import cached_property

from app.dispatch.preview import (
    ContextCache,
    PlanningTimes,
    ReassignPreview,
    is_history,
    preview_reassign,
)
from app.dispatch.replan import replan_job
from engine.automation import Action, Match
from engine.automation.protect import check_change, protected_stops
from engine.eta import RouteEta, service_window
from engine.model import DayInput, Plan, Route, RouteStatus, StopStatus
from engine.planning import VehicleState, evaluate_route

log = logging.getLogger(__name__)

#: How many candidate routes a move looks at, nearest first.
CANDIDATES = 8
#: What an order that will not be served (broken-down van, no route) counts as, late.
BROKEN_PENALTY_S = 3600.0
#: A moved stop must arrive at least this long before its window closes on its new route
#: (the plan's speeds are a little optimistic; a move that only just fits is no rescue).
SLACK_S = 15 * 60.0
#: A move must bring the stop at least this much sooner than where it is.
SAVE_S = 15 * 60.0
#: The re-plan's price for moving a stop off its vehicle (cost units: km by default).
RULE_CHURN, BROKEN_CHURN = 5.0, 50.0
#: The wave name prefix of an attempt moved to the next day.
NEXT_DAY = "next-day:"


@dataclass(frozen=True)
class Move:
    order_id: str
    from_vehicle: str | None
    to_vehicle: str


@dataclass(frozen=True)
class Situation:
    """What an action sees: the day, the plan as it stands (stop statuses from telemetry),
    the time, where each vehicle is, the live ETAs by route, which orders are loaded on a
    vehicle and which vehicles broke down."""

    day: DayInput
    plan: Plan
    now: datetime
    vehicles: Mapping[str, VehicleState] = field(default_factory=dict)
    etas: Mapping[str, RouteEta] = field(default_factory=dict)
    loaded: frozenset[str] = frozenset()
    broken: frozenset[str] = frozenset()
    settled: frozenset[str] = frozenset()  # moved by a rule a short while ago: left alone
    late_margin_min: float = 10.0

    @cached_property
    def protected(self) -> frozenset[str]:
        return protected_stops(self.plan, self.loaded)

    @cached_property
    def orders(self):
        return {o.id: o for o in self.day.orders}

    def route_of_vehicle(self, vehicle_id: str | None) -> Route | None:
        return next((r for r in self.plan.routes if r.vehicle_id == vehicle_id), None)

    def movable(self, route: Route) -> list[str]:
        """The route's open stops a rule may move, in route order."""
        return [s.order_id for s in route.stops if not is_history(s)
                and s.order_id not in self.protected and s.order_id not in self.settled]  # fmt: skip

    def at_risk(self, route: Route) -> list[str]:
        """Movable stops predicted to miss (or nearly miss) their window, in route order;
        every movable stop of a broken-down vehicle."""
        movable = self.movable(route)
        if route.vehicle_id in self.broken:
            return movable
        eta = self.etas.get(route.id)
        if eta is None:
            return []
        margin = -self.late_margin_min * 60
        risky = {s.order_id for s in eta.stops if s.late_s > margin}
        return [oid for oid in movable if oid in risky]

    def eta(self, order_id: str, plan: Plan | None = None) -> datetime | None:
        """When the order is predicted to be reached where it is; None: never (a broken
        down vehicle, or on no route)."""
        plan = plan or self.plan
        route = plan.route_of(order_id)
        if route is None or route.vehicle_id in self.broken:
            return None
        eta = self.etas.get(route.id)
        stop = eta.of(order_id) if eta is not None else None
        return stop.eta if stop is not None else None

    def late_s(self, order_id: str, plan: Plan | None = None) -> float:
        """How late the order is predicted where it is now: its live ETA past the window
        (0 when on time); on a broken-down vehicle or on no route, the window is lost
        (counted as an hour late past its end, or past now)."""
        plan = plan or self.plan
        route = plan.route_of(order_id)
        order = self.orders[order_id]
        if route is None or route.vehicle_id in self.broken:
            lost = max(0.0, (self.now - order.latest).total_seconds())
            return lost + BROKEN_PENALTY_S
        eta = self.etas.get(route.id)
        stop = eta.of(order_id) if eta is not None else None
        return max(0.0, stop.late_s) if stop is not None else 0.0

    def fits_whole_day(self, route: Route, order_id: str) -> bool:
        """Whether the route's vehicle could carry all its stops of the day and the order
        at once (what the capacity exception checks: no reloading is assumed)."""
        vehicle = self.fleet.get(route.vehicle_id)
        if vehicle is None:
            return True
        load: dict[str, float] = {}
        for s in route.stops:
            order = self.orders.get(s.order_id)
            if order is not None and s.status is not StopStatus.SKIPPED:
                for d, a in order.demand.items():
                    load[d] = load.get(d, 0.0) + a
        for d, a in self.orders[order_id].demand.items():
            load[d] = load.get(d, 0.0) + a
        return all(a <= vehicle.capacity.get(d, 0.0) + 1e-9 for d, a in load.items())

    @cached_property
    def fleet(self):
        return {v.id: v for v in self.day.vehicles}

    def takes_stops(self, route: Route) -> bool:
        """May this route be given stops: not finished, its vehicle not broken down, and
        none of its own stops at risk (a van running late is no help)."""
        if route.status is RouteStatus.COMPLETED or route.vehicle_id in self.broken:
            return False
        eta = self.etas.get(route.id)
        margin = -self.late_margin_min * 60
        return eta is None or all(s.late_s <= margin for s in eta.stops)


@dataclass(frozen=True)
class Effect:
    """What a firing does (or would do). ``status``: changed (``routes`` to write), proposal
    (a person decides), escalate, send (``send`` route ids), nothing, or refused."""

    status: str
    text: str
    routes: tuple[Route, ...] = ()
    moved: tuple[Move, ...] = ()
    lateness_before_s: float = 0.0
    lateness_after_s: float = 0.0
    send: tuple[str, ...] = ()
    reschedule: tuple[tuple[str, str], ...] = ()  # (order id, wave) for a later attempt

    @property
    def changes_plan(self) -> bool:
        return self.status == "changed" and bool(self.routes)

    @property
    def changes_anything(self) -> bool:
        return self.status == "changed" and bool(self.routes or self.reschedule)

    @property
    def gain_min(self) -> float:
        return (self.lateness_before_s - self.lateness_after_s) / 60


def _nothing(text: str) -> Effect:
    return Effect("nothing", text)


def _moves_text(moved: Sequence[Move]) -> str:
    shown = ", ".join(f"{m.order_id} ({m.from_vehicle or '—'}→{m.to_vehicle})" for m in moved[:4])
    return shown + (f" and {len(moved) - 4} more" if len(moved) > 4 else "")


class ActionRunner:
    """Works out actions on a travel model; ``iterations`` makes re-plans repeatable."""

    def __init__(self, travel, *, replan_seconds: float = 2.0, iterations: int | None = None):
        #: Legs timed as the plan, the live ETAs and a person's previews and re-plans time
        #: them (``PlanningTimes.travel``), not at the speeds of the hour a rule fires in.
        self.times = PlanningTimes()
        self.base_travel = travel
        self.travel = self.times.travel(travel)
        self.replan_seconds = replan_seconds
        self.iterations = iterations
        self._stop_event: threading.Event | None = None  # the running action's (see run)

    def run(
        self, match: Match, sit: Situation, stop_event: threading.Event | None = None
    ) -> Effect:
        """The effect of ``match``'s action on ``sit``; ``stop_event`` cancels a re-plan
        (and its search checks it often, so the window's thread gets the interpreter lock
        in between: OR-Tools holds it for the whole search otherwise)."""
        self._stop_event = stop_event
        action = match.rule.then.action
        try:
            if action is Action.ESCALATE:
                return self._escalate(match)
            if action is Action.SEND_ROUTE:
                route = self._route(match, sit)
                if route is None:
                    return _nothing("no route to send")
                return Effect("send", f"sent {route.id} to {route.vehicle_id}", send=(route.id,))
            if action is Action.MOVE_AT_RISK:
                effect = self._move_at_risk(match, sit)
            elif action is Action.REPLAN:
                effect = self._replan(match, sit)
            elif action is Action.NEXT_WAVE:
                effect = self._next_wave(match, sit)
            else:
                effect = self._insert(match, sit)
        except Exception as exc:  # an action that cannot be worked out is reported, not fatal
            log.exception("rule %s: action failed", match.rule.id)
            return Effect("nothing", f"could not work it out: {exc}")
        return self._guarded(match, sit, effect)

    # -- the guard on every change ---------------------------------------------------
    def _guarded(self, match: Match, sit: Situation, effect: Effect) -> Effect:
        if effect.status not in ("changed", "proposal") or not effect.routes:
            return effect
        bad = check_change(sit.plan, effect.routes, sit.protected)
        if bad:
            why = "; ".join(f"{v.order_id} {v.why}" for v in bad[:3])
            return Effect("refused", f"refused: it would touch protected stops ({why})")
        limit = match.rule.guard.max_stops
        if len(effect.moved) > limit:
            return replace(
                effect,
                status="proposal",
                text=f"{effect.text} — moves {len(effect.moved)} stops, more than the rule's "
                f"{limit}: left for a person",
            )
        return effect

    # -- helpers ---------------------------------------------------------------------
    def _route(self, match: Match, sit: Situation) -> Route | None:
        occ = match.occurrence
        if occ.order_id:
            route = sit.plan.route_of(occ.order_id)
            if route is not None:
                return route
        if occ.route_id:
            route = next((r for r in sit.plan.routes if r.id == occ.route_id), None)
            if route is not None:
                return route
        return sit.route_of_vehicle(occ.vehicle_id)

    def _contexts(self, sit: Situation) -> ContextCache:
        return ContextCache(self.base_travel, lambda: sit.vehicles, self.times)

    def _candidates(self, sit: Situation, order_id: str, exclude: set[str]) -> list[Route]:
        """Routes that may take the order, nearest (by their open stops) first."""
        here = sit.orders[order_id].location
        scored = []
        for route in sit.plan.routes:
            if route.id in exclude or not sit.takes_stops(route):
                continue
            points = [sit.orders[o].location for o in route.order_ids if o in sit.orders]
            if not points:
                continue
            near = min((p.lat - here.lat) ** 2 + ((p.lon - here.lon) * 0.76) ** 2 for p in points)
            scored.append((near, route.id, route))
        return [r for _, _, r in sorted(scored)[:CANDIDATES]]

    def _best_move(
        self, ctx_cache: ContextCache, sit: Situation, plan: Plan, order_id: str, targets
    ) -> ReassignPreview | None:
        """The target where the order arrives soonest, if it arrives there at least
        ``SAVE_S`` sooner than where it is (with ``SLACK_S`` to spare when it can still be
        on time), and the target's own stops get no later, fuller or longer than allowed."""
        order = sit.orders[order_id]
        here = sit.eta(order_id, plan)
        best, best_key = None, None
        for target in targets:
            ctx = ctx_cache.for_move(plan, sit.day, sit.now, [order_id], target.id)
            preview = preview_reassign(ctx, plan, [order_id], target.id)
            t = preview.target
            if preview.blocked or t is None or t.capacity_excess or t.missing_skills:
                continue
            if t.shift_overrun_s > 60 or not sit.fits_whole_day(target, order_id):
                continue
            report = evaluate_route(ctx, t.vehicle_id, t.order_ids_after)
            eta = report.etas[t.order_ids_after.index(order_id)]
            own_late = report.late_s.get(order_id, 0.0)
            if t.lateness_after_s - own_late > t.lateness_before_s + 60:
                continue  # the target's own customers would pay for it
            end = service_window(order.windows, eta).end
            can_be_on_time = sit.now + timedelta(seconds=SLACK_S) < order.latest
            if can_be_on_time and (end - eta).total_seconds() < SLACK_S:
                continue  # it would only just fit: no rescue
            if here is not None and (here - eta).total_seconds() < SAVE_S:
                continue  # not sooner enough to be worth a change for the driver
            key = (eta, target.id)
            if best_key is None or key < best_key:
                best, best_key = preview, key
        return best

    @staticmethod
    def _apply(plan: Plan, routes: Sequence[Route]) -> Plan:
        new = {r.id: r for r in routes}
        on = {o for r in routes for o in r.order_ids}
        unassigned = tuple(u for u in plan.unassigned if u.order_id not in on)
        return replace(plan, routes=tuple(new.get(r.id, r) for r in plan.routes),
                       unassigned=unassigned)  # fmt: skip

    def _moves(self, sit: Situation, plan: Plan, order_ids, changed: Mapping[str, Route]):
        was = {s.order_id: r.vehicle_id for r in sit.plan.routes for s in r.stops}
        out = []
        for oid in order_ids:
            route = plan.route_of(oid)
            if route is not None and was.get(oid) != route.vehicle_id:
                out.append(Move(oid, was.get(oid), route.vehicle_id))
        return tuple(out)

    # -- the actions -------------------------------------------------------------------
    def _move_stops(self, sit: Situation, order_ids: Sequence[str], exclude: set[str], what: str):
        """Move each order in turn to the route where it fits best, when that saves more
        lateness than it adds to the target's other stops; the changed routes and moves."""
        cache = self._contexts(sit)
        plan = sit.plan
        changed: dict[str, Route] = {}
        before_total = after_total = 0.0
        stuck = []
        for oid in order_ids:
            targets = self._candidates(sit, oid, exclude)
            preview = self._best_move(cache, sit, plan, oid, targets)
            if preview is None or preview.target is None:
                stuck.append(oid)
                continue
            t = preview.target
            here = sit.late_s(oid, plan)
            plan = self._apply(plan, preview.routes)
            changed.update({r.id: r for r in preview.routes})
            before_total += here + t.lateness_before_s
            after_total += t.lateness_after_s
        moved = self._moves(sit, plan, order_ids, changed)
        if not moved:
            return _nothing(f"no route takes {', '.join(stuck[:3]) or what} with less lateness")
        text = f"moved {_moves_text(moved)}"
        if stuck:
            text += f"; {', '.join(stuck[:3])} stay{'s' if len(stuck) == 1 else ''}"
        routes = tuple(changed[r.id] for r in plan.routes if r.id in changed)
        return Effect("changed", text, routes, moved, before_total, after_total)

    def _move_at_risk(self, match: Match, sit: Situation) -> Effect:
        route = self._route(match, sit)
        if route is None:
            return _nothing("the vehicle has no route")
        risky = sit.at_risk(route)
        if not risky:
            return _nothing(f"no stop of {route.vehicle_id} at risk may move")
        wanted = min(match.rule.then.stops, match.rule.guard.max_stops)
        return self._move_stops(sit, risky[:wanted], {route.id}, "the stops")

    def _insert(self, match: Match, sit: Situation) -> Effect:
        oid = match.occurrence.order_id
        if oid is None or oid not in sit.orders:
            return _nothing("no order to insert")
        if sit.plan.route_of(oid) is not None:
            return _nothing(f"{oid} is already on a route")
        return self._move_stops(sit, [oid], set(), oid)

    def _next_wave(self, match: Match, sit: Situation) -> Effect:
        oid = match.occurrence.order_id
        if oid is None or oid not in sit.orders:
            return _nothing("no order to move")
        waves = sorted(
            {o.wave for o in sit.day.orders if o.wave and not o.wave.startswith(NEXT_DAY)}
        )
        wave = sit.orders[oid].wave
        later = [w for w in waves if w > wave]
        current = sit.plan.route_of(oid)
        stop = next((x for x in current.stops if x.order_id == oid), None) if current else None
        if stop is not None and stop.status is StopStatus.FAILED:
            # The failed attempt stays in its route's history; the order's next attempt
            # goes with the next wave, or tomorrow's first (that wave's planning places it).
            nxt = later[0] if later else NEXT_DAY + (waves[0] if waves else "")
            when = f"wave {later[0]}" if later else "tomorrow's first wave"
            return Effect("changed", f"{oid} failed: its next attempt goes with {when}",
                          reschedule=((oid, nxt),))  # fmt: skip
        if not later:
            return _nothing(f"{oid} is in the last wave ({wave or 'none'})")
        nxt = later[0]
        if current is not None and oid in sit.protected:
            return _nothing(f"{oid} is locked, loaded or served")
        exclude = {r.id for r in sit.plan.routes
                   if route_wave(r, sit.orders) != nxt or any(is_history(s) for s in r.stops)
                   or r.vehicle_id in sit.vehicles}  # fmt: skip
        if current is not None:
            exclude.add(current.id)
        if len(exclude) >= len(sit.plan.routes):
            return _nothing(f"no route of wave {nxt} has not left yet")
        effect = self._move_stops(sit, [oid], exclude, oid)
        if effect.status == "changed":
            return replace(effect, text=f"{effect.text} (wave {nxt})")
        return effect

    def _neighbours(self, sit: Situation, route: Route, k: int) -> list[Route]:
        """The k routes that best take the route's first at-risk stop (else the nearest)."""
        risky = sit.at_risk(route) or sit.movable(route)
        if not risky or k <= 0:
            return []
        cache = self._contexts(sit)
        ranked = []
        for target in self._candidates(sit, risky[0], {route.id}):
            ctx = cache.for_move(sit.plan, sit.day, sit.now, [risky[0]], target.id)
            preview = preview_reassign(ctx, sit.plan, [risky[0]], target.id)
            if preview.blocked or preview.target is None:
                continue
            ranked.append(((not preview.feasible, preview.target.lateness_after_s,
                            preview.target.duration_delta_s), target.id, target))  # fmt: skip
        return [r for _, _, r in sorted(ranked)[:k]]

    def _replan(self, match: Match, sit: Situation) -> Effect:
        route = self._route(match, sit)
        if route is None:
            return _nothing("the vehicle has no route")
        then = match.rule.then
        scope = [route, *self._neighbours(sit, route, then.neighbours)]
        broken = route.vehicle_id in sit.broken
        servers = [r for r in scope if not (broken and r.id == route.id)]
        if not servers:
            return _nothing("no route near enough to share the work")
        free = set(sit.movable(route)) if broken else set()
        orders = {o for r in servers for o in r.order_ids} | free
        # The re-plan a person starts (app.dispatch.replan): the scope's routes only, a
        # broken-down van's open stops shared out among the others. A broken-down van's
        # stops are the work to share out: its neighbours keep their own stops unless
        # moving one really pays (a high price on every other move).
        churn = BROKEN_CHURN if broken else RULE_CHURN
        settled = {s.order_id for s in route.stops} - free if broken else set()
        proposal = replan_job(
            sit.plan, sit.day, self.travel, now=sit.now, vehicles=sit.vehicles,
            locked=sit.protected, route_ids=[r.id for r in scope],
            time_limit_s=self.replan_seconds, stop_event=self._stop_event,
            unavailable={route.vehicle_id} if broken else (), keep=settled,
            churn_penalty=churn, iterations=self.iterations, states_as_given=True,
        )  # fmt: skip
        new = {r.id: r for r in proposal.plan.routes}
        routes = [new[r.id] for r in servers if r.id in new and new[r.id] != r]
        if broken:
            taken = {o for r in routes for o in r.order_ids}
            left = tuple(s for s in route.stops if s.order_id not in taken)
            if len(left) != len(route.stops):
                routes.append(replace(route, stops=left))
        over = self._over_capacity(sit, routes)
        if over and broken:  # no room for all of it: hand on what fits, stop by stop
            effect = self._move_stops(sit, sorted(free, key=route.order_ids.index),
                                      {route.id}, "the stops")  # fmt: skip
            if effect.status != "changed":
                return effect
            return self._accept(then, replace(effect, status="proposal", text=(
                f"{effect.text} (a re-plan would overload {', '.join(over)})")))  # fmt: skip
        if over:
            return _nothing(f"the re-plan would overload {', '.join(over)}")
        plan = self._apply(sit.plan, routes)
        moved = self._moves(sit, plan, sorted(orders), {r.id: r for r in routes})
        before, after = proposal.lateness_before_s, proposal.lateness_after_s
        if broken:  # the broken van's stops were never going to be served
            before += sum(sit.late_s(oid) for oid in free)
        if not routes:
            return _nothing(f"the re-plan of {len(scope)} routes changes nothing")
        text = (f"re-plan of {', '.join(r.vehicle_id for r in scope)}: "
                f"{len(moved)} moved, lateness {before / 60:.0f} → {after / 60:.0f} min")  # fmt: skip
        return self._accept(then, Effect("proposal", text, tuple(routes), moved, before, after))

    @staticmethod
    def _accept(then, effect: Effect) -> Effect:
        """A proposal the rule accepts by itself (≤ K moved, ≥ M min saved), else left for
        a person."""
        k, m = then.accept_max_moved, then.accept_min_gain_min
        if k is None or m is None:
            return effect
        if len(effect.moved) <= k and effect.gain_min >= m:
            return replace(effect, status="changed", text=effect.text + " (accepted by the rule)")
        return replace(effect, text=effect.text + f" (not accepted: needs ≤ {k} moved and "
                                                  f"≥ {m:g} min saved)")  # fmt: skip

    @staticmethod
    def _over_capacity(sit: Situation, routes: Sequence[Route]) -> list[str]:
        """Vehicles whose new route holds more than they carry (the whole day's stops, as
        the capacity exception counts them)."""
        out = []
        for route in routes:
            others = replace(route, stops=route.stops[:-1]) if route.stops else route
            if route.stops and not sit.fits_whole_day(others, route.stops[-1].order_id):
                out.append(route.vehicle_id)
        return out

    def _escalate(self, match: Match) -> Effect:
        occ = match.occurrence
        what = occ.type.replace("_", " ")
        who = f" on {occ.vehicle_id}" if occ.vehicle_id else ""
        return Effect("escalate", f"escalated to a supervisor: {what}{who} unacknowledged "
                                  f"for {match.rule.then.after_min:g} min")  # fmt: skip


def route_wave(route: Route, orders: Mapping) -> str:
    """A route's wave: its own, else the wave most of its orders belong to."""
    if route.wave:
        return route.wave
    counts = Counter(orders[o].wave for o in route.order_ids if o in orders and orders[o].wave)
    return counts.most_common(1)[0][0] if counts else ""
