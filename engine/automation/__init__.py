"""Standing rules that act: rules as data, read as sentences, matched with guard rails.

    rule = Rule.from_json({...})            # checked: RuleError names the field and why
    sentence(rule)                          # "When a late risk is raised or worsens, ..."
    matcher = RuleMatcher(effective_rules(rules, "SLC-W"))
    for match in matcher.match(occurrences, now, facts_of): ...

What a firing does to the plan is the application's (``app.rules``): the engine decides
*whether* a rule fires, never touches the plan itself.
"""

from engine.automation.match import Match, MatcherStats, Occurrence, RuleMatcher
from engine.automation.model import (
    EVENT_TYPES,
    EXCEPTION_TYPES,
    FIELDS,
    MOVING,
    Action,
    Condition,
    Guard,
    Mode,
    Rule,
    RuleError,
    Then,
    Trigger,
    When,
    effective_rules,
)
from engine.automation.sentences import sentence

__all__ = [
    "EVENT_TYPES",
    "EXCEPTION_TYPES",
    "FIELDS",
    "MOVING",
    "Action",
    "Condition",
    "Guard",
    "Match",
    "MatcherStats",
    "Mode",
    "Occurrence",
    "Rule",
    "RuleError",
    "RuleMatcher",
    "Then",
    "Trigger",
    "When",
    "effective_rules",
    "sentence",
]
