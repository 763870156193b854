"""Playing a recorded day into the window's day state, read-only.

``ReplayPlayer(context, replay)`` shows the day at one moment at a time: the plan then in
force with each stop's state, the vehicles where they were, the exceptions as they stood
(open, acknowledged, and those resolved in the hour before), the rules' firings so far,
and the clock of that moment. A jump redraws only what changed: the routes whose stops or
states moved, the exceptions raised, changed or resolved since the moment shown before.
It plays at 1-60x real time, steps by minutes and jumps to any moment. The live day is
not running meanwhile (the window opened the recording, not the depot's day); nothing is
written anywhere.
"""

from __future__ import annotations

import functools
import gc
import logging
import time
from datetime import UTC, datetime

from PySide6.QtCore import QObject, QTimer, Signal

from app.day.state import ChangeSource, DayChanges
from app.dispatch.stop_results import merge_route_stop_states
from app.recorder.replay import DayReplay, Moment
from app.store.repository_rules import FiringRecord
from engine.automation import Rule
from engine.model import Plan, Route
from engine.rules import LiveException, Severity

log = logging.getLogger(__name__)

SPEEDS = (1, 2, 5, 10, 20, 30, 60)
TICK_MS = 250
#: The exceptions table shows those open at the moment and those resolved this long before
#: it (the jump list keeps every exception of the day).
RECENT_RESOLVED_S = 3600.0
#: How long after a jump (or a tick of play) the background jobs are held (JobRunner.hold).
JOBS_HELD_S = 1.0


