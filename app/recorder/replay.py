"""A recorded day as it was at any moment: the plan in force, where each vehicle was, each
stop's state, the exceptions open (and acknowledged), the commands and rule firings so far.

``DayReplay(path)`` reads the file once into arrays (positions per vehicle sorted by time,
stop arrivals and results per order, plan versions by time, exception lifecycles), so
``at(t)`` is a handful of binary searches: a 2,000-vehicle day answers in milliseconds.
Read-only: nothing here writes anywhere.
"""

from __future__ import annotations

import bisect
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from app.store.dayfile import DayFile
from app.store.dayjson import day_from_json, plan_from_json
from engine.model import DayInput, Plan, StopStatus

#: A position older than this at the moment shown is drawn as stale.
STALE_S = 120.0


@dataclass(frozen=True, slots=True)
class Position:
    """A vehicle where it was (the map takes it like a live fix)."""

    vehicle_id: str
    ts: float
    lat: float
    lon: float
    speed_kmh: float | None
    heading_deg: float | None
    seq: int = 0
    live: bool = True
    source: str = "replay"


@dataclass(frozen=True, slots=True)
class StopAt:
    """A stop's state at the moment shown (the plan takes it like telemetry's)."""

    order_id: str
    vehicle_id: str
    status: StopStatus
    arrived_at: float | None = None
    departed_at: float | None = None
    done_at: float | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class ExceptionAt:
    id: str
    type: str
    severity: str
    vehicle_id: str | None
    order_id: str | None
    detected_at: float
    detail: str
    suggested_action: str
    minutes_late: float | None
    acknowledged_at: float | None
    acknowledged_by: str
    resolved_at: float | None  # None: still open at the moment shown
    resolved_by: str


#: The recorded day keeps a keyframe of every stop's state every this many events, so a
#: jump to any moment replays at most this many events (``DayReplay.stops_at``).
KEYFRAME_EVENTS = 5000

#: More seconds than any recorded day spans: tracks laid end to end this far apart.
_TRACK_SPAN = 1e7


@dataclass(frozen=True)
class Moment:
    """Everything of the day at one moment."""

    t: float
    plan: Plan
    plan_version: int
    positions: dict[str, Position]
    stops: dict[str, StopAt]
    exceptions: list[ExceptionAt]
    marks_before: int  # how many of the day's marks (exceptions, commands, firings) are past


@dataclass(frozen=True)
class Mark:
    """Something to jump to: an exception raised, a command, a rule firing."""

    t: float
    kind: str  # exception | command | firing
    key: str
    text: str


@dataclass
class _Track:
    ts: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    speed: np.ndarray
    heading: np.ndarray


