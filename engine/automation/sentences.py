"""Rules read as sentences: what a supervisor writes, a dispatcher reads."""

from __future__ import annotations

from engine.automation.model import FIELDS, Action, Condition, Mode, Rule, Trigger

_TYPE_WORDS = {
    "late_risk": "a late risk",
    "failed_attempt": "a failed attempt",
    "stopped": "a stopped vehicle",
    "off_route": "a vehicle off its route",
    "telemetry_silent": "a silent tracker",
    "capacity": "a capacity problem",
    "breakdown": "a breakdown",
    "failed": "a failed delivery",
    "delivered": "a delivery",
    "arrived": "an arrival at a stop",
    "late_order": "a late order",
}
_FIELD_WORDS = {
    "minutes_late": "minutes late",
    "priority": "priority",
    "slack_min": "slack (min)",
    "stops_at_risk": "stops at risk",
    "stops_left": "stops left",
    "severity": "severity",
    "exception_type": "exception type",
    "event_type": "event",
    "route_status": "route status",
    "vehicle_type": "vehicle type",
    "depot": "depot",
    "wave": "wave",
    "time_of_day": "time of day",
}
_OP_WORDS = {
    ">=": "≥",
    "<=": "≤",
    ">": ">",
    "<": "<",
    "=": "is",
    "!=": "is not",
    "in": "is one of",
    "not in": "is none of",
}


def _either(words: list[str], joiner: str = "or") -> str:
    if not words:
        return ""
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + f" {joiner} " + words[-1]


def when_text(rule: Rule) -> str:
    when = rule.when
    if when.trigger is Trigger.TIME:
        return f"At {when.at} (for every active route)"
    things = _either([_TYPE_WORDS.get(t, t) for t in when.types]) or (
        "an exception" if when.trigger is Trigger.EXCEPTION else "an event"
    )
    if when.trigger is Trigger.EVENT:
        return f"When {things} comes in"
    verb = {
        "raised": "is raised",
        "worsened": "worsens",
        "raised_or_worsened": "is raised or worsens",
    }
    return f"When {things} {verb[when.on]}"


def condition_text(c: Condition) -> str:
    value = c.value
    if isinstance(value, tuple):
        value = ", ".join(value)
    elif FIELDS[c.field][0] == "number" and isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"{_FIELD_WORDS[c.field]} {_OP_WORDS[c.op]} {value}"


def then_text(rule: Rule) -> str:
    then = rule.then
    if then.action is Action.REPLAN:
        text = "propose a re-plan of the route"
        if then.neighbours:
            text += f" and its {then.neighbours} best neighbour{'s' if then.neighbours > 1 else ''}"
        if then.accept_max_moved is not None:
            text += (
                f", accepted by itself when it moves at most {then.accept_max_moved} "
                f"stop{'s' if then.accept_max_moved != 1 else ''} and saves at least "
                f"{then.accept_min_gain_min:g} min of lateness"
            )
        return text
    if then.action is Action.MOVE_AT_RISK:
        n = then.stops
        return (
            f"move the next {n} at-risk stop{'s' if n > 1 else ''} to the best suggested routes"
            if n > 1
            else "move the next at-risk stop to the best suggested route"
        )
    if then.action is Action.NEXT_WAVE:
        return "move the order to the next wave"
    if then.action is Action.SEND_ROUTE:
        return "send the driver the updated route"
    if then.action is Action.INSERT:
        return "put the order on its best route"
    return f"escalate to a supervisor when nobody acknowledged it within {then.after_min:g} min"


def guard_text(rule: Rule) -> str:
    g = rule.guard
    parts = []
    if rule.moves_stops:
        parts.append(f"at most {g.max_stops} stop{'s' if g.max_stops != 1 else ''} moved a firing")
    parts.append(f"{g.cooldown_min:g} min between firings for one vehicle")
    parts.append(f"at most {g.max_per_hour} firing{'s' if g.max_per_hour != 1 else ''} an hour")
    return "Guard: " + "; ".join(parts) + "."


def mode_text(rule: Rule) -> str:
    if not rule.enabled:
        return "Switched off."
    if rule.mode is Mode.SHADOW:
        return "Shadow mode: it records what it would do and changes nothing."
    if rule.moves_stops and not rule.then.send:
        return "Acting: it changes the plan; a person sends the routes."
    return "Acting."


def sentence(rule: Rule) -> str:
    """The rule in one paragraph, e.g. "When a late risk is raised or worsens, if minutes
    late ≥ 10, then move the next 2 at-risk stops to the best suggested routes. Guard: …"."""
    text = when_text(rule)
    if rule.conditions:
        text += ", if " + _either([condition_text(c) for c in rule.conditions], "and")
    text += ", then " + then_text(rule) + "."
    where = f" (depot {rule.depot_id} only)" if rule.depot_id else ""
    return f"{text} {guard_text(rule)} {mode_text(rule)}{where}"
