"""Dock slots: every route gets a loading slot at a dock, with no overlap per dock, and
departures staggered within its wave.

A slot is the dock's preparation, the loading, and the post-processing after the vehicle
has pulled away (AEB's slot model). Loading starts no earlier than the wave's cut-off (the
goods are in) and ends just in time for the departure the plan wants, if a dock is free
then; otherwise the route leaves later than planned — the slot plan says by how much, and
``engine.release.retime`` turns that into stop times and lateness.

    plan = plan_slots(requests, docks, waves)   # SlotPlan: slots, unplaced, per-wave summary
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from engine.model import Dock, Wave

STAGGER_MINUTES = 3.0  # between two departures of one wave (one yard gate, one exit)


@dataclass(frozen=True, slots=True)
class SlotRequest:
    """A route asking for a dock: its wave, how many orders to load, when it wants to leave.

    ``dock_id``: keep this dock when it is allowed (a slot already held). ``fixed``: the
    slot (start, end) already taken at ``dock_id`` that must not move (loading started).
    """

    route_id: str
    wave: str
    orders: int
    wanted: datetime
    dock_id: str | None = None
    fixed: tuple[datetime, datetime] | None = None


@dataclass(frozen=True, slots=True)
class DockSlot:
    """A route's time at a dock: taken from ``start``, loading ``load_start``..``load_end``,
    free again at ``end``; the vehicle leaves at ``departure`` (the plan wanted ``wanted``)."""

    route_id: str
    dock_id: str
    wave: str
    start: datetime
    load_start: datetime
    load_end: datetime
    end: datetime
    departure: datetime
    wanted: datetime

    @property
    def delay_s(self) -> float:
        """How much later than planned the route leaves because of its slot."""
        return max(0.0, (self.departure - self.wanted).total_seconds())


@dataclass(frozen=True)
class WaveSlots:
    """One wave's slots: its routes, departures, and those leaving after its window."""

    wave: str
    routes: tuple[str, ...]
    first_departure: datetime | None
    last_departure: datetime | None
    late_departures: tuple[str, ...]  # routes leaving after the wave's depart_to
    total_delay_s: float


@dataclass(frozen=True)
class SlotPlan:
    """Slots per route, routes that got none (and why), and a summary per wave."""

    slots: dict[str, DockSlot]
    unplaced: dict[str, str] = field(default_factory=dict)
    waves: dict[str, WaveSlots] = field(default_factory=dict)

    @property
    def total_delay_s(self) -> float:
        return sum(s.delay_s for s in self.slots.values())

    def on_dock(self, dock_id: str) -> list[DockSlot]:
        """The slots at one dock, in time order."""
        return sorted((s for s in self.slots.values() if s.dock_id == dock_id),
                      key=lambda s: s.start)  # fmt: skip


class _DockBook:
    """The taken intervals of one dock, sorted: find the first gap of a given length."""

    def __init__(self) -> None:
        self.starts: list[datetime] = []
        self.ends: list[datetime] = []

    def take(self, start: datetime, end: datetime) -> None:
        i = bisect.bisect_left(self.starts, start)
        self.starts.insert(i, start)
        self.ends.insert(i, end)

    def first_fit(self, start: datetime, length: timedelta) -> datetime:
        """The earliest moment >= ``start`` at which ``length`` fits without overlap."""
        t = start
        i = max(0, bisect.bisect_right(self.starts, t) - 1)
        while i < len(self.starts):
            if self.ends[i] <= t:
                i += 1
                continue
            if self.starts[i] >= t + length:
                return t
            t = self.ends[i]
            i += 1
        return t


def slot_minutes(dock: Dock, orders: int) -> tuple[float, float, float]:
    """(preparation, loading, post-processing) minutes of a route's slot at ``dock``."""
    return dock.prep_minutes, dock.load_minutes(orders), dock.post_minutes


def allowed_docks(docks: Sequence[Dock], wave: Wave | None) -> list[Dock]:
    """The docks a wave loads at (every dock when it names none or is unknown)."""
    if wave is None or not wave.docks:
        return list(docks)
    named = set(wave.docks)
    return [d for d in docks if d.id in named]