class ReplayPlayer(QObject):
    """Drives the context's day state, board, clock and live signals from a recording."""

    sig_moment = Signal(object)  # Moment: shown
    sig_playing = Signal(bool)

    def __init__(self, context, replay: DayReplay, parent: QObject | None = None):
        super().__init__(parent)
        self.context, self.replay = context, replay
        self.speed = 10.0
        self.t = replay.start
        self.last_seek_s = 0.0
        self._version = -1
        self._entries: dict[int, tuple[object, object]] = {}  # id(ExceptionAt) -> (it, entry)
        self._merge_plan: Plan | None = None  # the plan version _merged_routes are of
        self._merged_routes: dict[str, dict[tuple, Route]] = {}  # id -> {states' ids: route}
        self._rules_shown: tuple[list[Rule], int] | None = None  # (rules, firings shown)
        self._merged_stops: dict = {}  # a plan stop with a recorded state, merged (see there)
        self._held = [context.jobs]  # the job runners a jump holds (see hold_also)
        # The collector waits while jumps come (a big one makes hundreds of thousands of
        # objects the panes keep: young passes over them, and now and then a full one,
        # took 0.1-0.25 s of a jump's CPU); a while after the last jump the young ones are
        # collected and what survives (merged routes and stops, the panes' memos of them)
        # is frozen out of its passes, and it runs again. While playing it is not held.
        key = id(self)  # never left held by a player gone
        self.destroyed.connect(lambda *_args: _release_gc(key))
        self._settle = QTimer(self)
        self._settle.setSingleShot(True)
        self._settle.setInterval(int(JOBS_HELD_S * 1000))
        self._settle.timeout.connect(self._settle_heap)
        self._timer = QTimer(self)
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self._tick)
        self._wall = time.monotonic()
        depot = replay.day.depot(replay.depot_id)
        context.day_jobs.recorded = True  # no live ETA travel for a recorded day
        self.context.clock.simulate(self.t, 0.0)  # frozen: the moment shown
        self.context.state.set_day(replay.day, depot.id, replay.versions[0][3], ChangeSource.START)
        # That plan version is shown now: the first moment is not another version (which
        # named the day anew, and the first jump then laid out every row of the timeline).
        self._version = replay.versions[0][1]
        self._show_rules()

    def hold_also(self, runner) -> None:
        """Hold ``runner``'s jobs too while a moment is shown (a window's own jobs: the
        recorded day's KPIs, read for minutes on a big day, took the CPU from each jump)."""
        if runner not in self._held:
            self._held.append(runner)

    def _hold(self) -> None:
        for runner in self._held:
            runner.hold(JOBS_HELD_S)

    # -- controls --------------------------------------------------------------------------
    @property
    def playing(self) -> bool:
        return self._timer.isActive()

    def play(self) -> None:
        self._wall = time.monotonic()
        self._timer.start()
        self.sig_playing.emit(True)

    def pause(self) -> None:
        self._timer.stop()
        self.sig_playing.emit(False)

    def set_speed(self, speed: float) -> None:
        self.speed = max(1.0, min(60.0, float(speed)))

    def step(self, minutes: float) -> None:
        self.seek(self.t + minutes * 60)

    def _tick(self) -> None:
        now = time.monotonic()
        self.seek(self.t + (now - self._wall) * self.speed)
        self._wall = now
        if self.t >= self.replay.end:
            self.pause()

    # -- showing a moment -----------------------------------------------------------------
    def seek(self, t: float) -> Moment:
        """Show the day at ``t`` (clamped to the recording)."""
        started = time.perf_counter()
        _hold_gc(id(self))
        # The background jobs (route shapes, basemap tiles) wait while the moment is shown
        # and a little after, so they do not take the CPU from the jump and its paint.
        self._hold()
        self.t = min(max(t, self.replay.start), self.replay.end)
        moment = self.replay.at(self.t, resolved_after=self.t - RECENT_RESOLVED_S)
        self.context.clock.simulate(self.t, 0.0)
        live = self.context.live
        live.sig_clock.emit(datetime.fromtimestamp(self.t, UTC))
        state = self.context.state
        plan = self._merged(moment)
        shown = state.routes
        same_routes = len(shown) == len(plan.routes) and all(
            r.id == old.id for r, old in zip(plan.routes, shown, strict=True)
        )
        # Only the routes whose stops or states changed are redrawn (map, timeline, table).
        routes = frozenset(r.id for r, old in zip(plan.routes, shown, strict=False)
                           if r is not old and r != old)  # fmt: skip
        if moment.plan_version != self._version:
            self._version = moment.plan_version
            if not same_routes:  # routes added or taken off: the whole plan again
                state.set_plan(plan, DayChanges.all(ChangeSource.PLAN))
            else:  # another version of the same routes: what it moved is a plan change
                state.set_plan(plan, DayChanges(routes=routes, source=ChangeSource.PLAN))
        elif routes:
            state.set_plan(plan, DayChanges(routes=routes, source=ChangeSource.TELEMETRY))
        self._show_exceptions(moment)
        self._show_rules()
        # The vehicles last: the map sends them at once, with the plan's and the late
        # stops' changes above in the same batch (one set of layers a jump, not two).
        live.sig_vehicles_moved.emit(dict(moment.positions))
        self.last_seek_s = time.perf_counter() - started
        self.sig_moment.emit(moment)
        self._hold()  # and while the window paints what changed
        if self.playing:  # a step of play makes little: the collector runs on
            _release_gc(id(self))
        self._settle.start()
        return moment

    def _settle_heap(self) -> None:
        heap = getattr(self.context, "heap", None)
        if heap is not None:
            heap.settle()
        _release_gc(id(self))

    def _merged(self, moment: Moment) -> Plan:
        """The plan in force with each stop's state at the moment. A route whose stops'
        states did not change since the moment shown before is the same route object,
        so the panes can tell at once that it needs no redraw."""
        if self._merge_plan is not moment.plan:
            self._merge_plan, self._merged_routes, self._merged_stops = moment.plan, {}, {}
        stops, known, routes = moment.stops, self._merged_routes, []
        for route in moment.plan.routes:
            # A route's stops pass through a handful of states a day: each one merged once
            # and kept, so a jump back to states seen before takes the same route object.
            # Keyed by the states' identities (the recording holds each state it made all
            # along): hashing thousands of them by value cost a big jump tens of ms.
            states = tuple(map(id, map(stops.get, route.order_ids)))
            seen = known.get(route.id)
            if seen is None:
                seen = known[route.id] = {}
            merged = seen.get(states)
            if merged is None:
                merged = seen[states] = merge_route_stop_states(route, stops, self._merged_stops)  # type: ignore[arg-type]  # StopAt reads like StopState
            routes.append(merged)
        if all(a is b for a, b in zip(routes, moment.plan.routes, strict=True)):
            return moment.plan
        return _plan_with(moment.plan, tuple(routes))

    def _show_exceptions(self, moment: Moment) -> None:
        from app.exceptions.board import BoardEntry

        entries = []
        made = self._entries
        since = moment.t - RECENT_RESOLVED_S
        for e in moment.exceptions:
            if e.resolved_at is not None and e.resolved_at < since:
                continue  # resolved long before: not on the board any more
            known = made.get(id(e))
            if known is not None and known[0] is e:  # the same stretch of the same exception
                entries.append(known[1])
                continue
            exc = LiveException(
                e.id, _type(e.type), _severity(e.severity), e.vehicle_id, e.order_id,
                _dt(e.detected_at), e.detail, e.suggested_action, e.minutes_late,
                _dt(e.resolved_at) if e.resolved_at else None,
            )  # fmt: skip
            entry = BoardEntry(exc, _dt(e.acknowledged_at) if e.acknowledged_at else None,
                               e.acknowledged_by, e.resolved_by)  # fmt: skip
            made[id(e)] = (e, entry)
            entries.append(entry)
        self.context.board.show_entries(entries)

    def _show_rules(self) -> None:
        """The recorded rules and the firings up to the moment, told to the rules service
        only when the firings shown change (the rules of a recording do not)."""
        service = getattr(self.context, "rules", None)
        if service is None:
            return
        firings = self.replay.firings_at(self.t)
        if self._rules_shown is not None and len(firings) == self._rules_shown[1]:
            return
        if self._rules_shown is None:
            rules = []
            for doc in self.replay.rules:
                try:
                    rules.append(Rule.from_json(doc))
                except ValueError:
                    continue
        else:
            rules = self._rules_shown[0]
        self._rules_shown = (rules, len(firings))
        service.show_recorded(rules, [_firing(self.replay, f) for f in firings])


