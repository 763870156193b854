"""Telemetry's stop results (arrived, delivered, failed...) laid over a plan of the day."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime

from app.telemetry.state import StopState
from engine.model import Plan, Route, Stop, StopStatus


def _dt(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def merge_stop_states(plan: Plan, stops: Mapping[str, StopState]) -> tuple[Plan, frozenset[str]]:
    """The plan with telemetry's stop results laid over it; and the routes that changed."""
    changed: set[str] = set()
    routes = []
    for route in plan.routes:
        merged = merge_route_stop_states(route, stops)
        if merged is not route:
            changed.add(route.id)
        routes.append(merged)
    return (replace(plan, routes=tuple(routes)) if changed else plan), frozenset(changed)


def merge_route_stop_states(
    route: Route, stops: Mapping[str, StopState], made: dict | None = None
) -> Route:
    """One route with telemetry's stop results laid over it (the same route when none
    changes a stop's status). ``made``: the stops merged before, kept by the caller and
    taken again for the same stop and state (a replay shows the same states again and
    again)."""
    new_stops = []
    changed = False
    for stop in route.stops:
        st = stops.get(stop.order_id)
        if st is None or st.status == stop.status:
            new_stops.append(stop)
            continue
        changed = True
        if made is None:
            new_stops.append(_merged_stop(stop, st))
            continue
        key = (id(stop), id(st))
        got = made.get(key)
        if got is None or got[0] is not stop or got[1] is not st:
            got = made[key] = (stop, st, _merged_stop(stop, st))  # holds both: ids not reused
        new_stops.append(got[2])
    return with_stops(route, tuple(new_stops)) if changed else route


def _merged_stop(stop: Stop, st: StopState) -> Stop:
    # A stop has no checks of its own: built directly, not by dataclasses.replace
    # (a jump in a 2,000-van replay lays tens of thousands of states at once).
    return Stop(
        stop.order_id,
        stop.planned_arrival,
        stop.planned_departure,
        st.status,
        stop.locked,
        _dt(st.arrived_at) or stop.actual_arrival,
        _dt(st.departed_at or st.done_at) or stop.actual_departure,
    )  # fmt: skip


def with_stops(route: Route, stops: tuple[Stop, ...]) -> Route:
    """``route`` with ``stops`` in place of its own, which must be the same orders in the
    same order (only their states differ): built without checking the route again (a
    replay jump lays states over thousands of routes; ``dataclasses.replace`` checked each
    one's orders anew). What the route worked out of its orders stays valid."""
    out = object.__new__(Route)
    out.__dict__.update(route.__dict__)
    object.__setattr__(out, "stops", stops)
    return out


def keep_stop_results(shown: Plan, plan: Plan) -> Plan:
    """``plan`` (as stored after a command) with the stop results ``shown`` already had:
    stop results are laid over the shown plan, not stored, so a command's plan read back
    from the store would otherwise show served stops as planned. A stop keeps its result
    only on the route it had it on."""
    results = {
        (r.id, s.order_id): s for r in shown.routes for s in r.stops
        if s.status is not StopStatus.PLANNED
    }  # fmt: skip
    if not results:
        return plan
    routes = []
    changed = False
    for route in plan.routes:
        stops = []
        for stop in route.stops:
            had = results.get((route.id, stop.order_id))
            if had is not None and stop.status is StopStatus.PLANNED:
                stop = replace(stop, status=had.status, actual_arrival=had.actual_arrival,
                               actual_departure=had.actual_departure)  # fmt: skip
                changed = True
            stops.append(stop)
        routes.append(replace(route, stops=tuple(stops)))
    return replace(plan, routes=tuple(routes)) if changed else plan
