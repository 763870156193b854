"""A re-plan proposal that leaves stops off every route says so, naming each and why."""

from __future__ import annotations

from dataclasses import replace

from engine.model import Unassigned, UnassignedReason
from engine.planning import Proposal, StopChange
from tests.app.test_dispatch_support import small_plan
from widgets.proposal_dialog import ProposalDialog, unassigned_warning


def _proposal(plan, unassigned) -> Proposal:
    dropped = {u.order_id for u in unassigned}
    routes = tuple(
        replace(r, stops=tuple(s for s in r.stops if s.order_id not in dropped))
        for r in plan.routes
    )
    new = replace(plan, routes=routes, unassigned=tuple(unassigned))
    return Proposal(new, (), (), 632 * 60.0, 0.0, 100_000.0, 90_000.0, True, 1.0)


def test_stops_left_unassigned_are_a_warning_naming_them(qtbot) -> None:
    plan = small_plan()
    worst = plan.routes[0].stops[0].order_id
    proposal = _proposal(plan, [Unassigned(worst, UnassignedReason.WINDOW_UNREACHABLE)])
    text = unassigned_warning(proposal, plan)
    assert text.startswith("Warning: 1 stop would be left unassigned")
    assert f"{worst}: its window cannot be reached" in text
    assert "lateness above does not count it" in text
    dialog = ProposalDialog(proposal, "UTC", before=plan)
    qtbot.addWidget(dialog)
    assert dialog.warning.text() == text and not dialog.warning.isHidden()
    # Orders that were unassigned already are not this proposal's doing.
    before = replace(plan, unassigned=(Unassigned(worst, UnassignedReason.CAPACITY),))
    assert unassigned_warning(proposal, before) == ""
    assert ProposalDialog(_proposal(plan, []), "UTC", before=plan).warning.isHidden()


def test_a_re_plan_that_only_reorders_lists_the_stops_whose_times_change(qtbot) -> None:
    """Stops moved between routes come first; then the stops whose ETA changes on their
    own route, largest shift first: the table is never empty while ETAs change."""
    from datetime import datetime, timedelta

    plan = small_plan()
    t = datetime(2026, 12, 6, 10, 0)
    moved = StopChange("A", "V1", "V2", t, t + timedelta(minutes=5))
    small = StopChange("B", "V1", "V1", t, t + timedelta(minutes=2))
    big = StopChange("C", "V2", "V2", t, t - timedelta(minutes=30))
    proposal = replace(_proposal(plan, []), moved=(moved,), eta_changes=(moved, small, big))
    dialog = ProposalDialog(proposal, "UTC", before=plan)
    qtbot.addWidget(dialog)
    table = dialog.table
    assert [table.item(r, 0).text() for r in range(table.rowCount())] == ["A", "C", "B"]
    assert [table.item(2, c).text() for c in (1, 2)] == ["V1", "V1"]
