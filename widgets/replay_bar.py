"""Replay in the window: a recorded day opened read-only, played at 1-60x with a time
slider, 1/5/10-minute steps, and a list to jump to any exception, command or rule firing.

``open_replay(window, path)`` turns a window (whose context has not started a live day)
into the recording's viewer: commands are switched off, the replay bar is added, and map,
timeline, exceptions, rules and status bar show the day as it was at the moment chosen.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QComboBox, QLabel, QPushButton, QSlider, QToolBar, QWidget

from app.jobs.runner import JobRunner
from app.recorder.player import SPEEDS, ReplayPlayer
from app.recorder.replay import DayReplay


class ReplayBar(QToolBar):
    """Play/pause, speed, steps, the time slider and the jump list."""

    def __init__(self, player: ReplayPlayer, parent: QWidget | None = None):
        super().__init__("Replay", parent)
        self.setObjectName("toolbar_replay")
        self.player = player
        replay = player.replay
        self.play_button = QPushButton("▶ Play", self)
        self.play_button.setObjectName("replay_play")
        self.play_button.clicked.connect(self._toggle)
        self.speed = QComboBox(self)
        for s in SPEEDS:
            self.speed.addItem(f"{s}×", s)
        self.speed.setCurrentIndex(self.speed.findData(player.speed))
        self.speed.currentIndexChanged.connect(
            lambda _i: player.set_speed(self.speed.currentData())
        )
        self.addWidget(self.play_button)
        self.addWidget(self.speed)
        self.steps: dict[int, QAction] = {}
        for minutes in (-10, -5, -1, 1, 5, 10):
            action = self.steps[minutes] = QAction(f"{minutes:+d} min", self)
            action.triggered.connect(lambda _c=False, m=minutes: player.step(m))
            self.addAction(action)
        self.slider = QSlider(Qt.Orientation.Horizontal, self)
        self.slider.setObjectName("replay_slider")
        self.slider.setRange(0, max(1, int((replay.end - replay.start) // 60)))
        self.slider.setMinimumWidth(420)
        self.slider.sliderMoved.connect(self._on_slider)
        self.slider.valueChanged.connect(self._on_slider_value)
        self.addWidget(self.slider)
        self.clock = QLabel(self)
        self.clock.setObjectName("replay_clock")
        self.addWidget(self.clock)
        self.jump = QComboBox(self)
        self.jump.setObjectName("replay_jump")
        self.jump.setMinimumWidth(360)
        self.jump.addItem("Jump to…", None)
        for m in replay.marks:
            self.jump.addItem(f"{replay.local(m.t):%H:%M} {m.kind}: {m.text[:80]}", m.t)
        self.jump.activated.connect(self._on_jump)
        self.addWidget(self.jump)
        self._following = False
        player.sig_moment.connect(self._on_moment)
        player.sig_playing.connect(
            lambda on: self.play_button.setText("❚❚ Pause" if on else "▶ Play")
        )

    def _toggle(self) -> None:
        self.player.pause() if self.player.playing else self.player.play()

    def _on_slider(self, minute: int) -> None:
        self.player.seek(self.player.replay.start + minute * 60)

    def _on_slider_value(self, minute: int) -> None:
        if not self._following and not self.slider.isSliderDown():
            self.player.seek(self.player.replay.start + minute * 60)

    def _on_jump(self, index: int) -> None:
        t = self.jump.itemData(index)
        if t is not None:
            self.player.seek(float(t))
        self.jump.setCurrentIndex(0)

    def _on_moment(self, moment) -> None:
        replay = self.player.replay
        self._following = True
        self.slider.setValue(int((moment.t - replay.start) // 60))
        self._following = False
        self.clock.setText(
            f"{replay.local(moment.t):%H:%M:%S} · plan v{moment.plan_version} · "
            f"{moment.marks_before}/{len(replay.marks)} marks"
        )


def open_replay(window, path: str | Path) -> ReplayPlayer:
    """Show a recorded day in ``window`` (see the module); the player it drives."""
    replay = DayReplay.open(path)
    window.context.draw_streets()
    player = ReplayPlayer(window.context, replay, window)
    for runner in window.findChildren(JobRunner):  # the KPI desk's, the rules desk's...
        player.hold_also(runner)
    window.read_only = True
    for action in (window.plan_action, window.replan_action, window.undo_action,
                   window.redo_action):  # fmt: skip
        action.setEnabled(False)
    window.timeline_pane.set_drag_allowed(False, "A recorded day is read-only")
    window.map_pane.set_drag_allowed(False)
    window.map_pane.keep_earlier_states()  # its jumps show the same states of routes again
    window.timeline_pane.keep_earlier_states()
    for name in ("ack", "replan", "reassign", "resolve"):
        window.exceptions_pane.set_action_allowed(name, False, "A recorded day is read-only")
    desk = getattr(window, "rules_desk", None)
    if desk is not None:
        desk.pane.set_supervisor(False)
        desk.pause_action.setEnabled(False)
    kpis = getattr(window, "kpi_desk", None)
    if kpis is not None:  # the KPI pane shows the recorded day's (final) KPIs
        kpis.set_recorded(path)
    bar = ReplayBar(player, window)
    window.addToolBarBreak()
    window.addToolBar(bar)
    window.replay_bar = bar
    depot = replay.day.depot(replay.depot_id)
    title = f"Replay — {depot.name} — {replay.day.day:%a %d %b %Y} (read-only)"
    # After the window's own reaction to a new plan version (which names the live day).
    window.context.state.sig_changed.connect(lambda _changes: window.setWindowTitle(title))
    window.setWindowTitle(title)

    def drop_vehicles_not_yet_there(moment) -> None:
        gone = set(window.map_pane._positions) - set(moment.positions)
        if gone:
            window.map_pane.remove_vehicles(gone)

    player.sig_moment.connect(drop_vehicles_not_yet_there)
    player.seek(replay.start)
    # The day's millions of fixes, plan versions and exceptions live as long as the window:
    # frozen out of the collector's walk, a full pass no longer stalls a jump for a third
    # of a second (and the window keeps its collector pauses short from now on).
    window.context.keep_heap_settled()
    window.context.heap.settle()
    return player
