"""Telemetry ▸ Devices and rejects: which vehicle each tracker rides in, and what was refused.

Two tabs over the live telemetry service:

- **Devices** — the device table (OwnTracks ``user/device``, Traccar ``uniqueId``) with
  the devices heard from but not mapped yet; pick a vehicle and *Map*, or *Remove*. A
  change is stored and used from the next message on.
- **Rejected messages** — rejects counted per reason, and the last ones with their topic,
  reason, detail and the start of the payload; the trackers that restarted their sequence
  counter; and what the database did with the rest (rows written, rows it refused and set
  aside, rows let go while it was unreachable). Refreshed every second while shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)


class TelemetrySource(Protocol):
    """What the dialog needs of the telemetry service."""

    def device_table(self) -> dict[str, str]: ...
    def unmapped_devices(self) -> dict[str, tuple[str, float]]: ...
    def set_device(self, device_key: str, vehicle_id: str) -> None: ...
    def remove_device(self, device_key: str) -> None: ...
    def reject_counts(self) -> dict[str, int]: ...
    def last_rejects(self) -> list: ...
    def seq_resets(self) -> dict[str, tuple[int, float]]: ...
    def storage_status(self) -> dict: ...


def _table(parent: QWidget, headers: Sequence[str]) -> QTableWidget:
    table = QTableWidget(0, len(headers), parent)
    table.setHorizontalHeaderLabels(list(headers))
    table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
    table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setStretchLastSection(True)
    table.verticalHeader().setVisible(False)
    table.setWordWrap(False)
    return table


def _fill(table: QTableWidget, rows: Sequence[Sequence[str]]) -> None:
    table.setRowCount(len(rows))
    for r, values in enumerate(rows):
        for c, value in enumerate(values):
            item = QTableWidgetItem(value)
            item.setToolTip(value)  # long payloads and details in full
            table.setItem(r, c, item)


class TelemetryDialog(QDialog):
    """The device table and the rejected messages of the running workstation."""

    def __init__(
        self, source: TelemetrySource, vehicles: Sequence[str], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Telemetry: devices and rejected messages")
        self.resize(1000, 480)
        self.source = source
        tabs = QTabWidget(self)
        tabs.addTab(self._devices_tab(vehicles), "Devices")
        tabs.addTab(self._rejects_tab(), "Rejected messages")
        self.tabs = tabs
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(tabs)
        layout.addWidget(buttons)
        self._timer = QTimer(self)
        self._timer.setInterval(1000)
        self._timer.timeout.connect(self.refresh)
        self.refresh()

    # -- devices ------------------------------------------------------------------------
    def _devices_tab(self, vehicles: Sequence[str]) -> QWidget:
        tab = QWidget(self)
        self.devices = _table(tab, ["Device", "Vehicle", "Status"])
        self.devices.itemSelectionChanged.connect(self._on_device_selected)
        self.device_edit = QLineEdit(tab)
        self.device_edit.setPlaceholderText("OwnTracks user/device or Traccar uniqueId")
        self.vehicle_combo = QComboBox(tab)
        self.vehicle_combo.addItems(sorted(vehicles))
        self.map_button = QPushButton("Map", tab)
        self.map_button.clicked.connect(self._map)
        self.remove_button = QPushButton("Remove", tab)
        self.remove_button.clicked.connect(self._remove)
        self.device_message = QLabel(tab)
        self.device_message.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(QLabel("Device", tab))
        row.addWidget(self.device_edit, 2)
        row.addWidget(QLabel("rides in", tab))
        row.addWidget(self.vehicle_combo, 1)
        row.addWidget(self.map_button)
        row.addWidget(self.remove_button)
        layout = QVBoxLayout(tab)
        layout.addWidget(self.devices)
        layout.addLayout(row)
        layout.addWidget(self.device_message)
        return tab

    def _device_rows(self) -> list[tuple[str, str, str]]:
        rows = [(key, vid, "mapped") for key, vid in sorted(self.source.device_table().items())]
        for key, (fmt, heard) in sorted(self.source.unmapped_devices().items()):
            at = datetime.fromtimestamp(heard).strftime("%H:%M:%S")
            rows.append(
                (key, "", f"heard from ({fmt}, last {at}), not mapped: its fixes are refused")
            )
        return rows

    def _on_device_selected(self) -> None:
        items = self.devices.selectedItems()
        if not items:
            return
        row = items[0].row()
        self.device_edit.setText(self.devices.item(row, 0).text())
        vehicle = self.devices.item(row, 1).text()
        if vehicle:
            self.vehicle_combo.setCurrentText(vehicle)

    def _say(self, text: str, error: bool = False) -> None:
        self.device_message.setStyleSheet("color: #b00020;" if error else "")
        self.device_message.setText(text)

    def _map(self) -> None:
        key, vehicle = self.device_edit.text().strip(), self.vehicle_combo.currentText()
        if not key:
            self._say("Type a device key (OwnTracks user/device, Traccar uniqueId).", True)
            return
        try:
            self.source.set_device(key, vehicle)
        except ValueError as exc:
            self._say(f"Not mapped: {exc}", True)
            return
        self._say(f"{key} now rides in {vehicle}; its next fixes move that vehicle.")
        self.refresh()

    def _remove(self) -> None:
        key = self.device_edit.text().strip()
        if key not in self.source.device_table():
            self._say(f"{key or 'That device'} is not in the device table.", True)
            return
        self.source.remove_device(key)
        self._say(f"{key} removed; its messages are refused until it is mapped again.")
        self.refresh()

    # -- rejects ------------------------------------------------------------------------
    def _rejects_tab(self) -> QWidget:
        tab = QWidget(self)
        self.reject_summary = QLabel(tab)
        self.reject_summary.setWordWrap(True)
        self.restarts = QLabel(tab)
        self.restarts.setWordWrap(True)
        self.storage = QLabel(tab)
        self.storage.setWordWrap(True)
        self.rejects = _table(tab, ["Time", "Reason", "Topic", "Detail", "Payload"])
        layout = QVBoxLayout(tab)
        layout.addWidget(self.reject_summary)
        layout.addWidget(self.restarts)
        layout.addWidget(self.storage)
        layout.addWidget(self.rejects)
        return tab

    def _restarts_text(self) -> str:
        resets = self.source.seq_resets()
        if not resets:
            return ""
        worst = sorted(resets.items(), key=lambda kv: -kv[1][1])[:8]
        listed = ", ".join(
            f"{vid} ×{n} (last {datetime.fromtimestamp(at).strftime('%H:%M:%S')})"
            for vid, (n, at) in worst
        )
        more = f" and {len(resets) - len(worst)} more" if len(resets) > len(worst) else ""
        return f"Trackers that restarted their sequence counter (still heard): {listed}{more}."

    def _storage_text(self) -> tuple[str, bool]:
        status = self.source.storage_status()
        if not status:
            return "", False
        written = status["written"]
        text = (
            f"Stored: {written['breadcrumbs']:,} breadcrumbs, {written['events']:,} stop "
            f"events; {status['pending']:,} waiting."
        )
        trouble = False
        if status["refused"]:
            trouble = True
            last = status["last_refused"][-1]
            text += (
                f" The database refused {sum(status['refused'].values()):,} rows, set aside "
                f"so the others are written (last: {last.kind} {last.key}: {last.reason})."
            )
        if status["dropped"]:
            trouble = True
            text += (
                f" {status['dropped']:,} breadcrumbs/events let go, oldest first, while the "
                "database was unreachable."
            )
        return text, trouble

    def refresh(self) -> None:
        """Re-read the device table and the rejects (every second while shown)."""
        selected = self.device_edit.text()
        _fill(self.devices, self._device_rows())
        self.device_edit.setText(selected)
        counts = {k: v for k, v in self.source.reject_counts().items() if v}
        self.reject_summary.setText(
            "Refused so far: "
            + ", ".join(f"{reason.replace('_', ' ')} {n}" for reason, n in sorted(counts.items()))
            if counts
            else "No message refused so far."
        )
        self.restarts.setText(self._restarts_text())
        self.restarts.setVisible(bool(self.restarts.text()))
        storage, trouble = self._storage_text()
        self.storage.setText(storage)
        self.storage.setStyleSheet("color: #b00020;" if trouble else "")
        recent = list(reversed(self.source.last_rejects()))  # newest first
        _fill(
            self.rejects,
            [
                (
                    datetime.fromtimestamp(r.at).strftime("%H:%M:%S"),
                    r.reason,
                    r.topic,
                    r.detail,
                    r.excerpt,
                )
                for r in recent
            ],
        )

    def showEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        self._timer.start()

    def hideEvent(self, event) -> None:  # noqa: N802 (Qt name)
        self._timer.stop()
        super().hideEvent(event)
