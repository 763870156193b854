"""The window's status bar: who is signed in, the broker, the database, the outbox, open
exceptions, pending proposals, active routes and the clock, plus one message line that
expires and fits.

A message has a line of its own above the fields, as wide as the window, so a job's progress
or a notice is read whole; a longer one is elided to that line (the whole text is its
tooltip). A message goes away after its time; a job's progress stays while the job runs
and goes when it ends.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QSizePolicy,
    QStatusBar,
    QVBoxLayout,
    QWidget,
)

from app.secrets import redact_url

#: How long a message stays (seconds), by kind.
INFO_S = 8.0
ERROR_S = 15.0

_JOB_NAMES = {"plan": "Planning", "replan": "Re-planning"}


class DeskStatusBar:
    """Fields and the message line of the main window's ``QStatusBar``."""

    def __init__(self, bar: QStatusBar, parent: QWidget) -> None:
        self.bar = bar
        # Two lines: the message over the whole width, the fields under it on the right.
        self.area = QWidget(parent)
        self.area.setObjectName("status_area")
        lines = QVBoxLayout(self.area)
        lines.setContentsMargins(0, 0, 0, 0)
        lines.setSpacing(0)
        self.message = QLabel(self.area)
        self.message.setObjectName("status_message")
        self.message.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.message.setTextFormat(Qt.TextFormat.PlainText)
        lines.addWidget(self.message)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(12)
        row.addStretch(1)
        lines.addLayout(row)
        bar.addWidget(self.area, 1)
        self.fields: dict[str, QLabel] = {}
        self.busy = QProgressBar(self.area)
        self.busy.setMaximumWidth(140)
        self.busy.setRange(0, 0)
        self.busy.hide()
        row.addWidget(self.busy)
        for key in ("exceptions", "proposals", "routes", "travel", "broker", "database", "outbox",
                    "user", "clock"):  # fmt: skip
            label = QLabel(self.area)
            label.setObjectName(f"status_{key}")
            row.addWidget(label)
            self.fields[key] = label
        self._text = ""
        self._job: str | None = None  # the job whose progress the message shows
        self._expiry = QTimer(parent)
        self._expiry.setSingleShot(True)
        self._expiry.timeout.connect(self.clear)

    # -- the message line ------------------------------------------------------------------
    @property
    def text(self) -> str:
        """The message shown now, in full ("" when none)."""
        return self._text

    def show(self, text: str, seconds: float = INFO_S) -> None:
        """Show a message for ``seconds`` (0: until replaced or cleared)."""
        self._job = None
        self._set(text, seconds)

    def show_error(self, text: str) -> None:
        self.show(text, ERROR_S)

    def show_progress(self, kind: str, payload: object) -> None:
        """A background job's progress: stays until the job ends (see ``job_ended``)."""
        self._set(f"{_JOB_NAMES.get(kind, kind.capitalize())}: {payload}", 0)
        self._job = kind

    def job_ended(self, kind: str) -> None:
        if self._job == kind:
            self.clear()

    def clear(self) -> None:
        self._expiry.stop()
        self._job = None
        self._text = ""
        self.message.clear()
        self.message.setToolTip("")

    def _set(self, text: str, seconds: float) -> None:
        text = redact_url(str(text))  # no password of a URL in an error, ever
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        self._text = " ".join(lines)
        self.message.setToolTip("\n".join(lines) if len(self._text) > 60 or len(lines) > 1 else "")
        self.fit()
        if seconds > 0:
            self._expiry.start(int(seconds * 1000))
        else:
            self._expiry.stop()

    def fit(self) -> None:
        """Elide the message to its room (call after the window or a field resized)."""
        width = max(self.message.width() - 8, 40)
        metrics = self.message.fontMetrics()
        self.message.setText(metrics.elidedText(self._text, Qt.TextElideMode.ElideRight, width))

    # -- the fields ------------------------------------------------------------------------
    def set_field(self, key: str, text: str, alert: bool = False, tooltip: str = "") -> None:
        label = self.fields[key]
        if label.text() != text:
            label.setText(text)
        style = "color: #c62828;" if alert else ""
        if label.styleSheet() != style:
            label.setStyleSheet(style)
        if tooltip and label.toolTip() != tooltip:
            label.setToolTip(tooltip)
