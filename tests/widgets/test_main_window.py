"""The workstation window on its embedded defaults: the demo day is seeded, planned, listed."""

import pytest

from app.context import AppContext
from app.settings import Settings
from widgets.main_window import MainWindow


@pytest.fixture
def demo_window(qtbot, tmp_path, monkeypatch):
    """A main window over a fresh embedded database in a temporary data directory."""
    monkeypatch.setenv("DISPATCH_DATA_DIR", str(tmp_path))
    settings = Settings.from_env(demo=True, database_url="", first_plan_seconds=2.0)
    context = AppContext(settings, headless=True)
    window = MainWindow(context)
    qtbot.addWidget(window)
    window.show()
    yield window
    context.shutdown()


def test_first_start_seeds_and_plans_the_demo_day(qtbot, demo_window):
    """On an empty database the demo day is loaded and planned; its routes are listed."""
    context = demo_window.context
    with qtbot.waitSignal(context.jobs.sig_job_finished, timeout=120_000):
        context.start()
    assert context.state.index is not None
    assert len(context.state.index.orders) >= 300
    model = demo_window.routes_model
    assert model.rowCount() >= 10
    planned = sum(int(model.index(r, 3).data()) for r in range(model.rowCount()))
    assert planned + len(context.state.plan.unassigned) == len(context.state.index.orders)
    assert "routes" in demo_window.routes_pane._summary.text()


def test_a_second_start_reads_the_stored_plan(qtbot, demo_window, tmp_path):
    """The plan is persisted: a new context on the same database shows it without planning."""
    context = demo_window.context
    with qtbot.waitSignal(context.jobs.sig_job_finished, timeout=120_000):
        context.start()
    first = [r.order_ids for r in context.state.routes]
    again = AppContext(
        Settings.from_env(demo=True, database_url="", first_plan_seconds=2.0), headless=True
    )
    again.start()
    assert not again.jobs.is_running("plan")
    assert [r.order_ids for r in again.state.routes] == first
    again.shutdown()
