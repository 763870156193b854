"""A re-plan proposal that leaves stops off every route says so, naming each and why."""

from __future__ import annotations

from dataclasses import replace

from engine.model import Unassigned, UnassignedReason
from engine.planning import Proposal
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
