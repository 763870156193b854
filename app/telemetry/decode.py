"""Decode and validate one MQTT message into a Fix, a StopEvent or a Reject.

Runs in the MQTT network thread, so it is fast and never raises: whatever arrives — not
JSON, wrong types, unknown devices, impossible coordinates, clocks in the future, replayed
sequence numbers, teleporting trackers — comes back as a :class:`Reject` with a counted
reason and a detail a dispatcher can read.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Literal, cast

import msgspec

from app.telemetry.messages import (
    Fix,
    NativeEvent,
    NativeTelemetry,
    NativeTelemetryStrict,
    OwnTracksLocation,
    Reject,
    StopEvent,
    TraccarForward,
)
from app.telemetry.seq import DUPLICATE, JUMP, RESET, SEQ_MAX, SEQ_WINDOW, SeqWindow
from engine.geo import haversine_m

log = logging.getLogger(__name__)

KNOT_KMH = 1.852
MAX_FUTURE_S = 300.0
MAX_AGE_S = 24 * 3600.0
MAX_SPEED_KMH = 200.0  # faster between two fixes is an impossible jump
MAX_SPEED_READING_KMH = 300.0  # a tracker's own speed reading above this is nonsense
MAX_ACCURACY_M = 100_000.0
MAX_ODOMETER_KM = 10_000_000.0
JUMP_TOLERANCE_M = 50.0
MAX_PAYLOAD_BYTES = 16_384  # a fix is ~150 bytes, a Traccar forward ~1 KiB
MAX_DEPTH = 16  # JSON nesting (the formats need 3)
MAX_ID_CHARS = 64  # vehicle and stop ids (the database's id columns)
MAX_EVENT_ID_CHARS = 200
STOP_EVENTS = frozenset(("arrived", "departed", "delivered", "failed"))
RESET_LOG_S = 60.0  # a vehicle's sequence restarts are logged at most this often
EVENT_MEMORY = 100_000
TOPIC_CACHE = 50_000  # topic strings remembered by the batch decoder
UNMAPPED_MEMORY = 200  # unmapped tracker devices remembered for the user to map

_native_fix = msgspec.json.Decoder(NativeTelemetry)
_native_event = msgspec.json.Decoder(NativeEvent)
_native_strict = msgspec.json.Decoder(NativeTelemetryStrict)
_owntracks = msgspec.json.Decoder(OwnTracksLocation)
_traccar = msgspec.json.Decoder(TraccarForward)


class DeviceMap:
    """Which vehicle a tracker device belongs to, plus the vehicles that exist.

    Device keys: ``"{user}/{device}"`` for OwnTracks, the Traccar ``uniqueId`` (or its
    numeric ``deviceId``). The user edits the table (stored in ``device_map``); the
    decoder reads it from another thread, so updates swap whole immutable snapshots.
    ``vehicles=None`` accepts any vehicle id on the native topics.
    """

    def __init__(
        self,
        devices: Mapping[str, str] | None = None,
        vehicles: Iterable[str] | None = None,
    ) -> None:
        self._devices: dict[str, str] = dict(devices or {})
        self._vehicles: frozenset[str] | None = None if vehicles is None else frozenset(vehicles)
        self._lock = threading.Lock()
        self.version = 0  # bumped on every change: decoders drop what they derived from it

    def replace(self, devices: Mapping[str, str], vehicles: Iterable[str] | None = None) -> None:
        """Swap in a new table (and vehicle list, when given)."""
        with self._lock:
            self._devices = dict(devices)
            if vehicles is not None:
                self._vehicles = frozenset(vehicles)
            self.version += 1

    def set(self, device_key: str, vehicle_id: str) -> None:
        with self._lock:
            self._devices = {**self._devices, device_key: vehicle_id}
            self.version += 1

    def remove(self, device_key: str) -> None:
        with self._lock:
            if device_key in self._devices:
                self._devices = {k: v for k, v in self._devices.items() if k != device_key}
                self.version += 1

    def resolve(self, *keys: str | None) -> str | None:
        devices = self._devices
        for key in keys:
            if key is not None and key in devices:
                return devices[key]
        return None

    def is_known(self, vehicle_id: str) -> bool:
        vehicles = self._vehicles
        return vehicles is None or vehicle_id in vehicles

    @property
    def devices(self) -> dict[str, str]:
        return dict(self._devices)


class ServiceArea:
    """Where the depot's vehicles can be: a circle around the depot.

    A vehicle's first fix must fall inside it (after that, the jump check keeps each fix
    within driving reach of the last), so a forged first fix cannot place a van in
    another city and lock its real tracker out as an impossible jump.
    """

    __slots__ = ("lat", "lon", "radius_m")

    def __init__(self, lat: float, lon: float, radius_m: float) -> None:
        self.lat, self.lon, self.radius_m = lat, lon, radius_m

    @classmethod
    def around(
        cls, center: tuple[float, float], points: Iterable[tuple[float, float]], margin_m: float
    ) -> ServiceArea:
        """The circle around ``center`` reaching the farthest point plus ``margin_m``."""
        lat, lon = center
        far = max((haversine_m(lat, lon, p_lat, p_lon) for p_lat, p_lon in points), default=0.0)
        return cls(lat, lon, far + margin_m)

    def distance_m(self, lat: float, lon: float) -> float:
        return haversine_m(self.lat, self.lon, lat, lon)

    def __repr__(self) -> str:
        return f"ServiceArea({self.lat:.5f}, {self.lon:.5f}, {self.radius_m / 1000:.1f} km)"


class _Last:
    """The jump check's reference: the newest fix the decoder accepted for a vehicle (in
    the network thread, at or ahead of what was applied). Where a vehicle *is*, for the
    map, the monitor, previews and re-plans, is held by ``LiveState.positions`` alone."""

    __slots__ = ("ts", "lat", "lon", "seq", "k")

    def __init__(self, ts: float, lat: float, lon: float, seq: int) -> None:
        self.ts, self.lat, self.lon, self.seq = ts, lat, lon, seq
        self.k = 111_195.0 * math.cos(math.radians(lat))  # metres per degree of longitude


class _NativeTopic:
    """The fast path's view of one vehicle's native fix topic: its vehicle, and that
    vehicle's newest live fix and native sequence window (None until its first fix)."""

    __slots__ = ("vid", "last", "window")

    def __init__(self, vid: str, last: _Last | None, window: SeqWindow | None) -> None:
        self.vid, self.last, self.window = vid, last, window


