"""A re-plan proposal that leaves stops off every route says so, naming each and why."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtWidgets import QLabel

from engine.model import Unassigned, UnassignedReason
from engine.planning import Proposal, StopChange
from tests.app.test_dispatch_support import small_plan
from widgets.proposal_dialog import COLUMNS, NOTHING_TO_CHANGE, ProposalDialog, unassigned_warning


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
    assert [table.item(2, COLUMNS.index(c)).text() for c in ("From", "To")] == ["V1", "V1"]


def test_the_summary_says_what_extra_kilometres_bought(qtbot) -> None:
    """A re-plan that drives further to save driver time says both, and the cost it
    weighs them by: "+12 km" alone reads as a worse plan."""
    plan = small_plan()
    proposal = replace(_proposal(plan, []), distance_before_m=164_000.0,
                       distance_after_m=175_900.0, duration_before_s=21.5 * 3600,
                       duration_after_s=19.0 * 3600, cost_before=763.6, cost_after=646.4)  # fmt: skip
    dialog = ProposalDialog(proposal, "UTC", before=plan)
    qtbot.addWidget(dialog)
    text = dialog.findChild(QLabel, "proposal_summary").text()
    assert "Distance: 164.0 km → 175.9 km (+11.9 km)" in text
    assert "Driver time: 21.5 h → 19.0 h (-2.5 h)" in text
    assert "Cost (per km and per hour of each vehicle): 764 → 646 (-117)" in text


def test_the_summary_says_which_loaded_stops_the_re_plan_kept_on_their_van(qtbot) -> None:
    """A re-plan that kept the stops the dock loaded on their van says so in its summary
    (the person sees why V09's stops did not move for a shorter route)."""
    plan = small_plan()
    proposal = replace(_proposal(plan, []), notes=("Kept on their van: 26 loaded stops (V09)",))
    dialog = ProposalDialog(proposal, "UTC", before=plan)
    qtbot.addWidget(dialog)
    text = dialog.findChild(QLabel, "proposal_summary").text()
    assert "Kept on their van: 26 loaded stops (V09)" in text


def test_each_stop_reads_with_its_customer_and_window_and_no_change_says_so(qtbot) -> None:
    """A dispatcher reads who a moved stop is (customer, address) and its window beside
    its ETAs, not an order id alone; a re-plan that changes nothing says so first."""
    from datetime import UTC, datetime, timedelta

    from app.day.labels import DayLabels
    from tests.app.test_dispatch_support import small_day

    plan, day = small_plan(), small_day()
    order = day.orders[0]
    labels = DayLabels(
        {o.id: o for o in day.orders}, {v.id: v for v in day.vehicles},
        {d.id: d for d in day.drivers}, plan, "UTC",
    )  # fmt: skip
    t = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
    change = StopChange(order.id, "V1", "V2", t, t + timedelta(minutes=5))
    proposal = replace(_proposal(plan, []), moved=(change,), eta_changes=(change,))
    dialog = ProposalDialog(proposal, "UTC", before=plan, labels=labels)
    qtbot.addWidget(dialog)
    cell = {c: dialog.table.item(0, COLUMNS.index(c)).text() for c in COLUMNS}
    assert cell["Stop"] == order.id and order.customer in cell["Customer"]
    assert cell["Window"] == labels.window(order.id) and cell["Window"]
    assert order.customer in dialog.table.item(0, 0).toolTip()
    summary = dialog.findChild(QLabel, "proposal_summary").text()
    assert NOTHING_TO_CHANGE not in summary
    same = ProposalDialog(_proposal(plan, []), "UTC", before=plan, labels=labels)
    qtbot.addWidget(same)
    text = same.findChild(QLabel, "proposal_summary").text()
    assert text.startswith(NOTHING_TO_CHANGE) and same.table.rowCount() == 0


def test_a_long_note_wraps_instead_of_widening_the_dialog(qtbot) -> None:
    """The slow vans' note is a long line: it wraps inside the dialog's width (it made the
    dialog some 1,600 px wide, past the exception pane it opens over)."""
    from app.dispatch.replan import slow_vans

    plan = small_plan()
    note = slow_vans(plan, {"V1": 1.8, "V3": 1.4})
    proposal = replace(_proposal(plan, []), notes=(note,))
    dialog = ProposalDialog(proposal, "UTC", before=plan)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    assert note in dialog.findChild(QLabel, "proposal_summary").text()
    assert dialog.width() <= 900
