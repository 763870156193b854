"""Messages into release control: dock scanner events and drivers' route acknowledgements.

Hostile until validated, by the same rules as telemetry (``app.telemetry.decode``): a size
cap and a nesting limit before parsing, typed decoding, ids that fit the database, times
neither in the future nor a day old, each event applied once (``event_id``). Then what
only this room knows: the dock is one of the depot's and the topic's; the route is one of
today's; a scanned order is on that route; a count is within the route's size; an
acknowledgement comes from the route's own vehicle for a version that was sent.

    fleet/{depot}/dock/{dock}/event   {"v":1, "event_id":"…", "dock_id":"SLC-W-2", "ts":…,
                                       "type":"loaded|unloaded|count", "route_id":"…",
                                       "order_id":"…" (loaded/unloaded),
                                       "scanned":12, "expected":20 (count)}
    fleet/{depot}/vehicle/{id}/route_ack  {"v":1, "event_id":"…", "vehicle_id":"V07",
                                       "ts":…, "type":"route_ack", "route_id":"…",
                                       "version":7}

Decoding runs in the MQTT network thread and never raises; results wait in a bounded
queue for the main thread, rejects are counted by reason with the last ones kept.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

import msgspec

from app.store.repository_release import Ack, Scan
from app.telemetry.decode import (
    MAX_AGE_S,
    MAX_DEPTH,
    MAX_EVENT_ID_CHARS,
    MAX_FUTURE_S,
    MAX_ID_CHARS,
    MAX_PAYLOAD_BYTES,
    parse_ts,
    too_deep,
)
from app.telemetry.decode import _validation_reject as validation_reject
from app.telemetry.ingest import EXCERPT_BYTES, RejectRecord
from app.telemetry.messages import Reject

MAX_COUNT = 10_000  # orders on one route, far beyond any real one
EVENT_MEMORY = 50_000
QUEUE_LIMIT = 100_000

REJECT_REASONS = (
    "too_large", "not_json", "wrong_type", "missing_field", "bad_value", "unknown_topic",
    "unknown_dock", "dock_mismatch", "unknown_route", "order_not_on_route", "unknown_vehicle",
    "vehicle_mismatch", "unknown_version", "future_timestamp", "stale_timestamp",
    "duplicate_event", "queue_full", "decoder_error",
)  # fmt: skip


class DockEventWire(msgspec.Struct, forbid_unknown_fields=False):
    v: int
    event_id: str
    dock_id: str
    ts: str | float
    type: Literal["loaded", "unloaded", "count"]
    route_id: str
    order_id: str | None = None
    scanned: int | None = None
    expected: int | None = None


class RouteAckWire(msgspec.Struct, forbid_unknown_fields=False):
    v: int
    event_id: str
    vehicle_id: str
    ts: str | float
    type: Literal["route_ack"]
    route_id: str
    version: int


_dock_event = msgspec.json.Decoder(DockEventWire)
_route_ack = msgspec.json.Decoder(RouteAckWire)


@dataclass(frozen=True)
class Known:
    """What the decoder checks against (swapped whole when the day or plan changes):
    the depot's docks, the day's routes with their vehicle, orders and the newest version
    sent to the driver."""

    depot_id: str
    docks: frozenset[str] = frozenset()
    route_orders: Mapping[str, frozenset[str]] = field(default_factory=dict)
    route_vehicle: Mapping[str, str] = field(default_factory=dict)
    sent_version: Mapping[str, int] = field(default_factory=dict)


class ReleaseDecoder:
    """Turns (topic, payload) into a Scan, an Ack or a Reject; never raises."""

    def __init__(self, known: Known, *, clock: Callable[[], float] = time.time) -> None:
        self.known = known
        self.clock = clock
        self._events: OrderedDict[str, None] = OrderedDict()

    def decode(self, topic: str, payload: bytes) -> Scan | Ack | Reject:
        try:
            return self._decode(topic, payload)
        except Exception as exc:  # the network thread must survive anything
            return Reject("decoder_error", f"{type(exc).__name__}: {exc}")

    def _decode(self, topic: str, payload: bytes) -> Scan | Ack | Reject:
        if len(payload) > MAX_PAYLOAD_BYTES:
            return Reject("too_large", f"{len(payload)} bytes (at most {MAX_PAYLOAD_BYTES})")
        if too_deep(payload):
            return Reject("not_json", f"JSON nested too deeply (limit {MAX_DEPTH} levels)")
        parts = topic.split("/")
        known = self.known
        if len(parts) != 5 or parts[0] != "fleet" or parts[1] != known.depot_id:
            return Reject("unknown_topic", f"topic {topic[:120]!r} is not this depot's")
        if parts[2] == "dock" and parts[4] == "event":
            return self._dock(parts[3], payload)
        if parts[2] == "vehicle" and parts[4] == "route_ack":
            return self._ack(parts[3], payload)
        return Reject("unknown_topic", f"no release decoder for topic {topic[:120]!r}")

    def _common(self, event_id: str, raw_ts: str | float, *ids: str | None) -> float | Reject:
        if not event_id or len(event_id) > MAX_EVENT_ID_CHARS or not event_id.isprintable():
            return Reject("bad_value", "event_id is empty, too long or not printable")
        for value in ids:
            if value is not None and (len(value) > MAX_ID_CHARS or not value.isprintable()):
                return Reject("bad_value", f"id {value[:80]!r} is too long or not printable")
        try:
            ts = parse_ts(raw_ts)
        except (ValueError, OverflowError, OSError) as exc:
            return Reject("wrong_type", f"timestamp {raw_ts!r}: {exc}")
        now = self.clock()
        if ts > now + MAX_FUTURE_S:
            return Reject("future_timestamp", f"timestamp is {ts - now:.0f} s in the future")
        if ts < now - MAX_AGE_S:
            return Reject("stale_timestamp", f"timestamp is {(now - ts) / 3600:.1f} h old")
        if event_id in self._events:
            return Reject("duplicate_event", f"event {event_id!r} was already applied")
        return ts

    def _remember(self, event_id: str) -> None:
        self._events[event_id] = None
        if len(self._events) > EVENT_MEMORY:
            self._events.popitem(last=False)

    def _dock(self, topic_dock: str, payload: bytes) -> Scan | Reject:
        try:
            msg = _dock_event.decode(payload)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
            return validation_reject(exc)
        if msg.v != 1:
            return Reject("bad_value", f"message version {msg.v} is not supported (expected 1)")
        ts = self._common(msg.event_id, msg.ts, msg.dock_id, msg.route_id, msg.order_id)
        if isinstance(ts, Reject):
            return ts
        known = self.known
        if msg.dock_id != topic_dock:
            return Reject("dock_mismatch", f"payload dock {msg.dock_id!r} is not the topic's "
                          f"{topic_dock[:80]!r}")  # fmt: skip
        if msg.dock_id not in known.docks:
            return Reject("unknown_dock", f"dock {msg.dock_id!r} is not a dock of depot "
                          f"{known.depot_id}")  # fmt: skip
        orders = known.route_orders.get(msg.route_id)
        if orders is None:
            return Reject("unknown_route", f"route {msg.route_id!r} is not one of today's")
        if msg.type == "count":
            if msg.scanned is None:
                return Reject("missing_field", "a count needs `scanned`")
            if not 0 <= msg.scanned <= MAX_COUNT:
                return Reject("bad_value", f"scanned {msg.scanned} is not 0..{MAX_COUNT}")
            if msg.expected is not None and not 0 <= msg.expected <= MAX_COUNT:
                return Reject("bad_value", f"expected {msg.expected} is not 0..{MAX_COUNT}")
            if msg.scanned > len(orders):
                return Reject("bad_value", f"scanned {msg.scanned} but route {msg.route_id} "
                              f"has {len(orders)} orders")  # fmt: skip
        else:
            if not msg.order_id:
                return Reject("missing_field", f"a {msg.type} scan needs `order_id`")
            if msg.order_id not in orders:
                return Reject("order_not_on_route", f"order {msg.order_id!r} is not on route "
                              f"{msg.route_id}")  # fmt: skip
        self._remember(msg.event_id)
        return Scan(msg.event_id, known.depot_id, msg.dock_id, msg.route_id, msg.type,
                    datetime.fromtimestamp(ts, UTC), msg.order_id, msg.scanned, msg.expected,
                    "mqtt", f"dock {msg.dock_id}")  # fmt: skip

    def _ack(self, topic_vehicle: str, payload: bytes) -> Ack | Reject:
        try:
            msg = _route_ack.decode(payload)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
            return validation_reject(exc)
        if msg.v != 1:
            return Reject("bad_value", f"message version {msg.v} is not supported (expected 1)")
        ts = self._common(msg.event_id, msg.ts, msg.vehicle_id, msg.route_id)
        if isinstance(ts, Reject):
            return ts
        known = self.known
        if msg.vehicle_id != topic_vehicle:
            return Reject("vehicle_mismatch", f"payload vehicle {msg.vehicle_id!r} differs from "
                          f"the topic's {topic_vehicle[:80]!r}")  # fmt: skip
        vehicle = known.route_vehicle.get(msg.route_id)
        if vehicle is None:
            return Reject("unknown_route", f"route {msg.route_id!r} is not one of today's")
        if vehicle != msg.vehicle_id:
            return Reject("unknown_vehicle", f"route {msg.route_id} is {vehicle}'s, not "
                          f"{msg.vehicle_id}'s")  # fmt: skip
        sent = known.sent_version.get(msg.route_id)
        if sent is None or not 0 < msg.version <= sent:
            return Reject("unknown_version", f"version {msg.version} of {msg.route_id} was "
                          f"never sent (newest sent: {sent})")  # fmt: skip
        self._remember(msg.event_id)
        return Ack(msg.event_id, msg.route_id, msg.vehicle_id, msg.version,
                   datetime.fromtimestamp(ts, UTC))  # fmt: skip


class ReleaseInbox:
    """The hand-over from the network thread: decoded scans and acks wait here (bounded)
    for the main thread; rejects are counted by reason, the last ones kept."""

    def __init__(self, decoder: ReleaseDecoder, *, keep_rejects: int = 200) -> None:
        self.decoder = decoder
        self._queue: deque[Scan | Ack] = deque()
        self._lock = threading.Lock()
        self._rejects: Counter[str] = Counter()
        self._last: deque[RejectRecord] = deque(maxlen=keep_rejects)
        self.received = 0
        self.accepted = 0

    def on_message(self, topic: str, payload: bytes) -> None:
        """Decode and queue one message (network thread). Never raises."""
        result = self.decoder.decode(topic, payload)
        with self._lock:
            self.received += 1
            if isinstance(result, Reject):
                self._reject(topic, payload, result)
            elif len(self._queue) >= QUEUE_LIMIT:
                self._reject(topic, payload, Reject("queue_full", "the workstation is behind"))
            else:
                self._queue.append(result)
                self.accepted += 1

    def _reject(self, topic: str, payload: bytes, result: Reject) -> None:
        self._rejects[result.reason] += 1
        excerpt = bytes(payload[:EXCERPT_BYTES]).decode("utf-8", "replace")
        self._last.append(RejectRecord(time.time(), topic, excerpt, result.reason,
                                       result.detail))  # fmt: skip

    def drain(self) -> list[Scan | Ack]:
        with self._lock:
            items = list(self._queue)
            self._queue.clear()
        return items

    def reject_counts(self) -> dict[str, int]:
        with self._lock:
            counts = dict.fromkeys(REJECT_REASONS, 0)
            counts.update(self._rejects)
            return counts

    @property
    def rejected(self) -> int:
        with self._lock:
            return sum(self._rejects.values())

    def last_rejects(self) -> list[RejectRecord]:
        with self._lock:
            return list(self._last)