def parse_ts(value: str | float) -> float:
    """ISO 8601 (naive = UTC) or epoch seconds (milliseconds when > 1e11) -> epoch s."""
    if isinstance(value, str):
        dt = datetime.fromisoformat(value)
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        return dt.timestamp()
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"timestamp {value} is not a number")
    return value / 1000.0 if value > 1e11 else value


def _validation_reject(exc: Exception) -> Reject:
    text = str(exc)
    if isinstance(exc, UnicodeDecodeError):
        return Reject("not_json", f"payload is not UTF-8: {exc.reason} at byte {exc.start}")
    if isinstance(exc, RecursionError):
        return Reject("not_json", f"JSON nested too deeply (limit {MAX_DEPTH} levels)")
    if not isinstance(exc, msgspec.ValidationError):
        return Reject("not_json", text)
    if "missing required field" in text:
        return Reject("missing_field", text)
    if "Invalid enum value" in text or "Expected one of" in text or _OUT_OF_RANGE.match(text):
        return Reject("bad_value", text)
    return Reject("wrong_type", text)


# msgspec's words for a value of the right type outside its bounds
_OUT_OF_RANGE = re.compile(r"Expected `\w+` (?:[<>]=?|of length|matching)")
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_ONLY_BRACKETS = (bytes.maketrans(b"{}", b"[]"), bytes(set(range(256)) - set(b"[]{}")))


