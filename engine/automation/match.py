"""Which rules fire now: triggers seen since the last pass, conditions, and the guard rails.

``RuleMatcher.match(occurrences, now, facts_of)`` returns the firings due in this pass, in
rule order. The caller then carries each one out (or, in shadow mode, records what it
would do) and reports back with :meth:`RuleMatcher.fired`, which starts the rule's
cooldown for that vehicle and counts towards its cap per hour. One switch,
:attr:`RuleMatcher.paused`, holds every rule.

Occurrences are what happened: an exception raised or updated (with its minutes late and
severity, so the matcher can tell a worsening from a re-worded detail), a stop or vehicle
event, a late order. Time-of-day rules fire once a day, at the first pass at or after their
time, for every subject ``facts_of`` offers for routes. Escalations wait: a matching
exception is remembered and fires when it is still open and unacknowledged ``after_min``
later.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any

from engine.automation.model import Action, Rule, Trigger

#: An exception worsens when it is predicted this many more minutes late (or its severity rises).
WORSEN_STEP_MIN = 5.0
_SEVERITY = {"info": 0, "warning": 1, "critical": 2}


@dataclass(frozen=True)
class Occurrence:
    """Something that happened: ``kind`` exception|event|time, with what it is about."""

    kind: str
    type: str  # exception type, event type, or "time"
    key: str  # exception id, event id, or route id (time)
    vehicle_id: str | None = None
    route_id: str | None = None
    order_id: str | None = None
    minutes_late: float | None = None
    severity: str = ""
    at: datetime | None = None  # when it happened (raised / event time)
    closed: bool = False  # an exception that was resolved


@dataclass(frozen=True)
class Match:
    """A rule that fires on one occurrence, with the facts its conditions saw."""

    rule: Rule
    occurrence: Occurrence
    facts: Mapping[str, Any]
    escalation: bool = False

    @property
    def vehicle_id(self) -> str | None:
        return self.occurrence.vehicle_id


@dataclass
class _Pending:
    rule: Rule
    occurrence: Occurrence
    due: datetime


@dataclass
class MatcherStats:
    """What the guard rails held back, by reason (for the Rules pane and the dry run)."""

    held: dict[str, int] = field(default_factory=dict)

    def hold(self, reason: str) -> None:
        self.held[reason] = self.held.get(reason, 0) + 1


class RuleMatcher:
    """The rules of one depot and their guard-rail memory (cooldowns, caps, escalations)."""

    def __init__(
        self, rules: Sequence[Rule] = (), *, paused: bool = False, zone: tzinfo | None = None
    ) -> None:
        self.rules: list[Rule] = list(rules)
        self.paused = paused
        # A time-of-day rule's "at" is on the depot's clock; ``now`` may come in any zone.
        self.zone = zone
        self.stats = MatcherStats()
        self._last: dict[tuple[str, str], datetime] = {}  # (rule, vehicle) -> last firing
        self._recent: dict[str, deque[datetime]] = {}  # rule -> firings in the last hour
        self._seen: dict[str, tuple[float, int]] = {}  # exception -> (minutes late, severity)
        self._time_done: dict[str, str] = {}  # rule -> the day it fired on (ISO)
        self._pending: list[_Pending] = []

    def set_rules(self, rules: Sequence[Rule]) -> None:
        """New rule versions: memory of rules that stay (by id) is kept."""
        self.rules = list(rules)
        ids = {r.id for r in rules}
        self._pending = [p for p in self._pending if p.rule.id in ids]

    # -- matching ----------------------------------------------------------------------
    def match(
        self,
        occurrences: Iterable[Occurrence],
        now: datetime,
        facts_of: Callable[[Occurrence], Mapping[str, Any] | None],
        *,
        routes: Callable[[], Iterable[Occurrence]] | None = None,
        unacknowledged: Collection[str] = (),
    ) -> list[Match]:
        """The firings due now. ``facts_of`` gives the facts for an occurrence (None: it no
        longer applies); ``routes`` the route subjects for time-of-day rules;
        ``unacknowledged`` the open exceptions nobody acknowledged (for escalations)."""
        occurrences = list(occurrences)
        changes = self._classify(occurrences)
        if self.paused:
            return []
        out: list[Match] = []
        active = [r for r in self.rules if r.enabled]
        for rule in active:
            if rule.when.trigger is Trigger.TIME:
                if routes is not None and self._time_due(rule, now):
                    local = now.astimezone(self.zone) if self.zone and now.tzinfo else now
                    self._time_done[rule.id] = local.date().isoformat()
                    out += self._consider(rule, list(routes()), now, facts_of)
                continue
            candidates = []
            for occ in occurrences:
                if occ.closed or occ.kind != rule.when.trigger.value:
                    continue
                if rule.when.types and occ.type not in rule.when.types:
                    continue
                if occ.kind == "exception":
                    raised, worsened = changes.get(occ.key, (False, False))
                    on = rule.when.on
                    if not ((raised and on != "worsened") or (worsened and on != "raised")):
                        continue
                candidates.append(occ)
            if rule.then.action is Action.ESCALATE:
                for occ in candidates:
                    if self._conditions_hold(rule, occ, facts_of) is not None:
                        due = (occ.at or now) + timedelta(minutes=rule.then.after_min)
                        if not any(p.rule.id == rule.id and p.occurrence.key == occ.key
                                   for p in self._pending):  # fmt: skip
                            self._pending.append(_Pending(rule, occ, due))
                continue
            out += self._consider(rule, candidates, now, facts_of)
        out += self._escalations(now, unacknowledged, facts_of)
        return out

    def _classify(self, occurrences: Sequence[Occurrence]) -> dict[str, tuple[bool, bool]]:
        """exception id -> (raised now, worsened now); remembers what it saw."""
        out: dict[str, tuple[bool, bool]] = {}
        for occ in occurrences:
            if occ.kind != "exception":
                continue
            if occ.closed:
                self._seen.pop(occ.key, None)
                continue
            late = occ.minutes_late if occ.minutes_late is not None else float("-inf")
            sev = _SEVERITY.get(occ.severity, 0)
            before = self._seen.get(occ.key)
            if before is None:
                out[occ.key] = (True, False)
                self._seen[occ.key] = (late, sev)
                continue
            worse = sev > before[1] or late >= before[0] + WORSEN_STEP_MIN
            out[occ.key] = (False, worse)
            if worse:
                self._seen[occ.key] = (late, max(sev, before[1]))
        return out

    def _time_due(self, rule: Rule, now: datetime) -> bool:
        hh, mm = (int(x) for x in rule.when.at.split(":"))
        local = now.astimezone(self.zone) if self.zone is not None and now.tzinfo else now
        today = local.date().isoformat()
        return self._time_done.get(rule.id) != today and (local.hour, local.minute) >= (hh, mm)

    def _conditions_hold(
        self,
        rule: Rule,
        occ: Occurrence,
        facts_of: Callable[[Occurrence], Mapping[str, Any] | None],
    ) -> Mapping[str, Any] | None:
        facts = facts_of(occ)
        if facts is None:
            return None
        if all(c.holds(facts) for c in rule.conditions):
            return facts
        return None

    def _consider(
        self,
        rule: Rule,
        candidates: Sequence[Occurrence],
        now: datetime,
        facts_of: Callable[[Occurrence], Mapping[str, Any] | None],
    ) -> list[Match]:
        out = []
        for occ in candidates:
            facts = self._conditions_hold(rule, occ, facts_of)
            if facts is None:
                continue
            if not self._guard_allows(rule, occ, now):
                continue
            out.append(Match(rule, occ, facts))
            # Hold further matches of the same rule and vehicle in this pass too.
            self._last[(rule.id, occ.vehicle_id or "")] = now
            self._count(rule, now)
        return out

    def _guard_allows(self, rule: Rule, occ: Occurrence, now: datetime) -> bool:
        last = self._last.get((rule.id, occ.vehicle_id or ""))
        if last is not None and now - last < timedelta(minutes=rule.guard.cooldown_min):
            self.stats.hold("cooldown")
            return False
        recent = self._recent.get(rule.id)
        if recent is not None:
            while recent and now - recent[0] >= timedelta(hours=1):
                recent.popleft()
            if len(recent) >= rule.guard.max_per_hour:
                self.stats.hold("cap per hour")
                return False
        return True

    def _count(self, rule: Rule, now: datetime) -> None:
        self._recent.setdefault(rule.id, deque()).append(now)

    def _escalations(
        self,
        now: datetime,
        unacknowledged: Collection[str],
        facts_of: Callable[[Occurrence], Mapping[str, Any] | None],
    ) -> list[Match]:
        out: list[Match] = []
        keep: list[_Pending] = []
        waiting = set(unacknowledged)
        for p in self._pending:
            if p.occurrence.key not in waiting:
                continue  # acknowledged or resolved meanwhile: nothing to escalate
            if now < p.due:
                keep.append(p)
                continue
            if self._guard_allows(p.rule, p.occurrence, now):
                facts = facts_of(p.occurrence) or {}
                out.append(Match(p.rule, p.occurrence, facts, escalation=True))
                self._last[(p.rule.id, p.occurrence.vehicle_id or "")] = now
                self._count(p.rule, now)
        self._pending = keep
        return out

    def fired(self, match: Match, at: datetime) -> None:
        """The firing happened at ``at`` (its cooldown runs from then)."""
        self._last[(match.rule.id, match.vehicle_id or "")] = at

    def pending_escalations(self) -> int:
        return len(self._pending)
