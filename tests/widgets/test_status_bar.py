"""The status bar's message line: it fits, it expires, a job's progress goes with the job."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QMainWindow

from widgets.status_bar import DeskStatusBar


@pytest.fixture
def bar(qtbot):
    """A window 900 px wide with the desk's status bar."""
    window = QMainWindow()
    qtbot.addWidget(window)
    status = DeskStatusBar(window.statusBar(), window)
    status.set_field("user", "dana · dispatcher")
    window.resize(900, 300)
    window.show()
    qtbot.waitExposed(window)
    yield status
    window.close()


def test_a_message_goes_away_by_itself(qtbot, bar):
    """A "Cannot do that…" does not stay for minutes: it is gone after its time."""
    bar.show("Cannot do that: stop O7 is locked on V3", seconds=0.2)
    assert bar.message.text().startswith("Cannot do that")
    qtbot.waitUntil(lambda: bar.message.text() == "", timeout=2000)
    assert bar.text == ""


def test_a_long_message_is_elided_to_its_room_and_kept_whole_in_the_tooltip(qtbot, bar):
    """A two-line, 400-character message is one elided line beside the fields; the tooltip
    has all of it."""
    long = "Someone else changed this route: " + "O2026-0001 " * 30 + "\nStored now: R-V3"
    bar.show(long)
    qtbot.wait(20)
    shown = bar.message.text()
    assert shown.endswith("…") and "\n" not in shown
    assert bar.message.fontMetrics().horizontalAdvance(shown) <= bar.message.width()
    assert "Stored now: R-V3" in bar.message.toolTip()
    assert bar.fields["user"].isVisible() and bar.fields["user"].text() == "dana · dispatcher"


def test_progress_stays_while_the_job_runs_and_goes_when_it_ends(qtbot, bar):
    """A "Re-planning: solving" is not left behind once the re-plan ends or is cancelled."""
    bar.show_progress("replan", "solving (ortools)")
    assert bar.text == "Re-planning: solving (ortools)"
    bar.job_ended("plan")  # another job: the message stays
    assert bar.text == "Re-planning: solving (ortools)"
    bar.job_ended("replan")
    assert bar.text == ""


def test_a_plans_progress_is_read_whole_at_1600_px_beside_every_field(qtbot):
    """At 1600 px with all nine fields filled, "Planning: 400 orders…" is not cut off."""
    window = QMainWindow()
    qtbot.addWidget(window)
    status = DeskStatusBar(window.statusBar(), window)
    for key, text in {
        "exceptions": "Open exceptions: 3",
        "proposals": "Pending proposals: 2",
        "routes": "Active routes: 24",
        "travel": "Travel times: road network (cached)",
        "broker": "Broker: connected · demo of mqtt://broker.example:1883",
        "database": "Database: dispatch.sqlite",
        "outbox": "Outbox: 0 pending",
        "user": "dana · dispatcher",
        "clock": "Sun 06 Dec 13:00:00",
    }.items():
        status.set_field(key, text)
    window.resize(1600, 900)
    window.show()
    qtbot.waitExposed(window)
    status.busy.show()
    progress = "400 orders, 24 vehicles: solving (ortools), best 1 234.5 km after 12 s"
    status.show_progress("plan", progress)
    qtbot.wait(20)
    status.fit()
    assert status.message.text() == f"Planning: {progress}"
    assert all(label.isVisible() for label in status.fields.values())
    window.close()
