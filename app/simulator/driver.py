"""The demo fleet driven in-process: the simulator's messages go through the live broker.

The live telemetry side never imports the simulator; the composition root starts a
:class:`SimulatorDriver` over the running ``TelemetryService`` for the demo depot, after
setting the day's clock to the simulated one (``demo_day_start``).
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from PySide6.QtCore import QObject, QTimer

from app.simulator.core import Simulator
from app.simulator.publisher import Publisher
from app.telemetry.service import TelemetryService
from engine.model import DayInput, Plan

log = logging.getLogger(__name__)

#: Where the simulated demo day starts (depot clock): drivers have just left the depot.
DEMO_START = time(7, 30)


def demo_day_start(day: date, timezone: str) -> float:
    """Epoch seconds of the simulated day's start (07:30 at the depot)."""
    return datetime.combine(day, DEMO_START, ZoneInfo(timezone)).timestamp()


class SimulatorDriver(QObject):
    """Publishes a simulator's messages to the live service's broker, on its clock."""

    def __init__(
        self,
        service: TelemetryService,
        simulator: Simulator,
        *,
        interval_ms: int = 200,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.service, self.simulator = service, simulator
        self._publisher: Publisher | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)

    def start(self) -> SimulatorDriver:
        """Map the simulated devices, connect to the broker, publish from the clock's now."""
        for key, vid in self.simulator.device_map().items():
            self.service.devices.set(key, vid)
        self._publisher = Publisher(self.service.url, qos=1).connect()
        self.simulator.skip_to(self.service.clock())
        self._timer.start()
        return self

    def stop(self) -> None:
        """Stop publishing (idempotent); before the live service stops."""
        self._timer.stop()
        if self._publisher is not None:
            self._publisher.close()
            self._publisher = None

    def _tick(self) -> None:
        publisher = self._publisher
        if publisher is None:
            return
        for topic, payload in self.simulator.step(self.service.clock()):
            publisher.publish(topic, payload)


def drive_demo_fleet(
    service: TelemetryService, plan: Plan, day: DayInput, *, seed: int, speedup: float,
    parent: QObject | None = None,
) -> SimulatorDriver:  # fmt: skip
    """The demo depot's vans, simulated over ``plan`` and published through ``service``."""
    rate = min(1.0, 10.0 / max(speedup, 1.0))  # keep the broker's load moderate
    driver = SimulatorDriver(
        service, Simulator(plan, day, seed=seed, rate_hz=rate), parent=parent
    ).start()
    log.info("demo: simulating the fleet from %s at %gx", DEMO_START.strftime("%H:%M"), speedup)
    return driver
