"""The rules' firings wait in one batch while a job works the last one out: a busy live day
(2,000 vans, a pass a second, re-plans taking seconds) does not pile up passes, each with
the whole fleet's states and ETAs, and what is worked out sees the newest situation."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

from app.rules.actions import Situation
from app.rules.dryrun import default_rules
from app.rules.service import RulesService
from engine.automation import Match, Occurrence


def _service() -> RulesService:
    live = SimpleNamespace(evaluation_hooks=[])
    board = SimpleNamespace(entries=lambda: [])
    return RulesService(store=None, state=None, clock=None, board=board, live=live)


def _situation(minute: int) -> Situation:
    return Situation(day=None, plan=None, now=datetime(2026, 12, 7, 9, minute, tzinfo=UTC))  # type: ignore[arg-type]


def _match(rule, key: str, late: float) -> Match:
    occurrence = Occurrence("exception", "late_risk", key, "V1", "R1", minutes_late=late)
    return Match(rule, occurrence, {"minutes_late": late})


def test_passes_while_a_batch_waits_join_it_in_the_newest_situation():
    service = _service()
    first, second = default_rules()[:2]
    service._enqueue([_match(first, "x1", 5.0)], _situation(0))
    service._enqueue([_match(first, "x1", 12.0), _match(second, "x2", 3.0)], _situation(1))
    service._enqueue([_match(second, "x3", 7.0)], _situation(2))
    assert len(service._queue) == 1
    batch = service._queue[0]
    assert batch.situation.now.minute == 2  # the newest pass's fleet, not the first's
    # Every rule and occurrence once, with the facts it was matched on last.
    assert [(m.rule.id, m.occurrence.key, m.facts["minutes_late"]) for m in batch.matches] == [
        (first.id, "x1", 12.0),
        (second.id, "x2", 3.0),
        (second.id, "x3", 7.0),
    ]


def test_a_batch_taken_by_a_job_is_not_joined():
    """Once a job has taken a batch, the next pass waits in a batch of its own."""
    service = _service()
    rule = default_rules()[0]
    service._enqueue([_match(rule, "x1", 5.0)], _situation(0))
    taken = service._queue.popleft()  # what _next does when the job starts
    service._enqueue([_match(rule, "x1", 9.0)], _situation(1))
    assert [m.facts["minutes_late"] for m in taken.matches] == [5.0]
    assert [m.facts["minutes_late"] for m in service._queue[0].matches] == [9.0]
