"""From the MQTT network thread to the consumer: decode, count, queue, drain, coalesce.

``Ingest.on_message`` runs in paho's network thread: it decodes and validates the message
(:class:`~app.telemetry.decode.Decoder`), counts rejects per reason, keeps the last ones
for the user to inspect, and puts accepted fixes and events on a bounded queue. When the
queue is full the network thread waits for the consumer (the broker then holds QoS 1
messages) instead of dropping anything. ``drain`` hands the consumer one batch, with the
newest live fix per vehicle picked out so a burst costs one model update.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field

from app.telemetry.decode import Decoder
from app.telemetry.messages import REJECT_REASONS, Fix, Reject, StopEvent

EXCERPT_BYTES = 160


@dataclass(frozen=True, slots=True)
class RejectRecord:
    """One refused message, for the "last rejects" view."""

    at: float
    topic: str
    excerpt: str
    reason: str
    detail: str


@dataclass(frozen=True)
class Batch:
    """What one drain returns: every fix (for breadcrumbs), the newest live fix per
    vehicle (for markers), the events, and connection changes, in arrival order."""

    fixes: list[Fix] = field(default_factory=list)
    latest: dict[str, Fix] = field(default_factory=dict)
    events: list[StopEvent] = field(default_factory=list)
    connection: list[tuple[str, str]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.fixes or self.events or self.connection)


class Ingest:
    """The bounded hand-over between the network thread and the consumer."""

    def __init__(self, decoder: Decoder, *, maxsize: int = 200_000, keep_rejects: int = 200):
        self.decoder = decoder
        self.maxsize = maxsize
        self._queue: deque[Fix | StopEvent] = deque()
        self._space = threading.Condition()
        self._closed = False
        self._lock = threading.Lock()
        self._rejects: Counter[str] = Counter()
        self._last_rejects: deque[RejectRecord] = deque(maxlen=keep_rejects)
        self._connection: deque[tuple[str, str]] = deque()
        self.received = 0
        self.accepted = 0
        self.waits = 0

    # -- network thread -------------------------------------------------------------
    def on_message(self, topic: str, payload: bytes) -> None:
        """Decode one message and queue it (or count its rejection). Never raises."""
        self.received += 1
        result = self.decoder.decode(topic, payload)
        if type(result) is Reject:
            self._reject(topic, payload, result)
            return
        if len(self._queue) >= self.maxsize:
            self._wait_for_space()
        self._queue.append(result)
        self.accepted += 1

    def on_connection(self, state: str, detail: str = "") -> None:
        """Record a connection state change (any thread); the next drain reports it."""
        self._connection.append((state, detail))

    def _reject(self, topic: str, payload: bytes, reject: Reject) -> None:
        excerpt = bytes(payload[:EXCERPT_BYTES]).decode("utf-8", "replace")
        record = RejectRecord(time.time(), topic, excerpt, reject.reason, reject.detail)
        with self._lock:
            self._rejects[reject.reason] += 1
            self._last_rejects.append(record)

    def _wait_for_space(self) -> None:
        self.waits += 1
        with self._space:
            while len(self._queue) >= self.maxsize and not self._closed:
                self._space.wait(0.05)

    # -- consumer -------------------------------------------------------------------
    def drain(self, max_items: int = 100_000) -> Batch:
        """Take up to ``max_items`` queued results as one coalesced batch."""
        queue = self._queue
        n = min(len(queue), max_items)
        fixes: list[Fix] = []
        events: list[StopEvent] = []
        latest: dict[str, Fix] = {}
        popleft = queue.popleft
        for _ in range(n):
            item = popleft()
            if type(item) is Fix:
                fixes.append(item)
                if item.live:
                    prev = latest.get(item.vehicle_id)
                    if prev is None or item.ts >= prev.ts:
                        latest[item.vehicle_id] = item
            else:
                events.append(item)
        if n:
            with self._space:
                self._space.notify_all()
        connection = []
        while self._connection:
            connection.append(self._connection.popleft())
        return Batch(fixes, latest, events, connection)

    def pending(self) -> int:
        return len(self._queue)

    def close(self) -> None:
        """Release a network thread waiting for space (on shutdown)."""
        with self._space:
            self._closed = True
            self._space.notify_all()

    # -- inspection -----------------------------------------------------------------
    def reject_counts(self) -> dict[str, int]:
        """Rejects per reason (every known reason present, zero when none)."""
        with self._lock:
            counts = dict.fromkeys(REJECT_REASONS, 0)
            counts.update(self._rejects)
            return counts

    @property
    def rejected(self) -> int:
        with self._lock:
            return sum(self._rejects.values())

    def last_rejects(self) -> list[RejectRecord]:
        """The most recent refused messages, oldest first."""
        with self._lock:
            return list(self._last_rejects)
