"""A supervisor's day with standing rules: a rule written in the Rules dialog fires in
shadow mode on the live demo, then — switched to acting — changes the plan as a command
that the Rules pane can undo; an invalid rule is refused with the reason; the pause
switch holds every rule."""

from __future__ import annotations

import pytest

from app.context import AppContext
from app.settings import Settings
from app.store.models import ChangeLogRow
from widgets.main_window import MainWindow


@pytest.fixture
def live_window(qtbot, tmp_path, monkeypatch):
    """The workstation on the demo day, the simulated fleet driving at 120x."""
    monkeypatch.setenv("DISPATCH_DATA_DIR", str(tmp_path))
    settings = Settings.from_env(demo=True, database_url="", first_plan_seconds=3.0,
                                 simulate=True, demo_speedup=120.0, mqtt_url="")  # fmt: skip
    context = AppContext(settings, headless=True)
    window = MainWindow(context)
    qtbot.addWidget(window)
    window.show()
    context.start()
    qtbot.waitUntil(lambda: context.state.plan is not None, timeout=180_000)
    qtbot.waitUntil(lambda: context.live.connection == "connected", timeout=60_000)
    yield window
    window.close()
    qtbot.wait(50)


def _fill_rule(dialog, rule_id: str) -> None:
    dialog.new_rule()
    dialog.rule_id.setText(rule_id)
    dialog.name.setText("Late stops of a van go to a neighbour")
    conditions = dialog.conditions
    conditions.cellWidget(0, 2).setText("-10")  # minutes late >= -10: every late risk


def test_a_rule_written_in_the_dialog_fires_in_shadow_then_acts_and_is_undone(
    qtbot, live_window, tmp_path
):
    window, context = live_window, live_window.context
    service = context.rules
    desk = window.rules_desk
    dialog = desk.open_dialog()
    # An invalid rule is refused with the reason, and nothing is stored.
    _fill_rule(dialog, "Bad Id!")
    assert not dialog.save()
    assert "id:" in dialog.problem.text()
    assert all(r.id != "Bad Id!" for r in service.stored)
    # A valid one is stored as version 1, in shadow mode, and reads as a sentence.
    _fill_rule(dialog, "desk-late-move")
    assert "move the next at-risk stop to the best suggested route" in dialog.reads.text()
    assert dialog.save()
    rule = next(r for r in service.rules if r.id == "desk-late-move")
    assert rule.version == 1 and not rule.acts
    # It fires on the live day, in shadow mode: recorded, nothing changed.
    qtbot.waitUntil(lambda: any(f.rule_id == rule.id for f in service.firings), timeout=240_000)
    shadow = next(f for f in service.firings if f.rule_id == rule.id)
    assert shadow.mode == "shadow" and shadow.command_id is None
    window.grab().save(str(tmp_path / "rules-shadow.png"))
    # Acting now (version 2): a firing that moves a stop is a command in the rule's name.
    dialog.select_rule(rule.id)
    dialog.mode.setCurrentIndex(dialog.mode.findData("acting"))
    assert dialog.save()
    assert next(r for r in service.rules if r.id == rule.id).version == 2

    def acted():
        return next((f for f in service.firings if f.rule_id == rule.id and f.command_id
                     and f.effect.get("moved")), None)  # fmt: skip

    qtbot.waitUntil(lambda: acted() is not None, timeout=300_000)
    firing = acted()
    order_id, _from, to_vehicle = firing.effect["moved"][0]
    assert context.state.plan.route_of(order_id).vehicle_id == to_vehicle
    with context.store.read_session() as s:
        actors = {r.actor for r in s.query(ChangeLogRow).filter(ChangeLogRow.entity == "command")}
    assert f"rule:{rule.id}@v2" in actors
    pane = desk.pane
    assert pane.rules_model.rowCount() >= 6
    pane.select_firing(firing.id)
    window.grab().save(str(tmp_path / "rules-acting.png"))
    # Undone from the pane, like a person's command: the stop is back where it was.
    before = context.state.plan.route_of(order_id).vehicle_id
    assert desk.undo_firing(firing.id)
    assert context.state.plan.route_of(order_id).vehicle_id != before
    assert next(f for f in service.firings if f.id == firing.id).undone_at is not None
    # The one switch pauses every rule (and says so).
    desk.set_paused(True)
    assert service.switch.paused and "paused" in pane.switch_label.text()
    count = len(service.firings)
    qtbot.wait(3000)
    assert len(service.firings) == count
