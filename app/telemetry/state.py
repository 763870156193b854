"""The live picture of the fleet, in plain Python (no Qt): positions, trails, stop states.

Fixes come from the decoder, which alone holds each stream's sequence window: a fix it
accepted is new (a QoS 1 duplicate or a replay never gets here). Events are applied
idempotently by ``event_id``, so a reload from the store changes nothing twice. A
back-filled fix joins the trail in time order but never moves the live marker back.
"""

from __future__ import annotations

import bisect
import math
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import overload

from app.telemetry.ingest import Batch
from app.telemetry.messages import Fix, StopEvent
from engine.model import StopStatus

_EVENT_STATUS = {
    "arrived": StopStatus.ARRIVED,
    "delivered": StopStatus.DELIVERED,
    "failed": StopStatus.FAILED,
}


@dataclass(frozen=True, slots=True)
class StopState:
    """What telemetry says about one stop (keyed by its order id)."""

    order_id: str
    vehicle_id: str
    status: StopStatus = StopStatus.PLANNED
    arrived_at: float | None = None
    departed_at: float | None = None
    done_at: float | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class VehicleFlags:
    """Vehicle-level conditions reported by events."""

    broken_down_at: float | None = None
    on_break: bool = False
    breaks_started: int = 0  # the driver's breaks begun today (``break_start`` events)
    break_since: float | None = None  # on a break now: since then


@dataclass(frozen=True)
class Applied:
    """What one ``apply`` really changed (duplicates removed): feed it to the writer."""

    moved: dict[str, Fix] = field(default_factory=dict)
    breadcrumbs: list[Fix] = field(default_factory=list)
    events: list[StopEvent] = field(default_factory=list)
    duplicates: int = 0

    def __bool__(self) -> bool:
        return bool(self.moved or self.breadcrumbs or self.events)


#: Fixes kept in memory per vehicle (a minute at one fix a second); older ones are in the
#: store's breadcrumbs.
TRAIL_POINTS = 60

_NAN = float("nan")


def _none_nan(x: float | None) -> float:
    return _NAN if x is None else x


def _nan_none(x: float) -> float | None:
    return None if x != x else x  # NaN stands for "not reported"


class Trail(Sequence[Fix]):
    """One vehicle's newest fixes in time order, packed in arrays of numbers (about 70
    bytes a fix instead of some 330 as fix objects: 2,000 vehicles' minute of trail took
    about 40 MB). Reading it gives :class:`Fix` values equal to those added; a speed,
    heading or accuracy not reported is kept as NaN and read back as None.

    Holds up to ``limit`` fixes and lets go of the oldest in batches (the arrays may hold
    half as many again, not shown), so each new fix is an append, not a shift."""

    __slots__ = ("vehicle_id", "limit", "_num", "_seq", "_source", "_live")

    def __init__(self, vehicle_id: str, limit: int) -> None:
        self.vehicle_id, self.limit = vehicle_id, limit
        self._num = array("d")  # six numbers a fix: ts, lat, lon, speed, heading, accuracy
        self._seq = array("q")
        self._source: list[str] = []
        self._live = bytearray()

    def add(self, fix: Fix) -> None:
        """Add ``fix`` where its time puts it (after fixes of the same time)."""
        num, seq = self._num, self._seq
        row = (fix.ts, fix.lat, fix.lon, _none_nan(fix.speed_kmh),
               _none_nan(fix.heading_deg), _none_nan(fix.accuracy_m))  # fmt: skip
        n = len(seq)
        if not n or fix.ts >= num[-6]:
            num.extend(row)
            seq.append(fix.seq)
            self._source.append(fix.source)
            self._live.append(fix.live)
        else:
            i = bisect.bisect_right(range(n), fix.ts, key=lambda k: num[6 * k])
            num[6 * i : 6 * i] = array("d", row)
            seq.insert(i, fix.seq)
            self._source.insert(i, fix.source)
            self._live.insert(i, fix.live)
        extra = n + 1 - self.limit
        if extra > self.limit // 2:
            del num[: 6 * extra], seq[:extra], self._source[:extra], self._live[:extra]

    def __len__(self) -> int:
        return min(len(self._seq), self.limit)

    def _fix(self, i: int) -> Fix:
        ts, lat, lon, speed, heading, accuracy = self._num[6 * i : 6 * i + 6]
        return Fix(
            self.vehicle_id, self._seq[i], ts, lat, lon, _nan_none(speed), _nan_none(heading),
            _nan_none(accuracy), self._source[i], bool(self._live[i]),
        )  # fmt: skip

    @overload
    def __getitem__(self, index: int) -> Fix: ...

    @overload
    def __getitem__(self, index: slice) -> list[Fix]: ...

    def __getitem__(self, index: int | slice) -> Fix | list[Fix]:
        n = len(self)
        hidden = len(self._seq) - n
        if isinstance(index, slice):
            return [self._fix(hidden + i) for i in range(*index.indices(n))]
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError("trail index out of range")
        return self._fix(hidden + index)

    def __iter__(self) -> Iterator[Fix]:
        hidden = len(self._seq) - len(self)
        return (self._fix(i) for i in range(hidden, len(self._seq)))