_gc_held: list[int | None] = [None]  # the player whose jump holds the collector, if any


def _hold_gc(player: int) -> None:
    if gc.isenabled():
        gc.disable()
        _gc_held[0] = player
    elif _gc_held[0] is not None:  # held by another player's jump: this one's now
        _gc_held[0] = player


def _release_gc(player: int) -> None:
    if _gc_held[0] == player:
        _gc_held[0] = None
        gc.enable()


def _plan_with(plan: Plan, routes: tuple[Route, ...]) -> Plan:
    """``plan`` with ``routes`` in place of its own: the same routes with the same orders,
    only the stops' states laid over them, so the plan is not checked again (the recorded
    plan was, when it was read: ``dataclasses.replace`` went over every order of the day on
    each jump)."""
    out = object.__new__(Plan)
    out.__dict__.update(plan.__dict__)
    object.__setattr__(out, "routes", routes)
    return out


@functools.lru_cache(maxsize=1 << 16)  # the same few thousand times, jump after jump
def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(float(ts), UTC)


@functools.cache  # a handful of names, thousands of exceptions per jump
def _type(name: str):
    from app.exceptions.kinds import DeskExceptionType
    from engine.rules import ExceptionType

    for kind in (ExceptionType, DeskExceptionType):
        try:
            return kind(name)
        except ValueError:
            continue
    return ExceptionType.LATE_RISK


@functools.cache  # three names, thousands of exceptions per jump (an enum call is slow)
def _severity(name: str) -> Severity:
    return Severity(name)


def _firing(replay: DayReplay, f: dict) -> FiringRecord:
    import json

    moved = json.loads(f["moved"]) if isinstance(f["moved"], str) else (f["moved"] or [])
    at = _dt(f["at"])
    return FiringRecord(
        id=f["id"], depot_id=replay.depot_id, day=at.date(), at=at, rule_id=f["rule_id"],
        rule_version=int(f["rule_version"]), rule_key=f["rule_id"], mode=f["mode"],
        action=f["action"], subject=f["subject"], vehicle_id=f["vehicle_id"],
        order_id=f["order_id"], status=f["status"] if f["mode"] == "acting" else "shadow",
        text=f["text"], effect={"moved": moved}, command_id=f["command_id"],
    )  # fmt: skip
