"""Standing rules as data: *When* something happens, *if* conditions hold, *then* an action.

A rule is plain JSON (``Rule.from_json`` / ``to_json``) so it can live in the shared
database, be versioned, exported, and tried on a recorded day. ``Rule.from_json`` checks
everything and raises :class:`RuleError` naming the field and the reason: an invalid rule
never exists. The guard rails are part of every rule: a cooldown per rule and vehicle, a
cap per hour, at most N stops moved per firing, and shadow mode (record what it would do,
change nothing). Never touching locked, loaded or served stops is not a setting: no rule
can switch it off.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

#: Exception types a rule may react to (engine.rules.ExceptionType values).
EXCEPTION_TYPES = (
    "late_risk",
    "failed_attempt",
    "stopped",
    "off_route",
    "telemetry_silent",
    "capacity",
    "breakdown",
)
#: Events a rule may react to: stop and vehicle events, and an order known late in the day.
EVENT_TYPES = ("failed", "delivered", "arrived", "breakdown", "late_order")


class RuleError(ValueError):
    """An invalid rule: ``field`` says where, the message says why."""

    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(f"{field_name}: {reason}")
        self.field = field_name
        self.reason = reason


class Trigger(enum.StrEnum):
    EXCEPTION = "exception"  # an exception is raised, or worsens
    EVENT = "event"  # a stop or vehicle event, or a late order
    TIME = "time"  # a time of day (once a day, for every active route)


class Mode(enum.StrEnum):
    SHADOW = "shadow"  # record what it would do, change nothing
    ACTING = "acting"


class Action(enum.StrEnum):
    REPLAN = "replan_route"  # propose a re-plan of the route and its best neighbours
    MOVE_AT_RISK = "move_at_risk"  # move the next N at-risk stops to the best routes
    NEXT_WAVE = "next_wave"  # move an order to the next wave
    SEND_ROUTE = "send_route"  # send the driver the updated route
    ESCALATE = "escalate"  # to a supervisor when nobody acknowledged within N minutes
    INSERT = "insert_order"  # put an order (a late one) on its best route


#: Actions that change the plan (and so respect max_stops and the protected stops).
MOVING = frozenset({Action.REPLAN, Action.MOVE_AT_RISK, Action.NEXT_WAVE, Action.INSERT})

#: Condition fields: name -> (kind, one-line meaning). Kinds: number, text, time.
FIELDS: dict[str, tuple[str, str]] = {
    "minutes_late": ("number", "minutes the stop (or the worst stop) is predicted late"),
    "priority": ("number", "the order's priority (0 normal, 1 high, 2 urgent)"),
    "slack_min": ("number", "minutes between the predicted arrival and the window's end"),
    "stops_at_risk": ("number", "stops of the route at risk of missing their window"),
    "stops_left": ("number", "stops the route still has to serve"),
    "severity": ("text", "the exception's severity (warning, critical)"),
    "exception_type": ("text", "the exception's type"),
    "event_type": ("text", "the event's type"),
    "route_status": ("text", "planned, released, active or completed"),
    "vehicle_type": ("text", "the vehicle's type (e.g. van, box_truck)"),
    "depot": ("text", "the depot's id"),
    "wave": ("text", "the order's (else the route's) wave"),
    "time_of_day": ("time", "the depot's clock, HH:MM"),
}
OPS_NUMBER = (">=", "<=", ">", "<", "=", "!=")
OPS_TEXT = ("=", "!=", "in", "not in")
OPS_TIME = (">=", "<=", ">", "<")
_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


@dataclass(frozen=True)
class When:
    trigger: Trigger
    types: tuple[str, ...] = ()  # exception or event types (empty: any)
    on: str = "raised_or_worsened"  # exceptions: raised | worsened | raised_or_worsened
    at: str = ""  # time trigger: HH:MM


@dataclass(frozen=True)
class Condition:
    field: str
    op: str
    value: Any

    def holds(self, facts: Mapping[str, Any]) -> bool:
        """Whether the condition holds for these facts (a missing fact never holds)."""
        have = facts.get(self.field)
        if have is None:
            return False
        kind = FIELDS[self.field][0]
        want = self.value
        if kind == "time":
            have, want = _minutes(str(have)), _minutes(str(want))
        if self.op == "in":
            return bool(have in want)
        if self.op == "not in":
            return bool(have not in want)
        if self.op == "=":
            return bool(have == want)
        if self.op == "!=":
            return bool(have != want)
        if self.op == ">=":
            return bool(have >= want)
        if self.op == "<=":
            return bool(have <= want)
        if self.op == ">":
            return bool(have > want)
        return bool(have < want)


@dataclass(frozen=True)
class Then:
    action: Action
    stops: int = 1  # move_at_risk: how many of the next at-risk stops
    neighbours: int = 2  # replan_route: how many best neighbour routes join the re-plan
    after_min: float = 0.0  # escalate: nobody acknowledged within this many minutes
    accept_max_moved: int | None = None  # replan: accept by itself when it moves <= K stops
    accept_min_gain_min: float | None = None  # ... and cuts lateness by >= M minutes
    send: bool = True  # a change the rule makes is sent to the drivers at once


@dataclass(frozen=True)
class Guard:
    cooldown_min: float = 30.0  # per rule and vehicle
    max_per_hour: int = 6  # per rule, over the whole depot
    max_stops: int = 3  # stops one firing may move


@dataclass(frozen=True)
class Rule:
    """One standing rule. ``depot_id`` None: the standard (global) rule; a depot's own rule
    with the same id overrides it there. ``version`` rises with every saved edit."""

    id: str
    name: str
    when: When
    then: Then
    conditions: tuple[Condition, ...] = ()
    guard: Guard = field(default_factory=Guard)
    mode: Mode = Mode.SHADOW
    enabled: bool = True
    depot_id: str | None = None
    version: int = 1

    @property
    def acts(self) -> bool:
        return self.enabled and self.mode is Mode.ACTING

    @property
    def moves_stops(self) -> bool:
        return self.then.action in MOVING

    # -- JSON -----------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        when: dict[str, Any] = {"trigger": self.when.trigger.value}
        if self.when.types:
            when["types"] = list(self.when.types)
        if self.when.trigger is Trigger.EXCEPTION:
            when["on"] = self.when.on
        if self.when.trigger is Trigger.TIME:
            when["at"] = self.when.at
        then: dict[str, Any] = {"action": self.then.action.value}
        defaults = Then(self.then.action)
        for name in ("stops", "neighbours", "after_min", "accept_max_moved",
                     "accept_min_gain_min", "send"):  # fmt: skip
            value = getattr(self.then, name)
            if value != getattr(defaults, name) or name in _ACTION_PARAMS[self.then.action]:
                then[name] = value
        return {
            "id": self.id,
            "name": self.name,
            "version": self.version,
            "depot_id": self.depot_id,
            "enabled": self.enabled,
            "mode": self.mode.value,
            "when": when,
            "if": [{"field": c.field, "op": c.op, "value": _json_value(c.value)}
                   for c in self.conditions],
            "then": then,
            "guard": {"cooldown_min": self.guard.cooldown_min,
                      "max_per_hour": self.guard.max_per_hour,
                      "max_stops": self.guard.max_stops},
        }  # fmt: skip

    @classmethod
    def from_json(cls, data: Any) -> Rule:
        """A checked rule from its JSON; :class:`RuleError` (field, reason) otherwise."""
        if not isinstance(data, Mapping):
            raise RuleError("rule", "expected a JSON object")
        unknown = set(data) - {"id", "name", "version", "depot_id", "enabled", "mode", "when",
                               "if", "then", "guard"}  # fmt: skip
        if unknown:
            raise RuleError(sorted(unknown)[0], "not a field of a rule")
        rid = data.get("id")
        if not isinstance(rid, str) or not _ID.match(rid):
            raise RuleError("id", "1-64 of a-z 0-9 _ . - (starting with a letter or digit)")
        name = _text(data.get("name", rid), "name", 120)
        version = data.get("version", 1)
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise RuleError("version", f"a whole number from 1, got {version!r}")
        depot = data.get("depot_id")
        if depot is not None:
            depot = _text(depot, "depot_id", 64)
        enabled = data.get("enabled", True)
        if not isinstance(enabled, bool):
            raise RuleError("enabled", "true or false")
        try:
            mode = Mode(data.get("mode", "shadow"))
        except ValueError:
            raise RuleError("mode", "shadow or acting") from None
        when = _when(data.get("when"))
        conditions = _conditions(data.get("if", []))
        then = _then(data.get("then"), when)
        guard = _guard(data.get("guard", {}))
        if then.action in MOVING and then.action is not Action.REPLAN:
            wanted = then.stops if then.action is Action.MOVE_AT_RISK else 1
            if wanted > guard.max_stops:
                raise RuleError(
                    "then.stops",
                    f"moves {wanted} stops but the guard allows at most {guard.max_stops} a firing",
                )
        if then.accept_max_moved is not None and then.accept_max_moved > guard.max_stops:
            raise RuleError(
                "then.accept_max_moved",
                f"accepting {then.accept_max_moved} moved stops is more than the guard's "
                f"{guard.max_stops} a firing",
            )
        return cls(rid, name, when, then, conditions, guard, mode, enabled, depot, version)

    def edited(self, **changes: Any) -> Rule:
        return replace(self, **changes)


_ACTION_PARAMS: dict[Action, tuple[str, ...]] = {
    Action.REPLAN: ("neighbours", "accept_max_moved", "accept_min_gain_min", "send"),
    Action.MOVE_AT_RISK: ("stops", "send"),
    Action.NEXT_WAVE: ("send",),
    Action.SEND_ROUTE: (),
    Action.ESCALATE: ("after_min",),
    Action.INSERT: ("send",),
}


def _json_value(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _minutes(hhmm: str) -> int:
    hh, mm = hhmm.split(":")
    return int(hh) * 60 + int(mm)


def _text(value: Any, name: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise RuleError(name, f"a text of 1 to {limit} characters")
    return value.strip()


def _types(value: Any, allowed: Sequence[str], name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RuleError(name, "a list of names")
    bad = [v for v in value if v not in allowed]
    if bad:
        raise RuleError(name, f"{bad[0]!r} is not one of {', '.join(allowed)}")
    return tuple(dict.fromkeys(value))


def _when(data: Any) -> When:
    if not isinstance(data, Mapping):
        raise RuleError("when", "expected an object with a trigger")
    try:
        trigger = Trigger(str(data.get("trigger")))
    except ValueError:
        raise RuleError("when.trigger", f"one of {', '.join(t.value for t in Trigger)}") from None
    if trigger is Trigger.EXCEPTION:
        on = data.get("on", "raised_or_worsened")
        if on not in ("raised", "worsened", "raised_or_worsened"):
            raise RuleError("when.on", "raised, worsened or raised_or_worsened")
        return When(trigger, _types(data.get("types"), EXCEPTION_TYPES, "when.types"), on)
    if trigger is Trigger.EVENT:
        types = _types(data.get("types"), EVENT_TYPES, "when.types")
        if not types:
            raise RuleError("when.types", f"name the events: {', '.join(EVENT_TYPES)}")
        return When(trigger, types)
    at = data.get("at")
    if not isinstance(at, str) or not _HHMM.match(at):
        raise RuleError("when.at", f"a time of day as HH:MM, got {at!r}")
    return When(trigger, at=at)


def _conditions(data: Any) -> tuple[Condition, ...]:
    if not isinstance(data, list):
        raise RuleError("if", "a list of conditions")
    if len(data) > 12:
        raise RuleError("if", "at most 12 conditions")
    out = []
    for k, item in enumerate(data):
        where = f"if[{k}]"
        if not isinstance(item, Mapping):
            raise RuleError(where, "expected {field, op, value}")
        name = item.get("field")
        if name not in FIELDS:
            raise RuleError(f"{where}.field", f"{name!r} is not one of {', '.join(FIELDS)}")
        kind = FIELDS[name][0]
        op = item.get("op")
        ops = {"number": OPS_NUMBER, "text": OPS_TEXT, "time": OPS_TIME}[kind]
        if op not in ops:
            raise RuleError(f"{where}.op", f"{name} takes {', '.join(ops)}, not {op!r}")
        value = item.get("value")
        if kind == "number":
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise RuleError(f"{where}.value", f"{name} compares with a number, not {value!r}")
            if not -10_000 <= value <= 10_000:
                raise RuleError(f"{where}.value", f"{value} is out of range")
        elif kind == "time":
            if not isinstance(value, str) or not _HHMM.match(value):
                raise RuleError(f"{where}.value", f"a time of day as HH:MM, got {value!r}")
        elif op in ("in", "not in"):
            if isinstance(value, str):
                value = [v.strip() for v in value.split(",") if v.strip()]
            if (
                not isinstance(value, list)
                or not value
                or not all(isinstance(v, str) and v for v in value)
            ):
                raise RuleError(f"{where}.value", f"{op} takes a list of names")
            value = tuple(value)
        elif not isinstance(value, str) or not value:
            raise RuleError(f"{where}.value", f"{name} compares with a name, not {value!r}")
        out.append(Condition(name, op, value))
    return tuple(out)


def _then(data: Any, when: When) -> Then:
    if not isinstance(data, Mapping):
        raise RuleError("then", "expected an object with an action")
    try:
        action = Action(str(data.get("action")))
    except ValueError:
        raise RuleError("then.action", f"one of {', '.join(a.value for a in Action)}") from None
    allowed = set(_ACTION_PARAMS[action]) | {"action"}
    extra = sorted(set(data) - allowed)
    if extra:
        raise RuleError(f"then.{extra[0]}", f"not a setting of {action.value}")
    stops = _int(data.get("stops", 1), "then.stops", 1, 20)
    neighbours = _int(data.get("neighbours", 2), "then.neighbours", 0, 5)
    after = data.get("after_min", 0.0)
    if not isinstance(after, (int, float)) or isinstance(after, bool) or not 0 <= after <= 240:
        raise RuleError("then.after_min", f"minutes from 0 to 240, got {after!r}")
    if action is Action.ESCALATE and after <= 0:
        raise RuleError("then.after_min", "escalate after how many minutes without anyone? (> 0)")
    if action is Action.ESCALATE and when.trigger is not Trigger.EXCEPTION:
        raise RuleError("then.action", "escalate follows an exception: use when.trigger exception")
    at_risk_event = set(when.types) & {"breakdown", "failed"}
    if action is Action.MOVE_AT_RISK and when.trigger is Trigger.EVENT and not at_risk_event:
        raise RuleError("then.action", "move_at_risk needs a route at risk, not this event")
    if action is Action.INSERT and (when.trigger is not Trigger.EVENT
                                    or "late_order" not in when.types):  # fmt: skip
        raise RuleError("then.action", "insert_order follows a late_order event")
    k = data.get("accept_max_moved")
    m = data.get("accept_min_gain_min")
    if (k is None) != (m is None):
        raise RuleError(
            "then.accept_max_moved" if k is None else "then.accept_min_gain_min",
            "accepting by itself needs both: at most K stops moved and at least M minutes saved",
        )
    if k is not None:
        k = _int(k, "then.accept_max_moved", 0, 40)
        if not isinstance(m, (int, float)) or isinstance(m, bool) or not 0 < m <= 600:
            raise RuleError("then.accept_min_gain_min", f"minutes from 1 to 600, got {m!r}")
    send = data.get("send", True)
    if not isinstance(send, bool):
        raise RuleError("then.send", "true or false")
    return Then(action, stops, neighbours, float(after), k, None if m is None else float(m), send)


def _guard(data: Any) -> Guard:
    if not isinstance(data, Mapping):
        raise RuleError("guard", "expected {cooldown_min, max_per_hour, max_stops}")
    extra = sorted(set(data) - {"cooldown_min", "max_per_hour", "max_stops"})
    if extra:
        raise RuleError(f"guard.{extra[0]}", "not a guard rail")
    cooldown = data.get("cooldown_min", 30.0)
    if (
        not isinstance(cooldown, (int, float))
        or isinstance(cooldown, bool)
        or not (1 <= cooldown <= 24 * 60)
    ):
        raise RuleError("guard.cooldown_min", f"minutes from 1 to 1440, got {cooldown!r}")
    per_hour = _int(data.get("max_per_hour", 6), "guard.max_per_hour", 1, 120)
    max_stops = _int(data.get("max_stops", 3), "guard.max_stops", 0, 40)
    return Guard(float(cooldown), per_hour, max_stops)


def _int(value: Any, name: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise RuleError(name, f"a whole number from {low} to {high}, got {value!r}")
    return value


def effective_rules(rules: Sequence[Rule], depot_id: str) -> list[Rule]:
    """The rules that apply at a depot: the standard ones, each replaced by the depot's own
    rule of the same id where it has one; the depot's own new rules too. In id order."""
    out: dict[str, Rule] = {}
    for rule in rules:
        if rule.depot_id is None:
            out.setdefault(rule.id, rule)
    for rule in rules:
        if rule.depot_id == depot_id:
            out[rule.id] = rule
    return [out[k] for k in sorted(out)]