class LiveState:
    """Latest position, trail, stop states and flags of every vehicle.

    ``positions`` is the one holder of each vehicle's newest applied fix: the session,
    previews and re-plans read it (a copy), the monitor a snapshot of it. ``trails`` keeps
    only each vehicle's last ``trail_points`` fixes, in time order (where a back-filled fix
    lands); the day's whole track is the breadcrumbs the writer stores. At 2,000 vehicles
    reporting each second, 4,000 fixes a vehicle grew the window by about 2 GB an hour."""

    def __init__(self, trail_points: int = TRAIL_POINTS, still_radius_m: float = 40.0) -> None:
        self.trail_points = trail_points
        self.positions: dict[str, Fix] = {}
        self.trails: dict[str, Trail] = {}
        self.stops: dict[str, StopState] = {}
        self.flags: dict[str, VehicleFlags] = {}
        self.still_radius_m = still_radius_m
        # Per vehicle: (since, lat, lon, m per degree of lon) of the spot it has stayed
        # within still_radius_m of.
        self._still: dict[str, tuple[float, float, float, float]] = {}
        self._events: set[str] = set()
        self.duplicates = 0

    def apply(self, batch: Batch) -> Applied:
        """Apply one drained batch; returns only what was new."""
        latest: dict[str, Fix] = {}
        crumbs = self._apply_fixes(batch.fixes, latest)
        moved = {}
        positions = self.positions
        for vid, fix in latest.items():
            current = positions.get(vid)
            if current is None or fix.ts > current.ts:
                positions[vid] = fix
                moved[vid] = fix
        events = self.apply_events(batch.events)
        dups = len(batch.fixes) - len(crumbs) + len(batch.events) - len(events)
        return Applied(moved, crumbs, events, dups)

    def apply_fixes(self, fixes: list[Fix]) -> list[Fix]:
        """Add decoded fixes to the trails; returns them."""
        return self._apply_fixes(fixes, {})

    def _apply_fixes(self, fixes: list[Fix], latest: dict[str, Fix]) -> list[Fix]:
        """:meth:`apply_fixes`, also noting the newest live fix per vehicle in ``latest``
        (a fix is marked live only when it is newer than the vehicle's last live fix, so
        the last one in arrival order is the newest)."""
        trails, still, limit = self.trails, self._still, self.trail_points
        radius2 = self.still_radius_m**2
        for fix in fixes:
            vid = fix.vehicle_id
            trail = trails.get(vid)
            if trail is None:
                trail = trails[vid] = Trail(vid, limit)
            trail.add(fix)
            if fix.live:
                latest[vid] = fix
                # Still-tracking: the spot it stayed within still_radius_m of, and since when.
                anchor = still.get(vid)
                if anchor is not None:
                    dy = (fix.lat - anchor[1]) * 111_195.0
                    dx = (fix.lon - anchor[2]) * anchor[3]
                    if dx * dx + dy * dy <= radius2:
                        continue
                k = 111_195.0 * math.cos(math.radians(fix.lat))  # metres per degree of lon
                still[vid] = (fix.ts, fix.lat, fix.lon, k)
        return fixes

    def still_since(self, vehicle_id: str) -> float | None:
        """Since when (epoch s) the vehicle has stayed near one spot; None if unknown."""
        anchor = self._still.get(vehicle_id)
        return None if anchor is None else anchor[0]

    def snapshot(self) -> LiveState:
        """A copy for another thread to read (positions, stops, flags; trails left out)."""
        copy = LiveState(self.trail_points, self.still_radius_m)
        copy.positions = dict(self.positions)
        copy.stops = dict(self.stops)
        copy.flags = dict(self.flags)
        copy._still = dict(self._still)
        return copy

    def move_to(self, fix: Fix) -> bool:
        """Set the live position (restores from the store); never moves back in time."""
        current = self.positions.get(fix.vehicle_id)
        if current is not None and fix.ts <= current.ts:
            return False
        self.positions[fix.vehicle_id] = fix
        return True

    def set_route_stops(self, vehicle_id: str, order_ids: list[str]) -> None:
        """Declare the stops a vehicle serves (events for them update these states)."""
        for oid in order_ids:
            if oid not in self.stops:
                self.stops[oid] = StopState(oid, vehicle_id)

    def apply_events(self, events: list[StopEvent]) -> list[StopEvent]:
        """Move stops to arrived/delivered/failed; idempotent by ``event_id``."""
        new: list[StopEvent] = []
        for ev in events:
            if ev.event_id in self._events:
                self.duplicates += 1
                continue
            self._events.add(ev.event_id)
            new.append(ev)
            if ev.type == "breakdown":
                flags = self.flags.get(ev.vehicle_id, VehicleFlags())
                self.flags[ev.vehicle_id] = replace(flags, broken_down_at=ev.ts)
            elif ev.type == "break_start":
                flags = self.flags.get(ev.vehicle_id, VehicleFlags())
                self.flags[ev.vehicle_id] = replace(
                    flags, on_break=True, breaks_started=flags.breaks_started + 1, break_since=ev.ts
                )
            elif ev.type == "break_end":
                flags = self.flags.get(ev.vehicle_id, VehicleFlags())
                self.flags[ev.vehicle_id] = replace(flags, on_break=False, break_since=None)
            elif ev.stop_id:
                self._stop_event(ev, ev.stop_id)
        return new

    def _stop_event(self, ev: StopEvent, stop_id: str) -> None:
        st = self.stops.get(stop_id) or StopState(stop_id, ev.vehicle_id)
        if ev.type == "arrived":
            st = replace(st, arrived_at=st.arrived_at or ev.ts)
            if st.status is StopStatus.PLANNED:
                st = replace(st, status=StopStatus.ARRIVED)
        elif ev.type == "departed":
            st = replace(st, departed_at=ev.ts)
        elif ev.type in ("delivered", "failed") and not st.status.is_done:
            st = replace(st, status=_EVENT_STATUS[ev.type], done_at=ev.ts, reason=ev.reason)
            if st.arrived_at is None:
                st = replace(st, arrived_at=ev.ts)
        self.stops[stop_id] = st
