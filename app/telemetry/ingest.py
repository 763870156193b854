"""From the MQTT network thread to the consumer: decode, count, queue, drain, coalesce.

``Ingest.on_message`` runs in paho's network thread: it buffers the message, and every
couple of hundred messages decodes and validates the buffer as one batch
(:class:`~app.telemetry.decode.Decoder`), counts rejects per reason, keeps the last ones
for the user to inspect, and puts accepted fixes and events on a bounded queue. When the
queue is full the network thread waits for the consumer (the broker then holds QoS 1
messages) instead of dropping anything. ``drain`` hands the consumer one batch, with the
newest live fix per vehicle found in the same pass that applies it, so a burst costs one
model update.
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
    """What one drain returns: every fix (for breadcrumbs), the events, and connection
    changes, in arrival order. The newest fix per vehicle is the live state's to hold
    (``LiveState.apply``)."""

    fixes: list[Fix] = field(default_factory=list)
    events: list[StopEvent] = field(default_factory=list)
    connection: list[tuple[str, str]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.fixes or self.events or self.connection)


class Ingest:
    """The bounded hand-over between the network thread and the consumer.

    ``on_message`` only buffers; the network thread decodes the buffer as one batch when
    it holds ``batch_size`` messages, and every reader (``drain``, the counters) first
    decodes what is still buffered, so nothing waits longer than the consumer's next
    look. Decoding is serialised by one lock per batch.
    """

    def __init__(
        self,
        decoder: Decoder,
        *,
        maxsize: int = 200_000,
        keep_rejects: int = 200,
        batch_size: int = 256,
    ):
        self.decoder = decoder
        self.maxsize = maxsize
        # A batch never overshoots a small queue bound by much.
        self.batch_size = max(1, min(batch_size, maxsize // 4))
        self._buffer: deque[tuple[str | bytes, bytes]] = deque()
        self._decoding = threading.Lock()
        self._queue: deque[tuple[list[Fix], list[StopEvent]]] = deque()
        self._drain_lock = threading.Lock()
        self._drained = 0
        self._space = threading.Condition()
        self._closed = False
        self._lock = threading.Lock()
        self._rejects: Counter[str] = Counter()
        self._last_rejects: deque[RejectRecord] = deque(maxlen=keep_rejects)
        self._connection: deque[tuple[str, str]] = deque()
        self._received = 0
        self._received_oversize = 0  # counted as they arrive, never buffered
        self._accepted = 0
        self.waits = 0

    # -- network thread -------------------------------------------------------------
    def on_message(self, topic: str | bytes, payload: bytes) -> None:
        """Buffer one message; decode the buffer once it is full. Never raises.

        ``topic`` may be the raw bytes paho received (decoded only when needed). A
        partly full buffer is decoded by the next reader — the consumer's drain — so
        batching adds no delay to what the consumer sees.
        """
        buffer = self._buffer
        buffer.append((topic, payload))
        if len(buffer) >= self.batch_size:
            self._flush(wait_for_space=True)

    def on_paho_message(self, client, userdata, message) -> None:
        """paho's ``on_message``: the raw topic bytes and payload, straight into the buffer."""
        buffer = self._buffer
        buffer.append((message._topic, message.payload))
        if len(buffer) >= self.batch_size:
            self._flush(wait_for_space=True)

    def on_oversize(self, topic: str | bytes, size: int) -> None:
        """A message the receive path read through without keeping (over the size limit):
        counted as ``too_large`` (network thread; never raises)."""
        if not isinstance(topic, str):
            topic = bytes(topic).decode("utf-8", "replace")
        limit = self.decoder.max_payload
        detail = f"message of {size:,} bytes (limit {limit:,}), not kept"
        with self._lock:
            self._rejects["too_large"] += 1
            self._last_rejects.append(RejectRecord(time.time(), topic, "", "too_large", detail))
            self._received_oversize += 1

    def on_connection(self, state: str, detail: str = "") -> None:
        """Record a connection state change (any thread); the next drain reports it."""
        self._connection.append((state, detail))

    def flush(self) -> None:
        """Decode what is buffered now (any thread; skipped while another flush runs)."""
        self._flush(wait_for_space=False)

    def _flush(self, *, wait_for_space: bool) -> None:
        # Only the network thread waits for space (holding the lock): a reader never
        # blocks on it, so the consumer can always drain and make room.
        if not self._decoding.acquire(blocking=False):
            return
        try:
            buffer = self._buffer
            popleft = buffer.popleft
            items = [popleft() for _ in range(len(buffer))]
            if not items:
                return
            fixes, others = self.decoder.decode_split(items)
            events: list[StopEvent] = []
            if others:
                events = [r for _, r in others if isinstance(r, StopEvent)]
                if len(events) != len(others):
                    self._count_rejects(items, others)
            if wait_for_space and self._accepted - self._drained >= self.maxsize:
                self._wait_for_space()
            # One chunk per decoded batch: the consumer takes whole lists, not items.
            self._queue.append((fixes, events))
            self._received += len(items)
            self._accepted += len(fixes) + len(events)
        finally:
            self._decoding.release()

    def _count_rejects(
        self,
        items: list[tuple[str | bytes, bytes]],
        others: list[tuple[int, StopEvent | Reject]],
    ) -> None:
        now = time.time()
        with self._lock:
            for i, result in others:
                if isinstance(result, Reject):
                    topic, payload = items[i]
                    if not isinstance(topic, str):
                        topic = bytes(topic).decode("utf-8", "replace")
                    excerpt = bytes(payload[:EXCERPT_BYTES]).decode("utf-8", "replace")
                    self._rejects[result.reason] += 1
                    self._last_rejects.append(
                        RejectRecord(now, topic, excerpt, result.reason, result.detail)
                    )

    def _wait_for_space(self) -> None:
        self.waits += 1
        with self._space:
            while self._accepted - self._drained >= self.maxsize and not self._closed:
                self._space.wait(0.05)

    @property
    def received(self) -> int:
        """Messages taken in (decoded or still buffered are both counted once decoded)."""
        self.flush()
        return self._received + self._received_oversize

    @property
    def accepted(self) -> int:
        self.flush()
        return self._accepted

    # -- consumer -------------------------------------------------------------------
    def drain(self, max_items: int = 100_000) -> Batch:
        """Take queued results as one coalesced batch: whole decoded batches, until
        ``max_items`` is reached (so at most one batch more than that)."""
        self.flush()
        queue = self._queue
        fixes: list[Fix] = []
        events: list[StopEvent] = []
        with self._drain_lock:
            while queue and len(fixes) + len(events) < max_items:
                chunk_fixes, chunk_events = queue.popleft()
                fixes.extend(chunk_fixes)
                if chunk_events:
                    events.extend(chunk_events)
            self._drained += len(fixes) + len(events)
        if fixes or events:
            with self._space:
                self._space.notify_all()
        connection = []
        while self._connection:
            connection.append(self._connection.popleft())
        return Batch(fixes, events, connection)

    def pending(self) -> int:
        """Accepted results not drained yet."""
        self.flush()
        return self._accepted - self._drained

    def close(self) -> None:
        """Release a network thread waiting for space (on shutdown)."""
        with self._space:
            self._closed = True
            self._space.notify_all()

    # -- inspection -----------------------------------------------------------------
    def reject_counts(self) -> dict[str, int]:
        """Rejects per reason (every known reason present, zero when none)."""
        self.flush()
        with self._lock:
            counts = dict.fromkeys(REJECT_REASONS, 0)
            counts.update(self._rejects)
            return counts

    @property
    def rejected(self) -> int:
        self.flush()
        with self._lock:
            return sum(self._rejects.values())

    def last_rejects(self) -> list[RejectRecord]:
        """The most recent refused messages, oldest first."""
        self.flush()
        with self._lock:
            return list(self._last_rejects)
