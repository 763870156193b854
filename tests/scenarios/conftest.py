"""Fixtures for scenarios that drive the real window: a planned demo day, in a role."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.context import AppContext
from app.settings import Settings
from widgets.main_window import MainWindow


def open_window(qtbot, role: str, user: str, **overrides) -> MainWindow:
    """The real window over the demo day in ``DISPATCH_DATA_DIR``, as ``user`` in ``role``:
    the simulated fleet drives the morning (from 07:30, 20x faster) through the embedded
    broker; returned once the day is planned and the vehicles report."""
    values = dict(demo=True, database_url="", first_plan_seconds=3.0, simulate=True,
                  mqtt_url="", demo_speedup=20.0, role=role, user=user,
                  workstation_id=f"desk-{user}")  # fmt: skip
    values.update(overrides)
    context = AppContext(Settings.from_env(**values), headless=True)
    window = MainWindow(context)
    qtbot.addWidget(window)
    window.resize(1920, 1080)
    window.show()
    context.start()
    qtbot.waitUntil(lambda: context.state.plan is not None, timeout=180_000)
    if values["simulate"]:
        qtbot.waitUntil(lambda: context.live.connection == "connected", timeout=60_000)
    qtbot.wait(300)
    return window


@pytest.fixture
def desk(qtbot, tmp_path, monkeypatch) -> Iterator[Callable[..., MainWindow]]:
    """Opens windows on one fresh data folder (``desk("dispatcher", "dana")``); closes
    them at the end, inside the test's event loop. "Today" is the day the test began on
    each depot's clock, so a restart within a test opens the same day even when it comes
    after the depot's midnight (the demo city's midnight is 06:00 or 07:00 UTC)."""
    import app.day.opening as opening
    import app.simulator.demo_day as demo_day

    monkeypatch.setenv("DISPATCH_DATA_DIR", str(tmp_path / "data"))
    days: dict[str, object] = {}
    real_today = opening.depot_today

    def pinned_today(timezone: str):
        return days.setdefault(timezone, real_today(timezone))

    monkeypatch.setattr(opening, "depot_today", pinned_today)
    monkeypatch.setattr(demo_day, "demo_today", lambda: pinned_today(demo_day.DEMO_TIMEZONE))
    opened: list[MainWindow] = []

    def make(role: str = "supervisor", user: str = "sam", **overrides) -> MainWindow:
        window = open_window(qtbot, role, user, **overrides)
        opened.append(window)
        return window

    yield make
    for window in reversed(opened):
        window.close()
    qtbot.wait(50)


def shot(widget, folder: Path, name: str) -> Path:
    """Save what a person sees of ``widget`` as ``folder/name.png``."""
    path = folder / f"{name}.png"
    widget.grab().save(str(path), "PNG")
    return path
