"""The standing rules on the live day: matched on every evaluation, carried out as commands.

``RulesService`` holds the rules in force at the desk's depot (the standard set and the
depot's own, from the shared database), the pause switch and the day's firings. On every
live evaluation (the telemetry service's worker thread) it turns the exception changes
and the stop events into occurrences and matches them — cheap, so the evaluation pass
stays fast. The firings go to one background job at a time, which works out what each
does on the plan as it stands (:mod:`app.rules.actions`). Back on the main thread a rule in
shadow mode only records its firing; an acting rule's change is written as one command
through the dispatch service (actor ``rule:<id>@v<version>``, in the change log and the
outbox like a person's, undoable from the Rules pane) unless the plan moved on meanwhile.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from PySide6.QtCore import QObject, Signal

from app.jobs.runner import JobRunner
from app.release.loaded import loaded_orders
from app.rules.actions import ActionRunner, Effect, Situation
from app.rules.facts import DayView, exception_occurrences
from app.store import repository_rules as repo
from app.store.repository_rules import FiringRecord, Switch
from engine.automation import Match, Occurrence, Rule, RuleMatcher, effective_rules
from engine.model import StopStatus

log = logging.getLogger(__name__)

#: A stop a rule moved is left where it was put this long (no back and forth).
SETTLE = timedelta(minutes=90)
_EVENT_OF = {StopStatus.FAILED: "failed", StopStatus.DELIVERED: "delivered",
             StopStatus.ARRIVED: "arrived"}  # fmt: skip


@dataclass
class _Batch:
    """The matches of one evaluation with what their actions need to see."""

    matches: list[Match]
    situation: Situation
    effects: list[Effect] = field(default_factory=list)


class RulesService(QObject):
    """The rules of the desk's depot on the live day (see the module)."""

    sig_changed = Signal()  # the rules, the switch or the firings changed
    sig_firing = Signal(object)  # FiringRecord: a new firing (or one undone)
    sig_status = Signal(str)
    _kick = Signal()

    def __init__(self, store, state, clock, board, live, parent: QObject | None = None):
        super().__init__(parent)
        self.store, self.state, self.clock = store, state, clock
        self.depot_id = ""
        self.day: date | None = None
        self.stored: list[Rule] = []  # every stored rule (standard and per depot)
        self.rules: list[Rule] = []  # in force here
        self.switch = Switch(False, None)
        self.firings: list[FiringRecord] = []
        self.matcher = RuleMatcher()
        self.dispatch = None
        self.runner: ActionRunner | None = None
        # At most one batch waits while a job works one out: a pass's matches join the
        # waiting batch's, which is then seen in the newer pass's situation (a whole fleet's
        # states and ETAs each; at 2,000 vans a queue of them grew while re-plans ran).
        self._queue: deque[_Batch] = deque()
        self._queue_lock = threading.Lock()
        self._busy = False
        self._lock = threading.Lock()  # the matcher is used on the evaluation thread
        self._undo: dict[str, Any] = {}  # firing id -> the command's undo record
        self._seen_stops: dict[str, StopStatus] = {}
        self._seen_broken: set[str] = set()
        self._jobs: JobRunner | None = None
        self.eval_seconds: deque[float] = deque(maxlen=200)  # the matching's share of a pass
        self._acknowledged: Callable[[], set[str]] = lambda: {
            e.id for e in board.entries() if e.acknowledged_at is not None
        }
        self._kick.connect(self._next)
        live.evaluation_hooks.append(self.evaluation_hook)

    # -- opening the day --------------------------------------------------------------------
    def open_day(self, depot_id: str, day: date, dispatch, travel) -> None:
        """Load the rules in force (the shipped set is stored first on a new database),
        the switch and the day's firings; act through ``dispatch`` from now on."""
        from app.rules.dryrun import default_rules

        self.depot_id, self.day, self.dispatch = depot_id, day, dispatch
        self.runner = ActionRunner(travel)
        if self._jobs is None:  # its own runner: one firing batch at a time, never superseded
            self._jobs = JobRunner(self)
            self._jobs.sig_job_done.connect(self._on_job_done)
        with self.store.session() as s:
            if repo.seed_rules(s, default_rules(), actor="dispatch-desk"):
                log.info("rules: the shipped rule set is stored (enabled, in shadow mode)")
        self.reload()

    def stop(self) -> None:
        """Stop working firings out (idempotent)."""
        if self._jobs is not None:
            self._jobs.cancel_all()
            self._jobs.wait(5000)

    def reload(self) -> None:
        """Read the rules, the switch and the day's firings again (another desk may have
        changed them)."""
        with self.store.read_session() as s:
            self.stored = repo.all_rules(s)
            self.switch = repo.switch(s, self.depot_id)
            self.firings = repo.firings(s, self.depot_id, self.day) if self.day else []
        self.rules = effective_rules(self.stored, self.depot_id)
        with self._lock:
            self.matcher.set_rules([r for r in self.rules if r.enabled])
            self.matcher.paused = self.switch.paused
        self.sig_changed.emit()

    # -- the live evaluation (worker thread) -----------------------------------------------
    def evaluation_hook(self, monitor, result, snapshot, now: float) -> None:
        """Called on the evaluation thread after ETAs and exceptions: match the rules."""
        if self.day is None or not self.rules or self.switch.paused:
            return
        import time as _time

        started = _time.perf_counter()
        plan = monitor.plan
        stamp = datetime.fromtimestamp(now, UTC)
        vehicle_route = {r.vehicle_id: r.id for r in plan.routes}
        occurrences = exception_occurrences(result.changes, vehicle_route.get)
        occurrences += self._events(snapshot, vehicle_route, stamp)
        index = self.state.index
        if index is None:
            return
        statuses = {oid: st.status for oid, st in snapshot.stops.items()}
        view = DayView(plan, index.orders, index.vehicles, self.depot_id, index.depot.timezone,
                       stamp, result.etas, statuses, frozenset(snapshot.positions))  # fmt: skip
        open_ids = {e.id for e in monitor.tracker.open.values()} - self._acknowledged()
        with self._lock:
            if index.depot.timezone:  # "At 11:00" is on the depot's clock
                self.matcher.zone = ZoneInfo(index.depot.timezone)
            matches = self.matcher.match(occurrences, stamp, view.facts,
                                         routes=view.route_subjects, unacknowledged=open_ids)  # fmt: skip
        self.eval_seconds.append(_time.perf_counter() - started)
        if not matches:
            return
        from app.dispatch.preview import states_from_fixes
        from app.dispatch.stop_results import merge_stop_states

        merged, _ = merge_stop_states(plan, snapshot.stops)
        broken = frozenset(v for v, f in snapshot.flags.items() if f.broken_down_at)
        sit = Situation(index.day, merged, stamp, states_from_fixes(snapshot.positions, snapshot.flags),
                        result.etas, self._loaded(merged), broken, self._settled(stamp))  # fmt: skip
        self._enqueue(matches, sit)
        self._kick.emit()  # to the main thread (queued: emitted from the worker)

    def _enqueue(self, matches: list[Match], sit: Situation) -> None:
        """Queue a pass's matches (any thread). A batch still waiting is overtaken: its
        matches join the new ones (a rule on the same occurrence once, as matched last) and
        are worked out in the newer situation."""
        with self._queue_lock:
            if self._queue:
                waiting = self._queue.pop()
                newer = {(m.rule.id, m.occurrence.key) for m in matches}
                matches = [m for m in waiting.matches
                           if (m.rule.id, m.occurrence.key) not in newer] + matches  # fmt: skip
            self._queue.append(_Batch(matches, sit))

    def _events(self, snapshot, vehicle_route, stamp) -> list[Occurrence]:
        """Stop results and breakdowns new since the last pass, as event occurrences."""
        out = []
        for oid, st in snapshot.stops.items():
            kind = _EVENT_OF.get(st.status)
            if kind is None or self._seen_stops.get(oid) == st.status:
                continue
            self._seen_stops[oid] = st.status
            out.append(Occurrence("event", kind, f"{kind}:{oid}", st.vehicle_id,
                                  vehicle_route.get(st.vehicle_id), oid, at=stamp))  # fmt: skip
        for vid, flags in snapshot.flags.items():
            if flags.broken_down_at and vid not in self._seen_broken:
                self._seen_broken.add(vid)
                out.append(Occurrence("event", "breakdown", f"breakdown:{vid}", vid,
                                      vehicle_route.get(vid), at=stamp))  # fmt: skip
        return out

    def _loaded(self, plan) -> frozenset[str]:
        """Orders the dock loaded onto a van that has not left (``app.release.loaded``)."""
        return loaded_orders(self.store, plan)

    def _settled(self, now: datetime) -> frozenset[str]:
        """Stops a rule moved lately (or a person put back: undone) stay where they are."""
        return frozenset(m[0] for f in self.firings if f.command_id
                         and now - (f.undone_at or f.at) < SETTLE
                         for m in f.effect.get("moved", ()))  # fmt: skip

    # -- working the firings out (one background job at a time) ------------------------------
    def _next(self) -> None:
        if self._busy or not self._queue or self._jobs is None or self.runner is None:
            return
        with self._queue_lock:
            batch = self._queue.popleft()
        runner = self.runner
        self._busy = True

        def job(cancel_event, report) -> _Batch:
            for match in batch.matches:
                if cancel_event.is_set():
                    break
                batch.effects.append(runner.run(match, batch.situation, cancel_event))
            return batch

        from app.jobs.runner import JobKind

        self._jobs.submit(JobKind.RULES, job)

    def _on_job_done(self, kind, result) -> None:
        from app.jobs.runner import JobKind

        if kind != JobKind.RULES:
            return
        self._busy = False
        if self.switch.paused:  # matched before the switch: nothing of it happens now
            self._queue.clear()
            return
        if isinstance(result, _Batch):
            for match, effect in zip(result.matches, result.effects, strict=False):
                self._carry_out(match, effect, result.situation)
        self._next()

    # -- carrying a firing out (main thread) ----------------------------------------------
    def _carry_out(self, match: Match, effect: Effect, sit: Situation) -> None:
        rule = match.rule
        acting = rule.acts and not self.switch.paused
        command_id = None
        text = effect.text
        if acting and effect.changes_plan:
            command_id, text = self._write(match, effect, sit)
        status = effect.status if acting else "shadow"
        if acting and effect.changes_plan and command_id is None:
            status = "nothing"
        occ = match.occurrence
        firing = FiringRecord(
            id=uuid.uuid4().hex[:16], depot_id=self.depot_id, day=self.day or sit.now.date(),
            at=sit.now, rule_id=rule.id, rule_version=rule.version,
            rule_key=repo.rule_key(rule.id, rule.depot_id),
            mode="acting" if rule.acts else "shadow", action=rule.then.action.value,
            subject=f"{occ.kind}:{occ.key}", vehicle_id=occ.vehicle_id, order_id=occ.order_id,
            status=status, text=text,
            effect={"moved": [[m.order_id, m.from_vehicle, m.to_vehicle] for m in effect.moved],
                    "effect": effect.status, "routes": [r.id for r in effect.routes],
                    "reschedule": [list(x) for x in effect.reschedule],
                    "gain_min": round(effect.gain_min, 1)},
            lateness_before_s=effect.lateness_before_s, lateness_after_s=effect.lateness_after_s,
            command_id=command_id,
        )  # fmt: skip
        try:
            with self.store.session() as s:
                repo.add_firing(s, firing, actor=f"rule:{rule.id}@v{rule.version}")
        except Exception:
            log.exception("rules: could not store firing of %s", rule.id)
        self.firings.append(firing)
        self.sig_firing.emit(firing)
        self.sig_changed.emit()

    def _write(self, match: Match, effect: Effect, sit: Situation) -> tuple[str | None, str]:
        """The change as one command (None when the plan moved on meanwhile)."""
        plan = self.state.plan
        if plan is None or self.dispatch is None:
            return None, "not written: no plan"
        now_routes = {r.id: r for r in plan.routes}
        for route in effect.routes:
            before = next((r for r in sit.plan.routes if r.id == route.id), None)
            current = now_routes.get(route.id)
            if before is None or current is None or current.order_ids != before.order_ids:
                return None, f"not written: {route.id} changed meanwhile ({effect.text})"
        rule = match.rule
        try:
            result = self.dispatch.apply_rule_change(
                plan, effect.routes, rule=f"rule:{rule.id}@v{rule.version}", label=effect.text,
                audit={"rule": rule.id, "rule_version": rule.version, "action": rule.then.action.value,
                       "moved": [m.order_id for m in effect.moved]},
            )  # fmt: skip
        except Exception as exc:  # a stale edit, a refusal: the firing says so
            log.warning("rules: %s could not write its change: %s", rule.id, exc)
            return None, f"not written: {exc}"
        self._undo[result.command_id] = result.undo
        return result.command_id, effect.text

    def show_recorded(self, rules: Sequence[Rule], firings: Sequence[FiringRecord]) -> None:
        """A recorded day's rules and its firings so far (replay: nothing acts)."""
        self.stored = self.rules = list(rules)
        self.firings = list(firings)
        self.sig_changed.emit()

    # -- for the window -------------------------------------------------------------------
    def counts_today(self) -> dict[str, int]:
        return repo.firing_counts(self.firings)

    def undo_record(self, firing: FiringRecord):
        """The undo record of an acting firing's command (None: nothing to undo here)."""
        if firing.command_id is None or firing.undone_at is not None:
            return None
        return self._undo.get(firing.command_id)

    def mark_undone(self, firing_id: str, by: str) -> None:
        now = self.clock.now()
        with self.store.session() as s:
            repo.mark_undone(s, firing_id, actor=by, at=now)
        self.firings = [replace(f, undone_at=now, undone_by=by) if f.id == firing_id else f
                        for f in self.firings]  # fmt: skip
        self.sig_changed.emit()

    def save_rule(self, data: dict[str, Any], *, base_version: int | None, actor: str) -> Rule:
        """Store a rule edit (checked, versioned); raises ``RuleError`` with the reason."""
        with self.store.session() as s:
            rule = repo.save_rule(s, data, actor=actor, base_version=base_version)
        self.reload()
        return rule

    def set_paused(self, paused: bool, *, actor: str, reason: str = "") -> None:
        """The one switch that pauses every rule at this depot."""
        with self.store.session() as s:
            self.switch = repo.set_paused(s, paused, actor=actor, depot_id=self.depot_id,
                                          reason=reason)  # fmt: skip
        if paused:
            self._queue.clear()
        self.reload()


def firing_sentence(firing: FiringRecord) -> str:
    """One line for the pane: when, which rule, what it did."""
    what = {"shadow": "would", "changed": "did", "proposal": "proposes"}.get(firing.status, "")
    return f"{firing.at:%H:%M} {firing.rule_id}: {what + ' ' if what else ''}{firing.text}"


def rules_by_id(rules: Sequence[Rule]) -> dict[str, Rule]:
    return {r.id: r for r in rules}
