"""The demo fleet driven in-process: the simulator's messages go through the live broker.

The live telemetry side never imports the simulator; the composition root starts a
:class:`SimulatorDriver` over the running ``TelemetryService`` for the demo depot, after
setting the day's clock to the simulated one (``demo_day_start``).

The fleet follows the route each vehicle was last sent. The contract is the retained
``fleet/{depot}/vehicle/{id}/route`` message the workstation publishes on release and on
every later change (the driver subscribes to it on the same broker and acknowledges each
version it takes, as a driver's app does). A vehicle that has never been sent one follows
the day's plan as the desk changes it — reassigned, re-planned, undone — handed over
in-process; orders added at the desk become known to the twin the same way.
"""

from __future__ import annotations

import contextlib
import logging
from collections import deque
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from PySide6.QtCore import QObject, QTimer

from app.day.state import ChangeSource, DayChanges, DayState
from app.simulator.core import Simulator
from app.simulator.dock_scans import DockScanner
from app.simulator.publisher import Publisher
from app.simulator.routes_in import (
    RouteMessageError,
    SentRoute,
    ack_message,
    parse_route_message,
    route_topic,
)
from app.telemetry.service import TelemetryService
from engine.model import DayInput, Plan

log = logging.getLogger(__name__)

#: Where the simulated demo day starts (depot clock): drivers have just left the depot.
DEMO_START = time(7, 30)


def demo_day_start(day: date, timezone: str) -> float:
    """Epoch seconds of the simulated day's start (07:30 at the depot)."""
    return datetime.combine(day, DEMO_START, ZoneInfo(timezone)).timestamp()


class SimulatorDriver(QObject):
    """Publishes a simulator's messages to the live service's broker, on its clock, and
    hands it the routes its vehicles are sent."""

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
        self._sent: deque[SentRoute] = deque()  # from the network thread, taken on the tick
        self._by_message: set[str] = set()  # vehicles that follow route messages
        self._handed: dict[str, int] = {}  # vehicle -> version handed over in-process
        self._state: DayState | None = None
        self.routes_followed = 0
        self.scanner: DockScanner | None = None  # the demo's dock scanners, if any

    def start(self) -> SimulatorDriver:
        """Map the simulated devices, connect to the broker, publish from the clock's now,
        and listen for the routes sent to the vehicles."""
        for key, vid in self.simulator.device_map().items():
            self.service.devices.set(key, vid)
        self._publisher = Publisher(self.service.url, qos=1).connect()
        topic = route_topic(self.simulator.depot_id)
        client = self._publisher.client
        client.on_message = self._on_message
        client.on_connect = lambda c, *_a: c.subscribe(topic, qos=1)  # and after reconnects
        client.subscribe(topic, qos=1)
        self.simulator.skip_to(self.service.clock())
        self._timer.start()
        return self

    def follow(self, state: DayState) -> None:
        """Hand the plan's routes to the vehicles that get no route messages, as the desk
        changes them (and tell the twin of orders added at the desk)."""
        self._state = state
        state.sig_changed.connect(self._on_state_changed)

    def stop(self) -> None:
        """Stop publishing (idempotent); before the live service stops."""
        self._timer.stop()
        if self._state is not None:
            with contextlib.suppress(RuntimeError, TypeError):  # already gone at exit
                self._state.sig_changed.disconnect(self._on_state_changed)
            self._state = None
        if self._publisher is not None:
            self._publisher.close()
            self._publisher = None

    # -- routes ------------------------------------------------------------------------
    def _on_message(self, _client, _userdata, message) -> None:
        """The network thread: parse and queue (the simulator is only touched on ticks)."""
        try:
            self._sent.append(parse_route_message(message.topic, message.payload))
        except RouteMessageError as exc:
            log.warning("twin: route message on %s refused: %s", message.topic, exc)

    def _take_sent_routes(self, now: float) -> None:
        sim, publisher = self.simulator, self._publisher
        while self._sent:
            sent = self._sent.popleft()
            sim.add_orders(sent.orders)
            self._by_message.add(sent.vehicle_id)
            if sim.set_route(sent.vehicle_id, sent.order_ids, sent.version,
                             route_id=sent.route_id, at=now, start=sent.start):  # fmt: skip
                self.routes_followed += 1
                log.info("twin: %s follows %s v%d (%d stops)", sent.vehicle_id,
                         sent.route_id, sent.version, len(sent.order_ids))  # fmt: skip
                if publisher is not None:
                    publisher.publish(*ack_message(sim.depot_id, sent, now))

    def _on_state_changed(self, changes: DayChanges) -> None:
        state = self._state
        if state is None or state.plan is None or changes.source is ChangeSource.TELEMETRY:
            return
        if state.index is not None and (changes.orders or changes.everything):
            self.simulator.add_orders(state.index.orders.values())
        if self.scanner is not None:
            self.scanner.set_plan(state.plan)
        now = self.service.clock()
        for route in state.plan.routes:
            vid = route.vehicle_id
            if vid in self._by_message or not (changes.everything or route.id in changes.routes):
                continue
            version = self._handed.get(vid, 0) + 1
            self._handed[vid] = version
            start = route.start.timestamp() if route.start else None
            if self.simulator.set_route(vid, route.order_ids, version, route_id=route.id,
                                        at=now, start=start):  # fmt: skip
                self.routes_followed += 1

    def _tick(self) -> None:
        publisher = self._publisher
        if publisher is None:
            return
        now = self.service.clock()
        self._take_sent_routes(now)
        for topic, payload in self.simulator.step(now):
            publisher.publish(topic, payload)
        if self.scanner is not None:
            for topic, payload in self.scanner.step(now):
                publisher.publish(topic, payload)


def drive_demo_fleet(
    service: TelemetryService, plan: Plan, day: DayInput, *, seed: int, speedup: float,
    state: DayState | None = None, parent: QObject | None = None, network=None,
    resumed: float | None = None,
) -> SimulatorDriver:  # fmt: skip
    """The demo depot's vans, simulated over ``plan`` and published through ``service``,
    following the routes they are sent (and, with ``state``, the desk's plan); the loads
    are scanned at the docks (:mod:`app.simulator.dock_scans`). ``resumed``: a restart
    carries on the stored day from then (epoch s); its messages get ids of their own, so
    none is taken for one stored before."""
    rate = min(1.0, 10.0 / max(speedup, 1.0))  # keep the broker's load moderate
    run_id = f"sim{seed}" if resumed is None else f"sim{seed}r{int(resumed)}"
    simulator = Simulator(plan, day, seed=seed, rate_hz=rate, network=network, run_id=run_id)
    driver = SimulatorDriver(service, simulator, parent=parent).start()
    docks = day.depots[0].docks if day.depots else ()
    if docks:  # the loads are scanned at the docks; the slowest dock is slower still
        slow = max(docks, key=lambda k: k.load_minutes_per_order)
        driver.scanner = DockScanner(plan.depot_id, slow_dock=slow.id)
        driver.scanner.set_plan(plan)
    if state is not None:
        driver.follow(state)
    zone = ZoneInfo(day.depots[0].timezone) if day.depots else None
    begin = datetime.fromtimestamp(service.clock(), zone)
    log.info("demo: simulating the fleet from %s at %gx", f"{begin:%H:%M}", speedup)
    return driver
