"""Rules as data: checked on the way in, read as sentences, matched with guard rails."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from engine.automation import (
    Mode,
    Occurrence,
    Rule,
    RuleError,
    RuleMatcher,
    effective_rules,
    sentence,
)

T0 = datetime(2026, 12, 7, 16, 0, tzinfo=UTC)


def rule(**over) -> Rule:
    data = {
        "id": "late-move",
        "name": "Move late stops",
        "when": {"trigger": "exception", "types": ["late_risk"]},
        "if": [{"field": "minutes_late", "op": ">=", "value": 10}],
        "then": {"action": "move_at_risk", "stops": 2},
        "guard": {"cooldown_min": 20, "max_per_hour": 3, "max_stops": 2},
    }
    data.update(over)
    return Rule.from_json(data)


def late(key="e1", vehicle="V1", minutes=12.0, severity="critical", **kw) -> Occurrence:
    return Occurrence("exception", "late_risk", key, vehicle, "R-" + vehicle, "O1", minutes,
                      severity, **kw)  # fmt: skip


def facts(occ):
    return {"minutes_late": occ.minutes_late, "priority": 0, "route_status": "active"}


def test_a_rule_round_trips_through_json():
    """What is saved is what comes back, version and depot included."""
    r = rule(version=4, depot_id="SLC-W", mode="acting")
    again = Rule.from_json(r.to_json())
    assert again == r and again.mode is Mode.ACTING and again.version == 4


@pytest.mark.parametrize(
    "change, where, why",
    [
        ({"id": "Bad Id"}, "id", "a-z"),
        ({"when": {"trigger": "sometimes"}}, "when.trigger", "one of"),
        ({"when": {"trigger": "time", "at": "25:00"}}, "when.at", "HH:MM"),
        ({"when": {"trigger": "event", "types": []}}, "when.types", "name the events"),
        ({"if": [{"field": "colour", "op": "=", "value": "red"}]}, "if[0].field", "not one of"),
        ({"if": [{"field": "minutes_late", "op": "in", "value": 3}]}, "if[0].op", "takes"),
        ({"if": [{"field": "minutes_late", "op": ">=", "value": "ten"}]}, "if[0].value", "number"),
        ({"then": {"action": "move_at_risk", "stops": 5}}, "then.stops", "at most 2"),
        ({"then": {"action": "escalate"}}, "then.after_min", "> 0"),
        ({"then": {"action": "replan_route", "accept_max_moved": 2}}, "then.accept_min_gain_min",
         "needs both"),
        ({"then": {"action": "replan_route", "stops": 2}}, "then.stops", "not a setting"),
        ({"guard": {"cooldown_min": 0}}, "guard.cooldown_min", "1 to 1440"),
        ({"mode": "loud"}, "mode", "shadow or acting"),
        ({"colour": 1}, "colour", "not a field"),
    ],
)  # fmt: skip
def test_an_invalid_rule_is_refused_with_the_field_and_the_reason(change, where, why):
    """Each mistake names where it is and why it is wrong."""
    with pytest.raises(RuleError, match=why) as info:
        rule(**change)
    assert info.value.field == where


def test_a_rule_reads_as_a_sentence():
    """When / if / then, the guard rails and the mode, in words."""
    text = sentence(rule())
    assert text.startswith("When a late risk is raised or worsens, if minutes late ≥ 10, then ")
    assert "move the next 2 at-risk stops to the best suggested routes" in text
    assert "at most 2 stops moved a firing" in text and "20 min between firings" in text
    assert "Shadow mode" in text
    esc = rule(then={"action": "escalate", "after_min": 15})
    assert "escalate to a supervisor when nobody acknowledged it within 15 min" in sentence(esc)


def test_depot_rules_override_the_standard_ones():
    """A depot's rule with a standard rule's id replaces it there, and only there."""
    std = rule()
    local = rule(depot_id="SLC-W", mode="acting")
    other = rule(id="other", depot_id="DEN")
    assert effective_rules([std, local, other], "SLC-W") == [local]
    assert effective_rules([std, local, other], "DEN") == [std, other]


def test_conditions_and_cooldown_per_vehicle():
    """A raised exception over the threshold fires once; the same vehicle waits out the
    cooldown; another vehicle does not."""
    m = RuleMatcher([rule()])
    assert [x.vehicle_id for x in m.match([late()], T0, facts)] == ["V1"]
    assert m.match([late("e2", minutes=8)], T0, facts) == []  # under the threshold
    assert m.match([late("e3")], T0 + timedelta(minutes=5), facts) == []  # cooldown
    assert m.stats.held["cooldown"] == 1
    assert [x.vehicle_id for x in m.match([late("e4", "V2")], T0, facts)] == ["V2"]
    assert m.match([late("e5")], T0 + timedelta(minutes=21), facts)


def test_worsening_fires_again_a_re_worded_detail_does_not():
    """The same exception fires when it is 5 more minutes late (after the cooldown)."""
    m = RuleMatcher([rule(guard={"cooldown_min": 1, "max_per_hour": 10, "max_stops": 2})])
    assert m.match([late(minutes=12)], T0, facts)
    assert not m.match([late(minutes=14)], T0 + timedelta(minutes=2), facts)
    assert m.match([late(minutes=18)], T0 + timedelta(minutes=4), facts)
    raised_only = RuleMatcher([rule(when={"trigger": "exception", "types": ["late_risk"],
                                          "on": "raised"})])  # fmt: skip
    assert raised_only.match([late(minutes=12)], T0, facts)
    assert not raised_only.match([late(minutes=40)], T0 + timedelta(hours=1), facts)


def test_cap_per_hour_and_the_pause_switch():
    """At most max_per_hour firings in any hour over all vehicles; paused, none at all."""
    m = RuleMatcher([rule()])
    fired = [m.match([late(f"e{k}", f"V{k}")], T0 + timedelta(minutes=k), facts) for k in range(5)]
    assert sum(len(f) for f in fired) == 3 and m.stats.held["cap per hour"] == 2
    assert m.match([late("e9", "V9")], T0 + timedelta(minutes=61), facts)
    paused = RuleMatcher([rule()], paused=True)
    assert paused.match([late()], T0, facts) == []


def test_escalation_waits_for_nobody_to_acknowledge():
    """An escalation fires after N minutes only if the exception is still unacknowledged."""
    esc = rule(id="esc", then={"action": "escalate", "after_min": 15}, **{"if": []})
    m = RuleMatcher([esc])
    raised = late("e1", at=T0)
    assert m.match([raised], T0, facts, unacknowledged={"e1"}) == []
    assert m.match([], T0 + timedelta(minutes=10), facts, unacknowledged={"e1"}) == []
    fired = m.match([], T0 + timedelta(minutes=16), facts, unacknowledged={"e1"})
    assert len(fired) == 1 and fired[0].escalation
    m2 = RuleMatcher([esc])
    m2.match([late("e2", at=T0)], T0, facts, unacknowledged={"e2"})
    assert m2.match([], T0 + timedelta(minutes=20), facts, unacknowledged=set()) == []


def test_time_of_day_rules_fire_once_a_day_per_route():
    """At 11:00 the rule looks at every route once; not again that day."""
    r = rule(id="at11", when={"trigger": "time", "at": "11:00"},
             **{"if": [{"field": "route_status", "op": "=", "value": "active"}]},
             then={"action": "replan_route", "neighbours": 1})  # fmt: skip
    m = RuleMatcher([r])
    at = datetime(2026, 12, 7, 10, 59)
    subjects = [Occurrence("time", "time", "R-V1", "V1", "R-V1"),
                Occurrence("time", "time", "R-V2", "V2", "R-V2")]  # fmt: skip
    assert m.match([], at, facts, routes=lambda: subjects) == []
    assert len(m.match([], at + timedelta(minutes=2), facts, routes=lambda: subjects)) == 2
    assert m.match([], at + timedelta(minutes=30), facts, routes=lambda: subjects) == []


def test_a_time_of_day_rule_fires_on_the_depots_clock_not_utc():
    """ "At 11:00" at a depot in Denver fires at 11:00 there (18:00 UTC), not at the start
    of the morning when UTC is already past 11:00; and once per depot day, even when the UTC
    date turns in the afternoon."""
    r = rule(id="at11", when={"trigger": "time", "at": "11:00"},
             **{"if": [{"field": "route_status", "op": "=", "value": "active"}]},
             then={"action": "replan_route", "neighbours": 1})  # fmt: skip
    m = RuleMatcher([r], zone=ZoneInfo("America/Denver"))
    subjects = [Occurrence("time", "time", "R-V1", "V1", "R-V1")]
    morning = datetime(2026, 12, 7, 14, 30, tzinfo=UTC)  # 07:30 in Denver
    assert m.match([], morning, facts, routes=lambda: subjects) == []
    assert m.match([], morning + timedelta(hours=3, minutes=29), facts,
                   routes=lambda: subjects) == []  # 10:59 there  # fmt: skip
    assert len(m.match([], morning + timedelta(hours=3, minutes=31), facts,
                       routes=lambda: subjects)) == 1  # 11:01 there  # fmt: skip
    evening = datetime(2026, 12, 8, 1, 0, tzinfo=UTC)  # 18:00 in Denver, the 8th in UTC
    assert m.match([], evening, facts, routes=lambda: subjects) == []
