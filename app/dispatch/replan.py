"""Re-plan job: the whole fleet, or only some routes with every other route fixed.

A plain function with frozen data in and a ``Proposal`` out, for ``app.jobs.runner.JobRunner``:

    runner.submit("replan", lambda cancel, report: replan_job(
        plan, day, travel, now=now, route_ids=ids, stop_event=cancel, progress=report))

It writes nothing; ``DispatchService.accept_proposal`` does, as one undoable command.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from app.dispatch.preview import is_history, vehicle_states
from engine.model import DayInput, Plan, Route, RouteStatus, StopStatus
from engine.planning import (
    DEFAULT_CHURN,
    Proposal,
    Snapshot,
    SolveCallbacks,
    VehicleState,
    replan,
)


class _Progress(SolveCallbacks):
    """Turns solver progress into one line for the status bar."""

    def __init__(self, report: Callable[[str], None]) -> None:
        self._report = report

    def on_progress(self, best_cost: float, elapsed_s: float) -> None:
        self._report(f"best cost {best_cost:,.0f} after {elapsed_s:.1f} s")

    def on_phase(self, name: str) -> None:
        self._report(f"solving ({name})")


def with_statuses(plan: Plan, statuses: Mapping[str, StopStatus]) -> Plan:
    """The plan with stop statuses from telemetry (served stops become history)."""
    if not statuses:
        return plan
    routes = tuple(
        replace(
            r,
            stops=tuple(
                replace(s, status=statuses[s.order_id]) if s.order_id in statuses else s
                for s in r.stops
            ),
        )
        for r in plan.routes
    )
    return replace(plan, routes=routes)


def _part_of_day(
    day: DayInput,
    vehicle_stays: Callable[[str | None], bool],
    drivers_on: Collection[str],
    drivers_off: Collection[str],
    order_stays: Callable[[str], bool],
) -> DayInput:
    """The day cut to the vehicles that stay, their orders, and the drivers a re-plan of
    them needs: those driving a route that stays (``drivers_on``), and those whose own
    vehicle stays unless they drive a route left out (``drivers_off``)."""
    return replace(
        day,
        vehicles=tuple(v for v in day.vehicles if vehicle_stays(v.id)),
        drivers=tuple(d for d in day.drivers if d.id in drivers_on
                      or (vehicle_stays(d.vehicle_id) and d.id not in drivers_off)),
        orders=tuple(o for o in day.orders if order_stays(o.id)),
    )  # fmt: skip


def _scoped(plan: Plan, day: DayInput, route_ids: Collection[str]) -> tuple[Plan, DayInput]:
    """The part of the day the given routes make: their vehicles, drivers and orders."""
    known = {r.id for r in plan.routes}
    unknown = sorted(set(route_ids) - known)
    if unknown:
        raise ValueError(f"re-plan: routes {unknown} are not in plan {plan.id}")
    routes = tuple(r for r in plan.routes if r.id in route_ids)
    vehicles = {r.vehicle_id for r in routes}
    drivers = {r.driver_id for r in routes if r.driver_id}
    elsewhere = {r.driver_id for r in plan.routes if r.id not in route_ids and r.driver_id}
    orders = {o for r in routes for o in r.order_ids}
    sub_day = _part_of_day(day, vehicles.__contains__, drivers, elsewhere, orders.__contains__)
    return replace(plan, routes=routes, unassigned=()), sub_day


def _share_out(
    plan: Plan, day: DayInput, unavailable: Collection[str], locked: Collection[str],
    keep: Collection[str] = (),
) -> tuple[Plan, DayInput, dict[str, Route]]:  # fmt: skip
    """The part of the day without the vehicles that cannot drive on (broken down): their
    routes and vehicles are left out, their open stops stay in the day's orders, so the
    re-plan shares them out among the other vehicles. Returns (plan, day, what each left-out
    route keeps: its served, arrived and locked stops, and those in ``keep``)."""
    out = [r for r in plan.routes if r.vehicle_id in unavailable]
    if not out:
        return plan, day, {}
    kept = {
        r.id: replace(r, stops=tuple(s for s in r.stops if is_history(s) or s.locked
                                     or s.order_id in locked or s.order_id in keep))
        for r in out
    }  # fmt: skip
    stay = {s.order_id for r in kept.values() for s in r.stops}
    routes = tuple(r for r in plan.routes if r.vehicle_id not in unavailable)
    drivers_on = {r.driver_id for r in routes if r.driver_id}
    gone = {r.driver_id for r in out if r.driver_id} - drivers_on
    sub_day = _part_of_day(day, lambda v: v not in unavailable, drivers_on, gone,
                           lambda o: o not in stay)  # fmt: skip
    return replace(plan, routes=routes), sub_day, kept


def _with_stranded(
    proposal: Proposal, stranded: Mapping[str, Route], origin: Mapping[str, str]
) -> Proposal:
    """The proposal with the left-out routes back (what they keep), and each stop they
    hand on shown as moved from their vehicle (``origin``: order id -> that vehicle)."""
    moved = tuple(
        replace(c, vehicle_before=origin[c.order_id]) if c.order_id in origin else c
        for c in proposal.moved
    )
    plan = replace(proposal.plan, routes=proposal.plan.routes + tuple(stranded.values()))
    return replace(proposal, plan=plan, moved=moved)


def replan_job(
    plan: Plan,
    day: DayInput,
    travel,
    *,
    now: datetime | None = None,
    vehicles: Mapping[str, VehicleState] | None = None,
    statuses: Mapping[str, StopStatus] | None = None,
    locked: Collection[str] = (),
    route_ids: Collection[str] | None = None,
    time_limit_s: float = 5.0,
    stop_event: threading.Event | None = None,
    progress: Callable[[str], None] | None = None,
    unavailable: Collection[str] = (),
    keep: Collection[str] = (),
    churn_penalty: float = DEFAULT_CHURN,
    iterations: int | None = None,
    states_as_given: bool = False,
    loaded: Collection[str] = (),
    drive_factors: Mapping[str, float] | None = None,
) -> Proposal:
    """Re-plan the day from ``now`` and where each vehicle is; ``route_ids`` limits it.

    ``vehicles``: live positions (the others start from their last served stop, or the
    depot); ``statuses``: live stop statuses laid over the plan; locked stops keep their
    vehicle. With ``route_ids`` only those routes' stops move, among those routes' vehicles,
    and every other route stays exactly as it is; the proposal's plan is the whole day.
    ``unavailable``: vehicles that cannot drive on (broken down): they get no stops, and
    their open stops that are not locked go to the other vehicles in scope (or are left
    unassigned, with the reason, when none can take them); ``keep``: open stops that stay on
    such a vehicle's route all the same (not locked: a rule's recently moved stops).
    ``churn_penalty`` prices each stop moved off its vehicle; ``iterations`` bounds the
    search; ``states_as_given``: the vehicles start where ``vehicles`` says and the others
    at the depot, none from its last served stop (a rule's re-plan sets all three; see
    ``app.rules.actions``). ``loaded``: orders the dock loaded onto a van that has not left
    (``app.release.loaded``): they stay on that van like locked stops, whatever the re-plan
    (a whole day's too), and the proposal says so in its notes. ``drive_factors``: each
    vehicle's observed drive time over the street model's on its legs so far (the live
    ETAs' speed factor); the vans in scope that drive much slower are named in the notes.
    """
    base = with_statuses(plan, statuses or {})
    locked = {*locked, *loaded}
    part, part_day = (base, day) if route_ids is None else _scoped(base, day, route_ids)
    origin = {s.order_id: r.vehicle_id for r in part.routes if r.vehicle_id in unavailable
              for s in r.stops}  # fmt: skip
    part, part_day, stranded = _share_out(part, part_day, unavailable, locked, keep)
    if states_as_given:
        in_part = {v.id for v in part_day.vehicles}
        states = {vid: s for vid, s in (vehicles or {}).items() if vid in in_part}
    else:
        states = vehicle_states(part, part_day, now, vehicles)
    snapshot = Snapshot(part_day, part, now, states, frozenset(locked))
    callbacks = _Progress(progress) if progress is not None else None
    proposal = replan(
        snapshot,
        travel,
        depot_id=plan.depot_id,
        time_limit_s=time_limit_s,
        churn_penalty=churn_penalty,
        stop_event=stop_event,
        callbacks=callbacks,
        iterations=iterations,
    )
    if stranded:  # the left-out routes keep their history; the rest of their stops moved
        proposal = _with_stranded(proposal, stranded, origin)
    if note := kept_loaded(base, loaded, route_ids):
        proposal = replace(proposal, notes=(*proposal.notes, note))
    if note := slow_vans(base, drive_factors or {}, route_ids):
        proposal = replace(proposal, notes=(*proposal.notes, note))
    if route_ids is None:
        return proposal
    new = {r.id: r for r in proposal.plan.routes}
    routes = tuple(new.get(r.id, r) for r in base.routes)
    routes += tuple(r for r in proposal.plan.routes if r.id not in {x.id for x in base.routes})
    whole = replace(base, routes=routes, unassigned=base.unassigned + proposal.plan.unassigned)
    return replace(proposal, plan=whole)


def kept_loaded(
    plan: Plan, loaded: Collection[str], route_ids: Collection[str] | None = None
) -> str:
    """The line a re-plan's proposal shows for the loaded stops it kept on their vans (of
    the routes in its scope: ``route_ids``, or all), e.g. "Kept on their van: 26 loaded
    stops (V09)"; empty when there are none."""
    loaded = set(loaded)
    vans = {r.vehicle_id: n for r in plan.routes
            if (route_ids is None or r.id in route_ids)
            and (n := sum(1 for s in r.stops if s.order_id in loaded))}  # fmt: skip
    if not vans:
        return ""
    total = sum(vans.values())
    shown = ", ".join(sorted(vans)[:6]) + (" …" if len(vans) > 6 else "")
    return f"Kept on their van: {total} loaded stop{'s' if total != 1 else ''} ({shown})"


#: A van whose legs so far took this many times the street model's time or more is named
#: in a re-plan's notes: the plan times its stops at the model's speed, the live ETAs do not.
SLOW_FACTOR = 1.25


def slow_vans(
    plan: Plan, drive_factors: Mapping[str, float], route_ids: Collection[str] | None = None
) -> str:
    """The line a re-plan's proposal shows for the vans of its scope (``route_ids``, or all)
    with stops still to serve that have driven slower than the street model today, e.g.
    "Driving slower than planned today: V01 1.8×, V07 1.3× ..."; empty when none does."""
    slow = sorted(
        ((f, r.vehicle_id) for r in plan.routes
         if (route_ids is None or r.id in route_ids)
         and any(not s.status.is_done for s in r.stops)
         and (f := drive_factors.get(r.vehicle_id, 1.0)) >= SLOW_FACTOR),
        reverse=True,
    )  # fmt: skip
    if not slow:
        return ""
    shown = ", ".join(f"{vid} {f:.1f}×" for f, vid in slow[:6]) + (" …" if len(slow) > 6 else "")
    return (f"Driving slower than planned today: {shown}. This re-plan times their stops at "
            "the street model's speed; the live ETAs allow for the slower driving, so their "
            "stops may show later once it is accepted.")  # fmt: skip


def unlocked(plan: Plan) -> Plan:
    """The plan with every lock taken off (what planning the whole day again drops)."""
    if not any(s.locked for r in plan.routes for s in r.stops):
        return plan
    routes = tuple(
        replace(r, stops=tuple(replace(s, locked=False) if s.locked else s for s in r.stops))
        for r in plan.routes
    )
    return replace(plan, routes=routes)


@dataclass(frozen=True)
class WholeDayLoss:
    """What planning the day again would undo: locks, and routes already released (their
    drivers get the new route); served stops stay history. ``live``: the day has started
    (a stop served or a route released), so planning it again is a re-plan from now."""

    served: int
    locked: int
    released: tuple[str, ...]  # vehicle ids of routes released or on the road
    loaded: int = 0  # stops the dock loaded onto a van not left yet: they stay on it

    @property
    def live(self) -> bool:
        return bool(self.served or self.released)

    @property
    def kept(self) -> str:
        """What planning again keeps."""
        loaded = ""
        if self.loaded:
            n = f"{self.loaded} loaded stop{'s' if self.loaded != 1 else ''}"
            loaded = f" Kept on their van: {n} (the goods are on it; the order may change)."
        if not self.served:
            return "Nothing is served yet." + loaded
        stops = f"{self.served} stop{'s' if self.served != 1 else ''}"
        verb = "stays" if self.served == 1 else "stay"
        return (f"Kept: {stops} already served or reached {verb} as history on their "
                f"vehicles.{loaded}")  # fmt: skip

    def lines(self, edits: int = 0) -> list[str]:
        """The confirmation's words: what will be lost."""
        out = []
        if self.locked:
            out.append(f"{self.locked} locked stop{'s' if self.locked != 1 else ''} unlocked "
                       "(they may move to other vehicles)")  # fmt: skip
        out.append(
            "every manual move and order placement made since the plan was built"
            + (f" ({edits} made at this desk)" if edits else "")
        )
        if self.released:
            shown = ", ".join(self.released[:8]) + (" …" if len(self.released) > 8 else "")
            out.append(f"{len(self.released)} released route{'s' if len(self.released) != 1 else ''}"
                       f" ({shown}) sent again to their drivers, changed")  # fmt: skip
        return out


def whole_day_loss(plan: Plan, loaded: Collection[str] = ()) -> WholeDayLoss:
    """What planning ``plan`` again would undo and keep (``loaded``: the orders the dock
    loaded, ``app.release.loaded``: they stay on their vans)."""
    stops = [s for r in plan.routes for s in r.stops]
    loaded = set(loaded)
    released = tuple(
        r.vehicle_id for r in plan.routes if r.status.rank >= RouteStatus.RELEASED.rank
    )
    return WholeDayLoss(
        served=sum(1 for s in stops if s.status != StopStatus.PLANNED),
        locked=sum(1 for s in stops if s.locked),
        released=released,
        loaded=sum(1 for s in stops if s.order_id in loaded and not is_history(s)),
    )
