"""The workstation's telemetry, assembled: broker, client, ingest, live feed, writer, monitor.

``TelemetryService(settings, store)`` builds everything from a settings snapshot: the
embedded broker when no ``mqtt_url`` is set, the persistent-session client, the decoder
with the device table from the store, the Qt drain timer, the batched writer. ``watch()``
adds live ETAs and exception rules over a plan, evaluated every second on a worker thread
from a snapshot of the live state (the main thread never waits for it); results come back
as signals. The clock (epoch seconds) is the day's: the demo's simulated one, shared with
the decoder and the rules, is handed in (``app.day.clock.DayClock``).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, QTimer, Signal

from app.telemetry.decode import Decoder, DeviceMap, ServiceArea
from app.telemetry.ingest import Ingest
from app.telemetry.live import LiveFeed
from app.telemetry.monitor import LiveMonitor, MonitorResult
from app.telemetry.mqtt_client import MqttConfig, TelemetryClient
from engine.model import Driver, Location, Order, Plan, Vehicle

if TYPE_CHECKING:
    from app.telemetry.broker import EmbeddedBroker

log = logging.getLogger(__name__)

SERVICE_MARGIN_M = 25_000.0  # the service area reaches this far past the farthest stop


class TelemetryService(QObject):
    """Live telemetry for one depot, ready for the window to connect to."""

    sig_etas_updated = Signal(object)  # MonitorResult
    sig_results = Signal(object, object)  # MonitorResult, what ``prepare`` made of it (or None)
    sig_exceptions_changed = Signal(object)  # engine.rules.ExceptionChanges

    def __init__(
        self,
        settings,
        store=None,
        *,
        depot_id: str = "",
        vehicles: Iterable[str] | None = None,
        clock: Callable[[], float] = time.time,
        eval_interval_ms: int = 1000,
        broker_url: str = "",
        protocol: str = "",
        client_id: str = "",
        keep_session: bool = True,
        parent: QObject | None = None,
    ) -> None:
        """``broker_url`` (with its ``protocol``): listen to that broker instead of the
        configured one or an embedded one of its own (another desk's demo broker);
        ``client_id``: the MQTT client id, when the workstation's own would clash;
        ``keep_session``: False when the broker should keep no session while away."""
        super().__init__(parent)
        self.settings = settings
        self.store = store
        self.clock = clock
        devices: dict[str, str] = {}
        if store is not None:
            from app.telemetry.persist import load_device_map

            with store.read_session() as session:
                devices = load_device_map(session)
        self.devices = DeviceMap(devices, vehicles)
        # The depot whose topics are heard: the one the workstation runs, never "every depot".
        self.depot_id = depot_id or settings.depot_id
        if not self.depot_id:
            raise ValueError(
                "live telemetry needs the depot this workstation runs: it subscribes to that "
                "depot's topics only (set DISPATCH_DEPOT_ID, or load a depot first)"
            )
        self.decoder = Decoder(self.devices, depot_id=self.depot_id, clock=self._now)
        self.ingest = Ingest(self.decoder)
        self.writer = None
        if store is not None:
            from app.telemetry.persist import TelemetryWriter

            self.writer = TelemetryWriter(store)
        self.feed = LiveFeed(self.ingest, writer=self.writer, parent=self)
        self.broker: EmbeddedBroker | None = None
        self.client: TelemetryClient | None = None
        self.url = broker_url or settings.mqtt_url
        self.protocol = protocol if broker_url else ""
        self.client_id = client_id
        self.keep_session = keep_session
        self.monitor: LiveMonitor | None = None
        self._results: deque[tuple[MonitorResult, object]] = deque()
        #: Called on the evaluation thread with each result before it is delivered (the
        #: window's views of it: thousands of ETAs, made there and not on the main thread);
        #: what it returns goes out with the result on ``sig_results``.
        self.prepare: Callable[[MonitorResult], object] | None = None
        self._evaluating = threading.Event()
        self._passes: queue.SimpleQueue = queue.SimpleQueue()  # to the evaluation thread
        self._worker: threading.Thread | None = None
        #: Evaluation passes so far and the CPU time their thread spent in them (with the
        #: hooks): it competes with the main thread for the interpreter lock.
        self.eval_passes = 0
        self.eval_cpu_s = 0.0
        # Called on the evaluation thread after each pass: (monitor, result, snapshot, now).
        self.evaluation_hooks: list[
            Callable[[LiveMonitor, MonitorResult, object, float], None]
        ] = []
        self._eval_timer = QTimer(self)
        self._eval_timer.setInterval(eval_interval_ms)
        self._eval_timer.timeout.connect(self._evaluate_async)
        # Queued: the window's own reactions to a drain (vehicles to the map) come first;
        # the ETA results follow in the next turn of the event loop.
        self.feed.sig_fixes_applied.connect(
            self._deliver_results, Qt.ConnectionType.QueuedConnection
        )

    def _now(self) -> float:
        return self.clock()

    def start(self) -> None:
        """Start the broker (embedded default), the writer, the client and the drain timer."""
        protocol = self.protocol or "5"
        if not self.url:
            from app.settings import user_data_dir
            from app.telemetry.broker import EmbeddedBroker

            broker = EmbeddedBroker(state_dir=user_data_dir() / "broker").start()
            self.broker = broker
            self.url, protocol = broker.url, "3.1.1"
        if self.writer is not None:
            self.writer.start()
        overrides: dict = {"client_id": self.client_id} if self.client_id else {}
        if not self.keep_session:
            overrides["keep_session"] = False
        config = MqttConfig.from_settings(
            self.settings, url=self.url, protocol=protocol, depot_id=self.depot_id, **overrides
        )
        self.client = TelemetryClient(config, self.ingest)
        self.client.start()
        self.feed.start()
        self._eval_timer.start()

    def stop(self) -> None:
        """Stop everything in reverse order; pending telemetry is written first."""
        self._eval_timer.stop()
        if self._worker is not None:  # the evaluation thread ends after its pass
            self._passes.put(None)
            self._worker = None
        self.feed.stop()
        self.feed.drain()
        if self.client is not None:
            self.client.stop()
        if self.writer is not None:
            self.writer.stop()
        if self.broker is not None:
            self.broker.stop()

    # -- the device table and the rejects, for the user ------------------------------
    def set_device(self, device_key: str, vehicle_id: str) -> None:
        """Map a tracker device to a vehicle: stored, and used from the next message on.
        Raises ValueError (with what was wrong) for an empty key or an unknown vehicle."""
        device_key = device_key.strip()
        if not device_key:
            raise ValueError("device key must not be empty")
        if self.store is not None:
            from app.telemetry.persist import save_device

            with self.store.session() as session:
                save_device(session, device_key, vehicle_id)
        self.devices.set(device_key, vehicle_id)

    def remove_device(self, device_key: str) -> None:
        """Unmap a tracker device (its messages are rejected as unknown from now on)."""
        if self.store is not None:
            from app.telemetry.persist import remove_device

            with self.store.session() as session:
                remove_device(session, device_key)
        self.devices.remove(device_key)

    def device_table(self) -> dict[str, str]:
        """Device key -> vehicle id, as the decoder uses it now."""
        return self.devices.devices

    def unmapped_devices(self) -> dict[str, tuple[str, float]]:
        """Devices heard from but not mapped: key -> (format, epoch s last heard)."""
        return self.decoder.unmapped_devices()

    def reject_counts(self) -> dict[str, int]:
        return self.ingest.reject_counts()

    def last_rejects(self) -> list:
        """The most recent refused messages, oldest first (RejectRecord)."""
        return self.ingest.last_rejects()

    def seq_resets(self) -> dict[str, tuple[int, float]]:
        """Trackers that restarted their sequence: vehicle -> (count, epoch s of the last)."""
        return self.decoder.seq_resets()

    def storage_status(self) -> dict:
        """What the telemetry writer did: rows written, rows the database refused (by
        reason, and the last ones), rows let go while it was unreachable."""
        writer = self.writer
        if writer is None:
            return {}
        return {
            "written": dict(writer.written),
            "pending": writer.pending(),
            "refused": dict(writer.refused),
            "last_refused": list(writer.last_refused),
            "dropped": writer.dropped,
            "stalls": writer.stalls,
        }

    # -- ETAs and exceptions --------------------------------------------------------
    def watch(
        self,
        plan: Plan,
        orders: Sequence[Order] | Mapping[str, Order],
        *,
        depot: Location | None = None,
        fleet: Mapping[str, Vehicle] | None = None,
        travel=None,
        timezone: str = "",
        drivers: Mapping[str, Driver] | None = None,
    ) -> None:
        """Evaluate ETAs and exception rules over ``plan`` from now on (replaces the last);
        times in exception texts read on ``timezone``'s clock (the depot's); the ETAs hold
        the breaks of the routes' ``drivers`` (by id).

        The plan also tells the decoder which vehicle may report on which stop, and (with
        the depot) the service area a vehicle's first fix must fall in."""
        self.decoder.set_routes([(r.vehicle_id, r.order_ids) for r in plan.routes])
        if depot is not None:
            points = orders.values() if isinstance(orders, Mapping) else orders
            radius_km = self.settings.service_radius_km
            self.decoder.service_area = ServiceArea.around(
                (depot.lat, depot.lon),
                [] if radius_km else [(o.location.lat, o.location.lon) for o in points],
                radius_km * 1000 if radius_km else SERVICE_MARGIN_M,
            )
        tracker = self.monitor.tracker if self.monitor is not None else None
        self.monitor = LiveMonitor(
            plan,
            orders,
            depot=depot,
            fleet=fleet,
            travel=travel,
            timezone=timezone,
            drivers=drivers,
        )
        if tracker is not None:
            self.monitor.tracker = tracker  # open exceptions carry over a re-plan

    def _evaluate_async(self) -> None:
        self._deliver_results()
        monitor = self.monitor
        if monitor is None or self._evaluating.is_set():
            return
        self._evaluating.set()
        snapshot, now = self.feed.state.snapshot(), self._now()
        if self._worker is None:
            # One thread for every pass: starting a thread waits until it runs, which on a
            # busy machine held the main thread for hundreds of milliseconds each second.
            self._worker = threading.Thread(target=self._work, name="live-monitor", daemon=True)
            self._worker.start()
        self._passes.put((monitor, snapshot, now))
        QTimer.singleShot(50, self._deliver_results)

    def _work(self) -> None:
        """The evaluation thread: one pass per (monitor, snapshot, now) put; None ends it."""
        while (job := self._passes.get()) is not None:
            monitor, snapshot, now = job
            cpu = time.thread_time()
            try:
                result = monitor.evaluate(snapshot, now)
                self._store_exception_changes(result)  # here, never on the main thread
                self._results.append((result, self._prepared(result)))
                for hook in self.evaluation_hooks:
                    hook(monitor, result, snapshot, now)
            except Exception:
                log.exception("live ETA/exception evaluation failed")
            finally:
                self.eval_passes += 1
                self.eval_cpu_s += time.thread_time() - cpu
                self._evaluating.clear()

    def _prepared(self, result: MonitorResult) -> object:
        """What ``prepare`` makes of ``result`` (None when there is none or it failed: the
        result and its exception changes are delivered all the same)."""
        if self.prepare is None:
            return None
        try:
            return self.prepare(result)
        except Exception:
            log.exception("live ETAs not prepared off the main thread")
            return None

    def _store_exception_changes(self, result: MonitorResult) -> None:
        if self.store is None or not result.changes:
            return
        from app.telemetry.persist import save_exception_changes

        try:
            with self.store.session() as session:
                save_exception_changes(session, result.changes)
        except Exception:
            log.exception("could not store exception changes")

    def _deliver_results(self, *_args) -> None:
        while self._results:
            result, prepared = self._results.popleft()
            self.sig_etas_updated.emit(result)
            self.sig_results.emit(result, prepared)
            if result.changes:
                self.sig_exceptions_changed.emit(result.changes)