def plan_slots(
    requests: Iterable[SlotRequest],
    docks: Sequence[Dock],
    waves: Mapping[str, Wave] | Sequence[Wave] = (),
    *,
    stagger_minutes: float = STAGGER_MINUTES,
    not_before: datetime | None = None,
) -> SlotPlan:
    """A slot at a dock for every request: no two slots overlap at a dock, loading starts
    after the wave's cut-off (or ``not_before``), and departures of a wave are at least
    ``stagger_minutes`` apart. Routes are served in order of wanted departure; each takes
    the dock that lets it leave first."""
    wave_of = waves if isinstance(waves, Mapping) else {w.id: w for w in waves}
    books = {d.id: _DockBook() for d in docks}
    dock_of = {d.id: d for d in docks}
    placed: dict[str, DockSlot] = {}
    unplaced: dict[str, str] = {}
    pending = []
    for req in requests:
        if req.fixed is not None and req.dock_id in books:
            start, end = req.fixed
            dock = dock_of[req.dock_id]
            prep, load, post = slot_minutes(dock, req.orders)
            load_start = start + timedelta(minutes=prep)
            load_end = max(load_start, end - timedelta(minutes=post))
            books[req.dock_id].take(start, end)
            placed[req.route_id] = DockSlot(req.route_id, req.dock_id, req.wave, start,
                                            load_start, load_end, end,
                                            max(load_end, req.wanted), req.wanted)  # fmt: skip
        else:
            pending.append(req)
    pending.sort(key=lambda r: (_wanted(r, wave_of), -r.orders, r.route_id))
    for req in pending:
        wave = wave_of.get(req.wave)
        candidates = allowed_docks(docks, wave)
        if req.dock_id and any(d.id == req.dock_id for d in candidates):
            candidates = [dock_of[req.dock_id]] + [d for d in candidates if d.id != req.dock_id]
        if not candidates:
            unplaced[req.route_id] = (
                f"wave {req.wave} names docks {', '.join(wave.docks)} that the depot does not have"
                if wave is not None
                else "the depot has no docks"
            )
            continue
        wanted = _wanted(req, wave_of)
        floor = wave.cutoff if wave is not None else not_before
        if not_before is not None and floor is not None:
            floor = max(floor, not_before)
        best: DockSlot | None = None
        for rank, dock in enumerate(candidates):
            prep, load, post = slot_minutes(dock, req.orders)
            before = timedelta(minutes=prep + load)
            length = before + timedelta(minutes=post)
            # Just in time if the dock is free then; else as early as the goods allow
            # (a gap before other routes' slots), whichever lets the route leave first.
            starts = [wanted - before if floor is None else max(wanted - before, floor)]
            if floor is not None:
                starts.append(floor)
            for start in starts:
                start = books[dock.id].first_fit(start, length)
                load_end = start + before
                slot = DockSlot(req.route_id, dock.id, req.wave, start,
                                start + timedelta(minutes=prep), load_end, start + length,
                                max(load_end, wanted), req.wanted)  # fmt: skip
                # The held dock (rank 0) and the later start win ties: earliest departure.
                if best is None or slot.departure < best.departure:
                    best = slot
                if slot.departure <= wanted:
                    break
            if rank == 0 and req.dock_id == dock.id and best and best.departure <= wanted:
                break
        assert best is not None
        books[best.dock_id].take(best.start, best.end)
        placed[req.route_id] = best
    placed = _stagger(placed, timedelta(minutes=stagger_minutes))
    return SlotPlan(placed, unplaced, _summaries(placed, wave_of))


def _wanted(req: SlotRequest, waves: Mapping[str, Wave]) -> datetime:
    """The departure a request aims at: its plan's, but not before its wave may leave."""
    wave = waves.get(req.wave)
    return max(req.wanted, wave.depart_from) if wave is not None else req.wanted


def _stagger(slots: dict[str, DockSlot], gap: timedelta) -> dict[str, DockSlot]:
    """Departures of one wave at least ``gap`` apart (later ones wait, loaded)."""
    if gap <= timedelta(0):
        return slots
    out = dict(slots)
    by_wave: dict[str, list[DockSlot]] = {}
    for slot in slots.values():
        by_wave.setdefault(slot.wave, []).append(slot)
    for group in by_wave.values():
        group.sort(key=lambda s: (s.departure, s.route_id))
        last: datetime | None = None
        for slot in group:
            departure = slot.departure if last is None else max(slot.departure, last + gap)
            if departure != slot.departure:
                out[slot.route_id] = DockSlot(slot.route_id, slot.dock_id, slot.wave,
                                              slot.start, slot.load_start, slot.load_end,
                                              slot.end, departure, slot.wanted)  # fmt: skip
            last = departure
    return out


def _summaries(slots: Mapping[str, DockSlot], waves: Mapping[str, Wave]) -> dict[str, WaveSlots]:
    by_wave: dict[str, list[DockSlot]] = {}
    for slot in slots.values():
        by_wave.setdefault(slot.wave, []).append(slot)
    out = {}
    for wave_id, group in sorted(by_wave.items()):
        group.sort(key=lambda s: s.departure)
        wave = waves.get(wave_id)
        late = tuple(s.route_id for s in group if wave is not None and s.departure > wave.depart_to)
        out[wave_id] = WaveSlots(
            wave_id,
            tuple(s.route_id for s in group),
            group[0].departure,
            group[-1].departure,
            late,
            sum(s.delay_s for s in group),
        )
    return out


def overlaps(slots: Iterable[tuple[str, str, datetime, datetime]]) -> dict[str, tuple[str, ...]]:
    """route id -> the routes whose slot overlaps its own at the same dock, from
    (route id, dock id, start, end) rows (what the gate's dock check reads)."""
    by_dock: dict[str, list[tuple[datetime, datetime, str]]] = {}
    for route_id, dock_id, start, end in slots:
        by_dock.setdefault(dock_id, []).append((start, end, route_id))
    clash: dict[str, list[str]] = {}
    for rows in by_dock.values():
        rows.sort()
        active: list[tuple[datetime, str]] = []  # (end, route) of slots still open
        for start, end, rid in rows:
            active = [(e, r) for e, r in active if e > start]
            for _e, other in active:
                clash.setdefault(rid, []).append(other)
                clash.setdefault(other, []).append(rid)
            active.append((end, rid))
    return {rid: tuple(sorted(set(others))) for rid, others in clash.items()}