def too_deep(payload: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether JSON ``payload`` nests arrays/objects more than ``limit`` levels deep.

    Cheap for ordinary messages (fewer brackets than the limit: two C-level counts);
    otherwise the brackets outside strings are peeled one innermost level per pass, at
    most ``limit`` passes, so a 16 KiB payload costs a few C-level scans, never recursion.
    """
    if payload.count(b"[") + payload.count(b"{") <= limit:
        return False
    brackets = _STRING.sub(b"", payload).translate(*_ONLY_BRACKETS)
    for level in range(limit + 1):
        if b"[" not in brackets:
            return False
        peeled = brackets.replace(b"[]", b"")
        if len(peeled) == len(brackets):  # unbalanced: what is left opens and never closes
            return level + peeled.count(b"[") > limit
        brackets = peeled
    return True


def _bad_id(value: str, limit: int) -> bool:
    """An id too long for the database or carrying control characters (NUL included)."""
    return len(value) > limit or not value.isprintable()


def topic_matches(filter_: str, topic: str) -> bool:
    """MQTT topic filter matching (``+`` one level, ``#`` the rest)."""
    f_parts, t_parts = filter_.split("/"), topic.split("/")
    for i, part in enumerate(f_parts):
        if part == "#":
            return True
        if i >= len(t_parts) or (part != "+" and part != t_parts[i]):
            return False
    return len(f_parts) == len(t_parts)


class Decoder:
    """Turns (topic, payload) into a Fix, a StopEvent or a Reject; never raises.

    Stateful per vehicle (seen sequence numbers, last live fix, seen event ids), so one
    decoder serves one stream, called from one thread. ``clock`` gives "now" in epoch
    seconds; a simulated day passes its own.

    Two facts of the day are set from the main thread (each swapped whole, read by the
    network thread): ``routes`` — which vehicle serves each stop (a stop event is accepted
    only from the vehicle whose route holds the stop; None: not checked) — and
    ``service_area`` (a vehicle's first fix must fall inside it; None: anywhere).
    """

    def __init__(
        self,
        devices: DeviceMap | None = None,
        *,
        depot_id: str | None = None,
        traccar_topic: str = "traccar/+",
        clock: Callable[[], float] = time.time,
        max_future_s: float = MAX_FUTURE_S,
        max_age_s: float = MAX_AGE_S,
        max_speed_kmh: float = MAX_SPEED_KMH,
    ) -> None:
        self.devices = devices if devices is not None else DeviceMap()
        self.depot_id = depot_id
        self.traccar_topic = traccar_topic
        self.clock = clock
        self.max_future_s = max_future_s
        self.max_age_s = max_age_s
        self.max_speed_ms = max_speed_kmh / 3.6
        self.max_payload = MAX_PAYLOAD_BYTES
        self.routes: Mapping[str, str] | None = None  # stop id -> vehicle id
        self.service_area: ServiceArea | None = None
        self._seqs: dict[str, dict[str, SeqWindow]] = {}
        self._last: dict[str, _Last] = {}
        self._events: OrderedDict[str, None] = OrderedDict()
        # topic (str or raw bytes) -> the fast path's record of a native fix topic of a
        # known vehicle, False for every other topic; rebuilt when the device map changes
        self._topics: dict[str | bytes, _NativeTopic | Literal[False]] = {}
        self._topics_version = self.devices.version
        # tracker devices heard from but not mapped to a vehicle: key -> (format, last seen)
        self._unmapped: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._unmapped_lock = threading.Lock()
        # sequence restarts per vehicle: (count, epoch s of the last), and when last logged
        self._resets: dict[str, tuple[int, float]] = {}
        self._reset_logged: dict[str, float] = {}

    def set_routes(
        self,
        routes: Mapping[str, Iterable[str]] | Iterable[tuple[str, Iterable[str]]] | None,
    ) -> None:
        """The day's routes as (vehicle id, its stops' ids) pairs — a vehicle may drive
        several — or a mapping vehicle -> stops; None stops checking."""
        if routes is None:
            self.routes = None
            return
        pairs = routes.items() if isinstance(routes, Mapping) else routes
        self.routes = {stop: vehicle for vehicle, stops in pairs for stop in stops}

    def decode(self, topic: str, payload: bytes) -> Fix | StopEvent | Reject:
        """Validate one message; every failure is a Reject with a reason and detail."""
        try:
            return self._decode(topic, payload)
        except RecursionError as exc:  # a limit the depth check did not foresee
            return _validation_reject(exc)
        except Exception as exc:  # the network thread must survive anything
            log.exception("decoder failed on %s", topic)
            return Reject("decoder_error", f"{type(exc).__name__}: {exc}")

    def decode_batch(
        self, items: list[tuple[str | bytes, bytes]]
    ) -> list[Fix | StopEvent | Reject]:
        """Validate many messages in order, with the same results as :meth:`decode` each.

        A topic may be given as the raw bytes from the wire.
        """
        fixes, others = self.decode_split(items)
        if not others:
            return cast(list[Fix | StopEvent | Reject], fixes)
        other, rest = dict(others), iter(fixes)
        return [other[i] if i in other else next(rest) for i in range(len(items))]

    def decode_split(
        self, items: list[tuple[str | bytes, bytes]]
    ) -> tuple[list[Fix], list[tuple[int, StopEvent | Reject]]]:
        """:meth:`decode_batch` split for the ingest: every Fix in arrival order, and every
        other result (events, rejects) with the index of its message.

        The common case — a native fix of a known vehicle, epoch time, in order, a
        plausible step from the vehicle's last fix — runs a tight loop: one cached topic
        lookup, one C-validated msgspec decode, a few float comparisons, one clock read
        per batch. Everything else (other formats, events, the first fix of a vehicle,
        back-fill, anything doubtful) goes through :meth:`decode`, which names the exact
        reason of a reject.
        """
        fixes: list[Fix] = []
        others: list[tuple[int, StopEvent | Reject]] = []
        try:
            self._decode_split(items, fixes, others)
        except Exception:  # the network thread must survive anything
            log.exception("batch decoder failed; decoding one by one")
            for i in range(len(fixes) + len(others), len(items)):
                result = self._decode_one(*items[i])
                if isinstance(result, Fix):
                    fixes.append(result)
                else:
                    others.append((i, result))
        return fixes, others

    def _decode_one(self, topic: str | bytes, payload: bytes) -> Fix | StopEvent | Reject:
        if isinstance(topic, str):
            return self.decode(topic, payload)
        try:
            text = bytes(topic).decode("utf-8")
        except UnicodeDecodeError:
            shown = bytes(topic).decode("utf-8", "replace")
            return Reject("unknown_topic", f"topic {shown!r} is not UTF-8")
        return self.decode(text, payload)

    def _decode_split(
        self,
        items: list[tuple[str | bytes, bytes]],
        fixes: list[Fix],
        others: list[tuple[int, StopEvent | Reject]],
    ) -> None:
        if self._topics_version != self.devices.version:
            self._topics.clear()
            self._topics_version = self.devices.version
        topics, strict, slow = self._topics, _native_strict, self._slow
        max_payload = self.max_payload
        now = self.clock()
        lo = max(now - self.max_age_s, 1e8)
        hi = min(now + self.max_future_s, 1e11)
        speed_ms = self.max_speed_ms
        append = fixes.append
        for i, (topic, payload) in enumerate(items):
            t = topics.get(topic)
            if t is None:
                t = self._topic_entry(topic)
            if t is False or len(payload) > max_payload:
                slow(i, topic, payload, t if t is not False else None, fixes, others)
                continue
            try:
                m = strict.decode(payload)
            except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
                slow(i, topic, payload, t, fixes, others)
                continue
            # A fix at (0, 0) fails the jump check below (thousands of km from the last).
            ts, lat, lon, seq, last, window = m.ts, m.lat, m.lon, m.seq, t.last, t.window
            if (
                last is None
                or window is None
                or not (lo <= ts <= hi and ts > last.ts)
                or not 0 < seq - window.max_seq <= SEQ_WINDOW
                or m.vehicle_id != t.vid
            ):
                slow(i, topic, payload, t, fixes, others)
                continue
            dt = ts - last.ts
            limit = speed_ms * (dt if dt > 1.0 else 1.0) + JUMP_TOLERANCE_M
            dy = (lat - last.lat) * 111_195.0
            dx = (lon - last.lon) * last.k
            if dx * dx + dy * dy > 0.8 * limit * limit:
                slow(i, topic, payload, t, fixes, others)
                continue
            if seq == window.max_seq + 1 and not window.holes:
                window.max_seq = seq  # in order, nothing missing: the common case
                window.top_ts = ts
            else:
                window.advance(seq, ts)
            if abs(lat - last.lat) > 0.1:
                last.k = 111_195.0 * math.cos(math.radians(lat))
            last.ts, last.lat, last.lon, last.seq = ts, lat, lon, seq
            append(Fix(t.vid, seq, ts, lat, lon, m.speed_kmh, m.heading_deg, m.accuracy_m))

    def _slow(
        self,
        i: int,
        topic: str | bytes,
        payload: bytes,
        entry: _NativeTopic | None,
        fixes: list[Fix],
        others: list[tuple[int, StopEvent | Reject]],
    ) -> None:
        """The per-message decoder for what the fast path does not take."""
        result = self._decode_one(topic, payload)
        if isinstance(result, Fix):
            fixes.append(result)
        else:
            others.append((i, result))
        if entry is not None and entry.last is None:
            # the vehicle's first fix (or first since a restart) made its records
            entry.last, entry.window = self._native_records(entry.vid)

    def _native_records(self, vid: str) -> tuple[_Last | None, SeqWindow | None]:
        """A vehicle's newest live fix and native seq window, both or neither (the fast
        path needs both; the first native fix makes both)."""
        window = self._seqs.get("native", {}).get(vid)
        return (self._last.get(vid), window) if window is not None else (None, None)

    def _topic_entry(self, raw: str | bytes) -> _NativeTopic | Literal[False]:
        """The fast path's record of a native fix topic of a known vehicle of this depot,
        else False (cached)."""
        try:
            topic = raw if isinstance(raw, str) else bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            topic = ""
        parts = topic.split("/")
        entry: _NativeTopic | Literal[False] = False
        if (
            len(parts) == 5
            and parts[0] == "fleet"
            and parts[2] == "vehicle"
            and parts[4] == "telemetry"
            and (self.depot_id is None or parts[1] == self.depot_id)
            and self.devices.is_known(parts[3])
        ):
            entry = _NativeTopic(parts[3], *self._native_records(parts[3]))
        if len(self._topics) >= TOPIC_CACHE:
            self._topics.clear()
        self._topics[raw] = entry
        return entry

    def _decode(self, topic: str, payload: bytes) -> Fix | StopEvent | Reject:
        if len(payload) > self.max_payload:
            return Reject(
                "too_large", f"payload of {len(payload):,} bytes (limit {self.max_payload:,})"
            )
        if too_deep(payload):
            return Reject("not_json", f"JSON nested more than {MAX_DEPTH} levels deep")
        parts = topic.split("/")
        if len(parts) == 5 and parts[0] == "fleet" and parts[2] == "vehicle":
            if self.depot_id is not None and parts[1] != self.depot_id:
                return Reject("unknown_topic", f"depot {parts[1]!r} is not this depot")
            if parts[4] == "telemetry":
                return self._native_fix(parts[3], payload)
            if parts[4] == "event":
                return self._native_event(parts[3], payload)
        elif len(parts) == 3 and parts[0] == "owntracks":
            return self._owntracks(parts[1], parts[2], payload)
        elif topic_matches(self.traccar_topic, topic):
            return self._traccar(payload)
        return Reject("unknown_topic", f"no decoder for topic {topic!r}")

    def _native_header(self, msg, topic_vehicle: str) -> Reject | None:
        """The checks every native message shares: its vehicle, the fleet, the version."""
        if _bad_id(topic_vehicle, MAX_ID_CHARS):
            return Reject(
                "bad_value",
                f"vehicle id {topic_vehicle[:MAX_ID_CHARS]!r}… is not a vehicle id "
                f"(at most {MAX_ID_CHARS} printable characters)",
            )
        if msg.vehicle_id != topic_vehicle:
            return Reject(
                "vehicle_mismatch",
                f"payload vehicle {msg.vehicle_id!r} differs from topic vehicle {topic_vehicle!r}",
            )
        if not self.devices.is_known(msg.vehicle_id):
            return Reject("unknown_vehicle", f"vehicle {msg.vehicle_id!r} is not in the fleet")
        if msg.v != 1:
            return Reject("bad_value", f"message version {msg.v} is not supported (expected 1)")
        return None

    def _native_fix(self, topic_vehicle: str, payload: bytes) -> Fix | Reject:
        try:
            msg = _native_fix.decode(payload)
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            return _validation_reject(exc)
        bad = self._native_header(msg, topic_vehicle)
        if bad is not None:
            return bad
        if msg.odometer_km is not None and not 0.0 <= msg.odometer_km <= MAX_ODOMETER_KM:
            return Reject("bad_value", f"odometer {msg.odometer_km} km is not a plausible value")
        return self._fix(
            msg.vehicle_id,
            msg.seq,
            msg.ts,
            msg.lat,
            msg.lon,
            msg.speed_kmh,
            msg.heading_deg,
            msg.accuracy_m,
            "native",
            msg.restart,
        )

    def _native_event(self, topic_vehicle: str, payload: bytes) -> StopEvent | Reject:
        try:
            msg = _native_event.decode(payload)
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            return _validation_reject(exc)
        bad = self._native_header(msg, topic_vehicle)
        if bad is not None:
            return bad
        for name, value, limit in (
            ("event_id", msg.event_id, MAX_EVENT_ID_CHARS),
            ("stop_id", msg.stop_id or "", MAX_ID_CHARS),
            ("reason", msg.reason or "", MAX_EVENT_ID_CHARS),
        ):
            if _bad_id(value, limit):
                return Reject(
                    "bad_value", f"{name} is over {limit} characters or holds control characters"
                )
        if not msg.event_id:
            return Reject("bad_value", "event_id is empty")
        ts = self._check_time(msg.ts)
        if isinstance(ts, Reject):
            return ts
        if msg.type in STOP_EVENTS:
            bad = self._check_stop(msg.vehicle_id, msg.type, msg.stop_id)
            if bad is not None:
                return bad
        if msg.event_id in self._events:
            return Reject("duplicate_event", f"event {msg.event_id!r} was already applied")
        self._events[msg.event_id] = None
        if len(self._events) > EVENT_MEMORY:
            self._events.popitem(last=False)
        return StopEvent(msg.event_id, msg.vehicle_id, ts, msg.type, msg.stop_id, msg.reason)

    def _check_stop(self, vehicle: str, kind: str, stop_id: str | None) -> Reject | None:
        """A stop event must name a stop on the sending vehicle's current route."""
        if not stop_id:
            return Reject("missing_field", f"{kind} event of {vehicle} names no stop (stop_id)")
        routes = self.routes
        if routes is None:
            return None
        owner = routes.get(stop_id)
        if owner is None:
            return Reject("stop_not_on_route", f"stop {stop_id!r} is on no route of the day")
        if owner != vehicle:
            return Reject(
                "stop_not_on_route",
                f"{kind} event from {vehicle} for stop {stop_id!r}, which is on {owner}'s route",
            )
        return None

    def _owntracks(self, user: str, device: str, payload: bytes) -> Fix | Reject:
        try:
            msg = _owntracks.decode(payload)
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            return _validation_reject(exc)
        if msg.type_ != "location":
            return Reject("wrong_type", f"OwnTracks _type {msg.type_!r} is not a location")
        if msg.lat is None or msg.lon is None or msg.tst is None:
            name = "lat" if msg.lat is None else "lon" if msg.lon is None else "tst"
            return Reject("missing_field", f"OwnTracks location without `{name}`")
        key = f"{user}/{device}"
        vehicle = self.devices.resolve(key, device)
        if vehicle is None:
            self._note_unmapped(key, "owntracks")
            return Reject("unknown_vehicle", f"OwnTracks device {key!r} is not mapped to a vehicle")
        # OwnTracks sends at most one fix per second: the timestamp is the sequence.
        return self._fix(
            vehicle, msg.tst, msg.tst, msg.lat, msg.lon, msg.vel, msg.cog, msg.acc, "owntracks"
        )

    def _traccar(self, payload: bytes) -> Fix | Reject:
        try:
            msg = _traccar.decode(payload)
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            return _validation_reject(exc)
        pos = msg.position
        unique = msg.device.uniqueId if msg.device is not None else None
        vehicle = self.devices.resolve(unique, str(pos.deviceId))
        if vehicle is None:
            self._note_unmapped(unique or str(pos.deviceId), "traccar")
            return Reject(
                "unknown_vehicle",
                f"Traccar device {unique or pos.deviceId!r} is not mapped to a vehicle",
            )
        try:
            ts = parse_ts(pos.fixTime)
        except (ValueError, OverflowError, OSError) as exc:
            return Reject("wrong_type", f"fixTime {pos.fixTime!r}: {exc}")
        speed = None if pos.speed is None else pos.speed * KNOT_KMH
        # The fix time in milliseconds is the sequence (two fixes in a second differ).
        return self._fix(
            vehicle,
            int(ts * 1000),
            ts,
            pos.latitude,
            pos.longitude,
            speed,
            pos.course,
            pos.accuracy,
            "traccar",
        )

    def _note_unmapped(self, key: str, source: str) -> None:
        with self._unmapped_lock:
            self._unmapped.pop(key, None)
            self._unmapped[key] = (source, time.time())
            if len(self._unmapped) > UNMAPPED_MEMORY:
                self._unmapped.popitem(last=False)

    def unmapped_devices(self) -> dict[str, tuple[str, float]]:
        """Tracker devices heard from but not mapped to a vehicle (any thread):
        device key -> (format, epoch seconds last heard), the most recent last."""
        with self._unmapped_lock:
            return {k: v for k, v in self._unmapped.items() if self.devices.resolve(k) is None}

    def _check_time(self, raw: str | float) -> float | Reject:
        try:
            ts = parse_ts(raw)
        except (ValueError, OverflowError, OSError) as exc:
            return Reject("wrong_type", f"timestamp {raw!r}: {exc}")
        now = self.clock()
        if ts > now + self.max_future_s:
            return Reject("future_timestamp", f"timestamp is {ts - now:.0f} s in the future")
        if ts < now - self.max_age_s:
            return Reject("stale_timestamp", f"timestamp is {(now - ts) / 3600:.1f} h old")
        return ts

    def _fix(
        self,
        vehicle: str,
        seq: int,
        raw_ts: str | float,
        lat: float,
        lon: float,
        speed: float | None,
        heading: float | None,
        accuracy: float | None,
        source: str,
        restart: bool = False,
    ) -> Fix | Reject:
        # The hot path of the network thread: comparisons are written so NaN and inf fail.
        if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
            return Reject("lat_lon_out_of_range", f"lat {lat}, lon {lon} is not on the earth")
        if lat == 0.0 and lon == 0.0:
            return Reject("null_island", "position 0,0 (a tracker without a GPS fix)")
        if speed is not None and not 0.0 <= speed <= MAX_SPEED_READING_KMH:
            return Reject("bad_value", f"speed {speed} km/h is not a plausible value")
        if heading is not None and not 0.0 <= heading <= 360.0:
            return Reject("bad_value", f"heading {heading} is not a compass heading (0-360)")
        if accuracy is not None and not 0.0 <= accuracy <= MAX_ACCURACY_M:
            return Reject("bad_value", f"accuracy {accuracy} m is not a plausible value")
        if not 0 <= seq <= SEQ_MAX:
            return Reject("bad_value", f"seq {seq} is outside 0 to 2^63-1")
        now = self.clock()
        if not (
            type(raw_ts) is float
            and 1e8 < raw_ts < 1e11
            and now - self.max_age_s <= raw_ts <= now + self.max_future_s
        ):
            checked = self._check_time(raw_ts)
            if isinstance(checked, Reject):
                return checked
            raw_ts = checked
        ts = float(raw_ts)
        last = self._last.get(vehicle)
        live = last is None or ts > last.ts
        if last is None:
            area = self.service_area
            if area is not None:
                away = area.distance_m(lat, lon)
                if not away <= area.radius_m:
                    return Reject(
                        "outside_service_area",
                        f"first fix of {vehicle} is {away / 1000:,.1f} km from the depot, "
                        f"outside its {area.radius_m / 1000:,.0f} km service area",
                    )
        else:
            dt = max(abs(ts - last.ts), 1.0)
            limit = self.max_speed_ms * dt + JUMP_TOLERANCE_M
            dy = (lat - last.lat) * 111_195.0
            dx = (lon - last.lon) * last.k
            # The flat-earth distance is within a few per cent of the great circle here;
            # only a borderline case pays for the exact formula.
            if dx * dx + dy * dy > 0.8 * limit * limit:
                dist = haversine_m(last.lat, last.lon, lat, lon)
                if dist > limit:
                    return Reject(
                        "impossible_jump",
                        f"{dist / 1000:.1f} km in {dt:.0f} s implies {dist / dt * 3.6:.0f} km/h",
                    )
        # Each source numbers its fixes on its own (a phone and a tracker in one van).
        windows = self._seqs.get(source)
        if windows is None:
            windows = self._seqs[source] = {}
        window = windows.get(vehicle)
        if window is None:
            window = windows[vehicle] = SeqWindow()
        top, top_ts = window.max_seq, window.top_ts
        verdict = window.accept(seq, ts, restart)
        if verdict == DUPLICATE:
            if seq > top:
                detail = (
                    f"seq {seq} is above the newest ({top}) although its time is "
                    f"{top_ts - ts:.0f} s older: a replay"
                )
            elif top - seq >= SEQ_WINDOW:
                detail = f"seq {seq} of {vehicle} is older than the last {SEQ_WINDOW} seen"
            else:
                detail = f"seq {seq} of {vehicle} was seen already"
            return Reject("duplicate_or_replayed_seq", detail)
        if verdict == JUMP:
            return Reject(
                "seq_jump",
                f"seq {seq} is {seq - top:,} ahead of {top} after {max(ts - top_ts, 0):.0f} s "
                f"(a second fix counting on from it is taken as a tracker restart)",
            )
        if verdict == RESET:
            self._note_reset(vehicle, source, top, seq, ts, restart)
        if live:
            if last is None:
                self._last[vehicle] = _Last(ts, lat, lon, seq)
            else:
                if abs(lat - last.lat) > 0.1:
                    last.k = 111_195.0 * math.cos(math.radians(lat))
                last.ts, last.lat, last.lon, last.seq = ts, lat, lon, seq
        return Fix(vehicle, seq, ts, lat, lon, speed, heading, accuracy, source, live)

    def _note_reset(
        self, vehicle: str, source: str, before: int, seq: int, ts: float, flagged: bool
    ) -> None:
        """A tracker's counter restarted: counted per vehicle, logged (once a minute each)."""
        count = self._resets.get(vehicle, (0, 0.0))[0] + 1
        self._resets[vehicle] = (count, ts)
        now = time.monotonic()
        if now - self._reset_logged.get(vehicle, -RESET_LOG_S) >= RESET_LOG_S:
            self._reset_logged[vehicle] = now
            why = "restart flag" if flagged else "a newer time with a lower seq"
            log.info(
                "%s tracker of %s restarted its sequence: %d -> %d (%s; %d so far)",
                source,
                vehicle,
                before,
                seq,
                why,
                count,
            )

    def seq_resets(self) -> dict[str, tuple[int, float]]:
        """Sequence restarts per vehicle (any thread): id -> (count, epoch s of the last)."""
        return dict(self._resets)
