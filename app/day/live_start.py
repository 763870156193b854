"""Starting the live day: telemetry over the plan and, on a simulated depot, its fleet."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject

from app.day.clock import DayClock
from app.day.opening import is_demo_depot
from app.day.state import DayState
from app.settings import Settings
from app.telemetry.session import LiveSession
from engine.model import Plan

if TYPE_CHECKING:  # the simulator loads only when a simulated fleet drives
    from app.simulator.driver import SimulatorDriver
    from engine.roads import StreetNetwork

log = logging.getLogger(__name__)


def simulates(settings: Settings, depot_id: str) -> bool:
    """The built-in simulated fleet drives this depot (no broker configured)."""
    chosen = {d.strip() for d in settings.simulate_depots.split(",")}
    return (
        settings.simulate
        and not settings.mqtt_url
        and (is_demo_depot(settings, depot_id) or depot_id in chosen)
    )


def start_live(
    settings: Settings, live: LiveSession, state: DayState, clock: DayClock, plan: Plan, *,
    on_broker: Callable[[str, str], None], status: Callable[[str], None], network=None,
    parent: QObject | None = None,
) -> SimulatorDriver | None:  # fmt: skip
    """Telemetry, ETAs and exceptions over ``plan`` (only watched when already running);
    the demo's simulated fleet too, which is returned. ``on_broker(url, protocol)`` once
    the broker is connected; a failure is logged and told to ``status`` (the day still
    works without live data)."""
    if live.service is not None:
        live.watch(plan)
        return None
    index = state.index
    demo = index is not None and simulates(settings, index.depot.id)
    if demo and index is not None:
        from app.simulator.driver import demo_day_start

        clock.simulate(demo_day_start(index.day.day, index.depot.timezone), settings.demo_speedup)
    try:
        live.start(plan)
        service = live.service
        if service is not None and service.client is not None:
            on_broker(service.url, service.client.config.protocol)
        if demo and index is not None and live.service is not None:
            from app.simulator.driver import drive_demo_fleet

            return drive_demo_fleet(
                live.service, plan, index.day, seed=settings.demo_seed,
                speedup=settings.demo_speedup, state=state, parent=parent, network=network,
            )  # fmt: skip
    except Exception as exc:
        log.exception("live telemetry could not start")
        status(f"Live telemetry is off: {exc}")
    return None


class LiveStart(QObject):
    """Starts the live day once a plan is shown (:func:`start_live`), keeps the simulated
    fleet it drives, and holds steps back until the window has painted the day."""

    def __init__(
        self, settings: Settings, live: LiveSession, state: DayState, clock: DayClock, *,
        on_broker: Callable[[str, str], None], status: Callable[[str], None],
        parent: QObject | None = None,
    ):  # fmt: skip
        super().__init__(parent)
        self.settings, self.live, self.state, self.clock = settings, live, state, clock
        self._on_broker, self._status = on_broker, status
        self.network: StreetNetwork | None = None  # the open depot's, for the simulated vans
        self.fleet: SimulatorDriver | None = None  # the demo depot's simulated vans
        self._held: list[Callable[[], None]] = []
        self._stopped = False

    def start(self, plan: Plan) -> None:
        """Telemetry, ETAs and exceptions over the plan; the demo's simulated fleet too."""
        fleet = start_live(
            self.settings, self.live, self.state, self.clock, plan, on_broker=self._on_broker,
            status=self._status, network=self.network, parent=self.parent(),
        )  # fmt: skip
        self.fleet = fleet or self.fleet

    def hold(self, steps: list[Callable[[], None]]) -> None:
        """Run ``steps`` at :meth:`release` (once), not now."""
        self._held = steps

    @property
    def pending(self) -> bool:
        """Steps are held back until :meth:`release`."""
        return bool(self._held)

    def release(self) -> None:
        """Run the held steps (once; not after :meth:`stop`)."""
        steps, self._held = self._held, []
        if not self._stopped:
            for step in steps:
                step()

    def stop(self) -> None:
        """The simulated fleet stops; held steps never run."""
        self._stopped = True
        if self.fleet is not None:
            self.fleet.stop()