@dataclass
class DayReplay:
    """A recorded day, read once, asked about any moment (see the module)."""

    path: Path
    meta: dict[str, str]
    day: DayInput
    versions: list[tuple[float, int, str, Plan]]  # (at, version, actor, plan), by time
    tracks: dict[str, _Track]
    events: list[tuple[float, str, str, str | None, str | None]]  # ts, vehicle, type, stop, reason
    exceptions: list[dict[str, Any]]
    updates: dict[str, list[tuple[float, str, str, float | None]]]
    marks: list[Mark]
    firings: list[dict[str, Any]] = field(default_factory=list)
    rules: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def open(cls, path: str | Path) -> DayReplay:
        """Read (and check) a recorded day."""
        with DayFile(path) as f:
            day = day_from_json(f.json_rows("day_input")[0])
            versions = [
                (float(at), int(v), str(actor), plan_from_json(json.loads(text)))
                for v, at, actor, text in f.query(
                    "SELECT version, at, actor, plan FROM plan_versions ORDER BY at, version")
            ]  # fmt: skip
            tracks = {}
            rows = f.query("SELECT vehicle_id, ts, lat, lon, speed_kmh, heading_deg FROM fixes "
                           "ORDER BY vehicle_id, ts")  # fmt: skip
            if rows:
                arr = np.array([r[1:] for r in rows], dtype=np.float64)
                vids = [r[0] for r in rows]
                start = 0
                for i in range(1, len(vids) + 1):
                    if i == len(vids) or vids[i] != vids[start]:
                        a = arr[start:i]
                        tracks[vids[start]] = _Track(a[:, 0], a[:, 1], a[:, 2], a[:, 3], a[:, 4])
                        start = i
            events = [(float(ts), v, t, s, r) for ts, v, t, s, r in f.query(
                "SELECT ts, vehicle_id, type, stop_id, reason FROM events ORDER BY ts")]  # fmt: skip
            cols = ("id", "type", "severity", "vehicle_id", "order_id", "detected_at",
                    "acknowledged_at", "acknowledged_by", "resolved_at", "resolved_by", "detail",
                    "suggested_action", "minutes_late")  # fmt: skip
            exceptions = [dict(zip(cols, r, strict=True)) for r in f.query(
                f"SELECT {', '.join(cols)} FROM exceptions ORDER BY detected_at")]  # fmt: skip
            updates: dict[str, list] = {}
            for eid, at, sev, detail, late in f.query(
                "SELECT exception_id, at, severity, detail, minutes_late FROM exception_updates "
                "ORDER BY at"):  # fmt: skip
                updates.setdefault(eid, []).append((float(at), sev, detail, late))
            marks = [Mark(float(e["detected_at"]), "exception", e["id"],
                          f"{e['type'].replace('_', ' ')} · {e['vehicle_id'] or ''} "
                          f"{e['order_id'] or ''}".strip()) for e in exceptions]  # fmt: skip
            for cid, at, actor, label in f.query("SELECT id, at, actor, label FROM commands"):
                marks.append(Mark(float(at), "command", cid, f"{actor}: {label or ''}"))
            firings = [dict(zip(("id", "at", "rule_id", "rule_version", "mode", "action",
                                 "subject", "vehicle_id", "order_id", "status", "text",
                                 "moved", "command_id"), r, strict=True))
                       for r in f.query("SELECT id, at, rule_id, rule_version, mode, action, "
                                        "subject, vehicle_id, order_id, status, text, moved, "
                                        "command_id FROM rule_firings ORDER BY at")]  # fmt: skip
            for fr in firings:
                marks.append(Mark(float(fr["at"]), "firing", fr["id"],
                                  f"{fr['rule_id']} ({fr['mode']}): {fr['text']}"))  # fmt: skip
            rules = f.json_rows("rules")
            meta = dict(f.meta)
        marks.sort(key=lambda m: (m.t, m.kind, m.key))
        out = cls(Path(path), meta, day, versions, tracks, events, exceptions, updates, marks,
                  firings, rules)  # fmt: skip
        out._keyframes, out._track_index, out._exception_index  # noqa: B018  (built once, here)
        return out

    # -- the span of the day ------------------------------------------------------------------
    @property
    def start(self) -> float:
        cached = self.__dict__.get("_start")
        if cached is not None:
            return cached
        firsts = [float(t.ts[0]) for t in self.tracks.values() if len(t.ts)]
        firsts += [self.versions[0][0]] if self.versions else []
        cached = self.__dict__["_start"] = min(firsts) if firsts else 0.0
        return cached

    @property
    def end(self) -> float:
        cached = self.__dict__.get("_end")
        if cached is not None:
            return cached
        lasts = [float(t.ts[-1]) for t in self.tracks.values() if len(t.ts)]
        lasts += [e[0] for e in self.events[-1:]]
        cached = self.__dict__["_end"] = max(lasts) if lasts else self.start
        return cached

    @property
    def timezone(self) -> str:
        return self.meta.get("timezone", "UTC")

    @property
    def depot_id(self) -> str:
        return self.meta.get("depot_id", "")

    # -- a moment ------------------------------------------------------------------------------
    def plan_at(self, t: float) -> tuple[Plan, int]:
        ats = [v[0] for v in self.versions]
        i = max(0, bisect.bisect_right(ats, t) - 1)
        _, version, _, plan = self.versions[i]
        return plan, version

    def positions_at(self, t: float) -> dict[str, Position]:
        """Each vehicle's last fix at ``t``: one search over all tracks laid end to end."""
        vids, offsets, keys = self._track_index
        if not vids:
            return {}
        ks = np.searchsorted(keys, t + np.arange(len(vids)) * _TRACK_SPAN, side="right") - 1
        out = {}
        for i in np.nonzero(ks >= offsets)[0].tolist():
            vid = vids[i]
            tr = self.tracks[vid]
            k = int(ks[i] - offsets[i])
            heading = float(tr.heading[k])
            speed = float(tr.speed[k])
            out[vid] = Position(vid, float(tr.ts[k]), float(tr.lat[k]), float(tr.lon[k]),
                                None if np.isnan(speed) else speed,
                                None if np.isnan(heading) else heading, k)  # fmt: skip
        return out

    @property
    def _track_index(self) -> tuple[list[str], np.ndarray, np.ndarray]:
        """The vehicles, where each one's fixes start, and every fix's time shifted by its
        vehicle's place times ``_TRACK_SPAN`` (so one sorted array holds all tracks)."""
        cached = self.__dict__.get("_tracks_ix")
        if cached is None:
            vids = list(self.tracks)
            lengths = np.array([len(self.tracks[v].ts) for v in vids], dtype=np.int64)
            offsets = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.int64)
            keys = np.concatenate(
                [self.tracks[v].ts + i * _TRACK_SPAN for i, v in enumerate(vids)] or [np.zeros(0)]
            )
            cached = self.__dict__["_tracks_ix"] = (vids, offsets[: len(vids)], keys)
        return cached

    def stops_at(self, t: float) -> dict[str, StopAt]:
        """Each stop's state from the events up to ``t``: the nearest keyframe before ``t``
        (every ``KEYFRAME_EVENTS`` events) and the events after it, so any moment of a
        2,000-vehicle day costs at most that many events, not the whole day's."""
        k = bisect.bisect_right(self._event_times, t)
        frames = self._keyframes
        i = min(k // KEYFRAME_EVENTS, len(frames) - 1)
        out = dict(frames[i])
        # Each event's resulting state is one object, whatever moment asks: a stop whose
        # state did not change between two moments is the same object in both.
        states = self._event_states
        for j in range(i * KEYFRAME_EVENTS, k):
            state = states[j]
            if state is not None:
                out[state.order_id] = state
        return out

    @property
    def _keyframes(self) -> list[dict[str, StopAt]]:
        """The stop states after each ``KEYFRAME_EVENTS`` events (the first: none yet)."""
        cached = self.__dict__.get("_frames")
        if cached is None:
            self._build_stop_states()
            cached = self.__dict__["_frames"]
        return cached

    @property
    def _event_states(self) -> list[StopAt | None]:
        """The state each event left its stop in (None: it changed none)."""
        cached = self.__dict__.get("_states")
        if cached is None:
            self._build_stop_states()
            cached = self.__dict__["_states"]
        return cached

    def _build_stop_states(self) -> None:
        frames: list[dict[str, StopAt]] = [{}]
        states: list[StopAt | None] = []
        state: dict[str, StopAt] = {}
        for j in range(len(self.events)):
            before = len(states)
            _apply_events(state, self.events, j, j + 1, states)
            if len(states) == before:
                states.append(None)
            if (j + 1) % KEYFRAME_EVENTS == 0:
                frames.append(dict(state))
        self.__dict__["_frames"], self.__dict__["_states"] = frames, states

    @property
    def _event_times(self) -> list[float]:
        cached = self.__dict__.get("_times")
        if cached is None:
            cached = self.__dict__["_times"] = [e[0] for e in self.events]
        return cached

    def exceptions_at(self, t: float, resolved_after: float | None = None) -> list[ExceptionAt]:
        """The exceptions raised by ``t``, as they stood then (open, acknowledged or not);
        with ``resolved_after``, not those resolved before it. An exception changes only at
        its updates, acknowledgement and resolution: each stretch between them is built
        once, when the day is opened, so a moment is a binary search per exception (the
        first jump to late afternoon built thousands of them)."""
        detected, changes, stretches = self._exception_index
        resolved = self._exception_resolved
        after = -math.inf if resolved_after is None else min(resolved_after, t)
        out = []
        for i in range(bisect.bisect_right(detected, t)):
            if resolved[i] < after:
                continue  # resolved before the stretch asked about
            out.append(stretches[i][bisect.bisect_right(changes[i], t)])
        return out

    @property
    def _exception_index(self) -> tuple[list[float], list[list[float]], list[list[ExceptionAt]]]:
        """When each exception was raised, when it changed (sorted), and how it stood in
        each stretch: before its first change, after each one."""
        cached = self.__dict__.get("_exc_ix")
        if cached is None:
            detected = [float(e["detected_at"]) for e in self.exceptions]
            changes, stretches = [], []
            for e in self.exceptions:
                times = [at for at, *_ in self.updates.get(e["id"], ())]
                times += [float(e[k]) for k in ("acknowledged_at", "resolved_at") if e[k]]
                times.sort()
                changes.append(times)
                stretches.append(_stretches(e, self.updates.get(e["id"], ()), times))
            cached = self.__dict__["_exc_ix"] = (detected, changes, stretches)
        return cached

    @property
    def _exception_resolved(self) -> list[float]:
        """When each exception was resolved (infinity: never, that day)."""
        cached = self.__dict__.get("_exc_resolved")
        if cached is None:
            cached = self.__dict__["_exc_resolved"] = [
                float(e["resolved_at"]) if e["resolved_at"] else math.inf for e in self.exceptions
            ]
        return cached

    def _exception_at(self, e: dict[str, Any], t: float) -> ExceptionAt:
        """One exception as it stood at ``t`` (worked out from scratch; see _stretches)."""
        return _exception_at(e, self.updates.get(e["id"], ()), t)

    def firings_at(self, t: float) -> list[dict[str, Any]]:
        return [f for f in self.firings if float(f["at"]) <= t]

    def at(self, t: float, resolved_after: float | None = None) -> Moment:
        """The day at ``t`` (epoch s); with ``resolved_after``, the exceptions resolved
        before it are left out (see ``exceptions_at``)."""
        plan, version = self.plan_at(t)
        marks_before = bisect.bisect_right(self._mark_times, t)
        return Moment(t, plan, version, self.positions_at(t), self.stops_at(t),
                      self.exceptions_at(t, resolved_after), marks_before)  # fmt: skip

    @property
    def _mark_times(self) -> list[float]:
        cached = self.__dict__.get("_mtimes")
        if cached is None:
            cached = self.__dict__["_mtimes"] = [m.t for m in self.marks]
        return cached

    def local(self, t: float) -> datetime:
        from zoneinfo import ZoneInfo

        return datetime.fromtimestamp(t, UTC).astimezone(ZoneInfo(self.timezone))


def _exception_at(e: dict[str, Any], updates, t: float) -> ExceptionAt:
    """An exception as it stood at ``t``: its updates, acknowledgement and resolution up
    to ``t`` laid over it as raised."""
    sev, detail, late = e["severity"], e["detail"] or "", e["minutes_late"]
    for at, s, d, m in updates:
        if at > t:
            break
        sev, detail, late = s, d or detail, m
    acked = e["acknowledged_at"] if (e["acknowledged_at"] or t + 1) <= t else None
    resolved = e["resolved_at"] if (e["resolved_at"] or t + 1) <= t else None
    return ExceptionAt(
        e["id"], e["type"], sev, e["vehicle_id"], e["order_id"], float(e["detected_at"]),
        detail, e["suggested_action"] or "", late, acked,
        (e["acknowledged_by"] or "") if acked else "", resolved,
        (e["resolved_by"] or "") if resolved else "",
    )  # fmt: skip


def _stretches(e: dict[str, Any], updates, times: list[float]) -> list[ExceptionAt]:
    """An exception as it stood before its first change (``times``, sorted) and after each
    one: ``out[bisect_right(times, t)]`` is how it stood at ``t``."""
    return [_exception_at(e, updates, t) for t in (-math.inf, *times)]


def _apply_events(
    out: dict[str, StopAt], events, lo: int, hi: int, made: list | None = None
) -> None:
    """Lay ``events[lo:hi]`` over the stop states ``out`` (each state made is also
    appended to ``made``)."""
    for ts, vid, type_, stop, reason in events[lo:hi]:
        if not stop:
            continue
        cur = out.get(stop)
        if type_ == "arrived":
            new = StopAt(stop, vid, StopStatus.ARRIVED, ts)
        elif type_ in ("delivered", "failed") and cur is not None:
            status = StopStatus.DELIVERED if type_ == "delivered" else StopStatus.FAILED
            new = StopAt(stop, vid, status, cur.arrived_at, cur.departed_at, ts, reason)
        elif type_ == "departed" and cur is not None:
            new = StopAt(stop, vid, cur.status, cur.arrived_at, ts, cur.done_at, cur.reason)
        else:
            continue
        out[stop] = new
        if made is not None:
            made.append(new)


def marks_of(replay: DayReplay, kinds: Sequence[str]) -> list[Mark]:
    return [m for m in replay.marks if m.kind in kinds]
