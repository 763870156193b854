"""Waves and cut-offs, and on-time dispatch, on plain data.

- ``wave_for_order``: an order that comes in after its wave's cut-off goes to the next
  wave (the first whose cut-off it makes); after the last cut-off it stays, flagged.
- ``wave_for_departure``: the wave a route leaves with, from its planned departure.
- ``punctuality``: release and actual departure against the planned departure, per route
  and per wave (what the on-time dispatch KPI counts).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from engine.model import Order, Wave

ON_TIME_TOLERANCE_S = 300.0  # a departure up to 5 minutes after plan is on time


def ordered(waves: Iterable[Wave]) -> list[Wave]:
    """Waves in the order they close (cut-off, then departure)."""
    return sorted(waves, key=lambda w: (w.cutoff, w.depart_from, w.id))


@dataclass(frozen=True, slots=True)
class WaveChoice:
    """The wave an order goes with, and whether that differs from the one it named."""

    wave: str
    moved_from: str = ""  # its named wave, when it came in after that wave's cut-off
    too_late: bool = False  # it came in after every cut-off: a person must decide


def wave_for_order(order: Order, waves: Sequence[Wave]) -> WaveChoice:
    """The first wave (from the order's own) whose cut-off the order made."""
    if not waves:
        return WaveChoice(order.wave)
    known = ordered(w for w in waves if w.depot_id == order.depot_id)
    if order.received_at is None:
        return WaveChoice(order.wave or (known[0].id if known else ""))
    own = next((w for w in known if w.id == order.wave), None)
    start = known.index(own) if own is not None else 0
    for wave in known[start:]:
        if order.received_at <= wave.cutoff:
            moved = order.wave if order.wave and wave.id != order.wave else ""
            return WaveChoice(wave.id, moved)
    return WaveChoice(order.wave or (known[-1].id if known else ""), too_late=True)


def wave_for_departure(departure: datetime | None, waves: Sequence[Wave]) -> str:
    """The wave a route leaving at ``departure`` goes with: the first whose departure
    window has not closed by then ("" when every window has)."""
    if departure is None:
        return ""
    for wave in sorted(waves, key=lambda w: (w.depart_to, w.id)):
        if departure <= wave.depart_to:
            return wave.id
    return ""


@dataclass(frozen=True, slots=True)
class DispatchRecord:
    """One route's dispatch: when it should leave, was released and actually left."""

    route_id: str
    wave: str
    planned_departure: datetime | None
    released_at: datetime | None = None
    departed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class RoutePunctuality:
    route_id: str
    wave: str
    planned_departure: datetime | None
    released_at: datetime | None
    departed_at: datetime | None
    release_delay_s: float | None  # released after the planned departure (<= 0: in time)
    departure_delay_s: float | None
    on_time: bool | None  # departed within the tolerance (None: not departed yet)


@dataclass(frozen=True, slots=True)
class WavePunctuality:
    wave: str
    routes: int
    released: int
    released_in_time: int
    departed: int
    departed_on_time: int
    mean_departure_delay_s: float | None

    @property
    def on_time_share(self) -> float | None:
        """Departed on time / departed (the on-time dispatch KPI of the wave)."""
        return self.departed_on_time / self.departed if self.departed else None


def _delay(actual: datetime | None, planned: datetime | None) -> float | None:
    if actual is None or planned is None:
        return None
    return (actual - planned).total_seconds()


def punctuality(
    records: Iterable[DispatchRecord], tolerance_s: float = ON_TIME_TOLERANCE_S
) -> tuple[list[RoutePunctuality], dict[str, WavePunctuality]]:
    """Per route and per wave: release and departure against the planned departure."""
    routes = []
    for rec in records:
        dep = _delay(rec.departed_at, rec.planned_departure)
        routes.append(
            RoutePunctuality(
                rec.route_id,
                rec.wave,
                rec.planned_departure,
                rec.released_at,
                rec.departed_at,
                _delay(rec.released_at, rec.planned_departure),
                dep,
                None if dep is None else dep <= tolerance_s,
            )  # fmt: skip
        )
    waves: dict[str, WavePunctuality] = {}
    by_wave: dict[str, list[RoutePunctuality]] = {}
    for r in routes:
        by_wave.setdefault(r.wave, []).append(r)
    for wave, group in sorted(by_wave.items()):
        delays = [r.departure_delay_s for r in group if r.departure_delay_s is not None]
        waves[wave] = WavePunctuality(
            wave,
            len(group),
            sum(1 for r in group if r.released_at is not None),
            sum(1 for r in group if r.release_delay_s is not None and r.release_delay_s <= 0),
            len(delays),
            sum(1 for r in group if r.on_time),
            sum(delays) / len(delays) if delays else None,
        )
    return routes, waves


def waves_by_id(waves: Iterable[Wave]) -> Mapping[str, Wave]:
    return {w.id: w for w in waves}
