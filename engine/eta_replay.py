"""The ETA the desk would have shown at a past moment of a recorded day.

The live monitor's own computation (``engine.eta.PreparedRoute``) fed what it would have
known then: the vehicle's newest fix, the stops served by then (from the stop events), and
the speed factor observed on the legs driven so far, the driver's breaks taken by then. Used for recorded days that carry no
sampled ETAs (the ETA accuracy KPIs) and by ``bench.eta``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np

from engine.eta import Position, PreparedRoute, observed_speed_factor
from engine.history import StopVisit, Track
from engine.model import Driver, Location, Stop, StopStatus


def eta_at(
    prepared: PreparedRoute,
    stops: Sequence[Stop],
    visits: Sequence[StopVisit | None],
    track: Track | None,
    t: float,
    depot: Location,
    order_id: str,
    driver: Driver | None = None,
    breaks: Sequence[tuple[float, str]] = (),
) -> float | None:
    """Epoch seconds of the ETA of ``order_id`` as the desk showed it at ``t`` (None: the
    route shows no ETA for it then); with the route's ``driver``, their break as the desk
    placed it, given the vehicle's ``break_start``/``break_end`` events (time, type)."""
    now = datetime.fromtimestamp(t, UTC)
    taken, since = 0, None
    for ts, kind in sorted(breaks):
        if ts > t:
            break
        if kind == "break_start":
            taken, since = taken + 1, ts
        elif kind == "break_end":
            since = None
    pos = None
    if track is not None and len(track):
        k = int(np.searchsorted(track.ts, t, side="right")) - 1
        if k >= 0:
            pos = Position(
                prepared.route.vehicle_id,
                datetime.fromtimestamp(track.ts[k], UTC),
                float(track.lat[k]),
                float(track.lon[k]),
            )
    statuses: dict[str, StopStatus] = {}
    arrived: dict[str, datetime] = {}
    legs = []
    prev: tuple[float | None, int] | None = None
    counting = True
    for i, (stop, v) in enumerate(zip(stops, visits, strict=True)):
        if v is None or v.arrived is None or v.arrived > t:
            counting = False
            continue
        arrived[stop.order_id] = datetime.fromtimestamp(v.arrived, UTC)
        done = v.done is not None and v.done <= t
        statuses[stop.order_id] = (
            (StopStatus.DELIVERED if v.delivered else StopStatus.FAILED)
            if done
            else StopStatus.ARRIVED
        )
        if counting and prev is not None and prev[0] is not None:
            depart = datetime.fromtimestamp(prev[0], UTC)
            legs.append((prepared.expected_leg_s(prev[1], i, depart), v.arrived - prev[0]))
        left = v.departed if v.departed is not None and v.departed <= t else None
        prev = (left, i) if counting else prev
    result = prepared.etas(
        now,
        position=pos,
        depot=depot,
        statuses=statuses,
        arrived_at=arrived,
        speed_factor=observed_speed_factor(legs),
        driver=driver,
        breaks_taken=taken,
        on_break_since=None if since is None else datetime.fromtimestamp(since, UTC),
    )
    hit = result.of(order_id)
    return None if hit is None else hit.eta.timestamp()
