"""``bench.memory`` samples only a window that shows its day: one without it holds far less
and would report the goal met of a different window."""

from __future__ import annotations

import threading
from types import SimpleNamespace

from bench.memory import _not_ready


def _window(map_ready: bool, plan: object | None, connection: str):
    window = SimpleNamespace(map_pane=SimpleNamespace(is_ready=map_ready))
    context = SimpleNamespace(state=SimpleNamespace(plan=plan),
                              live=SimpleNamespace(connection=connection))  # fmt: skip
    return window, context


def test_a_window_without_its_plan_or_its_broker_is_not_sampled() -> None:
    publisher = threading.Event()
    window, context = _window(True, None, "connecting")
    assert _not_ready(window, context, publisher) == [
        "no plan shown",
        "telemetry connecting",
        "the fleet's publisher is not connected",
    ]
    publisher.set()
    window, context = _window(False, object(), "connected")
    assert _not_ready(window, context, publisher) == ["the map page has not loaded"]
    window, context = _window(True, object(), "connected")
    assert _not_ready(window, context, publisher) == []
